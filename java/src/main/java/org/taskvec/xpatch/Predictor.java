package org.taskvec.xpatch;

import java.util.ArrayList;
import java.util.List;
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

    /** The patch of a query: vector replacing (or added to) resid_post after layer at its final ":"; none for null. */
    static Hooks patch(XpatchContext cx, float[] vector, int layer) {
        Hooks hooks = Hooks.create();
        if (vector != null) {
            String point = "blocks." + layer + ".resid_post";
            if (cx.patchMode == XpatchConfig.PatchMode.ADD) {
                hooks.add(point, IclPrompts.patchPosition(cx.style), vector, 1f);
            } else {
                hooks.replace(point, IclPrompts.patchPosition(cx.style), vector);
            }
        }
        return hooks;
    }

    static String predict(XpatchContext cx, Prompt prompt, float[] vector, int layer, int maxNewTokens) {
        Hooks hooks = patch(cx, vector, layer);
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

    /**
     * Greedy next tokens (the paper's one-token setting) of several bare queries, each plain (null vector) or
     * patched at its final ":" after layers.get(k), in the session's parallel sequences: a chunk of queries is one
     * shared decode. Where a chunk repeats its first query (the variants of a layer sweep) the first sequence's
     * prefix is forked into the others, so the prefix is evaluated once and each variant adds one row.
     */
    static String[] predictBatch(XpatchContext cx, List<Prompt> prompts, List<float[]> vectors, List<Integer> layers) {
        int slots = cx.session.sequences();
        String[] out = new String[prompts.size()];
        for (int from = 0; from < prompts.size(); from += slots) {
            int to = Math.min(prompts.size(), from + slots);
            List<Hooks> hooks = new ArrayList<>();
            for (int k = from; k < to; k++) {
                hooks.add(patch(cx, vectors.get(k), layers.get(k)));
            }
            // the first query of the chunk in sequence 0, then its prefix forked into the sequences that repeat it
            HookedRun.runAll(cx.session, List.of(prompts.get(from)), new int[] {0}, List.of(hooks.get(0)));
            int prefix = cx.session.positions(0) - 1;
            List<Prompt> rest = new ArrayList<>();
            List<Hooks> restHooks = new ArrayList<>();
            int[] seqs = new int[to - from - 1];
            for (int k = from + 1; k < to; k++) {
                int seq = k - from;
                if (prompts.get(k) == prompts.get(from)) {
                    cx.session.fork(0, seq, prefix);
                }
                rest.add(prompts.get(k));
                restHooks.add(hooks.get(k - from));
                seqs[k - from - 1] = seq;
            }
            out[from] = nextToken(cx, 0);
            if (!rest.isEmpty()) {
                HookedRun.runAll(cx.session, rest, seqs, restHooks);
                for (int k = from + 1; k < to; k++) {
                    out[k] = nextToken(cx, k - from);
                }
            }
        }
        return out;
    }

    /** The text of the greedy next token of sequence seq (the arg-max of its last logits). */
    static String nextToken(XpatchContext cx, int seq) {
        float[] logits = cx.session.logits(seq);
        int best = 0;
        for (int t = 1; t < logits.length; t++) {
            best = logits[t] > logits[best] ? t : best;
        }
        return cx.model.tokenText(best);
    }

    /** The text of the greedy next token after what the session last evaluated (the arg-max of its logits). */
    static String nextToken(XpatchContext cx) {
        return nextToken(cx, 0);  // the single-sequence calls work on sequence 0
    }
}
