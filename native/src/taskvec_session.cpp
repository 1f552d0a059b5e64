// The session: a llama_context with its KV cache and the record of every evaluated position (token or image row,
// prefix-reuse key, unit, llama position); decoding text and image units at its end, prompt evaluation with prefix
// reuse, truncation and logits. Sampling and generation on a session are in taskvec_generation.cpp.
//
// While hooks are active for the phase being evaluated, each llama_decode is one ubatch, so that the graph
// callback (taskvec_hooks.cpp) knows the token index of every row.
#include "taskvec.h"
#include "taskvec_internal.h"

#include "llama.h"
#include "mtmd.h"
#include "mtmd-helper.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using tv::fail;

namespace {

// Removes positions [n_keep, end) from the KV cache and the record.
void truncate_to(tv_session * s, int32_t n_keep) {
    if (n_keep >= (int32_t) s->positions.size()) {
        return;
    }
    const int32_t pos = n_keep == 0 ? 0 : s->positions[n_keep].pos;
    llama_memory_seq_rm(llama_get_memory(s->ctx.get()), 0, pos, -1);
    s->positions.resize((size_t) n_keep);
    s->next_pos = pos;
    s->logits_valid = false;
    if (n_keep <= s->plan.written_from) {
        s->plan.written_from = INT32_MAX;  // every position a hook wrote is gone
    }
}

// Fails with the first error the hook callback met during the last decode, if any.
tv_status hook_error(tv_session * s) {
    if (s->plan.error.empty()) {
        return TV_OK;
    }
    std::string e = s->plan.error;
    s->plan.error.clear();
    return fail(TV_ERR_STATE, "hook failed: %s", e.c_str());
}

// Encodes (or takes from the model's cache) and decodes one image chunk at the end of the session.
tv_status decode_image(tv_session * s, const tv::prompt_unit & u) {
    std::vector<float> embd;
    const tv_status encoded = tv::encoded_image(s->model, u.chunk, u.digest, u.n_tokens, embd);
    if (encoded != TV_OK) {
        return encoded;
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
        s->plan.ubatch_start = start_index;
        s->plan.ubatch_outputs.clear();
    }
    // One ubatch per llama_decode while hooked; the callback after each one moves the first position on.
    auto after_batch = [](llama_batch batch, void * user_data) -> int32_t {
        static_cast<tv_session *>(user_data)->plan.ubatch_start += batch.n_tokens;
        return 0;
    };
    const int32_t n_batch = hooked ? std::min(s->batch_cap, (int32_t) llama_n_ubatch(s->ctx.get())) : s->batch_cap;
    const int32_t rc = mtmd_helper_decode_image_chunk(s->model->mtmd.get(), s->ctx.get(), u.chunk, embd.data(),
                                                      s->next_pos, 0, n_batch, &new_pos,
                                                      hooked ? +after_batch : nullptr, hooked ? s : nullptr);
    if (rc != 0) {
        truncate_to(s, start_index);
        return fail(TV_ERR_DECODE, "decoding the image embeddings failed with code %d", rc);
    }
    for (int32_t j = 0; j < u.n_tokens; ++j) {
        s->positions.push_back({TV_TOKEN_IMAGE, tv::image_key(u.digest, j), start_index, s->next_pos});
    }
    s->next_pos = new_pos;
    s->logits_valid = false;
    return hooked ? hook_error(s) : TV_OK;
}

}  // namespace

namespace tv {

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
    const int32_t step = hooked ? std::min(s->batch_cap, (int32_t) llama_n_ubatch(s->ctx.get())) : s->batch_cap;
    const int32_t start_index = (int32_t) s->positions.size();
    for (int32_t off = 0; off < n; off += step) {
        const int32_t m = std::min(step, n - off);
        llama_batch & b = s->batch.value;
        b.n_tokens = m;
        if (hooked) {
            s->plan.ubatch_start = start_index + off;
            s->plan.ubatch_outputs.clear();
        }
        for (int32_t j = 0; j < m; ++j) {
            const int32_t index = start_index + off + j;
            b.token[j] = tokens[off + j];
            b.pos[j] = s->next_pos + j;
            b.n_seq_id[j] = 1;
            b.seq_id[j][0] = 0;
            b.logits[j] = (want_logits && off + j == n - 1) || (hooked && tv::hook_needs_output(s, index));
            if (hooked && b.logits[j]) {
                s->plan.ubatch_outputs.push_back(index);
            }
        }
        const int32_t rc = llama_decode(s->ctx.get(), b);
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

}  // namespace tv

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

extern "C" TV_API tv_session * tv_session_init(tv_model * model, tv_session_params params) {
    tv_session * result = nullptr;
    tv::guarded([&] {
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
        cp.n_ctx = (uint32_t) (params.n_ctx == 0 ? llama_model_n_ctx_train(model->model.get()) : params.n_ctx);
        cp.n_batch = (uint32_t) params.n_batch;
        cp.n_ubatch = (uint32_t) std::min(params.n_ubatch, params.n_batch);
        cp.n_seq_max = 1;
        cp.n_threads = params.n_threads;
        cp.n_threads_batch = params.n_threads_batch > 0 ? params.n_threads_batch : params.n_threads;
        cp.flash_attn_type = (llama_flash_attn_type) params.flash_attn;
        cp.type_k = params.kv_type == 1 ? GGML_TYPE_F32 : GGML_TYPE_F16;
        cp.type_v = cp.type_k;
        cp.no_perf = true;
        tv::context_ptr ctx(llama_init_from_model(model->model.get(), cp));
        if (!ctx) {
            return fail(TV_ERR_LOAD, "llama.cpp could not create a context (n_ctx %u)", cp.n_ctx);
        }
        auto s = std::make_unique<tv_session>();
        s->model = model;
        s->seed = params.seed;
        s->batch_cap = (int32_t) llama_n_batch(ctx.get());
        s->batch = tv::owned_batch(s->batch_cap);
        s->sampler = tv::make_sampler(tv_sampling_default_params(), params.seed);
        s->positions.reserve(llama_n_ctx(ctx.get()));
        s->ctx = std::move(ctx);
        result = s.release();
        return TV_OK;
    });
    return result;
}

// NULL-safe (delete of NULL does nothing); the members free the sampler, the batch and the context.
extern "C" TV_API void tv_session_free(tv_session * s) { delete s; }

extern "C" TV_API int32_t tv_session_n_ctx(const tv_session * s) { return (int32_t) llama_n_ctx(s->ctx.get()); }
extern "C" TV_API int32_t tv_session_n_batch(const tv_session * s) { return (int32_t) llama_n_batch(s->ctx.get()); }
extern "C" TV_API int32_t tv_session_n_ubatch(const tv_session * s) { return (int32_t) llama_n_ubatch(s->ctx.get()); }
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

extern "C" TV_API tv_status tv_session_eval_prompt(tv_session * s, const tv_prompt * p, bool add_bos,
                                                   bool reuse_prefix, int32_t * n_reused) {
    return tv::guarded([&] {
        if (s == nullptr || p == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_eval_prompt: NULL argument");
        }
        if (n_reused != nullptr) {
            *n_reused = 0;
        }
        tv::tokenized_prompt tp;
        tv_status st = tv::tokenize_prompt(s->model, p, add_bos, tp);
        if (st != TV_OK) {
            return st;
        }
        const int32_t total = tp.n_tokens();
        if (total == 0) {
            return fail(TV_ERR_INVALID_ARG, "the prompt is empty");
        }
        const int32_t n_ctx = (int32_t) llama_n_ctx(s->ctx.get());
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
                    keys.push_back(img ? tv::image_key(u.digest, j) : (uint64_t) (uint32_t) u.tokens[(size_t) j]);
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
            keep = std::min(keep, s->plan.written_from);         // and so are positions a hook wrote
            keep = unit_starts[(size_t) keep];  // never split an image of the new prompt
            if (keep < held) {
                keep = std::min(keep, s->positions[keep].unit_start);  // nor one that the session holds
            }
        }
        truncate_to(s, keep);
        if (keep == 0) {
            llama_memory_clear(llama_get_memory(s->ctx.get()), true);
            s->positions.clear();
            s->next_pos = 0;
        }
        // Evaluate what is not kept.
        int32_t index = 0;
        for (size_t ui = 0; ui < tp.units.size(); ++ui) {
            const tv::prompt_unit & u = tp.units[ui];
            const bool last_unit = ui + 1 == tp.units.size();
            const int32_t end = index + u.n_tokens;
            if (end > keep) {
                if (u.chunk == nullptr) {
                    const int32_t skip = std::max(0, keep - index);
                    st = tv::decode_tokens(s, u.tokens.data() + skip, u.n_tokens - skip, last_unit, TV_PHASE_PROMPT);
                } else {
                    st = decode_image(s, u);
                }
                if (st != TV_OK) {
                    return st;
                }
            }
            index = end;
        }
        llama_sampler_reset(s->sampler.get());
        s->generated.clear();
        if (n_reused != nullptr) {
            *n_reused = keep;
        }
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_eval_tokens(tv_session * s, const int32_t * tokens, int32_t n) {
    return tv::guarded([&] {
        if (s == nullptr || n < 0 || (tokens == nullptr && n > 0)) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_eval_tokens: invalid arguments");
        }
        const int32_t n_ctx = (int32_t) llama_n_ctx(s->ctx.get());
        if ((int32_t) s->positions.size() + n > n_ctx) {
            return fail(TV_ERR_CONTEXT_FULL, "%d more tokens do not fit: %d of %d positions are used", n,
                        (int32_t) s->positions.size(), n_ctx);
        }
        return tv::decode_tokens(s, tokens, n, true, TV_PHASE_PROMPT);
    });
}

extern "C" TV_API tv_status tv_session_truncate(tv_session * s, int32_t n_keep) {
    return tv::guarded([&] {
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
    return tv::guarded([&] {
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
        const float * l = llama_get_logits_ith(s->ctx.get(), -1);
        if (l == nullptr) {
            return fail(TV_ERR_STATE, "llama.cpp holds no logits for the last position");
        }
        memcpy(out, l, sizeof(float) * (size_t) nv);
        return TV_OK;
    });
}
