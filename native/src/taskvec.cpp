// Implementation of the taskvec C API (see include/taskvec.h) over llama.cpp and libmtmd.
#include "taskvec.h"
#include "taskvec_internal.h"

#include "ggml-backend.h"
#include "llama.h"
#include "mtmd.h"
#include "mtmd-helper.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

// ---- errors --------------------------------------------------------------------------------------------------

namespace {
thread_local std::string t_last_error;
thread_local tv_status t_last_status = TV_OK;
}  // namespace

namespace tv {
tv_status fail(tv_status status, const char * fmt, ...) {
    char buf[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);
    t_last_error = buf;
    t_last_status = status;
    return status;
}
}  // namespace tv

using tv::fail;

namespace {

// Runs body, turning any C++ exception into TV_ERR_INTERNAL (nothing may unwind into the JVM).
template <typename F>
tv_status guarded(F && body) {
    try {
        return body();
    } catch (const std::exception & e) {
        return fail(TV_ERR_INTERNAL, "internal error: %s", e.what());
    } catch (...) {
        return fail(TV_ERR_INTERNAL, "internal error: unknown exception");
    }
}

int32_t copy_out(const std::string & s, char * buf, int32_t buf_size) {
    if (buf != nullptr && buf_size > 0) {
        size_t n = std::min((size_t) buf_size - 1, s.size());
        memcpy(buf, s.data(), n);
        buf[n] = '\0';
    }
    return (int32_t) s.size();
}

}  // namespace

// ---- library -------------------------------------------------------------------------------------------------

extern "C" TV_API tv_status tv_init(const char * backend_dir) {
    static std::once_flag once;
    return guarded([&] {
        std::call_once(once, [&] {
            tv::install_log_router();
            if (backend_dir != nullptr && backend_dir[0] != '\0') {
                ggml_backend_load_all_from_path(backend_dir);
            } else {
                ggml_backend_load_all();
            }
            llama_backend_init();
        });
        if (ggml_backend_dev_count() == 0) {
            return fail(TV_ERR_LOAD, "no ggml backend could be loaded (backend folder: %s)",
                        backend_dir != nullptr ? backend_dir : "(default)");
        }
        return TV_OK;
    });
}

extern "C" TV_API const char * tv_last_error(void) { return t_last_error.c_str(); }

extern "C" TV_API tv_status tv_last_status(void) { return t_last_status; }
extern "C" TV_API const char * tv_llama_version(void) { return llama_version(); }
extern "C" TV_API const char * tv_system_info(void) { return llama_print_system_info(); }
extern "C" TV_API const char * tv_media_marker(void) { return mtmd_default_marker(); }
extern "C" TV_API bool tv_gpu_offload_supported(void) { return llama_supports_gpu_offload(); }

// ---- model ---------------------------------------------------------------------------------------------------

extern "C" TV_API tv_model_params tv_model_default_params(void) {
    tv_model_params p{};
    p.n_gpu_layers = 0;
    p.use_mmap = true;
    p.mmproj_path = nullptr;
    p.mmproj_use_gpu = true;
    p.mmproj_threads = 4;
    p.image_cache_bytes = (int64_t) 512 << 20;
    p.mmproj_flash_attn = -1;
    return p;
}

extern "C" TV_API tv_model * tv_model_load(const char * path, tv_model_params params) {
    tv_model * result = nullptr;
    guarded([&] {
        if (path == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "model path is NULL");
        }
        if (params.mmproj_threads <= 0) {
            return fail(TV_ERR_INVALID_ARG, "mmproj_threads must be positive, got %d", params.mmproj_threads);
        }
        if (params.mmproj_flash_attn < -1 || params.mmproj_flash_attn > 1) {
            return fail(TV_ERR_INVALID_ARG, "mmproj_flash_attn must be -1, 0 or 1, got %d", params.mmproj_flash_attn);
        }
        llama_model_params mp = llama_model_default_params();
        mp.n_gpu_layers = params.n_gpu_layers;
        mp.load_mode = params.use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
        llama_model * lm = llama_model_load_from_file(path, mp);
        if (lm == nullptr) {
            return fail(TV_ERR_LOAD, "llama.cpp could not load the model %s", path);
        }
        auto * m = new tv_model();
        m->model = lm;
        m->path = path;
        m->image_cache_limit = params.image_cache_bytes > 0 ? (size_t) params.image_cache_bytes : 0;
        m->vocab = llama_model_get_vocab(lm);
        if (params.mmproj_path != nullptr) {
            mtmd_context_params cp = mtmd_context_params_default();
            cp.use_gpu = params.mmproj_use_gpu && params.n_gpu_layers != 0;
            cp.n_threads = params.mmproj_threads;
            cp.print_timings = false;
            cp.warmup = false;
            cp.flash_attn_type = (llama_flash_attn_type) params.mmproj_flash_attn;
            m->mtmd = mtmd_init_from_file(params.mmproj_path, lm, cp);
            if (m->mtmd == nullptr) {
                llama_model_free(lm);
                delete m;
                return fail(TV_ERR_PROJECTOR,
                            "libmtmd could not load the projector %s for this model (wrong file, or its width does "
                            "not match the model's)", params.mmproj_path);
            }
            if (!mtmd_support_vision(m->mtmd)) {
                mtmd_free(m->mtmd);
                llama_model_free(lm);
                delete m;
                return fail(TV_ERR_PROJECTOR, "the projector %s has no vision encoder", params.mmproj_path);
            }
        }
        result = m;
        return TV_OK;
    });
    return result;
}

extern "C" TV_API void tv_model_free(tv_model * model) {
    if (model == nullptr) {
        return;
    }
    if (model->mtmd != nullptr) {
        mtmd_free(model->mtmd);
    }
    tv::lens_weights_free(model->lens);
    llama_model_free(model->model);
    delete model;
}

extern "C" TV_API int32_t tv_model_n_layer(const tv_model * m) { return llama_model_n_layer(m->model); }
extern "C" TV_API int32_t tv_model_n_embd(const tv_model * m) { return llama_model_n_embd(m->model); }
extern "C" TV_API int32_t tv_model_n_head(const tv_model * m) { return llama_model_n_head(m->model); }
extern "C" TV_API int32_t tv_model_n_head_kv(const tv_model * m) { return llama_model_n_head_kv(m->model); }
extern "C" TV_API int32_t tv_model_n_vocab(const tv_model * m) { return llama_vocab_n_tokens(m->vocab); }
extern "C" TV_API int32_t tv_model_n_ctx_train(const tv_model * m) { return llama_model_n_ctx_train(m->model); }
extern "C" TV_API int64_t tv_model_n_params(const tv_model * m) { return (int64_t) llama_model_n_params(m->model); }
extern "C" TV_API int64_t tv_model_size(const tv_model * m) { return (int64_t) llama_model_size(m->model); }
extern "C" TV_API int32_t tv_model_token_bos(const tv_model * m) { return llama_vocab_bos(m->vocab); }
extern "C" TV_API int32_t tv_model_token_eos(const tv_model * m) { return llama_vocab_eos(m->vocab); }
extern "C" TV_API bool tv_model_add_bos(const tv_model * m) { return llama_vocab_get_add_bos(m->vocab); }
extern "C" TV_API bool tv_model_has_projector(const tv_model * m) { return m->mtmd != nullptr; }

extern "C" TV_API void tv_model_image_cache_stats(tv_model * m, int64_t * hits, int64_t * misses) {
    std::lock_guard<std::mutex> lock(m->mtmd_mutex);
    if (hits != nullptr) {
        *hits = m->image_hits;
    }
    if (misses != nullptr) {
        *misses = m->image_misses;
    }
}

extern "C" TV_API bool tv_model_is_eog(const tv_model * m, int32_t token) {
    return token >= 0 && token < llama_vocab_n_tokens(m->vocab) && llama_vocab_is_eog(m->vocab, token);
}

// llama.cpp's metadata accessors already follow snprintf's convention (full length returned, output truncated
// and NUL-terminated), which is the one taskvec.h documents.
extern "C" TV_API int32_t tv_model_meta(const tv_model * m, const char * key, char * buf, int32_t buf_size) {
    if (key == nullptr) {
        return -1;
    }
    return llama_model_meta_val_str(m->model, key, buf, buf == nullptr ? 0 : (size_t) std::max(buf_size, 0));
}

extern "C" TV_API int32_t tv_model_meta_count(const tv_model * m) { return llama_model_meta_count(m->model); }

extern "C" TV_API int32_t tv_model_meta_key_at(const tv_model * m, int32_t i, char * buf, int32_t buf_size) {
    if (i < 0 || i >= llama_model_meta_count(m->model)) {
        return -1;
    }
    return llama_model_meta_key_by_index(m->model, i, buf, buf == nullptr ? 0 : (size_t) std::max(buf_size, 0));
}

extern "C" TV_API int32_t tv_model_meta_value_at(const tv_model * m, int32_t i, char * buf, int32_t buf_size) {
    if (i < 0 || i >= llama_model_meta_count(m->model)) {
        return -1;
    }
    return llama_model_meta_val_str_by_index(m->model, i, buf, buf == nullptr ? 0 : (size_t) std::max(buf_size, 0));
}

extern "C" TV_API const char * tv_model_chat_template(const tv_model * m) {
    return llama_model_chat_template(m->model, nullptr);
}

extern "C" TV_API int32_t tv_model_chat_wrap(const tv_model * m, const char * tmpl, const char * text, char * buf,
                                             int32_t buf_size) {
    if (text == nullptr) {
        return -fail(TV_ERR_INVALID_ARG, "text is NULL");
    }
    const char * t = tmpl != nullptr ? tmpl : llama_model_chat_template(m->model, nullptr);
    if (t == nullptr) {
        fail(TV_ERR_STATE, "the model has no chat template");
        return -1;
    }
    llama_chat_message msg{"user", text};
    char tmp[1];
    const int32_t n = llama_chat_apply_template(t, &msg, 1, true, buf != nullptr && buf_size > 0 ? buf : tmp,
                                                buf != nullptr && buf_size > 0 ? buf_size : 0);
    if (n < 0) {
        fail(TV_ERR_STATE, "llama.cpp does not support this chat template");
        return -1;
    }
    return n;
}

extern "C" TV_API int32_t tv_model_desc(const tv_model * m, char * buf, int32_t buf_size) {
    char tmp[256];
    llama_model_desc(m->model, tmp, sizeof(tmp));
    return copy_out(std::string(tmp), buf, buf_size);
}

extern "C" TV_API tv_status tv_model_quantize(const char * in_path, const char * out_path, const char * type,
                                              int32_t n_threads) {
    return guarded([&] {
        if (in_path == nullptr || out_path == nullptr || type == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "tv_model_quantize: NULL argument");
        }
        static const struct { const char * name; llama_ftype ftype; } types[] = {
            {"F16", LLAMA_FTYPE_MOSTLY_F16}, {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0}, {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
            {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},
        };
        llama_model_quantize_params qp = llama_model_quantize_default_params();
        bool known = false;
        for (const auto & t : types) {
            if (std::strcmp(t.name, type) == 0) {
                qp.ftype = t.ftype;
                known = true;
            }
        }
        if (!known) {
            return fail(TV_ERR_INVALID_ARG, "unknown quantization type '%s' (F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0)",
                        type);
        }
        qp.nthread = n_threads;
        const uint32_t rc = llama_model_quantize(in_path, out_path, &qp);
        if (rc != 0) {
            return fail(TV_ERR_LOAD, "llama.cpp could not quantize %s (code %u)", in_path, rc);
        }
        return TV_OK;
    });
}

// ---- tokens --------------------------------------------------------------------------------------------------

extern "C" TV_API int32_t tv_tokenize(const tv_model * m, const char * text, int32_t len, int32_t * out,
                                      int32_t capacity, bool add_special, bool parse_special) {
    if (text == nullptr || len < 0 || capacity < 0 || (out == nullptr && capacity > 0)) {
        return -fail(TV_ERR_INVALID_ARG, "tv_tokenize: invalid arguments");
    }
    int32_t n = llama_tokenize(m->vocab, text, len, out, capacity, add_special, parse_special);
    if (n == INT32_MIN) {
        return -fail(TV_ERR_TOKENIZE, "tokenization overflowed int32");
    }
    return n < 0 ? -n : n;
}

extern "C" TV_API int32_t tv_token_to_piece(const tv_model * m, int32_t token, char * buf, int32_t buf_size,
                                            bool special) {
    if (token < 0 || token >= llama_vocab_n_tokens(m->vocab)) {
        return -fail(TV_ERR_INVALID_ARG, "token %d is outside the vocabulary [0, %d)", token,
                     llama_vocab_n_tokens(m->vocab));
    }
    char tmp[8];
    if (buf == nullptr || buf_size <= 0) {
        buf = tmp;
        buf_size = 0;
    }
    int32_t n = llama_token_to_piece(m->vocab, token, buf, buf_size, 0, special);
    return n < 0 ? -n : n;
}

extern "C" TV_API int32_t tv_detokenize(const tv_model * m, const int32_t * tokens, int32_t n, char * buf,
                                        int32_t buf_size, bool remove_special, bool unparse_special) {
    if (n < 0 || (tokens == nullptr && n > 0)) {
        return -fail(TV_ERR_INVALID_ARG, "tv_detokenize: invalid arguments");
    }
    const int32_t n_vocab = llama_vocab_n_tokens(m->vocab);
    for (int32_t i = 0; i < n; ++i) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            return -fail(TV_ERR_INVALID_ARG, "token %d at index %d is outside the vocabulary [0, %d)", tokens[i], i,
                         n_vocab);
        }
    }
    char tmp[8];
    if (buf == nullptr || buf_size <= 0) {
        buf = tmp;
        buf_size = 0;
    }
    int32_t r = llama_detokenize(m->vocab, tokens, n, buf, buf_size, remove_special, unparse_special);
    return r < 0 ? -r : r;
}

// ---- prompt --------------------------------------------------------------------------------------------------

extern "C" TV_API tv_prompt * tv_prompt_init(void) { return new (std::nothrow) tv_prompt(); }
extern "C" TV_API void tv_prompt_free(tv_prompt * p) { delete p; }

extern "C" TV_API tv_status tv_prompt_add_text(tv_prompt * p, const char * text, int32_t len) {
    return guarded([&] {
        if (p == nullptr || text == nullptr || len < 0) {
            return fail(TV_ERR_INVALID_ARG, "tv_prompt_add_text: invalid arguments");
        }
        if (!p->parts.empty() && !p->parts.back().is_image && !p->parts.back().is_tokens) {
            p->parts.back().text.append(text, (size_t) len);
        } else {
            tv_prompt_part part;
            part.text.assign(text, (size_t) len);
            p->parts.push_back(std::move(part));
        }
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_prompt_add_image_rgb(tv_prompt * p, const uint8_t * rgb, int32_t w, int32_t h) {
    return guarded([&] {
        if (p == nullptr || rgb == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "tv_prompt_add_image_rgb: NULL argument");
        }
        if (w <= 0 || h <= 0 || (int64_t) w * h > (int64_t) 1 << 28) {
            return fail(TV_ERR_INVALID_ARG, "image size %dx%d is out of range", w, h);
        }
        tv_prompt_part part;
        part.is_image = true;
        part.w = w;
        part.h = h;
        part.rgb.assign(rgb, rgb + (size_t) w * h * 3);
        p->parts.push_back(std::move(part));
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_prompt_add_tokens(tv_prompt * p, const int32_t * tokens, int32_t n) {
    return guarded([&] {
        if (p == nullptr || n < 0 || (tokens == nullptr && n > 0)) {
            return fail(TV_ERR_INVALID_ARG, "tv_prompt_add_tokens: invalid arguments");
        }
        tv_prompt_part part;
        part.is_tokens = true;
        part.tokens.assign(tokens, tokens + n);
        p->parts.push_back(std::move(part));
        return TV_OK;
    });
}

// ---- session -------------------------------------------------------------------------------------------------

extern "C" TV_API tv_session_params tv_session_default_params(void) {
    tv_session_params p{};
    p.n_ctx = 4096;
    p.n_batch = 512;
    p.n_ubatch = 512;
    unsigned hw = std::thread::hardware_concurrency();
    p.n_threads = (int32_t) std::max(1u, std::min(hw == 0 ? 4u : hw, 8u));
    p.n_threads_batch = 0;
    p.flash_attn = -1;
    p.kv_type = 0;
    p.seed = 0;
    return p;
}

extern "C" TV_API tv_sampling_params tv_sampling_default_params(void) {
    tv_sampling_params p{};
    p.temperature = 0.0f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.seed = UINT32_MAX;  // the session's seed
    return p;
}

namespace {

llama_sampler * make_sampler(const tv_sampling_params & sp, uint32_t session_seed) {
    llama_sampler * chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
    if (sp.temperature <= 0.0f) {
        llama_sampler_chain_add(chain, llama_sampler_init_greedy());
        return chain;
    }
    if (sp.top_k > 0) {
        llama_sampler_chain_add(chain, llama_sampler_init_top_k(sp.top_k));
    }
    if (sp.top_p < 1.0f) {
        llama_sampler_chain_add(chain, llama_sampler_init_top_p(sp.top_p, 1));
    }
    llama_sampler_chain_add(chain, llama_sampler_init_temp(sp.temperature));
    llama_sampler_chain_add(chain, llama_sampler_init_dist(sp.seed == UINT32_MAX ? session_seed : sp.seed));
    return chain;
}

tv_status check_sampling(const tv_sampling_params & sp) {
    if (!(sp.temperature == sp.temperature) || sp.temperature > 100.0f) {  // NaN or absurd
        return fail(TV_ERR_INVALID_ARG, "temperature must be a number in [0, 100], got %g", sp.temperature);
    }
    if (sp.top_k < 0) {
        return fail(TV_ERR_INVALID_ARG, "top_k must be >= 0, got %d", sp.top_k);
    }
    if (!(sp.top_p > 0.0f && sp.top_p <= 1.0f)) {
        return fail(TV_ERR_INVALID_ARG, "top_p must be in (0, 1], got %g", sp.top_p);
    }
    return TV_OK;
}

}  // namespace

extern "C" TV_API tv_session * tv_session_init(tv_model * model, tv_session_params params) {
    tv_session * result = nullptr;
    guarded([&] {
        if (model == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "model is NULL");
        }
        if (params.n_ctx < 0 || params.n_batch <= 0 || params.n_ubatch <= 0 || params.n_threads <= 0 ||
            params.n_threads_batch < 0) {
            return fail(TV_ERR_INVALID_ARG,
                        "invalid session parameters (n_ctx %d, n_batch %d, n_ubatch %d, n_threads %d)", params.n_ctx,
                        params.n_batch, params.n_ubatch, params.n_threads);
        }
        if (params.flash_attn < -1 || params.flash_attn > 1 || params.kv_type < 0 || params.kv_type > 1) {
            return fail(TV_ERR_INVALID_ARG, "flash_attn must be -1, 0 or 1 and kv_type 0 (F16) or 1 (F32)");
        }
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = (uint32_t) (params.n_ctx == 0 ? llama_model_n_ctx_train(model->model) : params.n_ctx);
        cp.n_batch = (uint32_t) params.n_batch;
        cp.n_ubatch = (uint32_t) std::min(params.n_ubatch, params.n_batch);
        cp.n_seq_max = 1;
        cp.n_threads = params.n_threads;
        cp.n_threads_batch = params.n_threads_batch > 0 ? params.n_threads_batch : params.n_threads;
        cp.flash_attn_type = (llama_flash_attn_type) params.flash_attn;
        cp.type_k = params.kv_type == 1 ? GGML_TYPE_F32 : GGML_TYPE_F16;
        cp.type_v = cp.type_k;
        cp.no_perf = true;
        llama_context * ctx = llama_init_from_model(model->model, cp);
        if (ctx == nullptr) {
            return fail(TV_ERR_LOAD, "llama.cpp could not create a context (n_ctx %u)", cp.n_ctx);
        }
        auto * s = new tv_session();
        s->model = model;
        s->ctx = ctx;
        s->seed = params.seed;
        s->batch_cap = (int32_t) llama_n_batch(ctx);
        s->batch = llama_batch_init(s->batch_cap, 0, 1);
        s->sampler = make_sampler(tv_sampling_default_params(), params.seed);
        s->positions.reserve(llama_n_ctx(ctx));
        result = s;
        return TV_OK;
    });
    return result;
}

extern "C" TV_API void tv_session_free(tv_session * s) {
    if (s == nullptr) {
        return;
    }
    llama_sampler_free(s->sampler);
    llama_batch_free(s->batch);
    llama_free(s->ctx);
    delete s;
}

extern "C" TV_API int32_t tv_session_n_ctx(const tv_session * s) { return (int32_t) llama_n_ctx(s->ctx); }
extern "C" TV_API int32_t tv_session_n_batch(const tv_session * s) { return (int32_t) llama_n_batch(s->ctx); }
extern "C" TV_API int32_t tv_session_n_ubatch(const tv_session * s) { return (int32_t) llama_n_ubatch(s->ctx); }
extern "C" TV_API int32_t tv_session_n_past(const tv_session * s) { return (int32_t) s->positions.size(); }

extern "C" TV_API int32_t tv_session_tokens(const tv_session * s, int32_t * out, int32_t capacity) {
    const int32_t n = (int32_t) s->positions.size();
    if (out != nullptr) {
        for (int32_t i = 0; i < std::min(n, capacity); ++i) {
            out[i] = s->positions[i].token;
        }
    }
    return n;
}

namespace {

// Removes positions [n_keep, end) from the KV cache and the record.
void truncate_to(tv_session * s, int32_t n_keep) {
    if (n_keep >= (int32_t) s->positions.size()) {
        return;
    }
    const int32_t pos = n_keep == 0 ? 0 : s->positions[n_keep].pos;
    llama_memory_seq_rm(llama_get_memory(s->ctx), 0, pos, -1);
    s->positions.resize((size_t) n_keep);
    s->next_pos = pos;
    s->logits_valid = false;
    if (n_keep <= s->hooks.written_from) {
        s->hooks.written_from = INT32_MAX;  // every position a hook wrote is gone
    }
}

// Fails with the first error the hook callback met during the last decode, if any.
tv_status hook_error(tv_session * s) {
    if (s->hooks.error.empty()) {
        return TV_OK;
    }
    std::string e = s->hooks.error;
    s->hooks.error.clear();
    return fail(TV_ERR_STATE, "hook failed: %s", e.c_str());
}

// Decodes text tokens at the end of the session; logits for the last one when want_logits. With hooks active
// for phase, each llama_decode is one ubatch (so the callback knows its first position) and positions that
// last-layer hooks address become output rows.
tv_status decode_tokens(tv_session * s, const int32_t * tokens, int32_t n, bool want_logits, int32_t phase) {
    const int32_t n_vocab = llama_vocab_n_tokens(s->model->vocab);
    for (int32_t i = 0; i < n; ++i) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            return fail(TV_ERR_INVALID_ARG, "token %d is outside the vocabulary [0, %d)", tokens[i], n_vocab);
        }
    }
    const bool hooked = tv::arm_hooks(s, phase);
    const int32_t step = hooked ? std::min(s->batch_cap, (int32_t) llama_n_ubatch(s->ctx)) : s->batch_cap;
    const int32_t start_index = (int32_t) s->positions.size();
    for (int32_t off = 0; off < n; off += step) {
        const int32_t m = std::min(step, n - off);
        llama_batch & b = s->batch;
        b.n_tokens = m;
        if (hooked) {
            s->hooks.ubatch_start = start_index + off;
            s->hooks.ubatch_outputs.clear();
        }
        for (int32_t j = 0; j < m; ++j) {
            const int32_t index = start_index + off + j;
            b.token[j] = tokens[off + j];
            b.pos[j] = s->next_pos + j;
            b.n_seq_id[j] = 1;
            b.seq_id[j][0] = 0;
            b.logits[j] = (want_logits && off + j == n - 1) || (hooked && tv::hook_needs_output(s, index));
            if (hooked && b.logits[j]) {
                s->hooks.ubatch_outputs.push_back(index);
            }
        }
        const int32_t rc = llama_decode(s->ctx, b);
        if (rc != 0) {
            truncate_to(s, start_index);
            return fail(TV_ERR_DECODE, "llama_decode failed with code %d%s", rc,
                        rc == 1 ? " (no KV cache slot: context full)" : "");
        }
        for (int32_t j = 0; j < m; ++j) {
            const int32_t index = (int32_t) s->positions.size();
            s->positions.push_back({tokens[off + j], (uint64_t) (uint32_t) tokens[off + j], index, s->next_pos + j});
        }
        s->next_pos += m;
        if (hooked) {
            const tv_status st = hook_error(s);
            if (st != TV_OK) {
                s->logits_valid = false;
                return st;
            }
        }
    }
    s->logits_valid = want_logits && n > 0;
    return TV_OK;
}

uint64_t fnv1a(const uint8_t * data, size_t n, uint64_t h = 1469598103934665603ull) {
    for (size_t i = 0; i < n; ++i) {
        h = (h ^ data[i]) * 1099511628211ull;
    }
    return h;
}

// A prompt turned into evaluation units: text token runs and media chunks (with their digest).
struct unit {
    std::vector<int32_t> tokens;         // text tokens
    const mtmd_input_chunk * chunk;      // media chunk, or nullptr
    uint64_t digest = 0;                 // image digest
    int32_t n_tokens = 0;
    int32_t image = -1;                  // media chunk: which image of the prompt (one image may make several chunks)
};

struct tokenized_prompt {
    std::vector<unit> units;
    std::vector<mtmd_input_chunks *> owned;
    ~tokenized_prompt() {
        for (auto * c : owned) {
            mtmd_input_chunks_free(c);
        }
    }
    int32_t n_tokens() const {
        int32_t n = 0;
        for (const auto & u : units) {
            n += u.n_tokens;
        }
        return n;
    }
};


void push_text_tokens(tokenized_prompt & tp, const int32_t * t, size_t n) {
    if (n == 0) {
        return;
    }
    if (tp.units.empty() || tp.units.back().chunk != nullptr) {
        tp.units.push_back(unit{{}, nullptr, 0, 0});
    }
    unit & u = tp.units.back();
    u.tokens.insert(u.tokens.end(), t, t + n);
    u.n_tokens = (int32_t) u.tokens.size();
}

tv_status tokenize_prompt(tv_session * s, const tv_prompt * p, bool add_bos, tokenized_prompt & tp) {
    bool first = true;
    int32_t n_images = 0;  // image parts so far
    for (const auto & part : p->parts) {
        if (part.is_tokens) {
            push_text_tokens(tp, part.tokens.data(), part.tokens.size());
        } else if (!part.is_image) {
            const bool special = first && add_bos;
            int32_t n = llama_tokenize(s->model->vocab, part.text.data(), (int32_t) part.text.size(), nullptr, 0,
                                       special, true);
            std::vector<int32_t> toks((size_t) (n < 0 ? -n : n));
            n = llama_tokenize(s->model->vocab, part.text.data(), (int32_t) part.text.size(), toks.data(),
                               (int32_t) toks.size(), special, true);
            if (n < 0) {
                return fail(TV_ERR_TOKENIZE, "could not tokenize a text part of %zu bytes", part.text.size());
            }
            toks.resize((size_t) n);
            push_text_tokens(tp, toks.data(), toks.size());
        } else {
            if (s->model->mtmd == nullptr) {
                return fail(TV_ERR_NO_PROJECTOR, "the prompt has an image but the model was loaded without a "
                                                 "projector (mmproj)");
            }
            if (first && add_bos && llama_vocab_get_add_bos(s->model->vocab)) {
                const int32_t bos = llama_vocab_bos(s->model->vocab);
                push_text_tokens(tp, &bos, 1);
            }
            mtmd_bitmap * bmp = mtmd_bitmap_init((uint32_t) part.w, (uint32_t) part.h, part.rgb.data());
            if (bmp == nullptr) {
                return fail(TV_ERR_IMAGE, "libmtmd rejected an image of %dx%d", part.w, part.h);
            }
            uint64_t digest = fnv1a(part.rgb.data(), part.rgb.size());
            digest = fnv1a((const uint8_t *) &part.w, sizeof(part.w), digest);
            digest = fnv1a((const uint8_t *) &part.h, sizeof(part.h), digest);
            char id[32];
            snprintf(id, sizeof(id), "%016llx", (unsigned long long) digest);
            mtmd_bitmap_set_id(bmp, id);
            mtmd_input_part ip{nullptr, bmp};
            const mtmd_input_part * parts[1] = {&ip};
            mtmd_input_chunks * chunks = mtmd_input_chunks_init();
            tp.owned.push_back(chunks);
            int32_t rc = mtmd_tokenize_from_parts(s->model->mtmd, chunks, parts, 1, false);
            mtmd_bitmap_free(bmp);
            if (rc != 0) {
                return fail(TV_ERR_IMAGE, "libmtmd could not preprocess an image of %dx%d (code %d)", part.w, part.h,
                            rc);
            }
            for (size_t i = 0; i < mtmd_input_chunks_size(chunks); ++i) {
                const mtmd_input_chunk * c = mtmd_input_chunks_get(chunks, i);
                if (mtmd_input_chunk_get_type(c) == MTMD_INPUT_CHUNK_TYPE_TEXT) {
                    size_t nt = 0;
                    const llama_token * t = mtmd_input_chunk_get_tokens_text(c, &nt);
                    push_text_tokens(tp, t, nt);
                } else if (mtmd_input_chunk_get_type(c) == MTMD_INPUT_CHUNK_TYPE_IMAGE) {
                    // one image may make several chunks (slices, overview): each its own key for the encoded-image
                    // cache and for prefix reuse
                    const uint64_t chunk_digest = fnv1a((const uint8_t *) &i, sizeof(i), digest);
                    tp.units.push_back(unit{{}, c, chunk_digest, (int32_t) mtmd_input_chunk_get_n_tokens(c),
                                            n_images});
                } else {
                    return fail(TV_ERR_IMAGE, "libmtmd produced a non-image media chunk for an image");
                }
            }
            n_images++;
        }
        first = false;
    }
    return TV_OK;
}

uint64_t image_key(uint64_t digest, int32_t row) { return (digest ^ 0x9e3779b97f4a7c15ull) + (uint64_t) row * 0x100000001b3ull; }

// Encodes and decodes one image chunk at the end of the session.
tv_status decode_image(tv_session * s, const unit & u) {
    std::vector<float> embd;
    {
        tv_model * m = s->model;
        std::lock_guard<std::mutex> lock(m->mtmd_mutex);
        const size_t n = (size_t) llama_model_n_embd_inp(m->model) * (size_t) u.n_tokens;
        const uint64_t key = u.digest ^ ((uint64_t) u.n_tokens << 48);
        auto hit = m->image_cache.find(key);
        if (hit != m->image_cache.end() && hit->second.embd.size() == n) {
            embd = hit->second.embd;
            m->image_lru.splice(m->image_lru.end(), m->image_lru, hit->second.lru);
            m->image_hits++;
        } else {
            if (mtmd_encode_chunk(m->mtmd, u.chunk) != 0) {
                return fail(TV_ERR_IMAGE, "the projector failed to encode an image");
            }
            const float * out = mtmd_get_output_embd(m->mtmd);
            embd.assign(out, out + n);
            m->image_misses++;
            const size_t bytes = n * sizeof(float);
            if (bytes <= m->image_cache_limit) {
                while (m->image_cache_bytes + bytes > m->image_cache_limit && !m->image_lru.empty()) {
                    auto old = m->image_cache.find(m->image_lru.front());
                    m->image_cache_bytes -= old->second.embd.size() * sizeof(float);
                    m->image_cache.erase(old);
                    m->image_lru.pop_front();
                }
                m->image_lru.push_back(key);
                m->image_cache[key] = tv_model::cached_image{embd, std::prev(m->image_lru.end())};
                m->image_cache_bytes += bytes;
            }
        }
    }
    const int32_t start_index = (int32_t) s->positions.size();
    llama_pos new_pos = s->next_pos;
    const bool hooked = tv::arm_hooks(s, TV_PHASE_PROMPT);
    if (hooked) {
        if (tv::hook_on_text_only_node(s, start_index, u.n_tokens) != nullptr) {
            return fail(TV_ERR_INVALID_ARG, "positions %d..%d are an image: its rows enter block 0 as an input, "
                        "not through the %s node a hook on block 0's input reads; hook them from block 1 on, or "
                        "text positions only", start_index, start_index + u.n_tokens - 1,
                        tv::hook_on_text_only_node(s, start_index, u.n_tokens)->node.name.c_str());
        }
        for (int32_t j = 0; j < u.n_tokens; ++j) {
            if (tv::hook_needs_output(s, start_index + j)) {
                return fail(TV_ERR_INVALID_ARG, "position %d is an image position: llama.cpp does not compute the "
                            "last layer's residual or MLP output there; hook an earlier layer", start_index + j);
            }
        }
        s->hooks.ubatch_start = start_index;
        s->hooks.ubatch_outputs.clear();
    }
    // One ubatch per llama_decode while hooked; the callback after each one moves the first position on.
    auto after_batch = [](llama_batch batch, void * user_data) -> int32_t {
        static_cast<tv_session *>(user_data)->hooks.ubatch_start += batch.n_tokens;
        return 0;
    };
    const int32_t n_batch = hooked ? std::min(s->batch_cap, (int32_t) llama_n_ubatch(s->ctx)) : s->batch_cap;
    const int32_t rc = mtmd_helper_decode_image_chunk(s->model->mtmd, s->ctx, u.chunk, embd.data(), s->next_pos, 0,
                                                      n_batch, &new_pos, hooked ? +after_batch : nullptr,
                                                      hooked ? s : nullptr);
    if (rc != 0) {
        truncate_to(s, start_index);
        return fail(TV_ERR_DECODE, "decoding the image embeddings failed with code %d", rc);
    }
    for (int32_t j = 0; j < u.n_tokens; ++j) {
        s->positions.push_back({TV_TOKEN_IMAGE, image_key(u.digest, j), start_index, s->next_pos});
    }
    s->next_pos = new_pos;
    s->logits_valid = false;
    return hooked ? hook_error(s) : TV_OK;
}

}  // namespace

extern "C" TV_API tv_status tv_session_eval_prompt(tv_session * s, const tv_prompt * p, bool add_bos,
                                                   bool reuse_prefix, int32_t * n_reused) {
    return guarded([&] {
        if (s == nullptr || p == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_eval_prompt: NULL argument");
        }
        if (n_reused != nullptr) {
            *n_reused = 0;
        }
        tokenized_prompt tp;
        tv_status st = tokenize_prompt(s, p, add_bos, tp);
        if (st != TV_OK) {
            return st;
        }
        const int32_t total = tp.n_tokens();
        if (total == 0) {
            return fail(TV_ERR_INVALID_ARG, "the prompt is empty");
        }
        const int32_t n_ctx = (int32_t) llama_n_ctx(s->ctx);
        if (total > n_ctx) {
            return fail(TV_ERR_CONTEXT_FULL, "the prompt has %d positions but the context holds %d", total, n_ctx);
        }
        // Longest common prefix with what the session holds, in whole units, leaving >= 1 position to evaluate.
        int32_t keep = 0;
        if (reuse_prefix) {
            std::vector<uint64_t> keys;
            std::vector<int32_t> unit_starts;
            std::vector<char> is_image;
            keys.reserve((size_t) total);
            unit_starts.reserve((size_t) total);
            for (const auto & u : tp.units) {
                const int32_t start = (int32_t) keys.size();
                for (int32_t j = 0; j < u.n_tokens; ++j) {
                    const bool img = u.chunk != nullptr;
                    keys.push_back(img ? image_key(u.digest, j) : (uint64_t) (uint32_t) u.tokens[(size_t) j]);
                    unit_starts.push_back(img ? start : start + j);
                    is_image.push_back(img ? 1 : 0);
                }
            }
            const int32_t held = (int32_t) s->positions.size();
            while (keep < total && keep < held && s->positions[keep].key == keys[(size_t) keep] &&
                   (s->positions[keep].token == TV_TOKEN_IMAGE) == (is_image[(size_t) keep] != 0)) {
                ++keep;
            }
            keep = std::min(keep, total - 1);
            keep = std::min(keep, tv::first_hooked_position(s));  // hooked positions are evaluated afresh
            keep = std::min(keep, s->hooks.written_from);         // and so are positions a hook wrote
            keep = unit_starts[(size_t) keep];  // never split an image of the new prompt
            if (keep < held) {
                keep = std::min(keep, s->positions[keep].unit_start);  // nor one that the session holds
            }
        }
        truncate_to(s, keep);
        if (keep == 0) {
            llama_memory_clear(llama_get_memory(s->ctx), true);
            s->positions.clear();
            s->next_pos = 0;
        }
        // Evaluate what is not kept.
        int32_t index = 0;
        for (size_t ui = 0; ui < tp.units.size(); ++ui) {
            const unit & u = tp.units[ui];
            const bool last_unit = ui + 1 == tp.units.size();
            const int32_t end = index + u.n_tokens;
            if (end > keep) {
                if (u.chunk == nullptr) {
                    const int32_t skip = std::max(0, keep - index);
                    st = decode_tokens(s, u.tokens.data() + skip, u.n_tokens - skip, last_unit, TV_PHASE_PROMPT);
                } else {
                    st = decode_image(s, u);
                }
                if (st != TV_OK) {
                    return st;
                }
            }
            index = end;
        }
        llama_sampler_reset(s->sampler);
        s->generated.clear();
        if (n_reused != nullptr) {
            *n_reused = keep;
        }
        return TV_OK;
    });
}

extern "C" TV_API int32_t tv_session_prompt_layout(tv_session * s, const tv_prompt * p, bool add_bos, int32_t * out,
                                                   int32_t capacity) {
    int32_t result = -1;
    const tv_status st = guarded([&] {
        if (s == nullptr || p == nullptr || capacity < 0 || (out == nullptr && capacity > 0)) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_prompt_layout: invalid arguments");
        }
        tokenized_prompt tp;
        tv_status r = tokenize_prompt(s, p, add_bos, tp);
        if (r != TV_OK) {
            return r;
        }
        int32_t n = 0;
        for (const auto & u : tp.units) {
            for (int32_t j = 0; j < u.n_tokens; ++j, ++n) {
                if (n < capacity) {
                    // an image's chunks (slices and overview) all carry the image's number
                    out[n] = u.chunk == nullptr ? u.tokens[(size_t) j] : -1 - u.image;
                }
            }
        }
        result = n;
        return TV_OK;
    });
    return st == TV_OK ? result : -st;
}

extern "C" TV_API tv_status tv_session_eval_tokens(tv_session * s, const int32_t * tokens, int32_t n) {
    return guarded([&] {
        if (s == nullptr || n < 0 || (tokens == nullptr && n > 0)) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_eval_tokens: invalid arguments");
        }
        const int32_t n_ctx = (int32_t) llama_n_ctx(s->ctx);
        if ((int32_t) s->positions.size() + n > n_ctx) {
            return fail(TV_ERR_CONTEXT_FULL, "%d more tokens do not fit: %d of %d positions are used", n,
                        (int32_t) s->positions.size(), n_ctx);
        }
        return decode_tokens(s, tokens, n, true, TV_PHASE_PROMPT);
    });
}

extern "C" TV_API tv_status tv_session_truncate(tv_session * s, int32_t n_keep) {
    return guarded([&] {
        if (s == nullptr || n_keep < 0 || n_keep > (int32_t) s->positions.size()) {
            return fail(TV_ERR_INVALID_ARG, "n_keep %d is outside [0, %d]", n_keep,
                        s == nullptr ? 0 : (int32_t) s->positions.size());
        }
        if (n_keep > 0 && n_keep < (int32_t) s->positions.size() && s->positions[n_keep].unit_start != n_keep) {
            return fail(TV_ERR_INVALID_ARG, "position %d is inside an image; cut before or after it", n_keep);
        }
        truncate_to(s, n_keep);
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_logits(tv_session * s, float * out, int32_t n_vocab) {
    return guarded([&] {
        if (s == nullptr || out == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_logits: NULL argument");
        }
        const int32_t nv = llama_vocab_n_tokens(s->model->vocab);
        if (n_vocab != nv) {
            return fail(TV_ERR_INVALID_ARG, "logits buffer holds %d values but the vocabulary has %d", n_vocab, nv);
        }
        if (!s->logits_valid) {
            return fail(TV_ERR_STATE, "no logits: evaluate a prompt that ends with text first");
        }
        const float * l = llama_get_logits_ith(s->ctx, -1);
        if (l == nullptr) {
            return fail(TV_ERR_STATE, "llama.cpp holds no logits for the last position");
        }
        memcpy(out, l, sizeof(float) * (size_t) nv);
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_set_sampling(tv_session * s, tv_sampling_params params) {
    return guarded([&] {
        if (s == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "session is NULL");
        }
        tv_status st = check_sampling(params);
        if (st != TV_OK) {
            return st;
        }
        llama_sampler_free(s->sampler);
        s->sampler = make_sampler(params, s->seed);
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_sample(tv_session * s, int32_t * token) {
    return guarded([&] {
        if (s == nullptr || token == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_sample: NULL argument");
        }
        if (!s->logits_valid) {
            return fail(TV_ERR_STATE, "no logits to sample from: evaluate a prompt that ends with text first");
        }
        *token = llama_sampler_sample(s->sampler, s->ctx, -1);
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_set_stops(tv_session * s, const int32_t * tokens, int32_t n_tokens,
                                                 const char * strings, int32_t packed_len) {
    return guarded([&] {
        if (s == nullptr || n_tokens < 0 || packed_len < 0 || (tokens == nullptr && n_tokens > 0) ||
            (strings == nullptr && packed_len > 0)) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_set_stops: invalid arguments");
        }
        const int32_t n_vocab = llama_vocab_n_tokens(s->model->vocab);
        for (int32_t i = 0; i < n_tokens; ++i) {
            if (tokens[i] < 0 || tokens[i] >= n_vocab) {
                return fail(TV_ERR_INVALID_ARG, "stop token %d is outside the vocabulary [0, %d)", tokens[i], n_vocab);
            }
        }
        if (packed_len > 0 && strings[packed_len - 1] != '\0') {
            return fail(TV_ERR_INVALID_ARG, "packed stop strings must end with a NUL byte");
        }
        s->stop_tokens.assign(tokens, tokens + n_tokens);
        s->stop_strings.clear();
        s->longest_stop = 0;
        for (int32_t off = 0; off < packed_len;) {
            std::string str(strings + off);
            off += (int32_t) str.size() + 1;
            if (str.empty()) {
                return fail(TV_ERR_INVALID_ARG, "stop strings must not be empty");
            }
            s->longest_stop = std::max(s->longest_stop, str.size());
            s->stop_strings.push_back(std::move(str));
        }
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_generate_step(tv_session * s, int32_t * token, int32_t * stop) {
    return guarded([&] {
        if (s == nullptr || token == nullptr || stop == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_generate_step: NULL argument");
        }
        *stop = TV_STOP_NONE;
        if (!s->logits_valid) {
            return fail(TV_ERR_STATE, "no logits to sample from: evaluate a prompt that ends with text first");
        }
        const int32_t t = llama_sampler_sample(s->sampler, s->ctx, -1);
        *token = t;
        if (llama_vocab_is_eog(s->model->vocab, t)) {
            *stop = TV_STOP_EOG;
            return TV_OK;
        }
        if ((int32_t) s->positions.size() + 1 > (int32_t) llama_n_ctx(s->ctx)) {
            s->logits_valid = false;
            return fail(TV_ERR_CONTEXT_FULL, "generation reached the end of the context (%d positions)",
                        (int32_t) llama_n_ctx(s->ctx));
        }
        const tv_status st = decode_tokens(s, &t, 1, true, TV_PHASE_GENERATION);
        if (st != TV_OK) {
            return st;
        }
        if (std::find(s->stop_tokens.begin(), s->stop_tokens.end(), t) != s->stop_tokens.end()) {
            *stop = TV_STOP_TOKEN;
        } else if (!s->stop_strings.empty()) {
            int32_t n = llama_token_to_piece(s->model->vocab, t, s->piece, sizeof(s->piece), 0, false);
            if (n > 0 && n <= (int32_t) sizeof(s->piece)) {
                s->generated.append(s->piece, (size_t) n);
            }
            // only the tail can hold a match that this token completed
            const size_t from = s->generated.size() > s->longest_stop + (size_t) std::max(n, 0)
                                    ? s->generated.size() - s->longest_stop - (size_t) std::max(n, 0) : 0;
            for (const auto & str : s->stop_strings) {
                if (s->generated.find(str, from) != std::string::npos) {
                    *stop = TV_STOP_STRING;
                    break;
                }
            }
        }
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_generate(tv_session * s, int32_t n_max, int32_t * out, int32_t * n_out,
                                                int32_t * stop) {
    if (s == nullptr || out == nullptr || n_out == nullptr || stop == nullptr || n_max < 0) {
        return fail(TV_ERR_INVALID_ARG, "tv_session_generate: invalid arguments");
    }
    *n_out = 0;
    *stop = TV_STOP_NONE;
    for (int32_t i = 0; i < n_max; ++i) {
        const tv_status st = tv_session_generate_step(s, &out[i], stop);
        if (st != TV_OK) {
            return st;
        }
        *n_out = i + 1;
        if (*stop != TV_STOP_NONE) {
            break;
        }
    }
    return TV_OK;
}

extern "C" TV_API int32_t tv_model_image_tokens(tv_model * m, int32_t w, int32_t h) {
    if (m == nullptr || m->mtmd == nullptr || w <= 0 || h <= 0 || (int64_t) w * h > (int64_t) 1 << 28) {
        return -1;
    }
    int32_t total = -1;
    guarded([&] {
        std::vector<uint8_t> rgb((size_t) w * h * 3, 0);
        mtmd_bitmap * bmp = mtmd_bitmap_init((uint32_t) w, (uint32_t) h, rgb.data());
        mtmd_input_part ip{nullptr, bmp};
        const mtmd_input_part * parts[1] = {&ip};
        mtmd_input_chunks * chunks = mtmd_input_chunks_init();
        if (mtmd_tokenize_from_parts(m->mtmd, chunks, parts, 1, false) == 0) {
            total = 0;
            for (size_t i = 0; i < mtmd_input_chunks_size(chunks); ++i) {
                const mtmd_input_chunk * c = mtmd_input_chunks_get(chunks, i);
                if (mtmd_input_chunk_get_type(c) == MTMD_INPUT_CHUNK_TYPE_IMAGE) {
                    total += (int32_t) mtmd_input_chunk_get_n_tokens(c);
                }
            }
        }
        mtmd_input_chunks_free(chunks);
        mtmd_bitmap_free(bmp);
        return TV_OK;
    });
    return total;
}
