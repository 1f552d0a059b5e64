package org.taskvec.perf;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.HookPhase;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;

/**
 * What patching costs on a given model and machine, measured in one process and interleaved (each round runs every
 * operation once, in a rotating order, so that drift of the machine falls on all alike): a plain prompt, the prompt
 * with a one-layer capture, an all-layer capture and a one-layer patch; decoding through the library's C++ loop,
 * through the Java API, and in a session that used hooks before; and image encoding. Reports each operation's median time and speed, and its
 * ratio to the plain counterpart with the spread over rounds.
 */
public final class BenchRunner {
    /** The settings of a bench run. */
    public record Settings(int promptTokens, int genTokens, int rounds, SessionParams session) {}

    /** One operation's results: median milliseconds, tokens per second, and the ratio to its baseline. */
    public record Result(String name, double medianMs, double tokensPerSecond, double ratioMedian, double ratioMin,
                         double ratioMax, String baseline) {}

    private BenchRunner() {}

    /** Runs the bench; progress receives a line per round. image may be null (no projector: no image timing). */
    public static List<Result> run(Model model, Settings s, Image image, Consumer<String> progress) {
        try (Session plain = model.newSession(s.session()); Session hooked = model.newSession(s.session())) {
            Prompt prompt = promptOf(model, s.promptTokens());
            int mid = model.layers() / 2;
            String point = "blocks." + mid + ".resid_post";
            Hooks one = Hooks.create().capture(point, Positions.last());
            Hooks all = Hooks.create().captureLayers("resid_post", model.layers(), Positions.last());
            Hooks patch = Hooks.create().replace(point, Positions.last(),
                    HookedRun.run(plain, prompt, one).captures().get(0).last());
            // the hook-free session has run hooks on prompt and generation before; they are cleared now
            HookedRun.generate(hooked, prompt, GenerationParams.greedy(2), Hooks.create()
                    .capture(point, Positions.all(), HookPhase.BOTH));
            GenerationParams gen = GenerationParams.greedy(s.genTokens());
            int promptLen = plain.layout(prompt).length;

            Map<String, Runnable> ops = new LinkedHashMap<>();
            ops.put("prompt", () -> { plain.truncate(0); plain.evaluate(prompt); });
            ops.put("prompt + capture 1 layer", () -> { plain.truncate(0); HookedRun.run(plain, prompt, one); });
            ops.put("prompt + capture all layers", () -> { plain.truncate(0); HookedRun.run(plain, prompt, all); });
            ops.put("prompt + patch 1 layer", () -> { plain.truncate(0); HookedRun.run(plain, prompt, patch); });
            ops.put("decode, C++ loop", () -> { plain.evaluate(prompt); timeInner(() -> plain.generateTokens(gen)); });
            ops.put("decode", () -> { plain.evaluate(prompt); timeInner(() -> plain.continueGeneration(gen, null)); });
            ops.put("decode, hook-free session", () -> {
                hooked.evaluate(prompt);
                timeInner(() -> hooked.continueGeneration(gen, null));
            });
            if (image != null && model.hasProjector()) {
                Prompt withImage = Prompt.withImages("Q:" + Prompt.MEDIA_MARKER + "\nA:", List.of(image));
                ops.put("image prompt (encode + decode)", () -> { plain.truncate(0); plain.evaluate(withImage); });
            }
            List<String> names = new ArrayList<>(ops.keySet());
            Map<String, List<Double>> ms = new LinkedHashMap<>();
            names.forEach(n -> ms.put(n, new ArrayList<>()));
            for (int r = 0; r <= s.rounds(); r++) {
                for (int j = 0; j < names.size(); j++) {
                    String n = names.get((j + r) % names.size());
                    INNER.remove();
                    long t0 = System.nanoTime();
                    ops.get(n).run();
                    double elapsed = (System.nanoTime() - t0) / 1e6;
                    Double inner = INNER.get();
                    if (r > 0) { // round 0 warms up
                        ms.get(n).add(inner != null ? inner : elapsed);
                    }
                }
                if (r > 0) {
                    progress.accept("round " + r + "/" + s.rounds());
                }
            }
            List<Result> out = new ArrayList<>();
            for (String n : names) {
                boolean decode = n.startsWith("decode");
                String base = BASELINES.get(n);
                double median = median(ms.get(n));
                double tokens = decode ? s.genTokens() : promptLen;
                List<Double> ratios = new ArrayList<>();
                if (base != null) {
                    for (int k = 0; k < ms.get(n).size(); k++) {
                        ratios.add(ms.get(n).get(k) / ms.get(base).get(k));
                    }
                }
                // speed ratios (plain / op): > 1 means faster than the baseline
                List<Double> speed = ratios.stream().map(x -> 1 / x).sorted().toList();
                out.add(new Result(n, median, n.startsWith("image") ? Double.NaN : tokens / (median / 1000),
                        speed.isEmpty() ? Double.NaN : median(speed), speed.isEmpty() ? Double.NaN : speed.get(0),
                        speed.isEmpty() ? Double.NaN : speed.get(speed.size() - 1), base));
            }
            return out;
        }
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

    /** Decode operations time only their generation, not the prompt reset before it. */
    private static final ThreadLocal<Double> INNER = new ThreadLocal<>();

    private static void timeInner(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        INNER.set((System.nanoTime() - t0) / 1e6);
    }

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
