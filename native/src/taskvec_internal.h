// Internal declarations shared by the translation units of libtaskvec.
#pragma once

#include "taskvec.h"

#include "llama.h"
#include "mtmd.h"

#include <cstdint>
#include <list>
#include <unordered_map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tv {
// Points llama.cpp, ggml and libmtmd logging at the library's line router.
void install_log_router();

// Records a failure message for tv_last_error() and returns status.
tv_status fail(tv_status status, const char * fmt, ...);

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

// One hook of a session (see tv_hook_params in taskvec.h).
struct hook {
    node_ref node;                   // the graph node it reads or writes
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

// The hooks of a session and the state the graph callback needs to map tensor rows to positions.
struct hook_set {
    std::vector<hook> hooks;
    int32_t phase = 0;                   // the phase now being evaluated (TV_PHASE_*)
    std::vector<const node_ref *> wanted; // nodes that active hooks read or write (point into hooks)
    int32_t ubatch_start = 0;            // token index of row 0 of the ubatch being computed
    std::vector<int32_t> ubatch_outputs; // token indices of the ubatch's output rows, in row order
    std::string error;                   // first failure inside the callback
    // first position a replace/add/zero hook wrote since the session was last cut back before it (INT32_MAX: none);
    // kept across tv_session_clear_hooks: the next prompt evaluation does not reuse it as a clean prefix
    int32_t written_from = INT32_MAX;
    std::vector<float> scratch;
};

// Graph callback of sessions with active hooks (cb_eval).
bool hook_callback(struct ggml_tensor * t, bool ask, void * user_data);
// Makes the hooks of phase active (installing the callback) or, when none applies, removes the callback.
// Returns true when hooks are active for the phase.
bool arm_hooks(tv_session * s, int32_t phase);
// An active prompt hook on a node that image rows bypass (tokens_only) and that touches one of the positions
// [first, first + n) (NULL when none).
const hook * hook_on_text_only_node(const tv_session * s, int32_t first, int32_t n);
// Whether an active hook needs token index i as an output row (last-layer MLP output / residual).
bool hook_needs_output(const tv_session * s, int32_t index);
// The first position an active prompt hook touches (INT32_MAX when none): prefix reuse must stop there.
int32_t first_hooked_position(const tv_session * s);
// Installs or removes llama.cpp's graph callback on a live context (taskvec_llama_internals.cpp).
void set_eval_callback(llama_context * ctx, bool (*cb)(struct ggml_tensor *, bool, void *), void * user_data);

// Weights read from the model file for the logit lens (taskvec_lens.cpp).
struct lens_weights;
void lens_weights_free(lens_weights * w);
}  // namespace tv

// ---- handles -------------------------------------------------------------------------------------------------

struct tv_model {
    llama_model * model = nullptr;
    const llama_vocab * vocab = nullptr;
    mtmd_context * mtmd = nullptr;
    std::mutex mtmd_mutex;  // libmtmd's encode path is not thread-safe; sessions on several threads share it
    std::string path;       // the model file (the logit lens reads its output weights from it)
    // encoded images by content digest, least recently used first out (guarded by mtmd_mutex)
    struct cached_image {
        std::vector<float> embd;
        std::list<uint64_t>::iterator lru;
    };
    std::unordered_map<uint64_t, cached_image> image_cache;
    std::list<uint64_t> image_lru;
    size_t image_cache_bytes = 0;
    size_t image_cache_limit = 0;
    int64_t image_hits = 0;
    int64_t image_misses = 0;
    std::mutex lens_mutex;
    tv::lens_weights * lens = nullptr;
    std::mutex points_mutex;
    std::unique_ptr<tv::point_table> points;  // built by the first session that needs it
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

struct tv_session {
    tv_model * model = nullptr;
    llama_context * ctx = nullptr;
    llama_sampler * sampler = nullptr;
    llama_batch batch{};
    int32_t batch_cap = 0;
    uint32_t seed = 0;
    std::vector<tv_position> positions;
    int32_t next_pos = 0;       // llama position of the next token
    bool logits_valid = false;  // the last evaluated position has logits
    std::vector<int32_t> stop_tokens;
    std::vector<std::string> stop_strings;
    size_t longest_stop = 0;
    std::string generated;      // text generated since the last prompt (matched against stop strings)
    char piece[256];
    tv::hook_set hooks;
    bool callback_installed = false;
};
