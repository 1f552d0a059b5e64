// Logit lens: decode residual vectors through the model's final norm and output matrix.
//
// llama.cpp has no public API for these weights (they may even live on a GPU), so they are read from the model
// file with ggml's GGUF reader, kept in their stored type, and dequantized one row at a time while multiplying.
#include "taskvec.h"
#include "taskvec_internal.h"

#include "ggml.h"
#include "gguf.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using tv::fail;

namespace tv {

struct lens_weights {
    std::vector<uint8_t> output;      // output matrix rows as stored (n_vocab rows of n_embd)
    ggml_type output_type = GGML_TYPE_F32;
    size_t row_bytes = 0;
    std::vector<float> norm;          // output_norm.weight (empty if the model has none)
    std::vector<float> norm_bias;     // output_norm.bias: the final norm is a LayerNorm (empty: RMSNorm)
    std::vector<float> bias;          // output.bias (empty if none)
    float eps = 1e-5f;
    float softcap = 0.0f;             // final logit soft-capping (gemma): cap * tanh(logit / cap); 0: none
    int64_t n_embd = 0;
    int64_t n_vocab = 0;
};

void lens_weights_free(lens_weights * w) { delete w; }

namespace {

struct gguf_deleter {
    void operator()(gguf_context * g) const { gguf_free(g); }
};
struct ggml_ctx_deleter {
    void operator()(ggml_context * c) const { ggml_free(c); }
};

// Reads one tensor's stored bytes from the file.
std::vector<uint8_t> read_tensor(const std::string & path, gguf_context * g, ggml_context * meta, const char * name,
                                 ggml_tensor ** info) {
    const int64_t id = gguf_find_tensor(g, name);
    if (id < 0) {
        return {};
    }
    ggml_tensor * t = ggml_get_tensor(meta, name);
    *info = t;
    const size_t offset = gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id);
    const size_t size = ggml_nbytes(t);
    std::vector<uint8_t> bytes(size);
    std::unique_ptr<FILE, int (*)(FILE *)> f(fopen(path.c_str(), "rb"), fclose);
    if (!f || fseek(f.get(), (long) offset, SEEK_SET) != 0 || fread(bytes.data(), 1, size, f.get()) != size) {
        throw std::runtime_error(std::string("cannot read tensor ") + name + " from " + path);
    }
    return bytes;
}

lens_weights * load(const tv_model * m) {
    ggml_context * meta = nullptr;
    gguf_init_params ip{true, &meta};
    std::unique_ptr<gguf_context, gguf_deleter> g(gguf_init_from_file(m->path.c_str(), ip));
    std::unique_ptr<ggml_context, ggml_ctx_deleter> meta_owner(meta);
    if (!g) {
        throw std::runtime_error("cannot read the GGUF header of " + m->path);
    }
    auto w = std::make_unique<lens_weights>();
    ggml_tensor * out = nullptr;
    w->output = read_tensor(m->path, g.get(), meta, "output.weight", &out);
    if (out == nullptr) {  // tied embeddings
        w->output = read_tensor(m->path, g.get(), meta, "token_embd.weight", &out);
    }
    if (out == nullptr) {
        throw std::runtime_error("the model file has neither output.weight nor token_embd.weight");
    }
    w->output_type = out->type;
    w->n_embd = out->ne[0];
    w->n_vocab = out->ne[1];
    w->row_bytes = ggml_row_size(out->type, out->ne[0]);
    const auto * traits = ggml_get_type_traits(out->type);
    if (out->type != GGML_TYPE_F32 && (traits == nullptr || traits->to_float == nullptr)) {
        throw std::runtime_error(std::string("cannot dequantize output weights of type ") + ggml_type_name(out->type));
    }
    ggml_tensor * norm = nullptr;
    std::vector<uint8_t> nb = read_tensor(m->path, g.get(), meta, "output_norm.weight", &norm);
    if (norm != nullptr) {
        if (norm->type != GGML_TYPE_F32 || norm->ne[0] != w->n_embd) {
            throw std::runtime_error("output_norm.weight is not an F32 vector of the model's width");
        }
        w->norm.resize((size_t) w->n_embd);
        std::copy_n(reinterpret_cast<const float *>(nb.data()), w->n_embd, w->norm.begin());
    }
    auto f32_vector = [&](const char * name, int64_t n, std::vector<float> & dst) {
        ggml_tensor * t = nullptr;
        std::vector<uint8_t> b = read_tensor(m->path, g.get(), meta, name, &t);
        if (t == nullptr) {
            return;
        }
        if (t->type != GGML_TYPE_F32 || t->ne[0] != n) {
            throw std::runtime_error(std::string(name) + " is not an F32 vector of " + std::to_string(n));
        }
        dst.resize((size_t) n);
        std::copy_n(reinterpret_cast<const float *>(b.data()), n, dst.begin());
    };
    f32_vector("output_norm.bias", w->n_embd, w->norm_bias);
    f32_vector("output.bias", w->n_vocab, w->bias);
    char arch[64] = {0};
    llama_model_meta_val_str(m->model.get(), "general.architecture", arch, sizeof(arch));
    auto meta_float = [&](const char * key, float & dst) {
        char v[64] = {0};
        if (llama_model_meta_val_str(m->model.get(), (std::string(arch) + key).c_str(), v, sizeof(v)) > 0) {
            dst = strtof(v, nullptr);
        }
    };
    meta_float(w->norm_bias.empty() ? ".attention.layer_norm_rms_epsilon" : ".attention.layer_norm_epsilon", w->eps);
    meta_float(".final_logit_softcapping", w->softcap);
    return w.release();
}

}  // namespace
}  // namespace tv

extern "C" TV_API tv_status tv_model_logit_lens(tv_model * m, const float * x, int32_t n, float * out,
                                                bool apply_norm) {
    try {
        if (m == nullptr || x == nullptr || out == nullptr || n < 0) {
            return fail(TV_ERR_INVALID_ARG, "tv_model_logit_lens: invalid arguments");
        }
        tv::lens_weights * w;
        {
            std::lock_guard<std::mutex> lock(m->lens_mutex);
            if (m->lens == nullptr) {
                m->lens.reset(tv::load(m));
            }
            w = m->lens.get();
        }
        const int64_t d = w->n_embd;
        if (w->n_vocab != llama_vocab_n_tokens(m->vocab)) {
            return fail(TV_ERR_STATE, "output matrix has %lld rows but the vocabulary %d tokens",
                        (long long) w->n_vocab, llama_vocab_n_tokens(m->vocab));
        }
        if (d != llama_model_n_embd(m->model.get())) {
            return fail(TV_ERR_STATE, "output matrix width %lld differs from the model's %d", (long long) d,
                        llama_model_n_embd(m->model.get()));
        }
        const auto * traits = ggml_get_type_traits(w->output_type);
        std::vector<float> xn((size_t) d);
        const unsigned hw = std::max(1u, std::min(8u, std::thread::hardware_concurrency()));
        for (int32_t v = 0; v < n; ++v) {
            const float * xv = x + (size_t) v * d;
            // RMSNorm, or a LayerNorm where the final norm has a bias
            const bool layer_norm = !w->norm_bias.empty();
            double mean = 0.0;
            if (apply_norm && layer_norm) {
                for (int64_t i = 0; i < d; ++i) {
                    mean += xv[i];
                }
                mean /= (double) d;
            }
            double ss = 0.0;
            for (int64_t i = 0; i < d; ++i) {
                ss += ((double) xv[i] - mean) * ((double) xv[i] - mean);
            }
            const float inv = apply_norm ? 1.0f / std::sqrt((float) (ss / d) + w->eps) : 1.0f;
            for (int64_t i = 0; i < d; ++i) {
                const float c = (float) (xv[i] - mean) * inv;
                xn[(size_t) i] = !apply_norm ? xv[i]
                               : c * (w->norm.empty() ? 1.0f : w->norm[(size_t) i]) +
                                 (layer_norm ? w->norm_bias[(size_t) i] : 0.0f);
            }
            float * o = out + (size_t) v * w->n_vocab;
            auto work = [&](int64_t from, int64_t to) {
                std::vector<float> row((size_t) d);
                for (int64_t r = from; r < to; ++r) {
                    const uint8_t * src = w->output.data() + (size_t) r * w->row_bytes;
                    const float * rf;
                    if (w->output_type == GGML_TYPE_F32) {
                        rf = reinterpret_cast<const float *>(src);
                    } else {
                        traits->to_float(src, row.data(), d);
                        rf = row.data();
                    }
                    float acc = 0.0f;
                    for (int64_t i = 0; i < d; ++i) {
                        acc += rf[i] * xn[(size_t) i];
                    }
                    if (!w->bias.empty()) {
                        acc += w->bias[(size_t) r];
                    }
                    if (w->softcap > 0.0f) {
                        acc = w->softcap * std::tanh(acc / w->softcap);
                    }
                    o[r] = acc;
                }
            };
            std::vector<std::thread> threads;
            const int64_t chunk = (w->n_vocab + hw - 1) / hw;
            for (unsigned t = 1; t < hw; ++t) {
                const int64_t from = std::min<int64_t>(w->n_vocab, t * chunk);
                const int64_t to = std::min<int64_t>(w->n_vocab, from + chunk);
                if (from < to) {
                    threads.emplace_back(work, from, to);
                }
            }
            work(0, std::min<int64_t>(w->n_vocab, chunk));
            for (auto & th : threads) {
                th.join();
            }
        }
        return TV_OK;
    } catch (const std::exception & e) {
        return fail(TV_ERR_INTERNAL, "logit lens: %s", e.what());
    }
}
