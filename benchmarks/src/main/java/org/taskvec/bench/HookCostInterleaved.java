package org.taskvec.bench;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.function.Supplier;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;

/**
 * {@link HookBenchmark}'s four operations interleaved: each round runs plain, one-layer capture, all-layer capture
 * and one-layer replace in a rotating order on one session, so drift of a shared machine falls on all alike.
 * Prints the median of the per-round ratios to the plain prompt.
 *
 * <pre>java -cp benchmarks.jar org.taskvec.bench.HookCostInterleaved [promptTokens=128] [rounds=12] [threads=0]</pre>
 */
public final class HookCostInterleaved {
    private HookCostInterleaved() {}

    public static void main(String[] args) {
        int promptTokens = args.length > 0 ? Integer.parseInt(args[0]) : 128;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 12;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 0;
        try (Model model = Model.load(BenchModels.model())) {
            SessionParams sp = BenchModels.params(Math.max(512, 2 * promptTokens), threads);
            try (Session s = model.newSession(sp)) {
                StringBuilder sb = new StringBuilder();
                String[] words = {"Q:", "France", "\nA:", "Paris", "\n\n"};
                for (int i = 0; model.tokenize(sb.toString(), true).length < promptTokens; i++) {
                    sb.append(words[i % words.length]);
                }
                Prompt prompt = Prompt.of(sb.toString());
                String mid = "blocks." + model.layers() / 2 + ".resid_post";
                Hooks one = Hooks.create().capture(mid, Positions.last());
                Hooks all = Hooks.create().captureLayers("resid_post", model.layers(), Positions.last());
                Hooks replace = Hooks.create().replace(mid, Positions.last(),
                        HookedRun.run(s, prompt, one).captures().get(0).last());
                List<String> names = List.of("plain", "captureOne", "captureAll", "replaceOne");
                List<Supplier<Object>> ops = List.of(
                        () -> s.evaluate(prompt),
                        () -> HookedRun.run(s, prompt, one),
                        () -> HookedRun.run(s, prompt, all),
                        () -> HookedRun.run(s, prompt, replace));
                List<List<Double>> ratios = new ArrayList<>();
                for (int k = 0; k < 4; k++) {
                    ratios.add(new ArrayList<>());
                }
                for (int r = 0; r < rounds + 1; r++) {
                    double[] t = new double[4];
                    for (int j = 0; j < 4; j++) {
                        int k = (j + r) % 4;
                        s.truncate(0);
                        long t0 = System.nanoTime();
                        ops.get(k).get();
                        t[k] = (System.nanoTime() - t0) / 1e6;
                    }
                    if (r == 0) {
                        continue; // warm-up round
                    }
                    for (int k = 0; k < 4; k++) {
                        ratios.get(k).add(t[k] / t[0]);
                    }
                    System.out.printf("round %2d: plain %.1f ms, captureOne %.1f, captureAll %.1f, replaceOne %.1f%n",
                            r, t[0], t[1], t[2], t[3]);
                }
                for (int k = 1; k < 4; k++) {
                    List<Double> x = new ArrayList<>(ratios.get(k));
                    Collections.sort(x);
                    System.out.printf("%-11s / plain: median %.4f (min %.4f, max %.4f)%n", names.get(k),
                            x.get(x.size() / 2), x.get(0), x.get(x.size() - 1));
                }
            }
        }
    }
}
