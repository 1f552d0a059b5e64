// Hook points: which node of llama.cpp's graph holds each TransformerLens point on a given model.
//
// Node names differ per architecture, and some graphs leave a point unnamed:
//  - llama names the attention output attn_out-L; qwen2, qwen2vl, qwen3, gemma3 and most others do not (the wo
//    product is an unnamed mul_mat, found by its weight blk.L.attn_output.weight, or the bias add after it);
//  - gemma2/3/4 put a norm after the attention and after the MLP ("sandwich" norms): what they add to the residual
//    stream is attn_post_norm-L and ffn_post_norm-L, and the residual between them is sa_out-L, not ffn_inp-L.
// The table is read from a graph that llama.cpp builds for the model (llama_graph_reserve: built, not computed),
// so a point is offered exactly when its node exists, and a hook on any other point is refused before a run.
#include "taskvec.h"
#include "taskvec_internal.h"

#include "ggml.h"
#include "llama-ext.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

namespace {

constexpr const char * POINT_NAMES[TV_POINT_COUNT] = {"resid_post", "attn_out", "mlp_out", "attn_z",
                                                      "embed", "final_norm", "resid_mid", "resid_pre"};

bool per_layer(int32_t point) { return point != TV_POINT_FINAL_NORM && point != TV_POINT_EMBED; }

// Architectures whose blocks end each sub-layer with a norm before the residual add.
bool sandwich_norms(const std::string & arch) {
    return arch == "gemma2" || arch == "gemma3" || arch == "gemma4";
}

// Node names (before "-L") that may hold a point, in order of preference, for an architecture.
std::vector<const char *> base_names(int32_t point, const std::string & arch) {
    const bool sandwich = sandwich_norms(arch);
    switch (point) {
        case TV_POINT_RESID_POST: return {"l_out"};
        case TV_POINT_ATTN_OUT: return sandwich ? std::vector<const char *>{"attn_post_norm"}
                                                : std::vector<const char *>{"attn_out"};
        case TV_POINT_MLP_OUT: return sandwich ? std::vector<const char *>{"ffn_post_norm"}
                                               : std::vector<const char *>{"ffn_out"};
        case TV_POINT_ATTN_Z: return {"kqv_out"};
        case TV_POINT_FINAL_NORM: return {"result_norm"};
        case TV_POINT_RESID_MID: return sandwich ? std::vector<const char *>{"sa_out"}
                                                 : std::vector<const char *>{"ffn_inp"};
        default: return {};  // TV_POINT_EMBED: block 0's input is not a node in this llama.cpp
    }
}

// Node names that may hold point of block layer, in order of preference, for an architecture.
std::vector<std::string> candidates(int32_t point, int32_t layer, const std::string & arch) {
    if (point == TV_POINT_RESID_PRE) {
        if (layer == 0) {
            // gemma scales the embeddings in the graph (inp_scaled, also for image rows); elsewhere "embd" is the
            // token embeddings' get_rows (image rows enter as an input tensor, which is not a node)
            return {"inp_scaled", "embd"};
        }
        const std::string prev = std::to_string(layer - 1);
        return {"deepstack_out-" + prev, "l_out-" + prev};
    }
    std::vector<std::string> out;
    for (const char * base : base_names(point, arch)) {
        out.push_back(per_layer(point) ? std::string(base) + "-" + std::to_string(layer) : std::string(base));
    }
    return out;
}

// "blk.<L>.<suffix>" -> L, or -1.
int32_t weight_layer(const char * name, const char * suffix) {
    int32_t layer = -1;
    int consumed = 0;
    if (std::sscanf(name, "blk.%d.%n", &layer, &consumed) != 1 || consumed == 0) {
        return -1;
    }
    return std::strcmp(name + consumed, suffix) == 0 ? layer : -1;
}

struct graph_scan {
    std::unordered_map<std::string, int64_t> rows;  // node name -> ne[1], for contiguous F32 matrices
    // per layer: the wo product and, where wo has a bias, the add after it (ne[1]; -1 when absent)
    std::vector<int64_t> wo_mul_rows, wo_add_rows;
};

graph_scan scan(ggml_cgraph * gf, int32_t n_layer) {
    graph_scan g;
    g.wo_mul_rows.assign((size_t) n_layer, -1);
    g.wo_add_rows.assign((size_t) n_layer, -1);
    for (int i = 0; i < ggml_graph_n_nodes(gf); ++i) {
        const ggml_tensor * t = ggml_graph_node(gf, i);
        // hooks read and write rows of contiguous F32 matrices (a view of a wider input is not one)
        if (t->name[0] != '\0' && t->type == GGML_TYPE_F32 && t->nb[0] == sizeof(float) &&
            t->nb[1] == (size_t) t->ne[0] * sizeof(float)) {
            g.rows.emplace(t->name, t->ne[1]);
        }
        int32_t l = -1;
        if (t->op == GGML_OP_MUL_MAT && t->src[0] != nullptr &&
            (l = weight_layer(t->src[0]->name, "attn_output.weight")) >= 0 && l < n_layer) {
            g.wo_mul_rows[(size_t) l] = t->ne[1];
        } else if (t->op == GGML_OP_ADD && t->src[1] != nullptr &&
                   (l = weight_layer(t->src[1]->name, "attn_output.bias")) >= 0 && l < n_layer) {
            g.wo_add_rows[(size_t) l] = t->ne[1];
        }
    }
    return g;
}

}  // namespace

namespace tv {

std::string node_ref::describe() const {
    if (!name.empty()) {
        return name;
    }
    if (weight.empty()) {
        return "(none)";
    }
    return std::string(op == GGML_OP_ADD ? "add" : "mul_mat") + "(" + weight + ")";
}

bool node_ref::matches(const ggml_tensor * t) const {
    if (!name.empty()) {
        return name[0] == t->name[0] && std::strcmp(name.c_str(), t->name) == 0;
    }
    const ggml_tensor * w = t->src[src_index];
    // a weight the scheduler copied to another backend keeps its name inside the copy's
    return t->op == op && w != nullptr && std::strstr(w->name, weight.c_str()) != nullptr;
}

const node_ref * point_table::find(int32_t point, int32_t layer) const {
    if (point < 0 || point >= (int32_t) nodes.size()) {
        return nullptr;
    }
    const auto & row = nodes[(size_t) point];
    const size_t i = per_layer(point) ? (size_t) layer : 0;
    if (i >= row.size()) {
        return nullptr;
    }
    const node_ref & n = row[i];
    return n.name.empty() && n.weight.empty() ? nullptr : &n;
}

std::string point_table::offered() const {
    std::string out;
    for (int32_t point = 0; point < (int32_t) nodes.size(); ++point) {
        // layers that have the point, as ranges
        std::string ranges;
        const int32_t n = per_layer(point) ? n_layer : 1;
        for (int32_t l = 0; l < n;) {
            if (find(point, l) == nullptr) {
                ++l;
                continue;
            }
            int32_t e = l;
            while (e + 1 < n && find(point, e + 1) != nullptr) {
                ++e;
            }
            ranges += (ranges.empty() ? "" : ",") + std::to_string(l) + (e > l ? "-" + std::to_string(e) : "");
            l = e + 1;
        }
        if (ranges.empty()) {
            continue;
        }
        out += (out.empty() ? "" : ", ") + std::string(POINT_NAMES[point]) +
               (per_layer(point) ? " (blocks " + ranges + ")" : "");
    }
    return out;
}

tv_status no_point(const point_table & t, int32_t point, int32_t layer) {
    const std::string what = per_layer(point) ? std::string(POINT_NAMES[point]) + " of block " + std::to_string(layer)
                                              : std::string(POINT_NAMES[point]);
    return fail(TV_ERR_NO_POINT, "this model's graph (architecture %s) has no node for hook point %s; it offers: %s",
                t.arch.c_str(), what.c_str(), t.offered().c_str());
}

const point_table & model_points(tv_session * s) {
    tv_model * m = s->model;
    std::lock_guard<std::mutex> lock(m->points_mutex);
    if (m->points) {
        return *m->points;
    }
    auto table = std::make_unique<point_table>();
    char arch[128] = {0};
    llama_model_meta_val_str(m->model.get(), "general.architecture", arch, sizeof arch);
    table->arch = arch;
    table->n_layer = llama_model_n_layer(m->model.get());
    // Two tokens, one output: nodes after the last block's get_rows hold one row, all others two.
    ggml_cgraph * gf = llama_graph_reserve(s->ctx.get(), 2, 1, 1);
    if (gf == nullptr) {
        throw std::runtime_error("llama.cpp could not build a graph for this model");
    }
    const graph_scan g = scan(gf, table->n_layer);
    table->nodes.resize(TV_POINT_COUNT);
    for (int32_t point = 0; point < TV_POINT_COUNT; ++point) {
        const int32_t n = per_layer(point) ? table->n_layer : 1;
        auto & row = table->nodes[(size_t) point];
        row.resize((size_t) n);
        for (int32_t l = 0; l < n; ++l) {
            node_ref & ref = row[(size_t) l];
            for (const std::string & name : candidates(point, l, table->arch)) {
                auto it = g.rows.find(name);
                if (it != g.rows.end()) {
                    ref.name = name;
                    ref.output_rows_only = it->second == 1;
                    ref.tokens_only = name == "embd";
                    break;
                }
            }
            if (ref.name.empty() && point == TV_POINT_ATTN_OUT && !sandwich_norms(table->arch)) {
                // unnamed: the bias add after wo where wo has a bias, else the wo product itself
                const std::string blk = "blk." + std::to_string(l) + ".";
                if (g.wo_add_rows[(size_t) l] >= 0) {
                    ref.weight = blk + "attn_output.bias";
                    ref.op = GGML_OP_ADD;
                    ref.src_index = 1;
                    ref.output_rows_only = g.wo_add_rows[(size_t) l] == 1;
                } else if (g.wo_mul_rows[(size_t) l] >= 0) {
                    ref.weight = blk + "attn_output.weight";
                    ref.op = GGML_OP_MUL_MAT;
                    ref.src_index = 0;
                    ref.output_rows_only = g.wo_mul_rows[(size_t) l] == 1;
                }
            }
        }
    }
    m->points = std::move(table);
    return *m->points;
}

}  // namespace tv

extern "C" TV_API int32_t tv_session_point_node(tv_session * s, int32_t point, int32_t layer, char * buf,
                                                int32_t buf_size) {
    try {
        if (s == nullptr || (buf == nullptr && buf_size > 0) || buf_size < 0) {
            tv::fail(TV_ERR_INVALID_ARG, "session is NULL or buf/buf_size are invalid");
            return -1;
        }
        if (point < 0 || point >= TV_POINT_COUNT) {
            tv::fail(TV_ERR_INVALID_ARG, "unknown hook point %d", point);
            return -1;
        }
        const tv::point_table & t = tv::model_points(s);
        if (per_layer(point) && (layer < 0 || layer >= t.n_layer)) {
            tv::fail(TV_ERR_INVALID_ARG, "layer %d is out of range [0, %d)", layer, t.n_layer);
            return -1;
        }
        const tv::node_ref * ref = t.find(point, layer);
        if (ref == nullptr) {
            tv::no_point(t, point, layer);
            return -1;
        }
        const std::string d = ref->describe();
        if (buf_size > 0) {
            const size_t n = std::min(d.size(), (size_t) buf_size - 1);
            std::memcpy(buf, d.data(), n);
            buf[n] = '\0';
        }
        return (int32_t) d.size();
    } catch (const std::exception & e) {
        tv::fail(TV_ERR_INTERNAL, "internal error: %s", e.what());
        return -1;
    }
}
