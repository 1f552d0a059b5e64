package org.taskvec.nativeapi;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.FunctionPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.annotation.ByVal;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.NoException;
import org.bytedeco.javacpp.annotation.Opaque;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JavaCPP binding of {@code native/include/taskvec.h}, one Java method per C function.
 *
 * <p>This is the lowest layer: raw handles, status codes and native memory. Application code uses
 * {@code org.taskvec.engine}, which validates arguments before they reach native code and turns status codes into
 * exceptions. The native libraries ship inside the jar under {@code org/taskvec/nativeapi/linux-x86_64/} and are
 * extracted and loaded by {@link Loader} on first use; no {@code java.library.path} is needed.
 */
@Platform(
        include = "taskvec.h",
        link = "taskvec",
        // ggml-cuda is present only in CUDA builds (-Pcuda); JavaCPP skips preloads it cannot find
        preload = {"ggml-base@.0", "ggml-cpu@.0", "ggml-cuda@.0", "ggml-rpc@.0", "ggml@.0", "llama@.0", "mtmd@.0"})
@NoException
public final class TaskvecNative {
    static {
        Loader.load();
    }

    private TaskvecNative() {}

    /** Loads the native libraries (idempotent) and returns the folder they were extracted to. */
    public static String load() {
        return Loader.load(TaskvecNative.class);
    }

    // ---- status codes and constants (mirrors of taskvec.h) ----
    public static final int TV_OK = 0;
    public static final int TV_ERR_INVALID_ARG = 1;
    public static final int TV_ERR_LOAD = 2;
    public static final int TV_ERR_NO_PROJECTOR = 3;
    public static final int TV_ERR_IMAGE = 4;
    public static final int TV_ERR_CONTEXT_FULL = 5;
    public static final int TV_ERR_DECODE = 6;
    public static final int TV_ERR_TOKENIZE = 7;
    public static final int TV_ERR_STATE = 8;
    public static final int TV_ERR_INTERNAL = 9;
    public static final int TV_ERR_PROJECTOR = 10;
    public static final int TV_ERR_NO_POINT = 11;
    public static final int TV_ERR_RPC = 12;
    public static final int TV_TOKEN_IMAGE = -1;
    public static final int TV_POINT_RESID_POST = 0, TV_POINT_ATTN_OUT = 1, TV_POINT_MLP_OUT = 2,
            TV_POINT_ATTN_Z = 3, TV_POINT_EMBED = 4, TV_POINT_FINAL_NORM = 5, TV_POINT_RESID_MID = 6,
            TV_POINT_RESID_PRE = 7;
    public static final int TV_HOOK_CAPTURE = 0, TV_HOOK_REPLACE = 1, TV_HOOK_ADD = 2, TV_HOOK_ZERO = 3;
    public static final int TV_PHASE_PROMPT = 1, TV_PHASE_GENERATION = 2, TV_PHASE_BOTH = 3;
    public static final int TV_STOP_NONE = 0;
    public static final int TV_STOP_EOG = 1;
    public static final int TV_STOP_TOKEN = 2;
    public static final int TV_STOP_STRING = 3;

    // ---- opaque handles ----
    @Opaque
    @Name("tv_model")
    public static final class TvModel extends Pointer {
        public TvModel() { super((Pointer) null); }
        public TvModel(Pointer p) { super(p); }
    }

    @Opaque
    @Name("tv_session")
    public static final class TvSession extends Pointer {
        public TvSession() { super((Pointer) null); }
        public TvSession(Pointer p) { super(p); }
    }

    @Opaque
    @Name("tv_prompt")
    public static final class TvPrompt extends Pointer {
        public TvPrompt() { super((Pointer) null); }
        public TvPrompt(Pointer p) { super(p); }
    }

    // ---- parameter structs ----
    @Name("tv_model_params")
    public static final class TvModelParams extends Pointer {
        static { Loader.load(); }
        public TvModelParams() { super((Pointer) null); allocate(); }
        public TvModelParams(Pointer p) { super(p); }
        private native void allocate();

        public native int n_gpu_layers(); public native TvModelParams n_gpu_layers(int v);
        @Cast("bool") public native boolean use_mmap(); public native TvModelParams use_mmap(boolean v);
        @Cast("const char*") public native BytePointer mmproj_path();
        public native TvModelParams mmproj_path(@Cast("const char*") BytePointer v);
        @Cast("bool") public native boolean mmproj_use_gpu(); public native TvModelParams mmproj_use_gpu(boolean v);
        public native int mmproj_threads(); public native TvModelParams mmproj_threads(int v);
        public native long image_cache_bytes(); public native TvModelParams image_cache_bytes(long v);
        public native int mmproj_flash_attn(); public native TvModelParams mmproj_flash_attn(int v);
        @Cast("const char*") public native BytePointer rpc_servers();
        public native TvModelParams rpc_servers(@Cast("const char*") BytePointer v);
        @Const public native FloatPointer tensor_split();
        public native TvModelParams tensor_split(FloatPointer v);
        public native int n_tensor_split(); public native TvModelParams n_tensor_split(int v);
    }

    @Name("tv_session_params")
    public static final class TvSessionParams extends Pointer {
        static { Loader.load(); }
        public TvSessionParams() { super((Pointer) null); allocate(); }
        public TvSessionParams(Pointer p) { super(p); }
        private native void allocate();

        public native int n_ctx(); public native TvSessionParams n_ctx(int v);
        public native int n_batch(); public native TvSessionParams n_batch(int v);
        public native int n_ubatch(); public native TvSessionParams n_ubatch(int v);
        public native int n_threads(); public native TvSessionParams n_threads(int v);
        public native int n_threads_batch(); public native TvSessionParams n_threads_batch(int v);
        public native int flash_attn(); public native TvSessionParams flash_attn(int v);
        public native int kv_type(); public native TvSessionParams kv_type(int v);
        @Cast("uint32_t") public native int seed(); public native TvSessionParams seed(@Cast("uint32_t") int v);
        public native int n_seq(); public native TvSessionParams n_seq(int v);
    }

    @Name("tv_sampling_params")
    public static final class TvSamplingParams extends Pointer {
        static { Loader.load(); }
        public TvSamplingParams() { super((Pointer) null); allocate(); }
        public TvSamplingParams(Pointer p) { super(p); }
        private native void allocate();

        public native float temperature(); public native TvSamplingParams temperature(float v);
        public native int top_k(); public native TvSamplingParams top_k(int v);
        public native float top_p(); public native TvSamplingParams top_p(float v);
        @Cast("uint32_t") public native int seed(); public native TvSamplingParams seed(@Cast("uint32_t") int v);
    }

    @Name("tv_hook_params")
    public static final class TvHookParams extends Pointer {
        static { Loader.load(); }
        public TvHookParams() { super((Pointer) null); allocate(); }
        public TvHookParams(Pointer p) { super(p); }
        private native void allocate();

        public native int point(); public native TvHookParams point(int v);
        public native int layer(); public native TvHookParams layer(int v);
        public native int op(); public native TvHookParams op(int v);
        public native int phase(); public native TvHookParams phase(int v);
        @Cast("const int32_t*") public native IntPointer positions();
        public native TvHookParams positions(@Cast("const int32_t*") IntPointer v);
        public native int n_positions(); public native TvHookParams n_positions(int v);
        public native FloatPointer data(); public native TvHookParams data(FloatPointer v);
        public native int n_rows(); public native TvHookParams n_rows(int v);
        public native float scale(); public native TvHookParams scale(float v);
        public native int seq(); public native TvHookParams seq(int v);
    }

    /** Receives whole log lines from llama.cpp, ggml and libmtmd, on whatever thread logs. */
    public static class TvLogCallback extends FunctionPointer {
        static { Loader.load(); }
        protected TvLogCallback() { allocate(); }
        private native void allocate();
        public native void call(int level, @Cast("const char*") BytePointer line);
    }

    // ---- library ----
    public static native int tv_init(@Cast("const char*") BytePointer backendDir);
    public static native void tv_log_set(TvLogCallback cb);
    @Cast("const char*") public static native BytePointer tv_last_error();
    public static native int tv_last_status();
    @Cast("const char*") public static native BytePointer tv_llama_version();
    @Cast("const char*") public static native BytePointer tv_system_info();
    @Cast("const char*") public static native BytePointer tv_media_marker();
    @Cast("bool") public static native boolean tv_gpu_offload_supported();

    // ---- model ----
    public static native @ByVal TvModelParams tv_model_default_params();
    public static native TvModel tv_model_load(@Cast("const char*") BytePointer path, @ByVal TvModelParams params);
    public static native void tv_model_free(TvModel model);
    public static native int tv_model_n_layer(@Const TvModel model);
    public static native int tv_model_n_devices(@Const TvModel model);
    public static native int tv_model_device(@Const TvModel model, int i, @Cast("char*") byte[] name, int nameSize,
                                             @Cast("char*") byte[] desc, int descSize,
                                             @Cast("int64_t*") long[] free, @Cast("int64_t*") long[] total,
                                             int[] nLayers);
    public static native int tv_model_n_cpu_layers(@Const TvModel model);
    public static native int tv_rpc_server_run(@Cast("const char*") BytePointer endpoint,
                                               @Cast("const char*") BytePointer cacheDir, int nThreads);
    public static native int tv_rpc_server_device(@Cast("const char*") BytePointer endpoint, int i,
                                                  @Cast("int64_t*") long[] free, @Cast("int64_t*") long[] total);
    public static native int tv_model_n_embd(@Const TvModel model);
    public static native int tv_model_n_head(@Const TvModel model);
    public static native int tv_model_n_head_kv(@Const TvModel model);
    public static native int tv_model_n_vocab(@Const TvModel model);
    public static native int tv_model_n_ctx_train(@Const TvModel model);
    public static native long tv_model_n_params(@Const TvModel model);
    public static native long tv_model_size(@Const TvModel model);
    public static native int tv_model_token_bos(@Const TvModel model);
    public static native int tv_model_token_eos(@Const TvModel model);
    @Cast("bool") public static native boolean tv_model_add_bos(@Const TvModel model);
    @Cast("bool") public static native boolean tv_model_is_eog(@Const TvModel model, int token);
    @Cast("bool") public static native boolean tv_model_has_projector(@Const TvModel model);
    public static native int tv_model_image_tokens(TvModel model, int w, int h);
    public static native int tv_model_n_embd_inp(@Const TvModel model);
    public static native int tv_model_image_embd(TvModel model, @Cast("const uint8_t*") BytePointer rgb, int w, int h,
                                                 int chunk, FloatPointer out, long capacity,
                                                 @Cast("int32_t*") IntPointer pos, @Cast("int32_t*") IntPointer nPos,
                                                 @Cast("bool*") org.bytedeco.javacpp.BoolPointer nonCausal,
                                                 @Cast("int32_t*") IntPointer nChunks);
    public static native void tv_model_image_cache_stats(TvModel model, @Cast("int64_t*") LongPointer hits,
                                                         @Cast("int64_t*") LongPointer misses);
    public static native int tv_model_meta(@Const TvModel model, @Cast("const char*") BytePointer key,
                                           @Cast("char*") BytePointer buf, int bufSize);
    public static native int tv_model_meta_count(@Const TvModel model);
    public static native int tv_model_meta_key_at(@Const TvModel model, int i, @Cast("char*") BytePointer buf, int bufSize);
    public static native int tv_model_meta_value_at(@Const TvModel model, int i, @Cast("char*") BytePointer buf, int bufSize);
    @Cast("const char*") public static native BytePointer tv_model_chat_template(@Const TvModel model);
    public static native int tv_model_chat_wrap(@Const TvModel model, @Cast("const char*") BytePointer tmpl,
                                                @Cast("const char*") BytePointer text, @Cast("char*") BytePointer buf,
                                                int bufSize);
    public static native int tv_model_desc(@Const TvModel model, @Cast("char*") BytePointer buf, int bufSize);

    public static native int tv_model_quantize(@Cast("const char*") BytePointer in, @Cast("const char*") BytePointer out,
                                               @Cast("const char*") BytePointer type, int nThreads);

    // ---- tokens ----
    public static native int tv_tokenize(@Const TvModel model, @Cast("const char*") BytePointer text, int len,
                                         @Cast("int32_t*") IntPointer out, int capacity,
                                         @Cast("bool") boolean addSpecial, @Cast("bool") boolean parseSpecial);
    public static native int tv_token_to_piece(@Const TvModel model, int token, @Cast("char*") BytePointer buf,
                                               int bufSize, @Cast("bool") boolean special);
    public static native int tv_detokenize(@Const TvModel model, @Cast("const int32_t*") IntPointer tokens, int n,
                                           @Cast("char*") BytePointer buf, int bufSize,
                                           @Cast("bool") boolean removeSpecial, @Cast("bool") boolean unparseSpecial);

    // ---- prompt ----
    public static native TvPrompt tv_prompt_init();
    public static native void tv_prompt_free(TvPrompt prompt);
    public static native int tv_prompt_add_text(TvPrompt prompt, @Cast("const char*") BytePointer text, int len);
    public static native int tv_prompt_add_image_rgb(TvPrompt prompt, @Cast("const uint8_t*") BytePointer rgb, int w, int h);
    public static native int tv_prompt_add_tokens(TvPrompt prompt, @Cast("const int32_t*") IntPointer tokens, int n);

    // ---- session ----
    public static native @ByVal TvSessionParams tv_session_default_params();
    public static native @ByVal TvSamplingParams tv_sampling_default_params();
    public static native TvSession tv_session_init(TvModel model, @ByVal TvSessionParams params);
    public static native void tv_session_free(TvSession session);
    public static native int tv_session_n_ctx(@Const TvSession session);
    public static native int tv_session_n_batch(@Const TvSession session);
    public static native int tv_session_n_ubatch(@Const TvSession session);
    public static native int tv_session_n_past(@Const TvSession session);
    public static native int tv_session_tokens(@Const TvSession session, @Cast("int32_t*") IntPointer out, int capacity);
    public static native int tv_session_eval_prompt(TvSession session, @Const TvPrompt prompt,
                                                    @Cast("bool") boolean addBos, @Cast("bool") boolean reusePrefix,
                                                    @Cast("int32_t*") IntPointer nReused);
    public static native int tv_session_prompt_layout(TvSession session, @Const TvPrompt prompt,
                                                      @Cast("bool") boolean addBos, @Cast("int32_t*") IntPointer out,
                                                      int capacity);
    public static native int tv_session_eval_tokens(TvSession session, @Cast("const int32_t*") IntPointer tokens, int n);
    public static native int tv_session_truncate(TvSession session, int nKeep);
    public static native int tv_session_logits(TvSession session, FloatPointer out, int nVocab);
    public static native int tv_session_set_sampling(TvSession session, @ByVal TvSamplingParams params);
    public static native int tv_session_sample(TvSession session, @Cast("int32_t*") IntPointer token);
    public static native int tv_session_set_stops(TvSession session, @Cast("const int32_t*") IntPointer tokens,
                                                  int nTokens, @Cast("const char*") BytePointer strings, int packedLen);
    public static native int tv_session_generate_step(TvSession session, @Cast("int32_t*") IntPointer token,
                                                      @Cast("int32_t*") IntPointer stop);
    public static native int tv_session_generate(TvSession session, int nMax, @Cast("int32_t*") IntPointer out,
                                                 @Cast("int32_t*") IntPointer nOut, @Cast("int32_t*") IntPointer stop);

    // ---- hooks and logit lens ----
    public static native @ByVal TvHookParams tv_hook_default_params();
    public static native int tv_hook_point_width(@Const TvModel model, int point);
    public static native int tv_session_add_hook(TvSession session, @ByVal TvHookParams params,
                                                 @Cast("int32_t*") IntPointer hookId);
    public static native int tv_session_hook_rows(@Const TvSession session, int hookId);
    public static native int tv_session_written_from(@Const TvSession session);
    public static native int tv_session_n_seq(@Const TvSession session);
    public static native int tv_session_seq_n_past(@Const TvSession session, int seq);
    public static native int tv_session_eval_prompts(TvSession session, @Cast("const tv_prompt*const*") PointerPointer prompts,
                                                     @Cast("const int32_t*") IntPointer seqs, int n,
                                                     @Cast("bool") boolean addBos, @Cast("bool") boolean reusePrefix,
                                                     @Cast("int32_t*") IntPointer nReused);
    public static native int tv_session_seq_fork(TvSession session, int src, int dst, int nKeep);
    public static native int tv_session_seq_logits(TvSession session, int seq, FloatPointer out, int nVocab);
    public static native int tv_session_seq_truncate(TvSession session, int seq, int nKeep);
    public static native int tv_session_generate_seqs(TvSession session, @Cast("const int32_t*") IntPointer seqs, int n,
                                                      int nMax, @Cast("int32_t*") IntPointer out,
                                                      @Cast("int32_t*") IntPointer nOut,
                                                      @Cast("int32_t*") IntPointer stops);
    public static native int tv_session_point_node(TvSession session, int point, int layer,
                                                   @Cast("char*") BytePointer buf, int bufSize);
    public static native void tv_session_clear_hooks(TvSession session);
    public static native int tv_model_logit_lens(TvModel model, @Const FloatPointer x, int n, FloatPointer out,
                                                 @Cast("bool") boolean applyNorm);
}
