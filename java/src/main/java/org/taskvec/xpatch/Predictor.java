package org.taskvec.xpatch;

import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Prompt;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.tasks.IclPrompts;

/**
 * Greedy predictions for a prompt, plain or with a vector replacing (or, with the ADD patch mode, added to) the
 * residual after one layer at the query's final ":". With one new token (the paper's setting) the prediction is the arg-max of the last logits, so the
 * answer token is never evaluated; the session's KV cache keeps everything before the patched position, so a layer
 * sweep over one query costs one prefix plus one single-token evaluation per layer.
 */
final class Predictor {
    private Predictor() {}

    static String predict(XpatchContext cx, Prompt prompt, float[] vector, int layer, int maxNewTokens) {
        Hooks hooks = Hooks.create();
        if (vector != null) {
            String point = "blocks." + layer + ".resid_post";
            if (cx.patchMode == XpatchConfig.PatchMode.ADD) {
                hooks.add(point, IclPrompts.patchPosition(cx.style), vector, 1f);
            } else {
                hooks.replace(point, IclPrompts.patchPosition(cx.style), vector);
            }
        }
        if (maxNewTokens == 1) {
            if (vector != null) {
                HookedRun.run(cx.session, prompt, hooks);
            } else {
                cx.session.evaluate(prompt);
            }
            return nextToken(cx);
        }
        GenerationParams gp = GenerationParams.greedy(maxNewTokens);
        return vector != null ? HookedRun.generate(cx.session, prompt, gp, hooks).generation().text()
                : cx.session.generate(prompt, gp).text();
    }

    /** The text of the greedy next token after what the session last evaluated (the arg-max of its logits). */
    static String nextToken(XpatchContext cx) {
        float[] logits = cx.session.logits();
        int best = 0;
        for (int t = 1; t < logits.length; t++) {
            best = logits[t] > logits[best] ? t : best;
        }
        return cx.model.tokenText(best);
    }
}
