// taskvec: a small C API over llama.cpp and libmtmd for the Java binding.
//
// Conventions (after llama.h and mtmd.h):
// - Opaque handles, created by *_load / *_init and released by the matching *_free. Free functions accept NULL.
// - Parameter structs come from *_default_params() and are passed by value.
// - Functions that can fail return a tv_status (0 = TV_OK) or NULL; the reason is then available from
//   tv_last_error() on the same thread until the next failing call on that thread.
// - Nothing in this library calls exit() or abort() on input it can check: bad input is a status code.
//   (llama.cpp itself may still abort on input it does not validate; the Java layer checks files first.)
// - Threads: a tv_model may be used by several threads at once (sessions, tokenizer, metadata); image encoding
//   through the model's projector is serialised inside. A tv_session must be used by one thread at a time.
#ifndef TASKVEC_H
#define TASKVEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(TASKVEC_BUILD)
#    define TV_API __attribute__((visibility("default")))
#else
#    define TV_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t tv_status;
#define TV_OK                 0
#define TV_ERR_INVALID_ARG    1  // a parameter is out of range or NULL
#define TV_ERR_LOAD           2  // a model or projector file could not be loaded
#define TV_ERR_NO_PROJECTOR   3  // an image was given to a model loaded without a projector
#define TV_ERR_IMAGE          4  // the projector rejected or failed to encode an image
#define TV_ERR_CONTEXT_FULL   5  // the prompt or generation does not fit into the context
#define TV_ERR_DECODE         6  // llama_decode failed
#define TV_ERR_TOKENIZE       7  // tokenization failed
#define TV_ERR_STATE          8  // the call is not valid in the session's current state (e.g. no logits yet)
#define TV_ERR_INTERNAL       9  // an unexpected C++ exception
#define TV_ERR_PROJECTOR     10  // the projector (mmproj) file could not be loaded or does not fit the model
#define TV_ERR_NO_POINT      11  // a hook point that this model's graph does not have
#define TV_ERR_RPC           12  // an RPC server could not be reached, or was lost during a call (the model that
                                 // used it is unusable then: free its sessions and the model, and load it again)

// Log levels passed to the log callback (same values as ggml_log_level).
#define TV_LOG_DEBUG 1
#define TV_LOG_INFO  2
#define TV_LOG_WARN  3
#define TV_LOG_ERROR 4

// Position marker for prompt positions that hold image embeddings instead of a token.
#define TV_TOKEN_IMAGE (-1)

typedef struct tv_model   tv_model;
typedef struct tv_session tv_session;
typedef struct tv_prompt  tv_prompt;

// Receives complete log lines (no trailing newline) from llama.cpp, ggml and libmtmd.
// May be called from any thread that runs llama.cpp code.
typedef void (*tv_log_callback)(int32_t level, const char * line);

// ---- library -------------------------------------------------------------------------------------------------

// Initialises the ggml backends once per process. backend_dir: folder with dynamically loaded ggml backends
// (portable builds), or NULL. Safe to call more than once; later calls do nothing.
TV_API tv_status    tv_init(const char * backend_dir);
// Routes llama.cpp, ggml and libmtmd logging to cb (NULL: drop all log lines).
TV_API void         tv_log_set(tv_log_callback cb);
// The message of the last failed call on this thread ("" if none). Owned by the library.
TV_API const char * tv_last_error(void);
// The status of the last failed call on this thread (TV_OK if none): for calls that return a handle or NULL.
TV_API tv_status    tv_last_status(void);
// llama.cpp's version and system info strings. Owned by the library.
TV_API const char * tv_llama_version(void);
TV_API const char * tv_system_info(void);
// Whether layers can be offloaded to a GPU (a GPU backend is built in and found a device).
TV_API bool         tv_gpu_offload_supported(void);

// ---- model ---------------------------------------------------------------------------------------------------

typedef struct tv_model_params {
    int32_t      n_gpu_layers;   // layers to offload to a GPU; -1 = all, 0 = none (default 0)
    bool         use_mmap;       // map the file instead of reading it (default true)
    const char * mmproj_path;    // vision projector (mmproj GGUF) or NULL
    bool         mmproj_use_gpu; // run the projector on a GPU when one is used (default true)
    int32_t      mmproj_threads; // threads for image encoding (default 4)
    int64_t      image_cache_bytes; // encoded images kept for reuse across prompts and sessions (default 512 MiB;
                                    // 0 = off); an image met again is not encoded again
    int32_t      mmproj_flash_attn; // the projector's flash attention: -1 auto (libmtmd's default: on where the
                                    // backend has it; on the CPU its K and V are F16), 0 off (F32 attention), 1 on
    const char * rpc_servers;    // ggml RPC servers ("host:port,host:port", see tv_rpc_server_run) whose devices take
                                 // offloaded layers, or NULL (default). The model's devices are then the servers'
                                 // devices in the order given, then this process's GPUs; n_gpu_layers counts layers
                                 // over all of them. A server that cannot be reached fails the load with TV_ERR_RPC.
    const float * tensor_split;  // share of the offloaded layers per device, in the model's device order (see
                                 // tv_model_device), or NULL (default: by the devices' free memory)
    int32_t      n_tensor_split; // entries in tensor_split (at most the number of devices)
} tv_model_params;

TV_API tv_model_params tv_model_default_params(void);

// Loads a GGUF model (and its projector when params.mmproj_path is set). Returns NULL on failure.
// The caller owns the result and frees it with tv_model_free after every session of it is freed.
TV_API tv_model * tv_model_load(const char * path, tv_model_params params);
TV_API void       tv_model_free(tv_model * model);

// The devices that hold the model's offloaded layers (0 when everything runs on the CPU), in llama.cpp's order.
TV_API int32_t tv_model_n_devices(const tv_model * model);
// Device i of the model: its name ("RPC0", "CUDA0"), description (an RPC device's is its server's host:port), free
// and total memory in bytes, and how many of the model's repeating layers it holds. Any output may be NULL; names
// follow tv_model_meta's convention (full length returned, truncated to buf_size - 1). Returns TV_OK, or
// TV_ERR_INVALID_ARG for a bad index, or TV_ERR_RPC when the device's server does not answer.
TV_API tv_status tv_model_device(const tv_model * model, int32_t i, char * name, int32_t name_size, char * desc,
                                 int32_t desc_size, int64_t * free, int64_t * total, int32_t * n_layers);
// Layers held by the CPU of this process (repeating layers not on any device).
TV_API int32_t tv_model_n_cpu_layers(const tv_model * model);

TV_API int32_t tv_model_n_layer(const tv_model * model);
TV_API int32_t tv_model_n_embd(const tv_model * model);
TV_API int32_t tv_model_n_embd_inp(const tv_model * model);  // width of input embeddings (n_embd, or more: Qwen3-VL)
TV_API int32_t tv_model_n_head(const tv_model * model);
TV_API int32_t tv_model_n_head_kv(const tv_model * model);
TV_API int32_t tv_model_n_vocab(const tv_model * model);
TV_API int32_t tv_model_n_ctx_train(const tv_model * model);
TV_API int64_t tv_model_n_params(const tv_model * model);
TV_API int64_t tv_model_size(const tv_model * model);
TV_API int32_t tv_model_token_bos(const tv_model * model);   // -1 if none
TV_API int32_t tv_model_token_eos(const tv_model * model);   // -1 if none
TV_API bool    tv_model_add_bos(const tv_model * model);     // the vocabulary asks for BOS at the start
TV_API bool    tv_model_is_eog(const tv_model * model, int32_t token);
TV_API bool    tv_model_has_projector(const tv_model * model);
// Number of tokens one image of w x h pixels becomes (-1 if no projector or on error).
TV_API int32_t tv_model_image_tokens(tv_model * model, int32_t w, int32_t h);
// What the projector makes of an image of w x h RGB pixels, as the text model receives it. libmtmd may make several
// image chunks of one image (slices and an overview: SmolVLM), with text tokens between them in a prompt; this
// call gives chunk number chunk (from 0) and writes the number of chunks to *n_chunks (may be NULL). Writes the
// chunk's embedding rows (n_rows x n_embd_inp floats; n_embd_inp is n_embd except for models such as Qwen3-VL that
// take extra features) to out when capacity (in floats) holds them, and returns n_rows (-1 on error; with too
// little capacity nothing is encoded: call with capacity 0 for the size). pos (3 x n_rows ints, may be NULL)
// receives each row's decoder position (t, x, y) relative to the chunk's first position (M-RoPE models; others: the
// row index three times), *n_pos (may be NULL) the positions the chunk advances the context by, *non_causal (may be
// NULL) whether the model attends within the chunk in both directions (Gemma 3).
TV_API int32_t tv_model_image_embd(tv_model * model, const uint8_t * rgb, int32_t w, int32_t h, int32_t chunk,
                                   float * out, int64_t capacity, int32_t * pos, int32_t * n_pos, bool * non_causal,
                                   int32_t * n_chunks);
// Counters of the encoded-image cache: images served from it, and images encoded.
TV_API void    tv_model_image_cache_stats(tv_model * model, int64_t * hits, int64_t * misses);
// The marker that stands for an image in tv_prompt_add_text_with_markers ("<__media__>").
TV_API const char * tv_media_marker(void);

// Writes the metadata value for key (e.g. "general.architecture") into buf, NUL-terminated.
// Returns the value's full length, or -1 if the key is absent. Truncates to buf_size - 1.
TV_API int32_t tv_model_meta(const tv_model * model, const char * key, char * buf, int32_t buf_size);
// Number of metadata entries and their keys/values by index (same return convention as tv_model_meta).
TV_API int32_t tv_model_meta_count(const tv_model * model);
TV_API int32_t tv_model_meta_key_at(const tv_model * model, int32_t i, char * buf, int32_t buf_size);
TV_API int32_t tv_model_meta_value_at(const tv_model * model, int32_t i, char * buf, int32_t buf_size);
// The model's chat template (NULL if it has none). Owned by the model.
TV_API const char * tv_model_chat_template(const tv_model * model);
// Wraps text as one user message in the model's chat template (or tmpl, a template name or text, when not NULL),
// ending with the start of the assistant's turn; writes the result to buf (not NUL-terminated). Returns its
// length (> buf_size: retry with more), or -1 when the model has no template or llama.cpp does not support it.
TV_API int32_t tv_model_chat_wrap(const tv_model * model, const char * tmpl, const char * text, char * buf,
                                  int32_t buf_size);
// A one-line description ("llama 7B Q8_0") into buf; returns its length.
TV_API int32_t tv_model_desc(const tv_model * model, char * buf, int32_t buf_size);

// Tokenizes len bytes of UTF-8 text. add_special: add BOS (etc.) as the vocabulary asks; parse_special: treat
// control-token text such as "</s>" as tokens. Returns the number of tokens; when that exceeds capacity,
// nothing is guaranteed in out and the caller retries with a larger buffer. Returns < 0 on error.
TV_API int32_t tv_tokenize(const tv_model * model, const char * text, int32_t len, int32_t * out, int32_t capacity,
                           bool add_special, bool parse_special);
// Writes the text of one token into buf (not NUL-terminated). Returns its length in bytes; a value larger
// than buf_size means the buffer was too small. Returns < 0 for an invalid token.
TV_API int32_t tv_token_to_piece(const tv_model * model, int32_t token, char * buf, int32_t buf_size, bool special);
// Detokenizes n tokens into buf (not NUL-terminated). Returns the length; > buf_size means retry with more.
TV_API int32_t tv_detokenize(const tv_model * model, const int32_t * tokens, int32_t n, char * buf, int32_t buf_size,
                             bool remove_special, bool unparse_special);

// Quantizes a GGUF model file with llama.cpp (llama_model_quantize). type: "F16", "Q8_0", "Q6_K", "Q5_K_M",
// "Q4_K_M" or "Q4_0"; tensors whose rows do not fit the type's blocks keep a compatible type. n_threads <= 0: all.
TV_API tv_status tv_model_quantize(const char * in_path, const char * out_path, const char * type, int32_t n_threads);

// ---- prompt (text and images, in order) ----------------------------------------------------------------------

// A prompt under construction. Owned by the caller; independent of any session, reusable.
TV_API tv_prompt * tv_prompt_init(void);
TV_API void        tv_prompt_free(tv_prompt * prompt);
// Appends text. Adjacent text parts are joined before tokenization.
TV_API tv_status   tv_prompt_add_text(tv_prompt * prompt, const char * text, int32_t len);
// Appends an image given as packed 8-bit RGB rows (w * h * 3 bytes, copied).
TV_API tv_status   tv_prompt_add_image_rgb(tv_prompt * prompt, const uint8_t * rgb, int32_t w, int32_t h);
// Appends pre-tokenized tokens (no further BOS is added for them).
TV_API tv_status   tv_prompt_add_tokens(tv_prompt * prompt, const int32_t * tokens, int32_t n);

// ---- RPC: models larger than one host ---------------------------------------------------------------------
//
// ggml's RPC backend: a server process offers its devices (its GPUs, else its CPU) to clients over TCP, and a model
// loaded with tv_model_params.rpc_servers places offloaded layers on them. The protocol has no authentication and
// no encryption: bind servers to loopback or a trusted private network only.

// Runs ggml's RPC server on endpoint ("host:port"), offering this process's GPUs (or, without one, its CPU with
// n_threads threads). cache_dir: folder where large tensors sent by clients are cached across runs, or NULL (no
// cache). Serves one client at a time and does not return while it serves; it returns TV_ERR_RPC when it cannot
// start (bad endpoint, address in use) and TV_ERR_INVALID_ARG for bad arguments.
TV_API tv_status tv_rpc_server_run(const char * endpoint, const char * cache_dir, int32_t n_threads);
// Asks the RPC server at endpoint ("host:port") for its devices. Returns their number (and writes device i's free
// and total memory in bytes to *free / *total when i is below it; either may be NULL), or -1 with TV_ERR_RPC or
// TV_ERR_INVALID_ARG when the server cannot be reached or the endpoint is malformed.
TV_API int32_t tv_rpc_server_device(const char * endpoint, int32_t i, int64_t * free, int64_t * total);

// ---- session (a llama context: KV cache, sampler, evaluated prompt) ------------------------------------------

typedef struct tv_session_params {
    int32_t  n_ctx;           // context size in tokens (default 4096; 0 = the model's training context)
    int32_t  n_batch;         // logical batch size (default 512)
    int32_t  n_ubatch;        // micro-batch size (default 512)
    int32_t  n_threads;       // threads for generation (default: hardware threads, at most 8)
    int32_t  n_threads_batch; // threads for prompt processing (default: same as n_threads)
    int32_t  flash_attn;      // -1 auto (default), 0 off, 1 on
    int32_t  kv_type;         // 0 = F16 (default), 1 = F32
    uint32_t seed;            // sampling seed (default 0)
    int32_t  n_seq;           // parallel sequences (default 1): ids 0..n_seq-1 share the context's KV cache
} tv_session_params;

typedef struct tv_sampling_params {
    float    temperature; // <= 0: greedy (default 0)
    int32_t  top_k;       // 0 = off (default 40)
    float    top_p;       // 1 = off (default 0.95)
    uint32_t seed;        // seed of the random draw (default: the session's seed)
} tv_sampling_params;

TV_API tv_session_params  tv_session_default_params(void);
TV_API tv_sampling_params tv_sampling_default_params(void);

// Creates a session over model; NULL on failure. The model must outlive the session.
TV_API tv_session * tv_session_init(tv_model * model, tv_session_params params);
TV_API void         tv_session_free(tv_session * session);

TV_API int32_t tv_session_n_ctx(const tv_session * session);
TV_API int32_t tv_session_n_batch(const tv_session * session);
TV_API int32_t tv_session_n_ubatch(const tv_session * session);
// Number of positions evaluated so far (prompt plus generated tokens).
TV_API int32_t tv_session_n_past(const tv_session * session);
// Copies the token at each evaluated position into out (TV_TOKEN_IMAGE where an image sits).
// Returns the number of positions (copies at most capacity).
TV_API int32_t tv_session_tokens(const tv_session * session, int32_t * out, int32_t capacity);

// Evaluates prompt from the start of the context. With reuse_prefix, the longest leading run of the session's
// evaluated positions that equals the new prompt (tokens equal, images identical) is kept in the KV cache and
// only the rest is evaluated; at least the last position is always re-evaluated so that its logits are fresh.
// add_bos: put BOS first when the vocabulary asks for it. On success, *n_reused (if not NULL) is the number of
// positions taken from the cache. Logits of the last position are available afterwards.
TV_API tv_status tv_session_eval_prompt(tv_session * session, const tv_prompt * prompt, bool add_bos,
                                        bool reuse_prefix, int32_t * n_reused);
// Tokenizes prompt as tv_session_eval_prompt would, without evaluating it: writes the token at each position it
// would occupy to out, with -1 - k at the positions of the prompt's k-th image (k from 0). Returns the number of
// positions (copies at most capacity), or < 0 on error (see tv_last_error). Lets a caller resolve hook positions.
TV_API int32_t tv_session_prompt_layout(tv_session * session, const tv_prompt * prompt, bool add_bos, int32_t * out,
                                        int32_t capacity);
// Appends tokens at the end of the session (no BOS) and evaluates them; logits of the last one afterwards.
TV_API tv_status tv_session_eval_tokens(tv_session * session, const int32_t * tokens, int32_t n);

// ---- parallel sequences -----------------------------------------------------------------------------------------
//
// A session created with n_seq > 1 holds that many independent sequences in one KV cache. The single-sequence
// calls above (tv_session_eval_prompt, _logits, _truncate, _n_past, _tokens, generation) work on sequence 0.
// Text of several sequences is decoded together (one llama_decode, so one read of the weights, for all of them);
// images are decoded one sequence at a time. Each sequence reuses its own cached prefix as tv_session_eval_prompt
// does. Hooks name their sequence (tv_hook_params.seq).

TV_API int32_t   tv_session_n_seq(const tv_session * session);
// Positions sequence seq holds (-1 for a bad argument).
TV_API int32_t   tv_session_seq_n_past(const tv_session * session, int32_t seq);
// Evaluates prompts[i] into sequence seqs[i] (distinct) for i < n; n_reused (n ints, may be NULL) receives the
// positions each sequence kept from what it held.
TV_API tv_status tv_session_eval_prompts(tv_session * session, const tv_prompt * const * prompts,
                                         const int32_t * seqs, int32_t n, bool add_bos, bool reuse_prefix,
                                         int32_t * n_reused);
// Makes sequence dst hold the first n_keep positions of sequence src (its previous content dropped). The KV cells
// are shared, not recomputed (llama_memory_seq_cp); with n_keep = all of src, dst takes src's last logits too.
TV_API tv_status tv_session_seq_fork(tv_session * session, int32_t src, int32_t dst, int32_t n_keep);
// The last logits of sequence seq (n_vocab floats).
TV_API tv_status tv_session_seq_logits(tv_session * session, int32_t seq, float * out, int32_t n_vocab);
// Keeps the first n_keep positions of sequence seq.
TV_API tv_status tv_session_seq_truncate(tv_session * session, int32_t seq, int32_t n_keep);
// Up to n_max generation steps in each of the n sequences seqs (distinct), every step one decode for all of them
// that are still going: greedy or sampled with the session's sampling parameters (a sampler per sequence, seeded
// with the seed + the sequence id), stopping each sequence at its own end-of-generation token, stop token or stop
// string (tv_session_set_stops). out holds n x n_max tokens (row i: sequence seqs[i]; an end-of-generation token is
// included, not evaluated), n_out[i] the count, stops[i] the TV_STOP_* reason (TV_STOP_NONE: n_max reached).
// Generation-phase hooks apply, per sequence.
TV_API tv_status tv_session_generate_seqs(tv_session * session, const int32_t * seqs, int32_t n, int32_t n_max,
                                          int32_t * out, int32_t * n_out, int32_t * stops);
// Drops every position >= n_keep from the KV cache and the session's record (0 clears all).
TV_API tv_status tv_session_truncate(tv_session * session, int32_t n_keep);

// Copies the logits of the last evaluated position (n_vocab floats) into out.
TV_API tv_status tv_session_logits(tv_session * session, float * out, int32_t n_vocab);

// Why a generation step ended generation (tv_session_generate_step's *stop).
#define TV_STOP_NONE          0  // not stopped: the token was evaluated, generation may continue
#define TV_STOP_EOG           1  // an end-of-generation token (EOS, EOT, ...); not evaluated
#define TV_STOP_TOKEN         2  // one of the stop tokens; evaluated
#define TV_STOP_STRING        3  // the generated text now contains a stop string; the token was evaluated

// Sets stop conditions for later generation steps, besides end-of-generation tokens: n_tokens stop tokens, and
// n_strings stop strings packed one after another, each followed by a NUL byte, in strings (packed_len bytes).
// The generated text that stop strings are matched against starts anew at each tv_session_eval_prompt.
TV_API tv_status tv_session_set_stops(tv_session * session, const int32_t * tokens, int32_t n_tokens,
                                      const char * strings, int32_t packed_len);

// Sets the sampler used by tv_session_sample and tv_session_generate_step.
TV_API tv_status tv_session_set_sampling(tv_session * session, tv_sampling_params params);
// Samples the next token from the last logits; does not evaluate it. *token receives it.
TV_API tv_status tv_session_sample(tv_session * session, int32_t * token);
// One generation step: sample a token from the last logits into *token; unless it is an end-of-generation
// token, evaluate it so the next step can follow. *stop (TV_STOP_*) tells whether generation should end.
// One call per generated token.
TV_API tv_status tv_session_generate_step(tv_session * session, int32_t * token, int32_t * stop);
// Up to n_max generation steps in one call (a C++ loop over tv_session_generate_step) that ends early at a
// stop condition. Writes the tokens to out (capacity >= n_max; an end-of-generation token is included), their
// count to *n_out and the TV_STOP_* reason to *stop (TV_STOP_NONE when n_max was reached).
// For bulk generation without streaming, and the reference loop of the decoding benchmark.
TV_API tv_status tv_session_generate(tv_session * session, int32_t n_max, int32_t * out, int32_t * n_out,
                                     int32_t * stop);

// ---- hooks: read and write the model's internal states during a run ------------------------------------------
//
// A hook names a point of the graph (a layer's residual stream, attention or MLP output, ...), a set of prompt
// positions (token indices, 0 = the first position of the context) and an operation. Hooks are added to a
// session, apply during the evaluations that follow (prompt, generation steps, or both) and are removed by
// tv_session_clear_hooks. While a session has no hook, no graph callback is installed at all, so hook-free
// evaluation costs exactly what plain llama.cpp costs.
//
// Rows of a point are vectors of tv_hook_point_width() floats. Positions that the graph does not compute are
// rejected when the hook is added or, if they only become known later, fail the evaluation with TV_ERR_STATE:
// in the last layer llama.cpp keeps only output rows for the residuals and the MLP output, so hooks there mark
// their positions as outputs (text positions only).

// Hook points. Which graph node holds a point depends on the architecture, and is read from a graph that llama.cpp
// builds for the model (nothing is computed), so a point is offered exactly when the model's graph has it; a hook
// on any other point is refused with TV_ERR_NO_POINT, naming the points the model does offer. The usual node is
// in brackets; tv_session_point_node tells the one this model uses.
#define TV_POINT_RESID_POST 0  // residual stream after block L             [l_out-L]
#define TV_POINT_ATTN_OUT   1  // what block L's attention adds to the residual stream: after wo (and its bias)
                               // [attn_out-L; the wo product where the graph leaves it unnamed, e.g. qwen2vl;
                               // attn_post_norm-L where a norm follows wo, e.g. gemma3]
#define TV_POINT_MLP_OUT    2  // what block L's MLP adds to the residual stream  [ffn_out-L; ffn_post_norm-L]
#define TV_POINT_ATTN_Z     3  // per-head attention output before wo       [kqv_out-L], n_head x head_dim
#define TV_POINT_EMBED      4  // token or image embeddings entering block 0 [inp_embd]; layer ignored
#define TV_POINT_FINAL_NORM 5  // final normalised state                     [result_norm]; layer ignored
#define TV_POINT_RESID_MID  6  // residual stream between attention and MLP [ffn_inp-L; sa_out-L]
#define TV_POINT_RESID_PRE  7  // residual stream entering block L: what block L-1 passed on [l_out-(L-1), or
                               // deepstack_out-(L-1) where Qwen3-VL adds its deepstack features after block L-1;
                               // block 0: inp_scaled where the graph scales the embeddings (gemma), else absent]
#define TV_POINT_COUNT      8

// Operations.
#define TV_HOOK_CAPTURE 0  // copy rows out into data
#define TV_HOOK_REPLACE 1  // overwrite rows with data
#define TV_HOOK_ADD     2  // add scale * data to rows
#define TV_HOOK_ZERO    3  // overwrite rows with zeros

// When a hook applies.
#define TV_PHASE_PROMPT     1  // tv_session_eval_prompt / tv_session_eval_tokens
#define TV_PHASE_GENERATION 2  // tv_session_generate_step / tv_session_generate
#define TV_PHASE_BOTH       3

typedef struct tv_hook_params {
    int32_t point;        // TV_POINT_*
    int32_t layer;        // block index for per-block points
    int32_t op;           // TV_HOOK_*
    int32_t phase;        // TV_PHASE_*
    const int32_t * positions; // absolute positions (token indices), ascending, no duplicates
    int32_t n_positions;  // number of positions (>= 1); -1 = every position evaluated while the hook is active
    float * data;         // capture: output rows (n_rows x width), written as rows pass; replace / add: input rows
    int32_t n_rows;       // rows in data; for replace / add, 1 = the same row at every position
    float scale;          // add: factor of data (default 1)
    int32_t seq;          // the sequence whose positions these are (default 0; -1: the same positions of every one)
} tv_hook_params;

TV_API tv_hook_params tv_hook_default_params(void);
// Width of one row of a point (n_embd, or n_head * head_dim for TV_POINT_ATTN_Z); -1 for an unknown point.
TV_API int32_t tv_hook_point_width(const tv_model * model, int32_t point);
// Describes the node that holds point (TV_POINT_*) of block layer on this model: its name (e.g. "l_out-3"), or for
// an unnamed node the operation and weight that identify it (e.g. "mul_mat(blk.3.attn_output.weight)"). Writes it
// NUL-terminated to buf (truncated to buf_size) and returns its length; -1 with TV_ERR_NO_POINT (tv_last_error says
// which points the model offers) when the graph has no such node, or with TV_ERR_INVALID_ARG for a bad argument.
// The first call on a model builds one graph (milliseconds); its answer is kept with the model.
TV_API int32_t tv_session_point_node(tv_session * session, int32_t point, int32_t layer, char * buf, int32_t buf_size);
// Adds a hook; data must stay valid until tv_session_clear_hooks. *hook_id (if not NULL) numbers it. A point the
// model's graph does not have is refused with TV_ERR_NO_POINT (see tv_session_point_node).
// With n_positions == -1, a capture writes the k-th position evaluated under the hook to row k (up to n_rows).
TV_API tv_status tv_session_add_hook(tv_session * session, tv_hook_params params, int32_t * hook_id);
// Rows a hook has read or written so far, whatever its operation (a capture on every position: at most its n_rows);
// -1 for an unknown id. A hook that should have fired and reports 0 rows did not: its node is absent from the graph.
TV_API int32_t tv_session_hook_rows(const tv_session * session, int32_t hook_id);
// The first position a replace, add or zero hook wrote and the session still holds (-1: none). Hooks do not leave
// such states behind as a clean prefix: the next tv_session_eval_prompt re-evaluates from there.
TV_API int32_t tv_session_written_from(const tv_session * session);
// Removes all hooks and the graph callback.
TV_API void tv_session_clear_hooks(tv_session * session);

// ---- logit lens -----------------------------------------------------------------------------------------------

// Decodes n vectors of n_embd floats through the model's final norm (when apply_norm) and output matrix, read
// from the model file and dequantized on first use (then kept with the model). Writes n x n_vocab logits to out.
// Thread-safe. As the architecture defines its head: the final norm is RMSNorm with the model's epsilon and
// output_norm.weight (a LayerNorm where the file has output_norm.bias); the output matrix is output.weight, or
// token_embd.weight where the model ties them; output.bias is added where present, and the logits are soft-capped
// (cap * tanh(logit / cap)) where the architecture sets final_logit_softcapping (Gemma).
TV_API tv_status tv_model_logit_lens(tv_model * model, const float * x, int32_t n, float * out, bool apply_norm);

#ifdef __cplusplus
}
#endif

#endif // TASKVEC_H
