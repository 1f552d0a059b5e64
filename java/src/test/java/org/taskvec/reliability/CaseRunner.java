package org.taskvec.reliability;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.Image;
import org.taskvec.engine.Model;
import org.taskvec.engine.ModelParams;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.Session;
import org.taskvec.engine.SessionParams;
import org.taskvec.hooks.HookedRun;
import org.taskvec.hooks.Hooks;
import org.taskvec.hooks.Positions;

/**
 * Runs corpus cases in its own JVM (a native crash there cannot take the test JVM down): reads cases from a file,
 * prints one result line per case ("RESULT name<TAB>type<TAB>message") as soon as it finishes, so that a crash
 * leaves the cases before it reported.
 *
 * <pre>java -cp ... org.taskvec.reliability.CaseRunner CASES_FILE TINY_MODEL TINY_PROJECTOR</pre>
 */
public final class CaseRunner {
    private CaseRunner() {}

    public static void main(String[] args) throws Exception {
        List<String> lines = Files.readAllLines(Path.of(args[0]));
        Path model = Path.of(args[1]);
        Path projector = Path.of(args[2]);
        try (Model tiny = Model.load(model, ModelParams.defaults().withProjector(projector))) {
            for (String line : lines) {
                BadInputCase c = BadInputCase.parse(line);
                String type;
                String message;
                try {
                    run(c, tiny, model, projector);
                    type = "OK";
                    message = "";
                } catch (Throwable t) {
                    type = t.getClass().getSimpleName();
                    message = String.valueOf(t.getMessage()).replace('\n', ' ').replace('\t', ' ');
                }
                System.out.println("RESULT " + c.name() + "\t" + type + "\t" + message);
                System.out.flush();
            }
        }
    }

    static void run(BadInputCase c, Model tiny, Path modelFile, Path projectorFile) throws Exception {
        SessionParams sp = SessionParams.defaults().withContextSize(64).withThreads(1);
        switch (c.kind()) {
            case "model" -> model(Path.of(c.arg()));
            case "projector" -> projector(modelFile, Path.of(c.arg()));
            case "image" -> {
                Image img = Image.read(Path.of(c.arg()));
                try (Session s = tiny.newSession(sp)) {
                    s.evaluate(Prompt.withImages("Q:", List.of(img)));
                }
            }
            case "hook" -> {
                String[] a = c.arg().split("\\|", -1); // point|positions|vector length
                try (Session s = tiny.newSession(sp)) {
                    Hooks h = a[2].isEmpty() ? Hooks.create().capture(a[0], Positions.parse(a[1]))
                            : Hooks.create().replace(a[0], Positions.parse(a[1]), new float[Integer.parseInt(a[2])]);
                    HookedRun.run(s, Prompt.of("Q: a short prompt\nA:"), h);
                }
            }
            case "prompt" -> {
                try (Session s = tiny.newSession(sp)) {
                    s.evaluate(Prompt.of("word ".repeat(Integer.parseInt(c.arg()))));
                }
            }
            case "generate" -> {
                try (Session s = tiny.newSession(sp)) {
                    s.generate(Prompt.of("Q:"), GenerationParams.greedy(Integer.parseInt(c.arg())));
                }
            }
            case "token" -> {
                try (Session s = tiny.newSession(sp)) {
                    s.append(Integer.parseInt(c.arg()));
                }
            }
            case "closed" -> {
                Session s = tiny.newSession(sp);
                s.close();
                switch (c.arg()) {
                    case "evaluate" -> s.evaluate(Prompt.of("Q:"));
                    case "logits" -> s.logits();
                    case "generate" -> s.generate(Prompt.of("Q:"), GenerationParams.greedy(1));
                    case "hooks" -> HookedRun.run(s, Prompt.of("Q:"), Hooks.create().capture("blocks.0.resid_post",
                            Positions.last()));
                    default -> s.positions();
                }
            }
            case "threads" -> twoThreads(c.arg(), tiny, sp);
            case "model-mutation" -> model(mutated(c.arg(), modelFile, "model"));
            case "projector-mutation" -> projector(modelFile, mutated(c.arg(), projectorFile, "projector"));
            default -> throw new IllegalArgumentException("unknown case kind " + c.kind());
        }
    }

    /**
     * A session used from a second thread while the first is inside a generation (held there by its token
     * listener, so the overlap is certain): the second thread's call must be refused with a typed exception;
     * "close" must wait for the generation, which then returns normally (stopped at its next token, stop reason
     * CLOSED), and later calls see a closed session.
     */
    static void twoThreads(String call, Model tiny, SessionParams sp) throws Exception {
        if (call.equals("sessions")) { // two sessions of one model, one per thread: allowed
            try (Session a = tiny.newSession(sp); Session b = tiny.newSession(sp)) {
                var other = java.util.concurrent.CompletableFuture.supplyAsync(
                        () -> b.generate(Prompt.of("Q:"), GenerationParams.greedy(8)).text());
                String mine = a.generate(Prompt.of("Q:"), GenerationParams.greedy(8)).text();
                if (!mine.equals(other.get())) {
                    throw new AssertionError("two sessions disagree: '" + mine + "' vs '" + other.get() + "'");
                }
            }
            return;
        }
        Session s = tiny.newSession(sp);
        var inside = new java.util.concurrent.CountDownLatch(1);
        var release = new java.util.concurrent.CountDownLatch(1);
        var generation = java.util.concurrent.CompletableFuture.supplyAsync(() -> s.generate(Prompt.of("Q:"),
                GenerationParams.greedy(6), (token, text) -> {
                    inside.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    return true;
                }));
        if (!inside.await(30, java.util.concurrent.TimeUnit.SECONDS)) {
            throw new AssertionError("the generation did not start");
        }
        try {
            switch (call) {
                case "evaluate" -> s.evaluate(Prompt.of("Q:"));
                case "logits" -> s.logits();
                case "generate" -> s.generate(Prompt.of("Q:"), GenerationParams.greedy(1));
                case "hooks" -> HookedRun.run(s, Prompt.of("Q:"), Hooks.create().capture("blocks.0.resid_post",
                        Positions.last()));
                case "truncate" -> s.truncate(0);
                case "close" -> {
                    var closing = java.util.concurrent.CompletableFuture.runAsync(s::close);
                    Thread.sleep(50);
                    if (closing.isDone()) {
                        throw new AssertionError("close did not wait for the generation in flight");
                    }
                    release.countDown();
                    closing.get(30, java.util.concurrent.TimeUnit.SECONDS);
                    if (generation.get().tokens().length == 0) {
                        throw new AssertionError("the generation in flight was cut short");
                    }
                    s.positions(); // closed now
                }
                default -> throw new IllegalArgumentException("unknown call " + call);
            }
        } finally {
            release.countDown();
            generation.exceptionally(t -> null).get(30, java.util.concurrent.TimeUnit.SECONDS);
            s.close();
        }
    }

    /**
     * A model loaded, then used: some values matter only when the graph is built or run. A session decodes the
     * prompt and two generated tokens (the first is decoded to sample the second), and the logits must be finite.
     */
    static void model(Path file) {
        try (Model m = Model.load(file);
             Session s = m.newSession(SessionParams.defaults().withContextSize(64).withThreads(1))) {
            m.layers();
            s.generate(Prompt.of("Q:"), GenerationParams.greedy(2));
            for (float x : s.logits()) {
                if (!Float.isFinite(x)) {
                    throw new AssertionError("the model decodes to non-finite logits");
                }
            }
        }
    }

    /** A projector loaded, then used: some values matter only when an image is encoded. */
    static void projector(Path modelFile, Path projector) {
        try (Model m = Model.load(modelFile, ModelParams.defaults().withProjector(projector));
             Session s = m.newSession(SessionParams.defaults().withContextSize(256).withThreads(1))) {
            s.evaluate(Prompt.withImages("Q:", List.of(Image.ofRgb(40, 30, new byte[40 * 30 * 3]))));
        }
    }

    private static final java.util.Map<String, byte[]> ORIGINALS = new java.util.HashMap<>();
    private static final java.util.Map<String, Path> WORK = new java.util.HashMap<>();

    /** The file with the patches ("offset:length:value" little-endian, or "cut:offset") applied, in a work copy. */
    static Path mutated(String spec, Path file, String what) throws Exception {
        byte[] original = ORIGINALS.get(what);
        if (original == null) {
            original = Files.readAllBytes(file);
            ORIGINALS.put(what, original);
            Path w = Files.createTempFile("taskvec-mutation-" + what, ".gguf");
            w.toFile().deleteOnExit();
            WORK.put(what, w);
        }
        byte[] c = original.clone();
        int length = c.length;
        for (String p : spec.split(",")) {
            String[] f = p.split(":");
            if (f[0].equals("cut")) {
                length = Math.min(length, Integer.parseInt(f[1]));
                continue;
            }
            int at = Integer.parseInt(f[0]);
            long v = Long.parseLong(f[2]);
            for (int b = 0; b < Integer.parseInt(f[1]); b++) {
                c[at + b] = (byte) (v >>> (8 * b));
            }
        }
        Path w = WORK.get(what);
        Files.write(w, java.util.Arrays.copyOf(c, length));
        return w;
    }
}
