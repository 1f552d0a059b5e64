package org.taskvec.bench;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.HookAction;
import org.taskvec.engine.HookPhase;
import org.taskvec.engine.HookSpec;
import org.taskvec.engine.PointKind;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;

/**
 * {@link HookFreeDecodeBenchmark}'s three sessions interleaved (rotating order each round): decode speed of a
 * session that ran hooks before (now cleared) and of one with an idle graph callback, each as a ratio to a
 * never-hooked session, median over rounds.
 *
 * <pre>java -cp benchmarks.jar org.taskvec.bench.HookFreeInterleaved [tokens=16] [rounds=12] [threads=0]</pre>
 */
public final class HookFreeInterleaved {
    private HookFreeInterleaved() {}

    public static void main(String[] args) {
        int tokens = args.length > 0 ? Integer.parseInt(args[0]) : 16;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 12;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 0;
        Prompt prompt = Prompt.of("Q: What is the capital of France?\nA:");
        GenerationParams greedy = GenerationParams.greedy(tokens);
        try (Model model = Model.load(BenchModels.model())) {
            SessionParams sp = BenchModels.params(512, threads);
            Session plain = model.newSession(sp);
            Session hookFree = model.newSession(sp);
            HookedRun.generate(hookFree, prompt, greedy, Hooks.create()
                    .capture("blocks.1.resid_post", Positions.all(), HookPhase.BOTH));
            Session idle = model.newSession(sp);
            idle.addHook(new HookSpec(PointKind.RESID_POST, 1, HookAction.ZERO,
                    HookPhase.GENERATION, new int[] {idle.contextSize() - 1}, 0, null, 1f));
            Session[] sessions = {plain, hookFree, idle};
            String[] names = {"plain", "hookFree", "idleCallback"};
            List<List<Double>> ratios = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
            for (int r = 0; r < rounds + 1; r++) {
                double[] rate = new double[3];
                for (int j = 0; j < 3; j++) {
                    int k = (j + r) % 3;
                    sessions[k].evaluate(prompt);
                    long t0 = System.nanoTime();
                    int n = sessions[k].continueGeneration(greedy, null).tokens().length;
                    rate[k] = n / ((System.nanoTime() - t0) / 1e9);
                }
                if (r == 0) {
                    continue; // warm-up
                }
                for (int k = 0; k < 3; k++) {
                    ratios.get(k).add(rate[k] / rate[0]);
                }
                System.out.printf("round %2d: plain %.2f tokens/s, hookFree %.2f, idleCallback %.2f%n", r, rate[0],
                        rate[1], rate[2]);
            }
            for (int k = 1; k < 3; k++) {
                List<Double> x = new ArrayList<>(ratios.get(k));
                Collections.sort(x);
                System.out.printf("%-12s / plain decode speed: median %.4f (min %.4f, max %.4f)%n", names[k],
                        x.get(x.size() / 2), x.get(0), x.get(x.size() - 1));
            }
            for (Session s : sessions) {
                s.close();
            }
        }
    }
}
