package org.taskvec.engine;

import static org.taskvec.nativeapi.TaskvecNative.*;

import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Optional;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.taskvec.nativeapi.TaskvecNative.TvHookParams;
import org.taskvec.nativeapi.TaskvecNative.TvPrompt;
import org.taskvec.nativeapi.TaskvecNative.TvSamplingParams;
import org.taskvec.nativeapi.TaskvecNative.TvSession;
import org.taskvec.nativeapi.TaskvecNative.TvSessionParams;

/**
 * A llama.cpp context over a {@link Model}: a KV cache, a sampler and the positions evaluated so far.
 *
 * <p>Threads: a session belongs to one thread at a time. A second thread that enters while another is inside gets
 * a {@link ConcurrentSessionUseException} (reads included); it is never let into the native context. {@link
 * #close()} from another thread waits, without spinning, for the call in flight.
 *
 * <p>Re-entry: a {@link TokenListener} runs on the generating thread between two decode steps and may call back into
 * its session. Reads are allowed: {@link #logits()}, {@link #positions()}, {@link #tokens()}, {@link #layout(Prompt)},
 * {@link #hookRows(int)} (and {@link Model} calls). Calls that change the session ({@link #evaluate}, {@link
 * #append}, {@link #truncate}, {@link #generate}, {@link #continueGeneration}, {@link #step}, {@link
 * #generateTokens}, {@link #stream}, {@link #addHook}, {@link #clearHooks}) would change the generation under its
 * feet and get a {@link ReentrantSessionUseException}. A listener may {@link #close()} the session: the generation
 * stops at that token with {@link Generation.StopReason#CLOSED} and the context is freed when the call returns.
 *
 * <p>Prefix reuse: {@link #evaluate(Prompt)} keeps the leading positions that the new prompt shares with what the
 * session holds (same tokens, identical images) and evaluates only the rest, so prompts that share examples cost
 * only their new part.
 */
public final class Session implements AutoCloseable {
    private final Model model;
    private final TvSession handle;
    private final HandleGuard guard = new HandleGuard("session", true, this::free);
    private final NativeReleases.SessionRelease release;
    private final int vocabularySize;
    private final int contextSize;
    private final int sequences;
    // Native scratch reused by every call: no allocation per generated token.
    private final IntPointer token = new IntPointer(1);
    private final IntPointer stop = new IntPointer(1);
    private final IntPointer reused = new IntPointer(1);
    private FloatPointer logitsBuf;
    private GenerationParams lastParams;
    // Native row buffers of the hooks now attached; freed by clearHooks().
    private final java.util.List<FloatPointer> hookBuffers = new java.util.ArrayList<>();
    private final java.util.List<HookSpec> hooks = new java.util.ArrayList<>();

    Session(Model model, SessionParams params) {
        Objects.requireNonNull(params, "params");
        this.model = model;
        var m = model.enter();
        try (TvSessionParams sp = tv_session_default_params()) {
            sp.n_ctx(params.contextSize()).n_batch(params.batchSize()).n_ubatch(params.microBatchSize())
                    .n_threads(params.threads()).n_threads_batch(params.batchThreads())
                    .flash_attn(switch (params.flashAttention()) { case AUTO -> -1; case OFF -> 0; case ON -> 1; })
                    .kv_type(params.kvCacheType() == SessionParams.KvCacheType.F32 ? 1 : 0).seed(params.seed())
                    .n_seq(params.sequences());
            TvSession h = tv_session_init(m, sp);
            if (h == null || h.isNull()) {
                if (tv_last_status() == TV_ERR_RPC) {
                    throw new RemoteBackendException("cannot create a session: " + NativeLibrary.lastError());
                }
                throw new ModelLoadException("cannot create a session: " + NativeLibrary.lastError());
            }
            this.handle = h;
            this.release = new NativeReleases.SessionRelease(h, model.release());
            NativeReleases.CLEANER.register(this, release.cleaner());
            this.vocabularySize = model.vocabularySize();
            this.contextSize = tv_session_n_ctx(h);
            this.sequences = tv_session_n_seq(h);
            model.register(this);
        } finally {
            model.exit();
        }
    }

    public Model model() {
        return model;
    }

    /** Positions the context holds. */
    public int contextSize() {
        return contextSize;
    }

    /** Positions evaluated so far (prompt and generated tokens). */
    public int positions() {
        guard.enter(HandleGuard.Access.READ);
        try {
            return tv_session_n_past(handle);
        } finally {
            guard.exit();
        }
    }

    /** The token at each evaluated position; {@link #IMAGE_POSITION} where an image embedding sits. */
    public int[] tokens() {
        guard.enter(HandleGuard.Access.READ);
        try {
            int n = tv_session_n_past(handle);
            try (IntPointer out = new IntPointer(Math.max(1, n))) {
                tv_session_tokens(handle, out, n);
                int[] r = new int[n];
                out.get(r);
                return r;
            }
        } finally {
            guard.exit();
        }
    }

    /** Marks image positions in {@link #tokens()}. */
    public static final int IMAGE_POSITION = TV_TOKEN_IMAGE;

    /** Result of evaluating a prompt. */
    public record Evaluation(int positions, int reusedPositions) {}

    /** Evaluates a prompt from the start of the context, reusing the shared prefix. */
    public Evaluation evaluate(Prompt prompt) {
        return evaluate(prompt, true);
    }

    /**
     * Evaluates a prompt; with reusePrefix false everything is evaluated afresh. Positions that a hook wrote (see
     * {@link #writtenFrom}) are never reused as a clean prefix: they are evaluated afresh.
     */
    public Evaluation evaluate(Prompt prompt, boolean reusePrefix) {
        Objects.requireNonNull(prompt, "prompt");
        checkPrompt(prompt);
        guard.enter();
        try {
            TvPrompt p = buildNativePrompt(prompt);
            try {
                check(tv_session_eval_prompt(handle, p, prompt.addBos(), reusePrefix, reused));
            } finally {
                tv_prompt_free(p);
            }
            return new Evaluation(tv_session_n_past(handle), reused.get());
        } finally {
            guard.exit();
        }
    }

    // ---- parallel sequences ----

    /** The session's parallel sequences ({@link SessionParams#withSequences}); the calls without one use 0. */
    public int sequences() {
        guard.enter(HandleGuard.Access.READ);
        try {
            return tv_session_n_seq(handle);
        } finally {
            guard.exit();
        }
    }

    private void checkSeq(int seq) {
        if (seq < 0 || seq >= sequences) {
            throw new InvalidInputException("sequence " + seq + " is outside [0, " + sequences + ")");
        }
    }

    /** Positions sequence seq holds. */
    public int positions(int seq) {
        checkSeq(seq);
        guard.enter(HandleGuard.Access.READ);
        try {
            return tv_session_seq_n_past(handle, seq);
        } finally {
            guard.exit();
        }
    }

    /** Evaluates prompts.get(i) into sequence i, all together (see {@link #evaluateAll(List, int[], boolean)}). */
    public List<Evaluation> evaluateAll(List<Prompt> prompts) {
        return evaluateAll(prompts, java.util.stream.IntStream.range(0, prompts.size()).toArray(), true);
    }

    /**
     * Evaluates prompts.get(i) into sequence seqs[i] (distinct): the text of all of them in shared decodes, one read
     * of the weights for all sequences per decode; images one sequence at a time. Each sequence reuses its own
     * cached prefix as {@link #evaluate(Prompt, boolean)} does.
     */
    public List<Evaluation> evaluateAll(List<Prompt> prompts, int[] seqs, boolean reusePrefix) {
        Objects.requireNonNull(prompts, "prompts");
        Objects.requireNonNull(seqs, "seqs");
        if (prompts.isEmpty() || prompts.size() != seqs.length) {
            throw new InvalidInputException("evaluateAll needs as many sequences as prompts (at least one), got "
                    + prompts.size() + " prompts and " + seqs.length + " sequences");
        }
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int i = 0; i < seqs.length; i++) {
            checkSeq(seqs[i]);
            if (!seen.add(seqs[i])) {
                throw new InvalidInputException("sequence " + seqs[i] + " is given two prompts");
            }
            Objects.requireNonNull(prompts.get(i), "prompt " + i);
            checkPrompt(prompts.get(i));
        }
        boolean addBos = prompts.get(0).addBos();
        for (Prompt p : prompts) {
            if (p.addBos() != addBos) {
                throw new InvalidInputException("prompts evaluated together must agree on addBos");
            }
        }
        guard.enter();
        List<TvPrompt> natives = new java.util.ArrayList<>();
        try (org.bytedeco.javacpp.PointerPointer<TvPrompt> pp = new org.bytedeco.javacpp.PointerPointer<>(prompts.size());
             IntPointer sp = new IntPointer(seqs); IntPointer nReused = new IntPointer(seqs.length)) {
            for (int i = 0; i < prompts.size(); i++) {
                natives.add(buildNativePrompt(prompts.get(i)));
                pp.put(i, natives.get(i));
            }
            check(tv_session_eval_prompts(handle, pp, sp, seqs.length, addBos, reusePrefix, nReused));
            List<Evaluation> out = new java.util.ArrayList<>();
            for (int i = 0; i < seqs.length; i++) {
                out.add(new Evaluation(tv_session_seq_n_past(handle, seqs[i]), nReused.get(i)));
            }
            return out;
        } finally {
            for (TvPrompt p : natives) {
                tv_prompt_free(p);
            }
            guard.exit();
        }
    }

    /** Makes sequence dst hold everything sequence src holds, its last logits included (shared KV cells). */
    public void fork(int src, int dst) {
        fork(src, dst, positions(src));
    }

    /**
     * Makes sequence dst hold the first keep positions of sequence src (dst's previous content is dropped). The KV
     * cells are shared, not recomputed: variants of one prompt evaluate its prefix once.
     */
    public void fork(int src, int dst, int keep) {
        checkSeq(src);
        checkSeq(dst);
        guard.enter();
        try {
            check(tv_session_seq_fork(handle, src, dst, keep));
        } finally {
            guard.exit();
        }
    }

    /** The last logits of sequence seq. */
    public float[] logits(int seq) {
        checkSeq(seq);
        float[] into = new float[vocabularySize];
        guard.enter(HandleGuard.Access.READ);
        try (FloatPointer buf = new FloatPointer(vocabularySize)) {
            check(tv_session_seq_logits(handle, seq, buf, vocabularySize));
            buf.get(into);
            return into;
        } finally {
            guard.exit();
        }
    }

    /**
     * Continues sequences seqs (each must end with text, e.g. after {@link #evaluateAll}) together: every step is one
     * decode for all sequences still going, greedy or sampled (a sampler per sequence, seeded with params' seed plus
     * the sequence id), each stopping at its own end-of-generation token, stop token or stop string. Generation-phase
     * hooks added with {@link #addHook} apply per sequence.
     */
    public List<Generation> generateAll(int[] seqs, GenerationParams params) {
        Objects.requireNonNull(seqs, "seqs");
        Objects.requireNonNull(params, "params");
        if (seqs.length == 0) {
            throw new InvalidInputException("no sequences to generate in");
        }
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int q : seqs) {
            checkSeq(q);
            if (!seen.add(q)) {
                throw new InvalidInputException("sequence " + q + " is given twice");
            }
        }
        guard.enter();
        try {
            configure(params);
            int max = params.maxTokens();
            int[] before = new int[seqs.length];
            for (int i = 0; i < seqs.length; i++) {
                before[i] = tv_session_seq_n_past(handle, seqs[i]);
            }
            try (IntPointer sp = new IntPointer(seqs); IntPointer out = new IntPointer(Math.max(1, (long) seqs.length * max));
                 IntPointer n = new IntPointer(seqs.length); IntPointer stops = new IntPointer(seqs.length)) {
                check(tv_session_generate_seqs(handle, sp, seqs.length, max, out, n, stops));
                List<Generation> result = new java.util.ArrayList<>();
                for (int i = 0; i < seqs.length; i++) {
                    int count = n.get(i);
                    int code = stops.get(i);
                    int[] toks = new int[count];
                    out.position((long) i * max).get(toks);
                    out.position(0);
                    Generation.StopReason reason = switch (code) {
                        case TV_STOP_EOG -> Generation.StopReason.END_OF_GENERATION;
                        case TV_STOP_TOKEN -> Generation.StopReason.STOP_TOKEN;
                        case TV_STOP_STRING -> Generation.StopReason.STOP_STRING;
                        default -> Generation.StopReason.MAX_TOKENS;
                    };
                    if (reason == Generation.StopReason.END_OF_GENERATION) {
                        toks = java.util.Arrays.copyOf(toks, count - 1); // the end-of-generation token is not output
                    }
                    String text = model.detokenize(toks);
                    if (reason == Generation.StopReason.STOP_STRING) {
                        int cut = text.length();
                        for (String str : params.stopStrings()) {
                            int at = text.indexOf(str);
                            if (at >= 0) {
                                cut = Math.min(cut, at);
                            }
                        }
                        text = text.substring(0, cut);
                    }
                    result.add(new Generation(text, toks, reason, before[i], 0));
                }
                return result;
            }
        } finally {
            guard.exit();
        }
    }

    /** Keeps the first n positions of sequence seq. */
    public void truncate(int seq, int n) {
        checkSeq(seq);
        guard.enter();
        try {
            check(tv_session_seq_truncate(handle, seq, n));
        } finally {
            guard.exit();
        }
    }

    private void checkPrompt(Prompt prompt) {
        for (Prompt.Part part : prompt.parts()) {
            if (part.isImage() && !model.hasProjector()) {
                throw new NoProjectorException("the prompt has an image but the model was loaded without a "
                        + "vision projector (mmproj)");
            }
            if (part.isTokens()) {
                for (int t : part.tokensUnsafe()) {
                    model.checkToken(t);
                }
                if (part.tokensUnsafe().length > contextSize) {
                    throw new ContextOverflowException("the prompt has " + part.tokensUnsafe().length
                            + " tokens but the context holds " + contextSize);
                }
            }
        }
    }

    private static TvPrompt buildNativePrompt(Prompt prompt) {
        TvPrompt p = tv_prompt_init();
        if (p == null || p.isNull()) {
            throw new NativeFailureException("out of memory creating a prompt");
        }
        try {
            for (Prompt.Part part : prompt.parts()) {
                if (part.isText()) {
                    byte[] b = part.text().getBytes(StandardCharsets.UTF_8);
                    try (BytePointer bp = new BytePointer(Math.max(1, b.length))) {
                        bp.put(b, 0, b.length);
                        check(tv_prompt_add_text(p, bp, b.length));
                    }
                } else if (part.isImage()) {
                    Image img = part.image();
                    try (BytePointer bp = new BytePointer(img.rgbUnsafe())) {
                        check(tv_prompt_add_image_rgb(p, bp, img.width(), img.height()));
                    }
                } else {
                    int[] t = part.tokensUnsafe();
                    try (IntPointer ip = new IntPointer(Math.max(1, t.length))) {
                        ip.put(t, 0, t.length);
                        check(tv_prompt_add_tokens(p, ip, t.length));
                    }
                }
            }
            return p;
        } catch (RuntimeException e) {
            tv_prompt_free(p);
            throw e;
        }
    }

    private static void check(int status) {
        NativeLibrary.check(status);
    }

    /**
     * The positions prompt would occupy if evaluated now, without evaluating it: the token at each position, or
     * {@code -1 - k} at the positions of the prompt's k-th image.
     */
    public int[] layout(Prompt prompt) {
        Objects.requireNonNull(prompt, "prompt");
        checkPrompt(prompt);
        guard.enter(HandleGuard.Access.READ);
        try {
            TvPrompt p = buildNativePrompt(prompt);
            try {
                return NativeInts.read(256, (out, cap) -> tv_session_prompt_layout(handle, p, prompt.addBos(), out, cap));
            } finally {
                tv_prompt_free(p);
            }
        } finally {
            guard.exit();
        }
    }

    /**
     * Attaches a hook for the evaluations that follow, until {@link #clearHooks()}; returns its id. Low level:
     * {@code org.taskvec.hooks.HookedRun} resolves names and positions and cleans up.
     */
    public int addHook(HookSpec hook) {
        Objects.requireNonNull(hook, "hook");
        guard.enter();
        try {
            int width = model.hookPointWidth(hook.point());
            if (hook.data() != null && hook.data().length != (long) hook.rows() * width) {
                throw new InvalidInputException("hook data has " + hook.data().length + " values; " + hook.rows()
                        + " rows of width " + width + " need " + (long) hook.rows() * width);
            }
            FloatPointer buf = hook.rows() > 0 ? new FloatPointer((long) hook.rows() * width) : null;
            if (buf != null && hook.data() != null) {
                buf.put(hook.data());
            }
            int[] pos = hook.positions();
            try (TvHookParams hp = tv_hook_default_params();
                 IntPointer pp = new IntPointer(Math.max(1, pos == null ? 1 : pos.length));
                 IntPointer id = new IntPointer(1)) {
                if (pos != null) {
                    pp.put(pos, 0, pos.length);
                }
                hp.point(hook.point().code).layer(hook.layer()).op(hook.action().code).phase(hook.phase().code)
                        .seq(hook.seq())
                        .positions(pp).n_positions(pos == null ? -1 : pos.length).data(buf).n_rows(hook.rows())
                        .scale(hook.scale());
                int st = tv_session_add_hook(handle, hp, id);
                if (st != TV_OK) {
                    if (buf != null) {
                        buf.close();
                    }
                    check(st);
                }
                hookBuffers.add(buf);
                hooks.add(hook);
                return id.get();
            }
        } finally {
            guard.exit();
        }
    }

    /** Rows a capture hook has filled so far, as [rows][width] (the rows it reserved, filled or not, stay zero). */
    public float[][] hookRows(int hookId) {
        guard.enter(HandleGuard.Access.READ);
        try {
            if (hookId < 0 || hookId >= hooks.size()) {
                throw new InvalidInputException("no hook with id " + hookId);
            }
            FloatPointer buf = hookBuffers.get(hookId);
            int filled = tv_session_hook_rows(handle, hookId);
            int rows = Math.min(filled, hooks.get(hookId).rows());
            if (buf == null || rows <= 0) {
                return new float[0][];
            }
            int width = (int) (buf.capacity() / hooks.get(hookId).rows());
            float[][] out = new float[rows][width];
            for (int r = 0; r < rows; r++) {
                buf.position((long) r * width).get(out[r]);
            }
            buf.position(0);
            return out;
        } finally {
            guard.exit();
        }
    }

    /**
     * Rows hook hookId has read or written so far, whatever its operation (for a hook on every position, at most the
     * rows it holds).
     */
    public int hookRowsTouched(int hookId) {
        guard.enter(HandleGuard.Access.READ);
        try {
            if (hookId < 0 || hookId >= hooks.size()) {
                throw new InvalidInputException("no hook with id " + hookId);
            }
            return tv_session_hook_rows(handle, hookId);
        } finally {
            guard.exit();
        }
    }

    /** Detaches every hook and frees their buffers; later evaluations run without a graph callback. */
    public void clearHooks() {
        guard.enter();
        try {
            tv_session_clear_hooks(handle);
            freeHookBuffers();
        } finally {
            guard.exit();
        }
    }

    private void freeHookBuffers() {
        for (FloatPointer b : hookBuffers) {
            if (b != null) {
                b.close();
            }
        }
        hookBuffers.clear();
        hooks.clear();
    }

    /** Appends tokens after what the session holds and evaluates them. */
    public void append(int... tokens) {
        Objects.requireNonNull(tokens, "tokens");
        for (int t : tokens) {
            model.checkToken(t);
        }
        guard.enter();
        try (IntPointer ip = new IntPointer(Math.max(1, tokens.length))) {
            ip.put(tokens, 0, tokens.length);
            check(tv_session_eval_tokens(handle, ip, tokens.length));
        } finally {
            guard.exit();
        }
    }

    /**
     * The graph node that holds a hook point (kind, block) on this session's model: its llama.cpp name
     * (e.g. {@code l_out-3}), or for an unnamed node the operation and weight that identify it (e.g.
     * {@code mul_mat(blk.3.attn_output.weight)}); empty when the model's graph has no such node. Low level:
     * {@code org.taskvec.hooks.HookPoint} names the points.
     */
    public Optional<String> pointNode(PointKind point, int layer) {
        Objects.requireNonNull(point, "point");
        guard.enter(HandleGuard.Access.READ);
        try {
            try (BytePointer buf = new BytePointer(256)) {
                int n = tv_session_point_node(handle, point.code, point.perLayer ? layer : 0, buf, 256);
                if (n < 0) {
                    if (tv_last_status() == TV_ERR_NO_POINT) {
                        return Optional.empty();
                    }
                    throw NativeLibrary.toException(tv_last_status(), NativeLibrary.lastError());
                }
                byte[] b = new byte[Math.min(n, 255)];
                buf.get(b, 0, b.length);
                return Optional.of(new String(b, StandardCharsets.UTF_8));
            }
        } finally {
            guard.exit();
        }
    }

    /**
     * The first position that a replace, add or zero hook wrote and the session still holds, or -1. The next prompt
     * evaluation re-evaluates from there instead of reusing those states as a clean prefix.
     */
    public int writtenFrom() {
        guard.enter(HandleGuard.Access.READ);
        try {
            return tv_session_written_from(handle);
        } finally {
            guard.exit();
        }
    }

    /** Keeps the first n positions and drops the rest (0 clears the session). */
    public void truncate(int n) {
        guard.enter();
        try {
            int held = tv_session_n_past(handle);
            if (n < 0 || n > held) {
                throw new InvalidInputException("cannot keep " + n + " positions; the session holds " + held);
            }
            check(tv_session_truncate(handle, n));
        } finally {
            guard.exit();
        }
    }

    /** Logits of the last evaluated position (a new array of vocabulary size). */
    public float[] logits() {
        return logits(new float[vocabularySize]);
    }

    /** Copies the logits of the last evaluated position into into (length = vocabulary size) and returns it. */
    public float[] logits(float[] into) {
        Objects.requireNonNull(into, "into");
        if (into.length != vocabularySize) {
            throw new InvalidInputException("logits array has length " + into.length + " but the vocabulary has "
                    + vocabularySize + " tokens");
        }
        guard.enter(HandleGuard.Access.READ);
        try {
            if (logitsBuf == null) {
                logitsBuf = new FloatPointer(vocabularySize);
            }
            check(tv_session_logits(handle, logitsBuf, vocabularySize));
            logitsBuf.get(into);
            return into;
        } finally {
            guard.exit();
        }
    }

    /** Evaluates prompt (reusing the shared prefix) and generates a continuation. */
    public Generation generate(Prompt prompt, GenerationParams params) {
        return generate(prompt, params, null);
    }

    /** Evaluates prompt and generates, passing each token to listener as it comes (listener may be null). */
    public Generation generate(Prompt prompt, GenerationParams params, TokenListener listener) {
        Objects.requireNonNull(params, "params");
        Evaluation ev = evaluate(prompt);
        return run(params, listener, ev.positions(), ev.reusedPositions());
    }

    /** Generates from the session's current state (after {@link #evaluate} or a previous generation). */
    public Generation continueGeneration(GenerationParams params, TokenListener listener) {
        return run(params, listener, 0, 0);
    }

    private Generation run(GenerationParams params, TokenListener listener, int promptPositions, int reusedPositions) {
        Objects.requireNonNull(params, "params");
        guard.enter();
        try {
            Stepper st = new Stepper(params);
            boolean more = params.maxTokens() > 0;
            while (more) {
                more = st.step();
                if (listener != null && (st.produced || !more)) {
                    String fresh = st.releasable(!more);
                    if ((st.produced || !fresh.isEmpty()) && !callListener(listener, st.lastToken, fresh) && more) {
                        st.reason = Generation.StopReason.CANCELLED;
                        more = false;
                    }
                }
                if (more && guard.isClosed()) { // closed by the listener, or by another thread waiting for us
                    st.reason = Generation.StopReason.CLOSED;
                    more = false;
                }
            }
            return new Generation(st.finalText(), st.tokens(), st.reason, promptPositions, reusedPositions);
        } finally {
            guard.exit();
        }
    }

    /** Calls the listener with reads of this session let in (see {@link ReentrantSessionUseException}). */
    private boolean callListener(TokenListener listener, int tokenId, String text) {
        guard.beginCallback();
        try {
            return listener.onToken(tokenId, text);
        } finally {
            guard.endCallback();
        }
    }

    /**
     * One generation in progress: native steps, the tokens and text so far, and how much text was handed out.
     * While stop strings are set, text that could be the start of one is held back until it is decided.
     */
    private final class Stepper {
        final GenerationParams params;
        final Utf8Accumulator text = new Utf8Accumulator();
        final int holdBack;
        int[] tokens;
        int count;
        int emitted;
        int lastToken = -1;
        boolean produced;
        Generation.StopReason reason = Generation.StopReason.MAX_TOKENS;

        Stepper(GenerationParams params) {
            this.params = params;
            this.tokens = new int[Math.max(1, Math.min(params.maxTokens(), 1024))];
            this.holdBack = params.stopStrings().stream().mapToInt(String::length).max().orElse(1) - 1;
            configure(params);
        }

        /** Runs one step; false when generation has ended (reason set). */
        boolean step() {
            check(tv_session_generate_step(handle, token, stop));
            lastToken = token.get();
            int code = stop.get();
            produced = code != TV_STOP_EOG;
            if (!produced) {
                reason = Generation.StopReason.END_OF_GENERATION;
                return false;
            }
            if (count == tokens.length) {
                tokens = java.util.Arrays.copyOf(tokens, tokens.length * 2);
            }
            tokens[count++] = lastToken;
            text.append(model.piece(lastToken));
            if (code == TV_STOP_TOKEN) {
                reason = Generation.StopReason.STOP_TOKEN;
                return false;
            }
            if (code == TV_STOP_STRING) {
                reason = Generation.StopReason.STOP_STRING;
                return false;
            }
            return count < params.maxTokens();
        }

        String finalText() {
            String all = text.text();
            if (reason == Generation.StopReason.STOP_STRING) {
                int cut = firstStop(all, params.stopStrings());
                return cut >= 0 ? all.substring(0, cut) : all;
            }
            return all;
        }

        /** Text not yet handed out that is certain (all of it once finished). */
        String releasable(boolean finished) {
            String full = finished ? finalText() : text.complete();
            int end = finished ? full.length() : Math.max(emitted, full.length() - holdBack);
            String s = emitted >= end ? "" : full.substring(emitted, end);
            emitted = Math.max(emitted, end);
            return s;
        }

        int[] tokens() {
            return java.util.Arrays.copyOf(tokens, count);
        }
    }

    private static int firstStop(String text, List<String> stops) {
        int best = -1;
        for (String s : stops) {
            int i = text.indexOf(s);
            if (i >= 0 && (best < 0 || i < best)) {
                best = i;
            }
        }
        return best;
    }

    /** Sets sampling and stop conditions natively, unless they are what the session already has. */
    private void configure(GenerationParams params) {
        GenerationParams last = lastParams;
        boolean sameSampling = last != null && last.temperature() == params.temperature()
                && last.topK() == params.topK() && last.topP() == params.topP() && last.seed() == params.seed();
        if (!sameSampling || !params.isGreedy()) { // a sampled draw restarts from its seed
            try (TvSamplingParams sp = tv_sampling_default_params()) {
                sp.temperature(params.temperature()).top_k(params.topK()).top_p(params.topP()).seed(params.seed());
                check(tv_session_set_sampling(handle, sp));
            }
        }
        if (last == null || !last.stopTokens().equals(params.stopTokens())
                || !last.stopStrings().equals(params.stopStrings())) {
            for (int t : params.stopTokens()) {
                model.checkToken(t);
            }
            java.io.ByteArrayOutputStream packed = new java.io.ByteArrayOutputStream();
            for (String str : params.stopStrings()) {
                packed.writeBytes(str.getBytes(StandardCharsets.UTF_8));
                packed.write(0);
            }
            byte[] b = packed.toByteArray();
            int[] t = params.stopTokens().stream().mapToInt(Integer::intValue).toArray();
            try (IntPointer tp = new IntPointer(Math.max(1, t.length)); BytePointer bp = new BytePointer(Math.max(1, b.length))) {
                tp.put(t, 0, t.length);
                bp.put(b, 0, b.length);
                check(tv_session_set_stops(handle, tp, t.length, bp, b.length));
            }
        }
        lastParams = params;
    }

    /**
     * One generation step with the sampling and stop settings of the last generation (greedy if none): samples a
     * token, evaluates it unless it ends generation, and returns it. Allocates nothing on the Java heap; for
     * callers that drive decoding themselves.
     */
    public int step() {
        guard.enter();
        try {
            check(tv_session_generate_step(handle, token, stop));
            return token.get();
        } finally {
            guard.exit();
        }
    }

    /**
     * Generates up to maxTokens tokens in one native call (the C++ loop of the library; no per-token callback),
     * honouring stop tokens and strings. Returns the tokens; an end-of-generation token ends the list.
     */
    public int[] generateTokens(GenerationParams params) {
        Objects.requireNonNull(params, "params");
        guard.enter();
        try {
            configure(params);
            int max = params.maxTokens();
            try (IntPointer out = new IntPointer(Math.max(1, max)); IntPointer n = new IntPointer(1)) {
                check(tv_session_generate(handle, max, out, n, stop));
                int[] r = new int[n.get()];
                out.get(r);
                return r;
            }
        } finally {
            guard.exit();
        }
    }

    /** Streams generated text lazily; each {@code next()} runs decode steps until there is text to return. */
    public Iterator<String> stream(Prompt prompt, GenerationParams params) {
        Objects.requireNonNull(params, "params");
        evaluate(prompt);
        guard.enter();
        Stepper st;
        try {
            st = new Stepper(params);
        } finally {
            guard.exit();
        }
        return new Iterator<>() {
            private String ready = "";
            private boolean done = params.maxTokens() == 0;

            @Override
            public boolean hasNext() {
                while (ready.isEmpty() && !done) {
                    guard.enter();
                    try {
                        done = !st.step();
                        ready = st.releasable(done);
                    } finally {
                        guard.exit();
                    }
                }
                return !ready.isEmpty();
            }

            @Override
            public String next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                String r = ready;
                ready = "";
                return r;
            }
        };
    }

    public boolean isClosed() {
        return guard.isClosed();
    }

    /** How many times closing asked to free the native context: 0 while open, 1 once closed (for tests). */
    int frees() {
        return release.frees();
    }

    /**
     * Frees the context. Idempotent; later calls throw {@link ClosedHandleException}.
     *
     * <p>While a call is in flight on another thread, close blocks (without spinning) until that call returns, then
     * frees; a generation in flight stops at its next token with {@link Generation.StopReason#CLOSED}. Called by a
     * {@link TokenListener} on its own session (or through {@link Model#close()}), close marks the session closed
     * and returns at once: the generation stops at that token and returns normally with stop reason {@code
     * CLOSED}, and the context is freed as the generation call returns.
     */
    @Override
    public void close() {
        guard.close();
    }

    /** The free action of the guard: runs once, when no call is in flight. */
    private void free() {
        release.free();
        freeHookBuffers();
        token.close();
        stop.close();
        reused.close();
        if (logitsBuf != null) {
            logitsBuf.close();
        }
        model.unregister(this);
    }
}
