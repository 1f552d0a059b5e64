package org.taskvec.perf;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.HookPhase;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;

/**
 * What running layers on RPC servers costs, measured in one process and interleaved like {@link BenchRunner}: the
 * same model loaded twice, locally and split over RPC servers, and per round (in a shuffled order) a prompt and a
 * greedy decode on each, and on the split model a prompt with a capture and with a patch at a block that lives on
 * a server, and a decode that captures that block at every step. Ratios are medians of per-round speed ratios
 * (baseline time / op time: below 1 is slower) with their spread: split vs local, and hooked vs plain split.
 */
public final class RpcBench {
    private RpcBench() {}

    /** Runs it; layer is a block held by a server. */
    public static List<BenchRunner.Result> run(Model local, Model split, int layer, BenchRunner.Settings s,
                                               Consumer<String> progress) {
        try (Session lp = local.newSession(s.session()); Session sp = split.newSession(s.session());
             Session ld = local.newSession(s.session()); Session sd = split.newSession(s.session())) {
            Prompt prompt = BenchRunner.promptOf(local, s.promptTokens());
            String point = "blocks." + layer + ".resid_post";
            Hooks capture = Hooks.create().capture(point, Positions.last());
            Hooks patch = Hooks.create().replace(point, Positions.last(),
                    HookedRun.run(lp, prompt, capture).captures().get(0).last());
            Hooks decodeCapture = Hooks.create().capture(point, Positions.last(), HookPhase.GENERATION);
            GenerationParams gen = GenerationParams.greedy(s.genTokens());
            int promptLen = lp.layout(prompt).length;

            Map<String, Supplier<BenchRunner.Timing>> ops = new LinkedHashMap<>();
            ops.put("prompt, local", () -> BenchRunner.fresh(lp, () -> {
                lp.evaluate(prompt);
                return promptLen;
            }));
            ops.put("prompt, split", () -> BenchRunner.fresh(sp, () -> {
                sp.evaluate(prompt);
                return promptLen;
            }));
            ops.put("prompt + capture remote block", () -> BenchRunner.fresh(sp, () -> {
                HookedRun.run(sp, prompt, capture);
                return promptLen;
            }));
            ops.put("prompt + patch remote block", () -> BenchRunner.fresh(sp, () -> {
                HookedRun.run(sp, prompt, patch);
                return promptLen;
            }));
            // every decode row goes through generate(prompt): the evaluated prompt is reused (one check), then decoded
            ops.put("decode, local", () -> BenchRunner.decodeFrom(ld, prompt, () -> ld.generate(prompt, gen).tokens()));
            ops.put("decode, split", () -> BenchRunner.decodeFrom(sd, prompt, () -> sd.generate(prompt, gen).tokens()));
            ops.put("decode + capture remote block", () -> BenchRunner.decodeFrom(sd, prompt,
                    () -> HookedRun.generate(sd, prompt, gen, decodeCapture).generation().tokens()));
            Map<String, String> baseline = Map.of("prompt, split", "prompt, local",
                    "prompt + capture remote block", "prompt, split", "prompt + patch remote block", "prompt, split",
                    "decode, split", "decode, local", "decode + capture remote block", "decode, split");

            return BenchRunner.measure(ops, baseline, s, promptLen, 20261128, progress);
        }
    }
}
