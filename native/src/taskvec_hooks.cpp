// Hooks: capture and patch llama.cpp graph nodes through the scheduler's eval callback.
//
// The callback is installed only while a session has hooks for the phase being evaluated; a hook-free session or
// phase runs with no callback at all. Row r of a hooked node is a (sequence, position) pair: the r-th row of the
// ubatch, or, for nodes that keep only output rows (last layer), its r-th output. The decode loops in
// taskvec_session.cpp submit one ubatch per llama_decode while hooks are active, and record its rows, so that the
// row mapping is known for every node (with a unified KV cache, llama.cpp keeps a batch's order in its ubatch).
#include "taskvec.h"
#include "taskvec_internal.h"

#include "ggml-backend.h"
#include "ggml.h"

#include <algorithm>
#include <climits>
#include <cstring>

using tv::fail;

namespace {

bool active_in(const tv::hook & h, int32_t phase) { return (h.phase & phase) != 0; }

// Slot of token index in the hook's data, or -1 when the hook does not touch it.
int32_t slot_of(tv::hook & h, int32_t index) {
    if (h.all_positions) {
        return h.rows_done;
    }
    auto it = std::lower_bound(h.positions.begin(), h.positions.end(), index);
    if (it == h.positions.end() || *it != index) {
        return -1;
    }
    return (int32_t) (it - h.positions.begin());
}

void apply(tv_session * s, tv::hook & h, ggml_tensor * t) {
    tv::hook_plan & plan = s->plan;
    if (t->type != GGML_TYPE_F32 || t->ne[0] != h.width || t->nb[0] != sizeof(float) ||
        t->nb[1] != (size_t) t->ne[0] * sizeof(float)) {
        if (plan.error.empty()) {
            plan.error = std::string("hook point ") + t->name + " is not a contiguous F32 matrix of width " +
                         std::to_string(h.width) + " (type " + ggml_type_name(t->type) + ", ne0 " +
                         std::to_string(t->ne[0]) + ")";
        }
        return;
    }
    const int64_t n_rows = t->ne[1];
    if (h.output_rows_only && (int64_t) plan.ubatch_outputs.size() != n_rows) {
        if (plan.error.empty()) {
            plan.error = std::string("hook point ") + t->name + " has " + std::to_string(n_rows) +
                         " rows but the ubatch has " + std::to_string(plan.ubatch_outputs.size()) + " outputs";
        }
        return;
    }
    const size_t row_bytes = (size_t) h.width * sizeof(float);
    for (int64_t r = 0; r < n_rows; ++r) {
        const tv::row_ref row = h.output_rows_only ? plan.ubatch_outputs[(size_t) r] : plan.row((int32_t) r);
        if (h.seq >= 0 && row.seq != h.seq) {
            continue;
        }
        const int32_t index = row.index;
        const int32_t k = slot_of(h, index);
        if (k < 0) {
            continue;
        }
        const size_t offset = (size_t) r * t->nb[1];
        switch (h.op) {
            case TV_HOOK_CAPTURE:
                if (k < h.n_rows) {
                    ggml_backend_tensor_get(t, h.data + (size_t) k * h.width, offset, row_bytes);
                }
                break;
            case TV_HOOK_REPLACE: {
                const int32_t src = h.n_rows == 1 ? 0 : k;
                if (src < h.n_rows) {
                    ggml_backend_tensor_set(t, h.data + (size_t) src * h.width, offset, row_bytes);
                }
                break;
            }
            case TV_HOOK_ADD: {
                const int32_t src = h.n_rows == 1 ? 0 : k;
                if (src < h.n_rows) {
                    plan.scratch.resize((size_t) h.width);
                    ggml_backend_tensor_get(t, plan.scratch.data(), offset, row_bytes);
                    const float * d = h.data + (size_t) src * h.width;
                    for (int32_t i = 0; i < h.width; ++i) {
                        plan.scratch[(size_t) i] += h.scale * d[i];
                    }
                    ggml_backend_tensor_set(t, plan.scratch.data(), offset, row_bytes);
                }
                break;
            }
            case TV_HOOK_ZERO:
                plan.scratch.assign((size_t) h.width, 0.0f);
                ggml_backend_tensor_set(t, plan.scratch.data(), offset, row_bytes);
                break;
            default:
                break;
        }
        if (h.op != TV_HOOK_CAPTURE) {
            int32_t & from = s->seqs[(size_t) row.seq].written_from;
            from = std::min(from, index);
        }
        h.rows_done++;
    }
}

}  // namespace

namespace tv {

bool hook_callback(ggml_tensor * t, bool ask, void * user_data) {
    auto * s = static_cast<tv_session *>(user_data);
    hook_plan & plan = s->plan;
    if (ask) {
        // Called for every node of every graph: a first-character test, then a full compare.
        for (const node_ref * w : plan.wanted) {
            if (w->matches(t)) {
                return true;
            }
        }
        return false;
    }
    for (hook & h : plan.hooks) {
        if (active_in(h, plan.phase) && h.node.matches(t)) {
            apply(s, h, t);
        }
    }
    return true;  // keep computing the graph
}

bool arm_hooks(tv_session * s, int32_t phase) {
    hook_plan & plan = s->plan;
    plan.phase = phase;
    plan.wanted.clear();
    for (const hook & h : plan.hooks) {
        if (active_in(h, phase) &&
            std::none_of(plan.wanted.begin(), plan.wanted.end(), [&](const node_ref * w) {
                return w->name == h.node.name && w->weight == h.node.weight && w->op == h.node.op;
            })) {
            plan.wanted.push_back(&h.node);
        }
    }
    const bool on = !plan.wanted.empty();
    if (on != s->callback_installed) {
        set_eval_callback(s->ctx.get(), on ? hook_callback : nullptr, on ? s : nullptr);
        s->callback_installed = on;
    }
    return on;
}

const hook * hook_on_text_only_node(const tv_session * s, int32_t seq, int32_t first, int32_t n) {
    for (const hook & h : s->plan.hooks) {
        if (!h.node.tokens_only || !active_in(h, s->plan.phase) || (h.seq >= 0 && h.seq != seq)) {
            continue;
        }
        if (h.all_positions) {
            return &h;
        }
        auto it = std::lower_bound(h.positions.begin(), h.positions.end(), first);
        if (it != h.positions.end() && *it < first + n) {
            return &h;
        }
    }
    return nullptr;
}

bool hook_needs_output(const tv_session * s, int32_t seq, int32_t index) {
    for (const hook & h : s->plan.hooks) {
        if (h.output_rows_only && active_in(h, s->plan.phase) && (h.seq < 0 || h.seq == seq) &&
            (h.all_positions || std::binary_search(h.positions.begin(), h.positions.end(), index))) {
            return true;
        }
    }
    return false;
}

int32_t first_hooked_position(const tv_session * s, int32_t seq) {
    int32_t first = INT32_MAX;
    for (const hook & h : s->plan.hooks) {
        if (active_in(h, TV_PHASE_PROMPT) && (h.seq < 0 || h.seq == seq)) {
            first = std::min(first, h.all_positions ? 0 : h.positions.front());
        }
    }
    return first;
}

}  // namespace tv

extern "C" TV_API tv_hook_params tv_hook_default_params(void) {
    tv_hook_params p{};
    p.point = TV_POINT_RESID_POST;
    p.layer = 0;
    p.op = TV_HOOK_CAPTURE;
    p.phase = TV_PHASE_PROMPT;
    p.positions = nullptr;
    p.n_positions = -1;
    p.data = nullptr;
    p.n_rows = 0;
    p.scale = 1.0f;
    p.seq = 0;
    return p;
}

extern "C" TV_API int32_t tv_hook_point_width(const tv_model * m, int32_t point) {
    if (m == nullptr || point < 0 || point >= TV_POINT_COUNT) {
        return -1;
    }
    if (point == TV_POINT_ATTN_Z) {
        const int32_t n_head = llama_model_n_head(m->model.get());
        const int32_t n_embd = llama_model_n_embd(m->model.get());
        return n_head > 0 ? n_head * (n_embd / n_head) : -1;
    }
    return llama_model_n_embd(m->model.get());
}

extern "C" TV_API tv_status tv_session_add_hook(tv_session * s, tv_hook_params p, int32_t * hook_id) {
    try {
        if (s == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "session is NULL");
        }
        const int32_t n_layer = llama_model_n_layer(s->model->model.get());
        const int32_t width = tv_hook_point_width(s->model, p.point);
        if (width <= 0) {
            return fail(TV_ERR_INVALID_ARG, "unknown hook point %d", p.point);
        }
        if (p.point == TV_POINT_EMBED) {
            return fail(TV_ERR_NO_POINT, "the embedding point is not a graph node in this llama.cpp; hook "
                                         "block 0's input through another point");
        }
        const bool per_layer = p.point != TV_POINT_FINAL_NORM;
        if (per_layer && (p.layer < 0 || p.layer >= n_layer)) {
            return fail(TV_ERR_INVALID_ARG, "layer %d is out of range [0, %d)", p.layer, n_layer);
        }
        if (p.op < TV_HOOK_CAPTURE || p.op > TV_HOOK_ZERO) {
            return fail(TV_ERR_INVALID_ARG, "unknown hook operation %d", p.op);
        }
        if (p.phase < TV_PHASE_PROMPT || p.phase > TV_PHASE_BOTH) {
            return fail(TV_ERR_INVALID_ARG, "unknown hook phase %d", p.phase);
        }
        if (p.n_positions < -1 || p.n_positions == 0 || (p.n_positions > 0 && p.positions == nullptr)) {
            return fail(TV_ERR_INVALID_ARG, "invalid positions (n_positions %d)", p.n_positions);
        }
        const int32_t n_ctx = (int32_t) llama_n_ctx(s->ctx.get());
        for (int32_t i = 0; i < p.n_positions; ++i) {
            if (p.positions[i] < 0 || p.positions[i] >= n_ctx) {
                return fail(TV_ERR_INVALID_ARG, "position %d is outside the context [0, %d)", p.positions[i], n_ctx);
            }
            if (i > 0 && p.positions[i] <= p.positions[i - 1]) {
                return fail(TV_ERR_INVALID_ARG, "positions must be ascending without duplicates");
            }
        }
        if (p.op != TV_HOOK_ZERO && (p.data == nullptr || p.n_rows <= 0)) {
            return fail(TV_ERR_INVALID_ARG, "this hook operation needs data rows");
        }
        if (p.op == TV_HOOK_CAPTURE && p.n_positions > 0 && p.n_rows < p.n_positions) {
            return fail(TV_ERR_INVALID_ARG, "a capture of %d positions needs %d rows, got %d", p.n_positions,
                        p.n_positions, p.n_rows);
        }
        if ((p.op == TV_HOOK_REPLACE || p.op == TV_HOOK_ADD) && p.n_positions > 0 && p.n_rows != 1 &&
            p.n_rows != p.n_positions) {
            return fail(TV_ERR_INVALID_ARG, "%d positions need 1 or %d data rows, got %d", p.n_positions,
                        p.n_positions, p.n_rows);
        }
        if (!(p.scale == p.scale)) {
            return fail(TV_ERR_INVALID_ARG, "scale is NaN");
        }
        const int32_t n_seq = (int32_t) s->seqs.size();
        if (p.seq < -1 || p.seq >= n_seq) {
            return fail(TV_ERR_INVALID_ARG, "sequence %d is outside [0, %d) (-1: every sequence)", p.seq, n_seq);
        }
        if (p.seq == -1 && p.op == TV_HOOK_CAPTURE && p.n_positions == -1 && n_seq > 1) {
            return fail(TV_ERR_INVALID_ARG, "a capture of every position names one sequence");
        }
        const tv::point_table & points = tv::model_points(s);
        const tv::node_ref * node = points.find(p.point, p.layer);
        if (node == nullptr) {
            return tv::no_point(points, p.point, p.layer);
        }
        tv::hook h;
        h.node = *node;
        h.seq = p.seq;
        h.point = p.point;
        h.layer = per_layer ? p.layer : -1;
        h.op = p.op;
        h.phase = p.phase;
        h.all_positions = p.n_positions == -1;
        if (!h.all_positions) {
            h.positions.assign(p.positions, p.positions + p.n_positions);
        }
        // In the last block, llama.cpp keeps only output rows from some node on (read from the graph).
        h.output_rows_only = node->output_rows_only;
        h.data = p.data;
        h.n_rows = p.data == nullptr ? 0 : p.n_rows;
        h.width = width;
        h.scale = p.scale;
        s->plan.hooks.push_back(std::move(h));
        s->plan.error.clear();
        if (hook_id != nullptr) {
            *hook_id = (int32_t) s->plan.hooks.size() - 1;
        }
        return TV_OK;
    } catch (const std::exception & e) {
        return fail(TV_ERR_INTERNAL, "internal error: %s", e.what());
    }
}

extern "C" TV_API int32_t tv_session_hook_rows(const tv_session * s, int32_t hook_id) {
    if (s == nullptr || hook_id < 0 || hook_id >= (int32_t) s->plan.hooks.size()) {
        return -1;
    }
    const tv::hook & h = s->plan.hooks[(size_t) hook_id];
    // a capture on every position holds at most n_rows rows; other operations report every row they touched
    return h.all_positions && h.op == TV_HOOK_CAPTURE ? std::min(h.rows_done, h.n_rows) : h.rows_done;
}

extern "C" TV_API int32_t tv_session_written_from(const tv_session * s) {
    return s == nullptr || s->seqs[0].written_from == INT32_MAX ? -1 : s->seqs[0].written_from;
}

extern "C" TV_API void tv_session_clear_hooks(tv_session * s) {
    if (s == nullptr) {
        return;
    }
    s->plan.hooks.clear();
    s->plan.wanted.clear();
    s->plan.error.clear();
    tv::arm_hooks(s, 0);
}
