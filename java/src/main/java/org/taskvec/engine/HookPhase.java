package org.taskvec.engine;

import org.taskvec.nativeapi.TaskvecNative;

/**
 * When a hook applies: while the prompt is evaluated, at every generation step (at each new position), or both.
 */
public enum HookPhase {
    PROMPT(TaskvecNative.TV_PHASE_PROMPT),
    GENERATION(TaskvecNative.TV_PHASE_GENERATION),
    BOTH(TaskvecNative.TV_PHASE_BOTH);

    final int code;

    HookPhase(int code) {
        this.code = code;
    }
}
