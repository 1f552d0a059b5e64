// Internal declarations shared by the translation units of libtaskvec.
//
// Files, one concept each: taskvec_library.cpp (errors, init, versions), taskvec_model.cpp (load, metadata, chat
// template, quantize), taskvec_tokens.cpp, taskvec_prompt.cpp (prompts and their tokenization into units),
// taskvec_images.cpp (the encoded-image cache), taskvec_image_embd.cpp, taskvec_session.cpp (KV/position
// bookkeeping, decoding), taskvec_generation.cpp (sampling, stops), taskvec_hooks.cpp, taskvec_points.cpp,
// taskvec_lens.cpp, taskvec_log.cpp, taskvec_llama_internals.cpp, taskvec_rpc.cpp (RPC servers and clients).
#pragma once

#include "taskvec.h"

#include "llama.h"
#include "mtmd.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <exception>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tv {
// Points llama.cpp, ggml and libmtmd logging at the library's line router.
void install_log_router();

// ---- errors (taskvec_library.cpp) ----------------------------------------------------------------------------

// Records a failure message for tv_last_error() and returns status.
tv_status fail(tv_status status, const char * fmt, ...);

// Whether e reports a failed RPC server (ggml-rpc with taskvec's patch, cmake/patches/ggml-rpc-errors.patch: such
// messages start with "ggml-rpc: ").
inline bool is_rpc_failure(const std::exception & e) { return std::strncmp(e.what(), "ggml-rpc: ", 10) == 0; }

// Runs body, turning any C++ exception into TV_ERR_INTERNAL, or TV_ERR_RPC for a failed RPC server (nothing may
// unwind into the JVM).
template <typename F>
tv_status guarded(F && body) {
    try {
        return body();
    } catch (const std::exception & e) {
        if (is_rpc_failure(e)) {
            return fail(TV_ERR_RPC, "%s", e.what());
        }
        return fail(TV_ERR_INTERNAL, "internal error: %s", e.what());
    } catch (...) {
        return fail(TV_ERR_INTERNAL, "internal error: unknown exception");
    }
}

// Copies s into buf as snprintf would (truncated, NUL-terminated) and returns its full length.
inline int32_t copy_out(const std::string & s, char * buf, int32_t buf_size) {
    if (buf != nullptr && buf_size > 0) {
        size_t n = std::min((size_t) buf_size - 1, s.size());
        memcpy(buf, s.data(), n);
        buf[n] = '\0';
    }
    return (int32_t) s.size();
}

// ---- owned llama.cpp and libmtmd handles ---------------------------------------------------------------------

// Deleter that hands a pointer to the library's free function (std::unique_ptr never calls it with NULL).
template <auto Free>
struct free_with {
    template <typename T>
    void operator()(T * p) const { Free(p); }
};

using model_ptr = std::unique_ptr<llama_model, free_with<llama_model_free>>;
using context_ptr = std::unique_ptr<llama_context, free_with<llama_free>>;
using sampler_ptr = std::unique_ptr<llama_sampler, free_with<llama_sampler_free>>;
using mtmd_ptr = std::unique_ptr<mtmd_context, free_with<mtmd_free>>;
using bitmap_ptr = std::unique_ptr<mtmd_bitmap, free_with<mtmd_bitmap_free>>;
using chunks_ptr = std::unique_ptr<mtmd_input_chunks, free_with<mtmd_input_chunks_free>>;

// A llama_batch (a struct of malloc'ed arrays, passed by value) that frees its arrays when it goes.
struct owned_batch {
    llama_batch value{};
    owned_batch() = default;
    explicit owned_batch(int32_t n_tokens) : value(llama_batch_init(n_tokens, 0, 1)) {}
    owned_batch(owned_batch && o) noexcept : value(o.value) { o.value = llama_batch{}; }
    owned_batch & operator=(owned_batch && o) noexcept {
        std::swap(value, o.value);
        return *this;
    }
    owned_batch(const owned_batch &) = delete;
    owned_batch & operator=(const owned_batch &) = delete;
    ~owned_batch() { llama_batch_free(value); }
};

// ---- hook points and hooks (taskvec_points.cpp, taskvec_hooks.cpp) -------------------------------------------

// The graph node that holds a hook point: a named node, or an unnamed one known by its operation and the weight
// it applies (src[src_index] is that weight, or a copy of it whose name contains the weight's name).
struct node_ref {
    std::string name;                // llama.cpp's node name, e.g. "l_out-12"; empty for an unnamed node
    std::string weight;              // unnamed node: the weight's name, e.g. "blk.3.attn_output.weight"
    int32_t op = 0;                  // unnamed node: its ggml_op
    int32_t src_index = 0;           // unnamed node: which source is the weight
    bool output_rows_only = false;   // the node holds only the ubatch's output rows (the last block, after get_rows)
    bool tokens_only = false;        // a node of text rows only: image rows enter the graph elsewhere (embd)
    std::string describe() const;    // the name, or e.g. "mul_mat(blk.3.attn_output.weight)"
    bool matches(const struct ggml_tensor * t) const;
};

// Which node holds each hook point of a model, read from a graph llama.cpp builds for it (taskvec_points.cpp).
struct point_table {
    std::string arch;                                 // general.architecture
    int32_t n_layer = 0;
    std::vector<std::vector<node_ref>> nodes;         // [point][layer]: the node, or name and weight empty if absent
    const node_ref * find(int32_t point, int32_t layer) const;
    std::string offered() const;                      // e.g. "resid_post 0-3, attn_z 0-3, final_norm"
};

// The point table of session's model, built on first use from session's context (thread-safe).
const point_table & model_points(tv_session * session);
// Records TV_ERR_NO_POINT for a point the table lacks, naming the points it offers, and returns that status.
tv_status no_point(const point_table & table, int32_t point, int32_t layer);

// A row of a ubatch: which sequence and which of its positions.
struct row_ref {
    int32_t seq;
    int32_t index;
};

// One hook of a session (see tv_hook_params in taskvec.h).
struct hook {
    node_ref node;                   // the graph node it reads or writes
    int32_t seq = 0;                 // the sequence it addresses (-1: every sequence)
    int32_t point = 0, layer = 0, op = 0, phase = 0;
    std::vector<int32_t> positions;  // ascending token indices; empty with all_positions
    bool all_positions = false;
    bool output_rows_only = false;   // the node holds only the ubatch's output rows
    float * data = nullptr;
    int32_t n_rows = 0;
    int32_t width = 0;
    float scale = 1.0f;
    int32_t rows_done = 0;           // rows captured or written so far (all-positions hooks count positions)
};

// The hook plan of a session: its validated hooks with their resolved graph nodes, the phase being evaluated and
// the row mapping of the ubatch being computed (what the graph callback needs to map tensor rows to positions).
struct hook_plan {
    std::vector<hook> hooks;
    int32_t phase = 0;                   // the phase now being evaluated (TV_PHASE_*)
    std::vector<const node_ref *> wanted; // nodes that active hooks read or write (point into hooks)
    // the rows of the ubatch being computed: ubatch_rows when it mixes sequences, else positions ubatch_start + r
    // of sequence ubatch_seq
    std::vector<row_ref> ubatch_rows;
    int32_t ubatch_seq = 0;
    int32_t ubatch_start = 0;
    std::vector<row_ref> ubatch_outputs; // the ubatch's output rows, in row order
    std::string error;                   // first failure inside the callback
    std::vector<float> scratch;
    row_ref row(int32_t r) const {
        return ubatch_rows.empty() ? row_ref{ubatch_seq, ubatch_start + r} : ubatch_rows[(size_t) r];
    }
};

// Graph callback of sessions with active hooks (cb_eval).
bool hook_callback(struct ggml_tensor * t, bool ask, void * user_data);
// Makes the hooks of phase active (installing the callback) or, when none applies, removes the callback.
// Returns true when hooks are active for the phase.
bool arm_hooks(tv_session * s, int32_t phase);
// An active prompt hook on a node that image rows bypass (tokens_only) and that touches one of the positions
// [first, first + n) (NULL when none).
const hook * hook_on_text_only_node(const tv_session * s, int32_t seq, int32_t first, int32_t n);
// Whether an active hook needs position index of sequence seq as an output row (last-layer MLP output / residual).
bool hook_needs_output(const tv_session * s, int32_t seq, int32_t index);
// The first position of sequence seq an active prompt hook touches (INT32_MAX when none): prefix reuse stops there.
int32_t first_hooked_position(const tv_session * s, int32_t seq);
// Installs or removes llama.cpp's graph callback on a live context (taskvec_llama_internals.cpp).
void set_eval_callback(llama_context * ctx, bool (*cb)(struct ggml_tensor *, bool, void *), void * user_data);

// ---- logit lens (taskvec_lens.cpp) ---------------------------------------------------------------------------

// Weights read from the model file for the logit lens.
struct lens_weights;
void lens_weights_free(lens_weights * w);
using lens_ptr = std::unique_ptr<lens_weights, free_with<lens_weights_free>>;

// ---- encoded images (taskvec_images.cpp) ---------------------------------------------------------------------

// Encoded images by key (content digest and row count), least recently used first out, within a byte limit.
// Not thread-safe: the model's mtmd_mutex guards it.
class image_cache {
public:
    explicit image_cache(size_t limit = 0) : limit_(limit) {}
    // The cached rows of key when they hold n floats (counted as a hit), else NULL.
    const std::vector<float> * find(uint64_t key, size_t n);
    // Counts a miss and keeps embd under key, evicting the least recently used entries to stay within the
    // limit (an entry larger than the limit is not kept).
    void put(uint64_t key, const std::vector<float> & embd);
    int64_t hits() const { return hits_; }
    int64_t misses() const { return misses_; }

private:
    struct entry {
        std::vector<float> embd;
        std::list<uint64_t>::iterator lru;
    };
    std::unordered_map<uint64_t, entry> entries_;
    std::list<uint64_t> lru_;
    size_t bytes_ = 0;
    size_t limit_ = 0;
    int64_t hits_ = 0;
    int64_t misses_ = 0;
};

// The embeddings of an image chunk (n_tokens rows of the model's input width) keyed by digest: from the model's
// cache, or encoded by the projector and cached. Takes the model's mtmd_mutex.
tv_status encoded_image(tv_model * m, const mtmd_input_chunk * chunk, uint64_t digest, int32_t n_tokens,
                        std::vector<float> & embd);

// ---- prompts (taskvec_prompt.cpp) ----------------------------------------------------------------------------

// One evaluation unit of a tokenized prompt: a run of text tokens, or one media chunk of an image.
struct prompt_unit {
    std::vector<int32_t> tokens;                // text tokens
    const mtmd_input_chunk * chunk = nullptr;   // media chunk, or nullptr
    uint64_t digest = 0;                        // image chunk digest
    int32_t n_tokens = 0;
    int32_t image = -1;                         // media chunk: which image of the prompt (one image may make
                                                // several chunks)
};

// A prompt turned into evaluation units; owns the media chunks the units point into.
struct tokenized_prompt {
    std::vector<prompt_unit> units;
    std::vector<chunks_ptr> owned;
    int32_t n_tokens() const {
        int32_t n = 0;
        for (const auto & u : units) {
            n += u.n_tokens;
        }
        return n;
    }
};

// Tokenizes p for model m into tp (text parts with the vocabulary, images through the projector).
tv_status tokenize_prompt(tv_model * m, const tv_prompt * p, bool add_bos, tokenized_prompt & tp);

// Prefix-reuse key of row `row` of an image chunk with digest `digest`.
inline uint64_t image_key(uint64_t digest, int32_t row) {
    return (digest ^ 0x9e3779b97f4a7c15ull) + (uint64_t) row * 0x100000001b3ull;
}

// ---- sessions (taskvec_session.cpp, taskvec_generation.cpp) --------------------------------------------------

// Decodes text tokens at the end of the session (logits for the last one when want_logits), with the hooks of
// phase active.
tv_status decode_tokens(tv_session * s, int32_t seq, const int32_t * tokens, int32_t n, bool want_logits,
                        int32_t phase);
// Before a llama_decode: copies the logits of sequences that still live in the context's output buffer into their
// own storage (they are about to be overwritten), and numbers the decode.
void before_decode(tv_session * s);
// llama_decode of b for s (with before_decode), under the model's RPC rules (see remote_call).
int32_t decode(tv_session * s, const llama_batch & b);
// The last logits of sequence seq (in the context's buffer or copied), or NULL when it has none.
const float * seq_logits(tv_session * s, int32_t seq);
// Samples a token from n_vocab logits held outside the context (the steps of llama_sampler_sample).
llama_token sample_logits(llama_sampler * sampler, const float * logits, int32_t n_vocab);
// Whether generated text now holds one of the session's stop strings; only its tail, which the last piece of
// last_piece bytes completed, is searched.
bool hits_stop_string(const tv_session * s, const std::string & generated, size_t last_piece);
// Samples the next token of sequence seq from its last logits with the session's sampler.
int32_t sample_seq(tv_session * s, int32_t seq);

// A sampler chain for sp (greedy at temperature 0); the session's seed where sp.seed is UINT32_MAX.
sampler_ptr make_sampler(const tv_sampling_params & sp, uint32_t session_seed);
}  // namespace tv

// ---- handles -------------------------------------------------------------------------------------------------

// The handles own what they hold: tv_model_free and tv_session_free are a plain delete. Members are destroyed in
// reverse order, so a handle that another refers to is declared before it.

struct tv_model {
    tv::model_ptr model;    // freed last: the projector context refers to it
    const llama_vocab * vocab = nullptr;
    tv::mtmd_ptr mtmd;
    std::mutex mtmd_mutex;  // libmtmd's encode path is not thread-safe; sessions on several threads share it
    std::string path;       // the model file (the logit lens reads its output weights from it)
    tv::image_cache images; // encoded images (guarded by mtmd_mutex)
    std::mutex lens_mutex;
    tv::lens_ptr lens;
    std::mutex points_mutex;
    std::unique_ptr<tv::point_table> points;  // built by the first session that needs it
    std::vector<std::string> rpc_endpoints;   // RPC servers that hold some of its layers (taskvec_rpc.cpp)
    std::atomic<bool> rpc_lost{false};        // one of them failed: the remote weights are gone
    std::mutex rpc_mutex;
    std::string rpc_lost_reason;              // guarded by rpc_mutex
};

struct tv_prompt_part {
    std::string text;             // text part (when !is_image && tokens.empty())
    std::vector<int32_t> tokens;  // pre-tokenized part
    std::vector<uint8_t> rgb;     // image part
    int32_t w = 0, h = 0;
    bool is_image = false;
    bool is_tokens = false;
};

struct tv_prompt {
    std::vector<tv_prompt_part> parts;
};

// One evaluated position of a session.
struct tv_position {
    int32_t token;       // token id, or TV_TOKEN_IMAGE
    uint64_t key;        // equality key for prefix reuse (token id, or image digest mixed with the row index)
    int32_t unit_start;  // index of the first position of the unit (a text token is its own unit; an image is one)
    int32_t pos;         // llama position (differs from the index for M-RoPE images)
};

// One sequence of a session: the positions it holds in the KV cache and its last logits.
struct tv_seq {
    std::vector<tv_position> positions;
    int32_t next_pos = 0;            // llama position of the next token
    bool logits_valid = false;       // the last evaluated position has logits
    int32_t logits_row = -1;         // their batch index in the context's output buffer, while decode n_decodes
    uint64_t logits_decode = 0;      //   that produced them is the last one
    std::vector<float> logits;       // else their copy
    // first position a replace/add/zero hook wrote since the sequence was last cut back before it (INT32_MAX: none);
    // kept across tv_session_clear_hooks: the next prompt evaluation does not reuse it as a clean prefix
    int32_t written_from = INT32_MAX;
};

struct tv_session {
    tv_model * model = nullptr;  // not owned
    std::vector<tv_seq> seqs;    // n_seq parallel sequences; the single-sequence API works on sequence 0
    uint64_t n_decodes = 0;      // llama_decode calls so far
    tv::context_ptr ctx;         // freed after the sampler and the batch (declared before them)
    tv::owned_batch batch;
    int32_t batch_cap = 0;
    tv::sampler_ptr sampler;
    uint32_t seed = 0;
    tv_sampling_params sampling{};   // the last tv_session_set_sampling (parallel generation makes one sampler per sequence)
    std::vector<int32_t> stop_tokens;
    std::vector<std::string> stop_strings;
    size_t longest_stop = 0;
    std::string generated;      // text generated since the last prompt (matched against stop strings)
    char piece[256];
    tv::hook_plan plan;
    bool callback_installed = false;
};

namespace tv {
// ---- RPC (taskvec_rpc.cpp) -----------------------------------------------------------------------------------

// Adds the devices of the RPC servers in servers ("host:port,host:port") to devices and their endpoints to endpoints.
// The model's offload devices (llama.cpp's list; taskvec_llama_internals.cpp) and the device of layer il (the CPU's
// device for layers that are not offloaded).
std::vector<ggml_backend_dev_t> model_devices(const llama_model * model);
ggml_backend_dev_t model_layer_device(const llama_model * model, int32_t il);
tv_status add_rpc_devices(const char * servers, std::vector<ggml_backend_dev_t> & devices,
                          std::vector<std::string> & endpoints);
// Whether one of the RPC servers at endpoints does not answer now (its failure is then tv_last_error()). llama.cpp
// reports a server lost while it loads a model or sets up a context only in its log: this asks the servers again.
bool rpc_server_lost(const std::vector<std::string> & endpoints);
// Records that model lost an RPC server (reason: the failure), so that later calls refuse it.
void mark_rpc_lost(tv_model * model, const char * reason);
// Throws the RPC failure (TV_ERR_RPC through guarded) when model lost an RPC server earlier.
void check_rpc(tv_model * model);

// Runs f, a call that computes on model's devices. A model that lost an RPC server is refused before f; when f fails
// with an RPC failure, the model is marked lost (its remote weights and KV are gone) and the failure rethrown.
template <typename F>
auto remote_call(tv_model * model, F && f) -> decltype(f()) {
    if (model->rpc_endpoints.empty()) {
        return f();
    }
    check_rpc(model);
    try {
        return f();
    } catch (const std::exception & e) {
        if (is_rpc_failure(e)) {
            mark_rpc_lost(model, e.what());
        }
        throw;
    }
}
}  // namespace tv
