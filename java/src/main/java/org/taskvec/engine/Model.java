package org.taskvec.engine;

import static org.taskvec.nativeapi.TaskvecNative.*;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.taskvec.gguf.GgufFile;
import org.taskvec.gguf.GgufFormatException;
import org.taskvec.gguf.GgufReader;
import org.taskvec.nativeapi.TaskvecNative.TvModel;
import org.taskvec.nativeapi.TaskvecNative.TvModelParams;

/**
 * A GGUF model loaded by llama.cpp, with its vision projector when one is given.
 *
 * <p>Threads: a model may be shared by any number of threads; each creates its own {@link Session}s. Image
 * encoding through the shared projector is serialised internally. Closing the model closes its open sessions.
 *
 * <p>Files are checked in Java before llama.cpp opens them (existence, GGUF structure, projector fit), so a bad
 * file is an exception, never a native crash.
 */
public final class Model implements AutoCloseable {
    private final TvModel handle;
    private final HandleGuard guard = new HandleGuard("model", false, this::free);
    private final Path path;
    private final GgufFile header;
    private final GgufFile projectorHeader;
    private final Path projectorPath;
    private final ModelInfo info;
    // Sessions of this model, held weakly: an unreachable session is left to its cleaner
    private final Set<Session> sessions = java.util.Collections.newSetFromMap(
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>()));
    private final NativeReleases.ModelRelease release;
    private volatile byte[][] pieces; // token texts, built on first generation

    private Model(TvModel handle, Path path, GgufFile header, GgufFile projectorHeader, Path projectorPath) {
        this.handle = handle;
        this.release = new NativeReleases.ModelRelease(handle, path.toString());
        NativeReleases.CLEANER.register(this, release.cleaner());
        this.path = path;
        this.header = header;
        this.projectorHeader = projectorHeader;
        this.projectorPath = projectorPath;
        this.info = readInfo();
    }

    /** Loads a model with default parameters (CPU, mmap, no projector). */
    public static Model load(Path path) {
        return load(path, ModelParams.defaults());
    }

    /** Loads a model (and the projector named in params). */
    public static Model load(Path path, ModelParams params) {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(params, "params");
        GgufFile header = checkModelFile(path);
        GgufFile projectorHeader = params.projector() == null ? null : checkProjectorFile(params.projector(), header);
        NativeLibrary.ensureLoaded();
        float[] split = new float[params.tensorSplit().size()];
        for (int i = 0; i < split.length; i++) {
            split[i] = params.tensorSplit().get(i);
        }
        try (BytePointer p = NativeLibrary.utf8(path.toAbsolutePath().toString());
             BytePointer mm = params.projector() == null ? null
                     : NativeLibrary.utf8(params.projector().toAbsolutePath().toString());
             BytePointer rpc = params.rpcServers().isEmpty() ? null
                     : NativeLibrary.utf8(String.join(",", params.rpcServers()));
             FloatPointer ts = split.length == 0 ? null : new FloatPointer(split);
             TvModelParams mp = tv_model_default_params()) {
            mp.n_gpu_layers(params.gpuLayers()).use_mmap(params.mmap()).mmproj_threads(params.projectorThreads())
                    .image_cache_bytes(params.imageCacheBytes())
                    .mmproj_flash_attn(switch (params.projectorFlashAttention()) {
                        case AUTO -> -1;
                        case OFF -> 0;
                        case ON -> 1;
                    });
            mp.mmproj_path(mm);
            mp.rpc_servers(rpc).tensor_split(ts).n_tensor_split(split.length);
            NativeLibrary.clearNativeError();
            TvModel h = tv_model_load(p, mp);
            if (h == null || h.isNull()) {
                String err = NativeLibrary.lastError();
                String reason = NativeLibrary.firstNativeErrorLine();
                if (reason != null) {
                    err = err + ": " + reason.strip();
                }
                // the status says which file failed (a model path that merely contains "projector" is not one)
                if (tv_last_status() == TV_ERR_PROJECTOR) {
                    throw new ProjectorMismatchException(err);
                }
                if (tv_last_status() == TV_ERR_RPC || tv_last_status() == TV_ERR_INVALID_ARG) {
                    throw NativeLibrary.toException(tv_last_status(), err);
                }
                throw new ModelLoadException(err);
            }
            return new Model(h, path, header, projectorHeader, params.projector());
        }
    }

    /**
     * Quantizes a model file with llama.cpp: type F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M or Q4_0 (tensors whose rows do
     * not fit the type's blocks keep a compatible type). The input is checked first like any model file.
     */
    public static void quantize(Path in, Path out, String type, int threads) {
        Objects.requireNonNull(out, "out");
        Objects.requireNonNull(type, "type");
        checkModelFile(in);
        NativeLibrary.ensureLoaded();
        NativeLibrary.clearNativeError();
        try (BytePointer i = NativeLibrary.utf8(in.toAbsolutePath().toString());
             BytePointer o = NativeLibrary.utf8(out.toAbsolutePath().toString());
             BytePointer t = NativeLibrary.utf8(type)) {
            int st = tv_model_quantize(i, o, t, threads);
            if (st != TV_OK) {
                String reason = NativeLibrary.firstNativeErrorLine();
                throw NativeLibrary.toException(st, NativeLibrary.lastError() + (reason == null ? "" : ": " + reason));
            }
        }
    }

    /** Checks that path is a readable, structurally sound GGUF language model. */
    static GgufFile checkModelFile(Path path) {
        GgufFile f = readGguf(path, "model");
        String arch = f.architecture();
        if (arch.isEmpty()) {
            throw new InvalidModelFileException(path + " has no general.architecture; it is not a model");
        }
        if (arch.equals("clip")) {
            throw new InvalidModelFileException(path + " is a vision projector (mmproj), not a language model; "
                    + "pass it as the projector");
        }
        if (f.tensors().isEmpty()) {
            throw new InvalidModelFileException(path + " holds no tensors (a vocabulary-only file?)");
        }
        ModelFileRules.check(f);
        return f;
    }

    /** Checks that path is a vision projector whose output width fits the model. */
    static GgufFile checkProjectorFile(Path path, GgufFile model) {
        GgufFile f = readGguf(path, "projector");
        if (!f.architecture().equals("clip")) {
            throw new ProjectorMismatchException(path + " is not a vision projector (architecture '"
                    + f.architecture() + "', expected 'clip')");
        }
        boolean vision = f.get("clip.has_vision_encoder").map(v -> v.value() instanceof Boolean b && b).orElse(false)
                || f.metadata().containsKey("clip.vision.image_size");
        if (!vision) {
            throw new ProjectorMismatchException(path + " has no vision encoder");
        }
        ProjectorFileRules.check(f);
        Optional<Long> projDim = f.getLong("clip.vision.projection_dim");
        Optional<Long> embd = model.getLong(model.architecture() + ".embedding_length");
        if (projDim.isPresent() && embd.isPresent() && !projDim.get().equals(embd.get())
                && f.getString("clip.projector_type").map(t -> t.equals("mlp") || t.equals("ldp")
                        || t.equals("ldpv2")).orElse(true)) {
            throw new ProjectorMismatchException("projector " + path + " outputs vectors of width " + projDim.get()
                    + " but the model's embedding width is " + embd.get());
        }
        return f;
    }

    private static GgufFile readGguf(Path path, String what) {
        if (!Files.exists(path)) {
            throw new ModelNotFoundException(what + " file not found: " + path);
        }
        if (!Files.isRegularFile(path) || !Files.isReadable(path)) {
            throw new ModelNotFoundException(what + " path is not a readable file: " + path);
        }
        try {
            return GgufReader.read(path);
        } catch (GgufFormatException e) {
            throw new InvalidModelFileException(what + " file " + path + " is not valid GGUF: " + e.getMessage());
        } catch (IOException e) {
            throw new ModelLoadException("cannot read " + what + " file " + path + ": " + e.getMessage(), e);
        }
    }

    private ModelInfo readInfo() {
        String tmpl;
        BytePointer t = tv_model_chat_template(handle);
        tmpl = t == null || t.isNull() ? null : t.getString(StandardCharsets.UTF_8);
        return new ModelInfo(header.architecture(), header.getString("general.name").orElse(""),
                stringOut((buf, n) -> tv_model_desc(handle, buf, n)), tv_model_n_layer(handle),
                tv_model_n_embd(handle), tv_model_n_head(handle), tv_model_n_head_kv(handle),
                tv_model_n_vocab(handle), tv_model_n_ctx_train(handle), tv_model_n_params(handle),
                tv_model_size(handle), tmpl, tv_model_has_projector(handle));
    }

    @FunctionalInterface
    private interface StringOut {
        int get(BytePointer buf, int size);
    }

    private static String stringOut(StringOut call) {
        int size = 256;
        while (true) {
            try (BytePointer buf = new BytePointer(size)) {
                int n = call.get(buf, size);
                if (n < 0) {
                    return null;
                }
                if (n < size) {
                    byte[] b = new byte[n];
                    buf.get(b, 0, n);
                    return new String(b, StandardCharsets.UTF_8);
                }
                size = n + 1;
            }
        }
    }

    // ---- guarded access for sessions ----
    TvModel enter() {
        guard.enter();
        return handle;
    }

    void exit() {
        guard.exit();
    }

    void register(Session s) {
        sessions.add(s);
    }

    void unregister(Session s) {
        sessions.remove(s);
    }

    public Path path() {
        return path;
    }

    /** The model file's GGUF header as read by the Java-side check. */
    public GgufFile header() {
        return header;
    }

    /** The projector file, when a projector is loaded. */
    public Optional<Path> projectorPath() {
        return Optional.ofNullable(projectorPath);
    }

    /** The projector file's GGUF header, when a projector is loaded. */
    public Optional<GgufFile> projectorHeader() {
        return Optional.ofNullable(projectorHeader);
    }

    public ModelInfo info() {
        guard.enter();
        guard.exit();
        return info;
    }

    public int vocabularySize() {
        return info.vocabularySize();
    }

    public int embeddingSize() {
        return info.embeddingSize();
    }

    public int layers() {
        return info.layers();
    }

    public boolean hasProjector() {
        return info.hasProjector();
    }

    /**
     * A device that holds offloaded layers: its name ("RPC0", "CUDA0"), description (an RPC device's is its server's
     * host:port), free and total memory in bytes, and how many of the model's repeating layers it holds.
     */
    public record Device(String name, String description, long freeBytes, long totalBytes, int layers) {
        public boolean remote() {
            return name.startsWith("RPC");
        }
    }

    /**
     * The devices that hold the model's offloaded layers, in llama.cpp's order (RPC servers' devices first), with
     * their memory as they report it now (a question to each RPC server: {@link RemoteBackendException} when one is
     * lost). Empty when everything runs on this process's CPU.
     */
    public List<Device> devices() {
        enter();
        try {
            List<Device> out = new ArrayList<>();
            int n = tv_model_n_devices(handle);
            for (int i = 0; i < n; i++) {
                byte[] name = new byte[256];
                byte[] desc = new byte[256];
                long[] free = new long[1];
                long[] total = new long[1];
                int[] layers = new int[1];
                NativeLibrary.check(tv_model_device(handle, i, name, name.length, desc, desc.length, free, total,
                        layers));
                out.add(new Device(cString(name), cString(desc), free[0], total[0], layers[0]));
            }
            return out;
        } finally {
            exit();
        }
    }

    /** Repeating layers computed by this process's CPU (those on no device). */
    public int cpuLayers() {
        enter();
        try {
            return tv_model_n_cpu_layers(handle);
        } finally {
            exit();
        }
    }

    private static String cString(byte[] b) {
        int n = 0;
        while (n < b.length && b[n] != 0) {
            n++;
        }
        return new String(b, 0, n, StandardCharsets.UTF_8);
    }

    /** A metadata value as llama.cpp renders it, if present. */
    public Optional<String> metadata(String key) {
        Objects.requireNonNull(key, "key");
        enter();
        try (BytePointer k = NativeLibrary.utf8(key)) {
            return Optional.ofNullable(stringOut((buf, n) -> tv_model_meta(handle, k, buf, n)));
        } finally {
            exit();
        }
    }

    /** All metadata as llama.cpp renders it (arrays summarised). */
    public Map<String, String> metadata() {
        enter();
        try {
            Map<String, String> out = new LinkedHashMap<>();
            int n = tv_model_meta_count(handle);
            for (int i = 0; i < n; i++) {
                final int idx = i;
                out.put(stringOut((buf, s) -> tv_model_meta_key_at(handle, idx, buf, s)),
                        stringOut((buf, s) -> tv_model_meta_value_at(handle, idx, buf, s)));
            }
            return out;
        } finally {
            exit();
        }
    }

    public int bosToken() {
        return enterAnd(() -> tv_model_token_bos(handle));
    }

    public int eosToken() {
        return enterAnd(() -> tv_model_token_eos(handle));
    }

    /** Whether token ends generation (EOS, EOT, ...). */
    public boolean isEndOfGeneration(int token) {
        checkToken(token);
        return enterAnd(() -> tv_model_is_eog(handle, token) ? 1 : 0) == 1;
    }

    /** Tokens an image of this size becomes with the loaded projector. */
    public int imageTokens(int width, int height) {
        if (!hasProjector()) {
            throw new NoProjectorException("the model was loaded without a projector");
        }
        if (width <= 0 || height <= 0 || width > Image.MAX_SIDE || height > Image.MAX_SIDE) {
            throw new InvalidInputException("image size " + width + "x" + height + " is out of range");
        }
        return enterAnd(() -> tv_model_image_tokens(handle, width, height));
    }

    private int enterAnd(java.util.function.IntSupplier f) {
        enter();
        try {
            return f.getAsInt();
        } finally {
            exit();
        }
    }

    /** Tokenizes text; addSpecial puts BOS first when the vocabulary asks for it; control-token text is parsed. */
    public int[] tokenize(String text, boolean addSpecial) {
        return tokenize(text, addSpecial, true);
    }

    /** Tokenizes text; parseSpecial: treat control-token text such as "</s>" as that token. */
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
        Objects.requireNonNull(text, "text");
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        enter();
        try (BytePointer t = new BytePointer(bytes.length + 1)) {
            t.put(bytes, 0, bytes.length);
            return NativeInts.read(bytes.length + 4, (out, cap) -> {
                int n = tv_tokenize(handle, t, bytes.length, out, cap, addSpecial, parseSpecial);
                if (n < 0) {
                    throw new InvalidInputException(NativeLibrary.lastError());
                }
                return n;
            });
        } finally {
            exit();
        }
    }

    /** The text of a sequence of tokens; special tokens (BOS, EOS) are rendered as their text. */
    public String detokenize(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens");
        for (int t : tokens) {
            checkToken(t);
        }
        enter();
        try (IntPointer in = new IntPointer(tokens)) {
            int cap = tokens.length * 8 + 16;
            while (true) {
                try (BytePointer buf = new BytePointer(cap)) {
                    int n = tv_detokenize(handle, in, tokens.length, buf, cap, false, true);
                    if (n < 0) {
                        throw new InvalidInputException(NativeLibrary.lastError());
                    }
                    if (n <= cap) {
                        byte[] b = new byte[n];
                        buf.get(b);
                        return new String(b, StandardCharsets.UTF_8);
                    }
                    cap = n;
                }
            }
        } finally {
            exit();
        }
    }

    /** The text of one token (as generation renders it). */
    public String tokenText(int token) {
        return new String(piece(token), StandardCharsets.UTF_8);
    }

    /**
     * What the projector makes of one image chunk, as the text model receives it (for checks against an independent
     * forward pass, and for studying the projector's output).
     *
     * @param rows the embedding rows, [n][embedding width the text model takes]
     * @param positions each row's decoder position (t, x, y) relative to the chunk's first position (M-RoPE
     *     models; others: the row index three times)
     * @param advance positions the chunk advances the context by
     * @param nonCausal whether the model attends within the chunk in both directions (Gemma 3)
     */
    public record ImageEmbedding(float[][] rows, int[][] positions, int advance, boolean nonCausal) {}

    /**
     * The projector's output for image, one {@link ImageEmbedding} per image chunk libmtmd makes of it (one, or
     * slices and an overview for SmolVLM: in a prompt, text tokens separate them).
     */
    public List<ImageEmbedding> imageEmbedding(Image image) {
        Objects.requireNonNull(image, "image");
        if (!hasProjector()) {
            throw new NoProjectorException("the model was loaded without a projector (mmproj)");
        }
        enter();
        try (BytePointer rgb = new BytePointer(image.rgbUnsafe());
             IntPointer nPos = new IntPointer(1);
             IntPointer nChunks = new IntPointer(1);
             org.bytedeco.javacpp.BoolPointer nonCausal = new org.bytedeco.javacpp.BoolPointer(1)) {
            int width = tv_model_n_embd_inp(handle);
            List<ImageEmbedding> out = new ArrayList<>();
            for (int chunk = 0; chunk == 0 || chunk < nChunks.get(); chunk++) {
                int n = tv_model_image_embd(handle, rgb, image.width(), image.height(), chunk, null, 0, null, null,
                        null, nChunks);
                if (n < 0) {
                    NativeLibrary.check(tv_last_status());
                }
                try (FloatPointer rows = new FloatPointer((long) n * width); IntPointer pos = new IntPointer(3L * n)) {
                    int m = tv_model_image_embd(handle, rgb, image.width(), image.height(), chunk, rows,
                            (long) n * width, pos, nPos, nonCausal, null);
                    if (m != n) {
                        NativeLibrary.check(m < 0 ? tv_last_status() : TV_ERR_INTERNAL);
                    }
                    float[][] r = new float[n][width];
                    int[][] p = new int[n][3];
                    for (int i = 0; i < n; i++) {
                        rows.position((long) i * width).get(r[i]);
                        pos.position(3L * i).get(p[i]);
                    }
                    out.add(new ImageEmbedding(r, p, nPos.get(), nonCausal.get()));
                }
            }
            return out;
        } finally {
            exit();
        }
    }

    /** The raw bytes of one token's text (a byte-level BPE token may hold part of a UTF-8 character). */
    public byte[] tokenBytes(int token) {
        return piece(token).clone();
    }

    void checkToken(int token) {
        if (token < 0 || token >= info.vocabularySize()) {
            throw new InvalidInputException("token " + token + " is outside the vocabulary [0, "
                    + info.vocabularySize() + ")");
        }
    }

    /** Raw bytes of a token's text, cached for the whole vocabulary after the first call. */
    byte[] piece(int token) {
        checkToken(token);
        byte[][] p = pieces;
        if (p == null) {
            p = buildPieces();
        }
        return p[token];
    }

    private synchronized byte[][] buildPieces() {
        if (pieces != null) {
            return pieces;
        }
        enter();
        try (BytePointer buf = new BytePointer(256)) {
            byte[][] p = new byte[info.vocabularySize()][];
            for (int t = 0; t < p.length; t++) {
                int n = tv_token_to_piece(handle, t, buf, 256, false);
                if (n > 256) {
                    try (BytePointer big = new BytePointer(n)) {
                        n = tv_token_to_piece(handle, t, big, n, false);
                        p[t] = new byte[n];
                        big.get(p[t]);
                    }
                } else {
                    p[t] = new byte[Math.max(0, n)];
                    buf.get(p[t]);
                }
            }
            pieces = p;
            return p;
        } finally {
            exit();
        }
    }

    /**
     * Logit lens: decodes vectors (n rows of the embedding width, concatenated) through the final norm (when
     * applyNorm) and the output matrix; returns n rows of vocabulary-size logits, concatenated. The output weights
     * are read from the model file on first use and kept (dequantized row by row while multiplying).
     */
    public float[] logitLens(float[] vectors, boolean applyNorm) {
        Objects.requireNonNull(vectors, "vectors");
        int d = info.embeddingSize();
        if (vectors.length == 0 || vectors.length % d != 0) {
            throw new InvalidInputException("logit lens input has " + vectors.length
                    + " values, not a whole number of vectors of width " + d);
        }
        int n = vectors.length / d;
        long outLen = (long) n * info.vocabularySize();
        if (outLen > Integer.MAX_VALUE - 8) {
            throw new InvalidInputException("too many vectors for one call: " + n);
        }
        enter();
        try (FloatPointer x = new FloatPointer(vectors); FloatPointer out = new FloatPointer(outLen)) {
            NativeLibrary.check(tv_model_logit_lens(handle, x, n, out, applyNorm));
            float[] r = new float[(int) outLen];
            out.get(r);
            return r;
        } finally {
            exit();
        }
    }

    /** {images served from the encoded-image cache, images encoded} since the model was loaded. */
    public long[] imageCacheStats() {
        enter();
        try (org.bytedeco.javacpp.LongPointer h = new org.bytedeco.javacpp.LongPointer(1);
             org.bytedeco.javacpp.LongPointer m = new org.bytedeco.javacpp.LongPointer(1)) {
            tv_model_image_cache_stats(handle, h, m);
            return new long[] {h.get(), m.get()};
        } finally {
            exit();
        }
    }

    /**
     * text as one user message of the model's chat template (or of template, a name llama.cpp knows such as
     * "vicuna", when not null), ending where the assistant's answer begins; empty when there is no usable template.
     */
    public Optional<String> chatWrap(String text, String template) {
        Objects.requireNonNull(text, "text");
        enter();
        try (BytePointer t = NativeLibrary.utf8(text); BytePointer tm = template == null ? null : NativeLibrary.utf8(template)) {
            int size = text.length() * 2 + 256;
            while (true) {
                try (BytePointer buf = new BytePointer(size)) {
                    int n = tv_model_chat_wrap(handle, tm, t, buf, size);
                    if (n < 0) {
                        return Optional.empty();
                    }
                    if (n <= size) {
                        byte[] b = new byte[n];
                        buf.get(b, 0, n);
                        return Optional.of(new String(b, StandardCharsets.UTF_8));
                    }
                    size = n;
                }
            }
        } finally {
            exit();
        }
    }

    /** Width of one row of a hook point: the embedding width, or heads x head width for attn_z. */
    public int hookPointWidth(PointKind point) {
        Objects.requireNonNull(point, "point");
        return enterAnd(() -> tv_hook_point_width(handle, point.code));
    }

    /** Opens a session with default parameters. */
    public Session newSession() {
        return newSession(SessionParams.defaults());
    }

    public Session newSession(SessionParams params) {
        return new Session(this, params);
    }

    public boolean isClosed() {
        return guard.isClosed();
    }

    /**
     * Closes open sessions, then frees the model. Idempotent. Waits (without spinning) for calls in flight on the
     * model and on its sessions on other threads; a session closed this way from its own token listener is freed
     * when its generation returns (see {@link Session#close()}), and the native model after it.
     */
    @Override
    public void close() {
        guard.close(); // no new session can start from here on; runs free() once no model call is in flight
    }

    /** The free action of the guard: runs once. */
    private void free() {
        Session[] open;
        synchronized (sessions) {
            open = sessions.toArray(new Session[0]);
        }
        for (Session s : open) {
            s.close();
        }
        release.releaseOwner(); // frees the model now, or after the sessions not yet freed (deferred or leaked)
    }

    NativeReleases.ModelRelease release() {
        return release;
    }

    @Override
    public String toString() {
        return "Model[" + path + ", " + info.description() + "]";
    }
}
