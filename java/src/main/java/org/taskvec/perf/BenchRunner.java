package org.taskvec.perf;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import java.util.function.Supplier;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.engine.HookPhase;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;

/**
 * What patching costs on a given model and machine, measured in one process and interleaved: each round runs every
 * operation once, in an order shuffled afresh each round (seeded), so that drift of the machine and the effect of
 * the operation run just before fall on all alike. Operations: a plain prompt, the prompt with a one-layer capture,
 * an all-layer capture and a one-layer patch; decoding through the library's C++ loop, through the Java API, and in
 * a session that used hooks before; and image encoding.
 *
 * <p>Every decode row starts from the same state: its session is emptied and the prompt evaluated afresh (not
 * timed), and the C++ loop and Java rows share one session that never runs hooks, so that they differ only in the
 * path under test; the hook-free row uses a second session that ran hooks on prompt and generation before. Decode
 * times are per generated token, counted from the tokens really generated (a random-weight model may emit an
 * end-of-generation token early). Prompt and hook rows run in a third session.
 *
 * <p>Each ratio is the median over rounds of the per-round ratio to the baseline (the paired design: both were
 * measured in the same round), with its spread (min-max); the ratio of the two rows' medians is reported beside it
 * as a check. This is the one ratio method of every summary (benchmarks/gpu_summary.py reads these fields).
 */
public final class BenchRunner {
    /** The settings of a bench run: warmup rounds are run and discarded before the measured rounds. */
    public record Settings(int promptTokens, int genTokens, int rounds, int warmup, SessionParams session) {
        public Settings(int promptTokens, int genTokens, int rounds, SessionParams session) {
            this(promptTokens, genTokens, rounds, 2, session);
        }
    }

    /**
     * One operation's results: median milliseconds (per token for decode rows), tokens per second, the median of
     * per-round speed ratios to the baseline with its spread, the ratio of medians, the fewest tokens a decode
     * round generated, and (decode rows) whether every round of the row and of its baseline generated the same
     * tokens: the evidence that they started from the same state (null for other rows).
     */
    public record Result(String name, double medianMs, double tokensPerSecond, double ratioMedian, double ratioMin,
                         double ratioMax, String baseline, double ratioOfMedians, int rounds, int minTokens,
                         Boolean sameTokens) {}

    private BenchRunner() {}

    /** Runs the bench; progress receives a line per round. image may be null (no projector: no image timing). */
    public static List<Result> run(Model model, Settings s, Image image, Consumer<String> progress) {
        if (s.rounds() < 1 || s.warmup() < 0) {
            throw new org.taskvec.engine.InvalidInputException("rounds >= 1 and warmup >= 0, got " + s.rounds()
                    + " and " + s.warmup());
        }
        try (Session prompts = model.newSession(s.session()); Session decode = model.newSession(s.session());
             Session hooked = model.newSession(s.session())) {
            Prompt prompt = promptOf(model, s.promptTokens());
            int mid = model.layers() / 2;
            String point = "blocks." + mid + ".resid_post";
            Hooks one = Hooks.create().capture(point, Positions.last());
            Hooks all = Hooks.create().captureLayers("resid_post", model.layers(), Positions.last());
            Hooks patch = Hooks.create().replace(point, Positions.last(),
                    HookedRun.run(prompts, prompt, one).captures().get(0).last());
            // the hook-free session has run hooks on prompt and generation before; they are cleared now
            HookedRun.generate(hooked, prompt, GenerationParams.greedy(2), Hooks.create()
                    .capture(point, Positions.all(), HookPhase.BOTH));
            GenerationParams gen = GenerationParams.greedy(s.genTokens());
            int promptLen = prompts.layout(prompt).length;

            Map<String, Supplier<Timing>> ops = new LinkedHashMap<>();
            ops.put("prompt", () -> fresh(prompts, () -> { prompts.evaluate(prompt); return promptLen; }));
            ops.put("prompt + capture 1 layer", () -> fresh(prompts, () -> { HookedRun.run(prompts, prompt, one);
                return promptLen; }));
            ops.put("prompt + capture all layers", () -> fresh(prompts, () -> { HookedRun.run(prompts, prompt, all);
                return promptLen; }));
            ops.put("prompt + patch 1 layer", () -> fresh(prompts, () -> { HookedRun.run(prompts, prompt, patch);
                return promptLen; }));
            ops.put("decode, C++ loop", () -> decodeFrom(decode, prompt, () -> decode.generateTokens(gen)));
            ops.put("decode", () -> decodeFrom(decode, prompt, () -> decode.continueGeneration(gen, null).tokens()));
            ops.put("decode, hook-free session", () -> decodeFrom(hooked, prompt,
                    () -> hooked.continueGeneration(gen, null).tokens()));
            if (image != null && model.hasProjector()) {
                Prompt withImage = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(image));
                ops.put("image prompt (encode + decode)", () -> fresh(prompts, () -> { prompts.evaluate(withImage);
                    return 0; }));
            }
            return measure(ops, BASELINES, s, promptLen, 20241024, progress);
        }
    }

    /**
     * Runs ops for s's warm-up and measured rounds, each round in an order shuffled afresh (seeded), and summarises
     * them: per row the median (per generated token for rows named "decode..."), tokens per second (prompt rows:
     * promptLen positions per run; rows named "image..." none), and against its baseline (baselines: row to row; a
     * row that is its own baseline, or has none, gets no ratio) the speed ratios of {@link #speedRatios} and whether
     * decode rows generated the same tokens in every round.
     */
    static List<Result> measure(Map<String, Supplier<Timing>> ops, Map<String, String> baselines, Settings s,
                                int promptLen, long seed, Consumer<String> progress) {
        List<String> names = new ArrayList<>(ops.keySet());
        Map<String, List<Timing>> timings = new LinkedHashMap<>();
        names.forEach(n -> timings.put(n, new ArrayList<>()));
        Random order = new Random(seed);
        for (int r = 0; r < s.warmup() + s.rounds(); r++) {
            List<String> round = new ArrayList<>(names);
            Collections.shuffle(round, order);
            for (String n : round) {
                Timing t = ops.get(n).get();
                if (r >= s.warmup()) {
                    timings.get(n).add(t);
                }
            }
            progress.accept(r < s.warmup() ? "warm-up " + (r + 1) + "/" + s.warmup()
                    : "round " + (r - s.warmup() + 1) + "/" + s.rounds());
        }
        List<Result> out = new ArrayList<>();
        for (String n : names) {
            boolean perToken = n.startsWith("decode");
            List<Double> ms = perUnit(timings.get(n), perToken);
            double median = median(ms);
            int minTokens = perToken ? timings.get(n).stream().mapToInt(Timing::units).min().orElse(0) : -1;
            double tps = n.startsWith("image") ? Double.NaN : perToken ? 1000 / median : promptLen / (median / 1000);
            String base = baselines.get(n);
            Boolean same = perToken && base != null ? java.util.stream.Stream.concat(timings.get(n).stream(),
                    timings.get(base).stream()).map(Timing::tokens).distinct().count() == 1 : null;
            if (base == null || base.equals(n)) {
                out.add(new Result(n, median, tps, Double.NaN, Double.NaN, Double.NaN, base, Double.NaN,
                        ms.size(), minTokens, same));
                continue;
            }
            // speed ratios (baseline time / op time, same round): > 1 means faster than the baseline
            double[] r = speedRatios(ms, perUnit(timings.get(base), base.startsWith("decode")));
            out.add(new Result(n, median, tps, r[0], r[1], r[2], base, r[3], ms.size(), minTokens, same));
        }
        return out;
    }

    /** Each timing's milliseconds, per unit (generated token) for decode rows. */
    private static List<Double> perUnit(List<Timing> ts, boolean perToken) {
        return ts.stream().map(t -> perToken ? t.ms() / Math.max(1, t.units()) : t.ms()).toList();
    }

    /**
     * Speed ratios of an operation to its baseline from times measured in the same rounds (index k of both lists):
     * {median, min, max} of the per-round ratios baseline/op, and the ratio of the two medians. > 1: faster than
     * the baseline. The two summaries differ when rounds are bimodal (e.g. op [10, 60, 60] ms against baseline
     * [10, 10, 60]: per-round median 1, ratio of medians 1/6); a summary reports the first and checks the second.
     */
    static double[] speedRatios(List<Double> opMs, List<Double> baseMs) {
        if (opMs.size() != baseMs.size() || opMs.isEmpty()) {
            throw new IllegalArgumentException("one time per round for both: " + opMs.size() + " vs " + baseMs.size());
        }
        List<Double> speed = new ArrayList<>();
        for (int k = 0; k < opMs.size(); k++) {
            speed.add(baseMs.get(k) / opMs.get(k));
        }
        Collections.sort(speed);
        return new double[] {median(speed), speed.get(0), speed.get(speed.size() - 1), median(baseMs) / median(opMs)};
    }

    /** One timed operation: elapsed milliseconds, what it processed (tokens generated, prompt positions) and the
     *  tokens generated (decode rows; null otherwise). */
    record Timing(double ms, int units, List<Integer> tokens) {}

    /** Times op after emptying the session (not timed). */
    static Timing fresh(Session session, java.util.function.IntSupplier op) {
        session.truncate(0);
        long t0 = System.nanoTime();
        int units = op.getAsInt();
        return new Timing((System.nanoTime() - t0) / 1e6, units, null);
    }

    /** Times a generation from the same state each time: the session emptied and the prompt evaluated afresh. */
    static Timing decodeFrom(Session session, Prompt prompt, Supplier<int[]> generate) {
        session.truncate(0);
        session.evaluate(prompt);
        long t0 = System.nanoTime();
        int[] tokens = generate.get();
        double ms = (System.nanoTime() - t0) / 1e6;
        return new Timing(ms, tokens.length, java.util.Arrays.stream(tokens).boxed().toList());
    }

    /**
     * What each operation is compared with: hooks with the plain prompt; the Java API's decoding (a JNI crossing,
     * token text and stop checks per token) with the library's own C++ loop in the same session; the hook-free
     * session with plain decoding. Image encoding has no baseline.
     */
    private static final Map<String, String> BASELINES = Map.of(
            "prompt", "prompt", "prompt + capture 1 layer", "prompt", "prompt + capture all layers", "prompt",
            "prompt + patch 1 layer", "prompt", "decode, C++ loop", "decode, C++ loop", "decode", "decode, C++ loop",
            "decode, hook-free session", "decode");

    /** A prompt of about n tokens in the paper's format. */
    static Prompt promptOf(Model model, int n) {
        StringBuilder sb = new StringBuilder();
        String[] words = {"Q:", "France", "\nA:", "Paris", "\n\n"};
        for (int i = 0; model.tokenize(sb.toString(), true).length < n; i++) {
            sb.append(words[i % words.length]);
        }
        return Prompt.of(sb.toString());
    }

    static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        Collections.sort(s);
        int n = s.size();
        return n == 0 ? Double.NaN : n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
