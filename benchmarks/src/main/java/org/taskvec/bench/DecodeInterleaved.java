package org.taskvec.bench;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;

/**
 * The comparison of {@link DecodeBenchmark}, interleaved: rounds of A B B A (Java API loop, C++ loop) on one
 * session, so that drift of a shared machine (page cache, other load) falls on both sides alike. Prints each
 * side's median tokens/s, the ratio java/cpp of the medians, and the median of the per-round ratios (each round's
 * two runs are adjacent in time, so this one is the most robust to drift).
 *
 * <pre>java -cp benchmarks.jar org.taskvec.bench.DecodeInterleaved [tokens=32] [rounds=6] [threads=0]</pre>
 */
public final class DecodeInterleaved {
    private DecodeInterleaved() {}

    public static void main(String[] args) {
        int tokens = args.length > 0 ? Integer.parseInt(args[0]) : 32;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 6;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 0;
        Prompt prompt = Prompt.of("Q: What is the capital of France?\nA:");
        GenerationParams greedy = GenerationParams.greedy(tokens);
        SessionParams sp = BenchModels.params(512, threads);
        try (Model model = Model.load(BenchModels.model()); Session s = model.newSession(sp)) {
            // warm-up: page the weights in, build the token-text cache
            s.evaluate(prompt);
            s.continueGeneration(greedy, null);
            List<Double> java = new ArrayList<>();
            List<Double> cpp = new ArrayList<>();
            for (int r = 0; r < rounds; r++) {
                boolean javaFirst = r % 2 == 0;
                for (int k = 0; k < 2; k++) {
                    boolean runJava = (k == 0) == javaFirst;
                    s.evaluate(prompt);
                    long t0 = System.nanoTime();
                    int n = runJava ? s.continueGeneration(greedy, null).tokens().length
                            : s.generateTokens(greedy).length;
                    double rate = n / ((System.nanoTime() - t0) / 1e9);
                    (runJava ? java : cpp).add(rate);
                    System.out.printf("round %d %-4s %.3f tokens/s%n", r, runJava ? "java" : "cpp", rate);
                }
            }
            double mj = median(java);
            double mc = median(cpp);
            List<Double> paired = new ArrayList<>();
            for (int r = 0; r < rounds; r++) {
                paired.add(java.get(r) / cpp.get(r));
            }
            System.out.printf("median java %.4f tokens/s, cpp %.4f tokens/s, ratio java/cpp %.4f; "
                    + "median of per-round ratios %.4f (min %.4f, max %.4f)%n", mj, mc, mj / mc, median(paired),
                    Collections.min(paired), Collections.max(paired));
        }
    }

    static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        Collections.sort(s);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
