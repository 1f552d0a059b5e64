// The model: loading with its optional projector (tv_model_load / tv_model_free), sizes and special tokens,
// GGUF metadata, the chat template, and quantization of model files.
#include "taskvec.h"
#include "taskvec_internal.h"

#include "llama.h"
#include "mtmd.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

using tv::fail;

extern "C" TV_API tv_model_params tv_model_default_params(void) {
    tv_model_params p{};
    p.n_gpu_layers = 0;
    p.use_mmap = true;
    p.mmproj_path = nullptr;
    p.mmproj_use_gpu = true;
    p.mmproj_threads = 4;
    p.image_cache_bytes = (int64_t) 512 << 20;
    p.mmproj_flash_attn = -1;
    p.rpc_servers = nullptr;
    p.tensor_split = nullptr;
    p.n_tensor_split = 0;
    return p;
}

extern "C" TV_API tv_model * tv_model_load(const char * path, tv_model_params params) {
    tv_model * result = nullptr;
    tv::guarded([&] {
        if (path == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "model path is NULL");
        }
        if (params.mmproj_threads <= 0) {
            return fail(TV_ERR_INVALID_ARG, "mmproj_threads must be positive, got %d", params.mmproj_threads);
        }
        if (params.mmproj_flash_attn < -1 || params.mmproj_flash_attn > 1) {
            return fail(TV_ERR_INVALID_ARG, "mmproj_flash_attn must be -1, 0 or 1, got %d", params.mmproj_flash_attn);
        }
        if (params.n_tensor_split < 0 || (params.n_tensor_split > 0 && params.tensor_split == nullptr)) {
            return fail(TV_ERR_INVALID_ARG, "tensor_split: %d entries at %p", params.n_tensor_split,
                        (const void *) params.tensor_split);
        }
        llama_model_params mp = llama_model_default_params();
        mp.n_gpu_layers = params.n_gpu_layers;
        mp.load_mode = params.use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
        // the devices: the RPC servers' (as llama.cpp orders them: remote first), then this process's GPUs
        std::vector<ggml_backend_dev_t> devices;
        std::vector<std::string> endpoints;
        if (params.rpc_servers != nullptr && params.rpc_servers[0] != '\0') {
            const tv_status st = tv::add_rpc_devices(params.rpc_servers, devices, endpoints);
            if (st != TV_OK) {
                return st;
            }
            for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
                ggml_backend_dev_t d = ggml_backend_dev_get(i);
                if (ggml_backend_dev_type(d) == GGML_BACKEND_DEVICE_TYPE_GPU) {
                    devices.push_back(d);
                }
            }
            devices.push_back(nullptr);
            mp.devices = devices.data();
        }
        std::vector<float> split(llama_max_devices(), 0.0f);
        if (params.n_tensor_split > 0) {
            const size_t n_dev = devices.empty() ? llama_max_devices() : devices.size() - 1;
            if ((size_t) params.n_tensor_split > std::min(n_dev, split.size())) {
                return fail(TV_ERR_INVALID_ARG, "tensor_split has %d entries for %zu devices", params.n_tensor_split,
                            std::min(n_dev, split.size()));
            }
            float sum = 0.0f;
            for (int32_t i = 0; i < params.n_tensor_split; ++i) {
                const float v = params.tensor_split[i];
                if (!(v >= 0.0f) || v > 1e6f) {
                    return fail(TV_ERR_INVALID_ARG, "tensor_split[%d] is %g; shares must be finite and >= 0", i, v);
                }
                split[(size_t) i] = v;
                sum += v;
            }
            if (sum <= 0.0f) {
                return fail(TV_ERR_INVALID_ARG, "tensor_split gives every device a share of 0");
            }
            mp.tensor_split = split.data();
        }
        tv::model_ptr lm(llama_model_load_from_file(path, mp));
        if (!lm) {
            if (tv::rpc_server_lost(endpoints)) {
                return fail(TV_ERR_RPC, "llama.cpp could not load the model %s: %s", path, tv_last_error());
            }
            return fail(TV_ERR_LOAD, "llama.cpp could not load the model %s", path);
        }
        tv::mtmd_ptr mtmd;
        if (params.mmproj_path != nullptr) {
            mtmd_context_params cp = mtmd_context_params_default();
            cp.use_gpu = params.mmproj_use_gpu && params.n_gpu_layers != 0;
            cp.n_threads = params.mmproj_threads;
            cp.print_timings = false;
            cp.warmup = false;
            cp.flash_attn_type = (llama_flash_attn_type) params.mmproj_flash_attn;
            mtmd.reset(mtmd_init_from_file(params.mmproj_path, lm.get(), cp));
            if (!mtmd) {
                return fail(TV_ERR_PROJECTOR,
                            "libmtmd could not load the projector %s for this model (wrong file, or its width does "
                            "not match the model's)", params.mmproj_path);
            }
            if (!mtmd_support_vision(mtmd.get())) {
                return fail(TV_ERR_PROJECTOR, "the projector %s has no vision encoder", params.mmproj_path);
            }
        }
        auto m = std::make_unique<tv_model>();
        m->path = path;
        m->images = tv::image_cache(params.image_cache_bytes > 0 ? (size_t) params.image_cache_bytes : 0);
        m->vocab = llama_model_get_vocab(lm.get());
        m->model = std::move(lm);
        m->mtmd = std::move(mtmd);
        m->rpc_endpoints = std::move(endpoints);
        result = m.release();
        return TV_OK;
    });
    return result;
}

// NULL-safe (delete of NULL does nothing); the members free the projector context, the lens weights and the model.
extern "C" TV_API void tv_model_free(tv_model * model) { delete model; }

extern "C" TV_API int32_t tv_model_n_devices(const tv_model * m) {
    return m == nullptr ? -1 : (int32_t) tv::model_devices(m->model.get()).size();
}

extern "C" TV_API tv_status tv_model_device(const tv_model * m, int32_t i, char * name, int32_t name_size,
                                            char * desc, int32_t desc_size, int64_t * free, int64_t * total,
                                            int32_t * n_layers) {
    return tv::guarded([&] {
        if (m == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "model is NULL");
        }
        const std::vector<ggml_backend_dev_t> devs = tv::model_devices(m->model.get());
        if (i < 0 || i >= (int32_t) devs.size()) {
            return fail(TV_ERR_INVALID_ARG, "device %d of a model with %zu devices", i, devs.size());
        }
        ggml_backend_dev_t d = devs[(size_t) i];
        tv::copy_out(ggml_backend_dev_name(d), name, name_size);
        tv::copy_out(ggml_backend_dev_description(d), desc, desc_size);
        if (free != nullptr || total != nullptr) {
            size_t f = 0, t = 0;
            ggml_backend_dev_memory(d, &f, &t);  // a question to the server for an RPC device
            if (free != nullptr) {
                *free = (int64_t) f;
            }
            if (total != nullptr) {
                *total = (int64_t) t;
            }
        }
        if (n_layers != nullptr) {
            int32_t n = 0;
            for (int32_t il = 0; il < llama_model_n_layer(m->model.get()); ++il) {
                n += tv::model_layer_device(m->model.get(), il) == d ? 1 : 0;
            }
            *n_layers = n;
        }
        return TV_OK;
    });
}

extern "C" TV_API int32_t tv_model_n_cpu_layers(const tv_model * m) {
    if (m == nullptr) {
        return -1;
    }
    const std::vector<ggml_backend_dev_t> devs = tv::model_devices(m->model.get());
    int32_t n = 0;
    for (int32_t il = 0; il < llama_model_n_layer(m->model.get()); ++il) {
        ggml_backend_dev_t d = tv::model_layer_device(m->model.get(), il);
        n += std::find(devs.begin(), devs.end(), d) == devs.end() ? 1 : 0;
    }
    return n;
}

extern "C" TV_API int32_t tv_model_n_layer(const tv_model * m) { return llama_model_n_layer(m->model.get()); }
extern "C" TV_API int32_t tv_model_n_embd(const tv_model * m) { return llama_model_n_embd(m->model.get()); }
extern "C" TV_API int32_t tv_model_n_head(const tv_model * m) { return llama_model_n_head(m->model.get()); }
extern "C" TV_API int32_t tv_model_n_head_kv(const tv_model * m) { return llama_model_n_head_kv(m->model.get()); }
extern "C" TV_API int32_t tv_model_n_vocab(const tv_model * m) { return llama_vocab_n_tokens(m->vocab); }
extern "C" TV_API int32_t tv_model_n_ctx_train(const tv_model * m) { return llama_model_n_ctx_train(m->model.get()); }
extern "C" TV_API int64_t tv_model_n_params(const tv_model * m) {
    return (int64_t) llama_model_n_params(m->model.get());
}
extern "C" TV_API int64_t tv_model_size(const tv_model * m) { return (int64_t) llama_model_size(m->model.get()); }
extern "C" TV_API int32_t tv_model_token_bos(const tv_model * m) { return llama_vocab_bos(m->vocab); }
extern "C" TV_API int32_t tv_model_token_eos(const tv_model * m) { return llama_vocab_eos(m->vocab); }
extern "C" TV_API bool tv_model_add_bos(const tv_model * m) { return llama_vocab_get_add_bos(m->vocab); }
extern "C" TV_API bool tv_model_has_projector(const tv_model * m) { return m->mtmd != nullptr; }


extern "C" TV_API bool tv_model_is_eog(const tv_model * m, int32_t token) {
    return token >= 0 && token < llama_vocab_n_tokens(m->vocab) && llama_vocab_is_eog(m->vocab, token);
}

// llama.cpp's metadata accessors already follow snprintf's convention (full length returned, output truncated
// and NUL-terminated), which is the one taskvec.h documents.
extern "C" TV_API int32_t tv_model_meta(const tv_model * m, const char * key, char * buf, int32_t buf_size) {
    if (key == nullptr) {
        return -1;
    }
    return llama_model_meta_val_str(m->model.get(), key, buf, buf == nullptr ? 0 : (size_t) std::max(buf_size, 0));
}

extern "C" TV_API int32_t tv_model_meta_count(const tv_model * m) { return llama_model_meta_count(m->model.get()); }

extern "C" TV_API int32_t tv_model_meta_key_at(const tv_model * m, int32_t i, char * buf, int32_t buf_size) {
    if (i < 0 || i >= llama_model_meta_count(m->model.get())) {
        return -1;
    }
    return llama_model_meta_key_by_index(m->model.get(), i, buf, buf == nullptr ? 0 : (size_t) std::max(buf_size, 0));
}

extern "C" TV_API int32_t tv_model_meta_value_at(const tv_model * m, int32_t i, char * buf, int32_t buf_size) {
    if (i < 0 || i >= llama_model_meta_count(m->model.get())) {
        return -1;
    }
    return llama_model_meta_val_str_by_index(m->model.get(), i, buf,
                                             buf == nullptr ? 0 : (size_t) std::max(buf_size, 0));
}

extern "C" TV_API const char * tv_model_chat_template(const tv_model * m) {
    return llama_model_chat_template(m->model.get(), nullptr);
}

extern "C" TV_API int32_t tv_model_chat_wrap(const tv_model * m, const char * tmpl, const char * text, char * buf,
                                             int32_t buf_size) {
    if (text == nullptr) {
        return -fail(TV_ERR_INVALID_ARG, "text is NULL");
    }
    const char * t = tmpl != nullptr ? tmpl : llama_model_chat_template(m->model.get(), nullptr);
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
    llama_model_desc(m->model.get(), tmp, sizeof(tmp));
    return tv::copy_out(std::string(tmp), buf, buf_size);
}

extern "C" TV_API tv_status tv_model_quantize(const char * in_path, const char * out_path, const char * type,
                                              int32_t n_threads) {
    return tv::guarded([&] {
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
