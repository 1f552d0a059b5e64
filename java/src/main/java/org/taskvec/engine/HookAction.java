package org.taskvec.engine;

import org.taskvec.nativeapi.TaskvecNative;

/** What a hook does to the rows of its point at its positions, as the native layer does it. */
public enum HookAction {
    /** copy the rows out */
    CAPTURE(TaskvecNative.TV_HOOK_CAPTURE),
    /** overwrite the rows with the given rows */
    REPLACE(TaskvecNative.TV_HOOK_REPLACE),
    /** add scale times the given rows */
    ADD(TaskvecNative.TV_HOOK_ADD),
    /** overwrite the rows with zeros */
    ZERO(TaskvecNative.TV_HOOK_ZERO);

    final int code;

    HookAction(int code) {
        this.code = code;
    }
}
