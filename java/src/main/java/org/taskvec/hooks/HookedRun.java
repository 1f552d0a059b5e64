package org.taskvec.hooks;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.stream.IntStream;
import org.taskvec.engine.Generation;
import org.taskvec.engine.GenerationParams;
import org.taskvec.engine.InvalidInputException;
import org.taskvec.engine.Model;
import org.taskvec.engine.Prompt;
import org.taskvec.engine.HookAction;
import org.taskvec.engine.HookPhase;
import org.taskvec.engine.HookSpec;
import org.taskvec.engine.PointKind;
import org.taskvec.engine.Session;

/**
 * Runs a prompt (and optionally a generation) with hooks attached: names and positions are resolved and checked
 * against the model and the prompt before anything reaches native code, the hooks apply during the run, and they
 * are removed when it ends, whatever happens.
 */
public final class HookedRun {
    private HookedRun() {}

    /** Evaluates prompt with hooks; the session then holds the (patched) prompt and its last logits. */
    public static RunResult run(Session session, Prompt prompt, Hooks hooks) {
        return execute(session, prompt, hooks, null);
    }

    /** Evaluates prompt and generates with hooks (prompt-phase hooks apply to the prompt only). */
    public static RunResult generate(Session session, Prompt prompt, GenerationParams params, Hooks hooks) {
        Objects.requireNonNull(params, "params");
        return execute(session, prompt, hooks, params);
    }

    /**
     * Evaluates prompts.get(i) into sequence seqs[i] of a session with parallel sequences, all together
     * ({@link Session#evaluateAll}), with hooks.get(i) on that sequence only; prompt-phase hooks (mean ablation
     * needs a given mean). Each sequence reuses its own cached prefix up to its first hooked position, so variants
     * forked from one prefix ({@link Session#fork}) evaluate only what differs: the last token of a query patched at
     * its final ":" is one row per variant in one decode. Every hook is checked as in {@link #run}; results are per
     * sequence, in the order given.
     */
    public static List<RunResult> runAll(Session session, List<Prompt> prompts, int[] seqs, List<Hooks> hooks) {
        Objects.requireNonNull(session, "session");
        Objects.requireNonNull(prompts, "prompts");
        Objects.requireNonNull(seqs, "seqs");
        Objects.requireNonNull(hooks, "hooks");
        if (prompts.size() != seqs.length || hooks.size() != seqs.length) {
            throw new InvalidInputException("runAll needs one prompt and one Hooks per sequence; got " + prompts.size()
                    + " prompts, " + hooks.size() + " hooks and " + seqs.length + " sequences");
        }
        Model model = session.model();
        int nLayer = model.layers();
        List<int[]> layouts = new ArrayList<>();
        List<List<Registered>> metas = new ArrayList<>();
        try {
            for (int k = 0; k < seqs.length; k++) {
                int[] layout = session.layout(prompts.get(k));
                layouts.add(layout);
                List<Registered> meta = new ArrayList<>();
                for (Hooks.Pending h : hooks.get(k).pending()) {
                    HookPoint point = HookPoint.parse(h.point(), nLayer);
                    if (h.phase() != HookPhase.PROMPT) {
                        throw new InvalidInputException("runAll takes prompt-phase hooks; " + point.name() + " is "
                                + h.phase());
                    }
                    if (h.op() == HookOp.MEAN_ABLATE && h.vectors() == null) {
                        throw new InvalidInputException("a mean ablation in runAll needs its mean");
                    }
                    int width = model.hookPointWidth(point.kind());
                    if (h.vectors() != null) {
                        for (float[] v : h.vectors()) {
                            if (v.length != width) {
                                throw new InvalidInputException("vector of length " + v.length + " for "
                                        + point.name() + ", whose rows have width " + width);
                            }
                        }
                    }
                    int[] pos = h.positions().resolve(layout, model);
                    int count = pos == null ? layout.length : pos.length;
                    if (pos == null) {
                        throw new InvalidInputException("runAll hooks name their positions (not all)");
                    }
                    if (h.vectors() != null && h.vectors().length != 1 && h.vectors().length != count) {
                        throw new InvalidInputException(h.vectors().length + " vectors for " + count
                                + " positions at " + point.name() + "; give 1 or " + count);
                    }
                    HookSpec r = spec(point, h.op(), HookPhase.PROMPT, pos, count, h.vectors(), h.scale());
                    r = new HookSpec(r.point(), r.layer(), r.action(), r.phase(), r.positions(), r.rows(), r.data(),
                            r.scale(), seqs[k]);
                    meta.add(new Registered(session.addHook(r), point, h.op(), pos, false, false));
                }
                metas.add(meta);
            }
            session.evaluateAll(prompts, seqs, true);
            List<RunResult> out = new ArrayList<>();
            for (int k = 0; k < seqs.length; k++) {
                int evaluated = session.positions(seqs[k]);
                List<Capture> captures = new ArrayList<>();
                for (Registered reg : metas.get(k)) {
                    int expected = (int) java.util.Arrays.stream(reg.positions()).filter(p -> p < evaluated).count();
                    requireFired(verb(reg.op()), reg.point().name(), session.hookRowsTouched(reg.id()), expected,
                            false, false);
                    if (reg.op() == HookOp.CAPTURE) {
                        captures.add(new Capture(reg.point(), reg.positions(), session.hookRows(reg.id())));
                    }
                }
                out.add(new RunResult(layouts.get(k), captures, null));
            }
            return out;
        } finally {
            session.clearHooks();
        }
    }

    /** A hook as registered: positions it names (for an all-positions prompt hook, every prompt position). */
    private record Registered(int id, HookPoint point, HookOp op, int[] positions, boolean generation, boolean all) {}

    private static RunResult execute(Session session, Prompt prompt, Hooks hooks, GenerationParams params) {
        Objects.requireNonNull(session, "session");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(hooks, "hooks");
        Model model = session.model();
        int[] layout = session.layout(prompt);
        if (layout.length > session.contextSize()) {
            throw new org.taskvec.engine.ContextOverflowException("the prompt has " + layout.length
                    + " positions but the context holds " + session.contextSize());
        }
        int nLayer = model.layers();
        // Resolve and check everything first: a bad hook fails the run before it starts.
        List<HookSpec> raw = new ArrayList<>();
        List<Registered> meta = new ArrayList<>();
        List<HookPoint> points = new ArrayList<>();
        List<float[][]> means = new ArrayList<>();
        for (Hooks.Pending h : hooks.pending()) {
            HookPoint point = HookPoint.parse(h.point(), nLayer);
            int width = model.hookPointWidth(point.kind());
            if (h.vectors() != null) {
                for (float[] v : h.vectors()) {
                    if (v.length != width) {
                        throw new InvalidInputException("vector of length " + v.length + " for " + point.name()
                                + ", whose rows have width " + width);
                    }
                }
            }
            if (h.phase() == HookPhase.GENERATION && params == null) {
                throw new InvalidInputException("a generation-phase hook at " + point.name()
                        + " needs a run that generates");
            }
            points.add(point);
            means.add(h.op() == HookOp.MEAN_ABLATE && h.vectors() == null ? null : h.vectors());
        }
        try {
            // Mean ablations without a given mean take the prompt's own mean at that point: one capture pass.
            for (int i = 0; i < points.size(); i++) {
                Hooks.Pending h = hooks.pending().get(i);
                if (h.op() == HookOp.MEAN_ABLATE && h.vectors() == null) {
                    int id = session.addHook(new HookSpec(points.get(i).kind(), points.get(i).nativeLayer(),
                            HookAction.CAPTURE, HookPhase.PROMPT, null, layout.length, null, 1f));
                    session.evaluate(prompt, false);
                    float[][] rows = session.hookRows(id);
                    means.set(i, new float[][] {new Capture(points.get(i), null, rows).mean()});
                    session.clearHooks();
                }
            }
            for (int i = 0; i < points.size(); i++) {
                Hooks.Pending h = hooks.pending().get(i);
                HookPoint point = points.get(i);
                float[][] vectors = means.get(i);
                if (h.phase() == HookPhase.PROMPT || h.phase() == HookPhase.BOTH) {
                    int[] pos = h.positions().resolve(layout, model);
                    int count = pos == null ? layout.length : pos.length;
                    if (vectors != null && vectors.length != 1 && vectors.length != count) {
                        throw new InvalidInputException(vectors.length + " vectors for " + count + " positions at "
                                + point.name() + "; give 1 or " + count);
                    }
                    HookSpec r = spec(point, h.op(), HookPhase.PROMPT, pos, count, vectors, h.scale());
                    int id = session.addHook(r);
                    meta.add(new Registered(id, point, h.op(),
                            pos == null ? IntStream.range(0, layout.length).toArray() : pos, false, pos == null));
                }
                if (params != null && (h.phase() == HookPhase.GENERATION || h.phase() == HookPhase.BOTH)) {
                    // explicit positions of a generation-phase hook are offsets of the continuation
                    int[] pos = h.positions().isAll() || h.positions().isLast() ? null
                            : h.positions().continuation(layout.length);
                    int count = pos == null ? Math.max(1, params.maxTokens()) : pos.length;
                    HookSpec r = spec(point, h.op(), HookPhase.GENERATION, pos, count, vectors,
                            h.scale());
                    int id = session.addHook(r);
                    meta.add(new Registered(id, point, h.op(), pos, true, pos == null));
                }
            }
            Generation generation = null;
            session.evaluate(prompt);
            checkFired(session, meta, false, layout.length);
            if (params != null) {
                generation = session.continueGeneration(params, null);
                checkFired(session, meta, true, layout.length);
            }
            List<Capture> captures = new ArrayList<>();
            for (Registered reg : meta) {
                if (reg.op() == HookOp.CAPTURE) {
                    float[][] rows = session.hookRows(reg.id());
                    int[] positions = reg.positions() != null ? reg.positions()
                            : IntStream.range(0, rows.length).map(j -> layout.length + j).toArray();
                    captures.add(new Capture(reg.point(), positions, rows));
                }
            }
            return new RunResult(layout, captures, generation);
        } finally {
            session.clearHooks();
        }
    }

    /**
     * After the prompt (generation false) or the generation: every hook of that phase read or wrote each position it
     * names that was evaluated, and a hook on every position at least one row; else {@link HookNotFiredException}.
     */
    private static void checkFired(Session session, List<Registered> meta, boolean generation, int promptLength) {
        int evaluated = session.positions();
        for (Registered reg : meta) {
            if (reg.generation() != generation) {
                continue;
            }
            int touched = session.hookRowsTouched(reg.id());
            int expected;
            if (!reg.all()) {
                expected = (int) java.util.Arrays.stream(reg.positions()).filter(p -> p < evaluated).count();
            } else {
                expected = generation ? Math.min(1, evaluated - promptLength) : 1;
            }
            requireFired(verb(reg.op()), reg.point().name(), touched, expected, reg.all(), generation);
        }
    }

    /** Throws {@link HookNotFiredException} unless the hook touched its expected rows (all: at least that many). */
    static void requireFired(String what, String point, int touched, int expected, boolean all, boolean generation) {
        boolean fired = all ? touched >= expected : touched == expected;
        if (!fired) {
            throw new HookNotFiredException(what + " hook at " + point + " touched " + touched + " of the " + expected
                    + " row" + (expected == 1 ? "" : "s") + " it should have in " + (generation ? "the generation"
                    : "the prompt") + (touched == 0 ? ": this model's graph has no such node, or does not compute "
                    + "it at those positions" : ""));
        }
    }

    private static String verb(HookOp op) {
        return switch (op) {
            case CAPTURE -> "a capture";
            case REPLACE -> "a replace";
            case ADD -> "an add";
            case ZERO -> "a zero";
            case MEAN_ABLATE -> "a mean-ablation";
        };
    }

    private static HookSpec spec(HookPoint point, HookOp op, HookPhase phase, int[] positions, int count,
                                 float[][] vectors, float scale) {
        HookAction action = switch (op) {
            case CAPTURE -> HookAction.CAPTURE;
            case REPLACE, MEAN_ABLATE -> HookAction.REPLACE;
            case ADD -> HookAction.ADD;
            case ZERO -> HookAction.ZERO;
        };
        float[] data = null;
        int rows = op == HookOp.CAPTURE ? count : 0;
        if (vectors != null) {
            rows = vectors.length;
            int w = vectors[0].length;
            data = new float[rows * w];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(vectors[r], 0, data, r * w, w);
            }
        }
        return new HookSpec(point.kind(), point.nativeLayer(), action, phase, positions, rows, data, scale);
    }
}
