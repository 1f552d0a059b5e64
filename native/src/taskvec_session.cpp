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

// Removes positions [n_keep, end) of sequence seq from the KV cache and the record.
void truncate_to(tv_session * s, int32_t seq, int32_t n_keep) {
    tv_seq & q = s->seqs[(size_t) seq];
    if (n_keep >= (int32_t) q.positions.size()) {
        return;
    }
    const int32_t pos = n_keep == 0 ? 0 : q.positions[n_keep].pos;
    llama_memory_seq_rm(llama_get_memory(s->ctx.get()), seq, pos, -1);
    q.positions.resize((size_t) n_keep);
    q.next_pos = pos;
    q.logits_valid = false;
    if (n_keep <= q.written_from) {
        q.written_from = INT32_MAX;  // every position a hook wrote is gone
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

// Encodes (or takes from the model's cache) and decodes one image chunk at the end of sequence seq.
tv_status decode_image(tv_session * s, int32_t seq, const tv::prompt_unit & u) {
    tv_seq & q = s->seqs[(size_t) seq];
    std::vector<float> embd;
    const tv_status encoded = tv::encoded_image(s->model, u.chunk, u.digest, u.n_tokens, embd);
    if (encoded != TV_OK) {
        return encoded;
    }
    const int32_t start_index = (int32_t) q.positions.size();
    llama_pos new_pos = q.next_pos;
    const bool hooked = tv::arm_hooks(s, TV_PHASE_PROMPT);
    if (hooked) {
        if (tv::hook_on_text_only_node(s, seq, start_index, u.n_tokens) != nullptr) {
            return fail(TV_ERR_INVALID_ARG, "positions %d..%d are an image: its rows enter block 0 as an input, "
                        "not through the %s node a hook on block 0's input reads; hook them from block 1 on, or "
                        "text positions only", start_index, start_index + u.n_tokens - 1,
                        tv::hook_on_text_only_node(s, seq, start_index, u.n_tokens)->node.name.c_str());
        }
        for (int32_t j = 0; j < u.n_tokens; ++j) {
            if (tv::hook_needs_output(s, seq, start_index + j)) {
                return fail(TV_ERR_INVALID_ARG, "position %d is an image position: llama.cpp does not compute the "
                            "last layer's residual or MLP output there; hook an earlier layer", start_index + j);
            }
        }
        s->plan.ubatch_rows.clear();
        s->plan.ubatch_seq = seq;
        s->plan.ubatch_start = start_index;
        s->plan.ubatch_outputs.clear();
    }
    // One ubatch per llama_decode while hooked; the callback after each one moves the first position on.
    auto after_batch = [](llama_batch batch, void * user_data) -> int32_t {
        static_cast<tv_session *>(user_data)->plan.ubatch_start += batch.n_tokens;
        return 0;
    };
    const int32_t n_batch = hooked ? std::min(s->batch_cap, (int32_t) llama_n_ubatch(s->ctx.get())) : s->batch_cap;
    const int32_t rc = tv::remote_call(s->model, [&] {
        tv::before_decode(s);  // libmtmd decodes; the logits other sequences left in the context are kept first
        const int32_t r = mtmd_helper_decode_image_chunk(s->model->mtmd.get(), s->ctx.get(), u.chunk, embd.data(),
                                                         q.next_pos, seq, n_batch, &new_pos,
                                                         hooked ? +after_batch : nullptr, hooked ? s : nullptr);
        if (!s->model->rpc_endpoints.empty()) {
            llama_synchronize(s->ctx.get());  // a server lost in an asynchronous step fails this call, not a later one
        }
        return r;
    });
    if (rc != 0) {
        truncate_to(s, seq, start_index);
        return fail(TV_ERR_DECODE, "decoding the image embeddings failed with code %d", rc);
    }
    for (int32_t j = 0; j < u.n_tokens; ++j) {
        q.positions.push_back({TV_TOKEN_IMAGE, tv::image_key(u.digest, j), start_index, q.next_pos});
    }
    q.next_pos = new_pos;
    q.logits_valid = false;
    return hooked ? hook_error(s) : TV_OK;
}

}  // namespace

namespace tv {

void before_decode(tv_session * s) {
    if (s->seqs.size() > 1) {
        const int32_t n_vocab = llama_vocab_n_tokens(s->model->vocab);
        for (tv_seq & q : s->seqs) {
            if (q.logits_valid && q.logits_decode == s->n_decodes && q.logits_row >= 0) {
                const float * l = llama_get_logits_ith(s->ctx.get(), q.logits_row);
                if (l != nullptr) {
                    q.logits.assign(l, l + n_vocab);
                }
                q.logits_row = -1;
            }
        }
    }
    s->n_decodes++;
}

int32_t decode(tv_session * s, const llama_batch & b) {
    return remote_call(s->model, [&] {
        before_decode(s);
        const int32_t rc = llama_decode(s->ctx.get(), b);
        if (!s->model->rpc_endpoints.empty()) {
            llama_synchronize(s->ctx.get());  // a server lost in an asynchronous step fails this call, not a later one
        }
        return rc;
    });
}

const float * seq_logits(tv_session * s, int32_t seq) {
    tv_seq & q = s->seqs[(size_t) seq];
    if (!q.logits_valid) {
        return nullptr;
    }
    if (q.logits_decode == s->n_decodes && q.logits_row >= 0) {
        return llama_get_logits_ith(s->ctx.get(), q.logits_row);
    }
    return q.logits.empty() ? nullptr : q.logits.data();
}

llama_token sample_logits(llama_sampler * sampler, const float * logits, int32_t n_vocab) {
    // the steps of llama_sampler_sample, on logits held outside the context
    std::vector<llama_token_data> cur((size_t) n_vocab);
    for (int32_t t = 0; t < n_vocab; ++t) {
        cur[(size_t) t] = llama_token_data{t, logits[t], 0.0f};
    }
    llama_token_data_array arr{cur.data(), cur.size(), -1, false};
    llama_sampler_apply(sampler, &arr);
    const llama_token token = arr.data[arr.selected].id;
    llama_sampler_accept(sampler, token);
    return token;
}

int32_t sample_seq(tv_session * s, int32_t seq) {
    tv_seq & q = s->seqs[(size_t) seq];
    if (q.logits_decode == s->n_decodes && q.logits_row >= 0) {
        return llama_sampler_sample(s->sampler.get(), s->ctx.get(), q.logits_row);
    }
    return sample_logits(s->sampler.get(), q.logits.data(), (int32_t) q.logits.size());
}

// Decodes text tokens at the end of sequence seq; logits for the last one when want_logits. With hooks active
// for phase, each llama_decode is one ubatch (so the callback knows its rows) and positions that last-layer hooks
// address become output rows.
tv_status decode_tokens(tv_session * s, int32_t seq, const int32_t * tokens, int32_t n, bool want_logits,
                        int32_t phase) {
    const int32_t n_vocab = llama_vocab_n_tokens(s->model->vocab);
    for (int32_t i = 0; i < n; ++i) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            return fail(TV_ERR_INVALID_ARG, "token %d is outside the vocabulary [0, %d)", tokens[i], n_vocab);
        }
    }
    tv_seq & q = s->seqs[(size_t) seq];
    const bool hooked = tv::arm_hooks(s, phase);
    const int32_t step = hooked ? std::min(s->batch_cap, (int32_t) llama_n_ubatch(s->ctx.get())) : s->batch_cap;
    const int32_t start_index = (int32_t) q.positions.size();
    for (int32_t off = 0; off < n; off += step) {
        const int32_t m = std::min(step, n - off);
        llama_batch & b = s->batch.value;
        b.n_tokens = m;
        if (hooked) {
            s->plan.ubatch_rows.clear();
            s->plan.ubatch_seq = seq;
            s->plan.ubatch_start = start_index + off;
            s->plan.ubatch_outputs.clear();
        }
        for (int32_t j = 0; j < m; ++j) {
            const int32_t index = start_index + off + j;
            b.token[j] = tokens[off + j];
            b.pos[j] = q.next_pos + j;
            b.n_seq_id[j] = 1;
            b.seq_id[j][0] = seq;
            b.logits[j] = (want_logits && off + j == n - 1) || (hooked && tv::hook_needs_output(s, seq, index));
            if (hooked && b.logits[j]) {
                s->plan.ubatch_outputs.push_back({seq, index});
            }
        }
        const int32_t rc = tv::decode(s, b);
        if (rc != 0) {
            truncate_to(s, seq, start_index);
            return fail(TV_ERR_DECODE, "llama_decode failed with code %d%s", rc,
                        rc == 1 ? " (no KV cache slot: context full)" : "");
        }
        for (int32_t j = 0; j < m; ++j) {
            const int32_t index = (int32_t) q.positions.size();
            q.positions.push_back({tokens[off + j], (uint64_t) (uint32_t) tokens[off + j], index, q.next_pos + j});
        }
        q.next_pos += m;
        if (hooked) {
            const tv_status st = hook_error(s);
            if (st != TV_OK) {
                q.logits_valid = false;
                return st;
            }
        }
        if (want_logits && off + m == n) {
            q.logits_row = m - 1;
            q.logits_decode = s->n_decodes;
        }
    }
    q.logits_valid = want_logits && n > 0;
    return TV_OK;
}

}  // namespace tv

namespace {

// What evaluating a prompt into a sequence keeps and still has to decode.
struct seq_plan {
    int32_t seq = 0;
    tv::tokenized_prompt tp;
    int32_t keep = 0;        // positions of the prompt the sequence already holds
    size_t unit = 0;         // the next unit to decode
    int32_t unit_done = 0;   // positions of that unit already decoded (text units decode in pieces)
    int32_t index = 0;       // prompt position of the next unit's first position
};

// Tokenizes prompt p for sequence seq, finds the prefix it can keep and cuts the sequence back to it.
tv_status prepare(tv_session * s, int32_t seq, const tv_prompt * p, bool add_bos, bool reuse_prefix, seq_plan & sp) {
    sp.seq = seq;
    tv_status st = tv::tokenize_prompt(s->model, p, add_bos, sp.tp);
    if (st != TV_OK) {
        return st;
    }
    const int32_t total = sp.tp.n_tokens();
    if (total == 0) {
        return fail(TV_ERR_INVALID_ARG, "the prompt is empty");
    }
    const int32_t n_ctx = (int32_t) llama_n_ctx(s->ctx.get());
    if (total > n_ctx) {
        return fail(TV_ERR_CONTEXT_FULL, "the prompt has %d positions but the context holds %d", total, n_ctx);
    }
    tv_seq & q = s->seqs[(size_t) seq];
    // Longest common prefix with what the sequence holds, in whole units, leaving >= 1 position to evaluate.
    int32_t keep = 0;
    if (reuse_prefix) {
        std::vector<uint64_t> keys;
        std::vector<int32_t> unit_starts;
        std::vector<char> is_image;
        keys.reserve((size_t) total);
        unit_starts.reserve((size_t) total);
        for (const auto & u : sp.tp.units) {
            const int32_t start = (int32_t) keys.size();
            for (int32_t j = 0; j < u.n_tokens; ++j) {
                const bool img = u.chunk != nullptr;
                keys.push_back(img ? tv::image_key(u.digest, j) : (uint64_t) (uint32_t) u.tokens[(size_t) j]);
                unit_starts.push_back(img ? start : start + j);
                is_image.push_back(img ? 1 : 0);
            }
        }
        const int32_t held = (int32_t) q.positions.size();
        while (keep < total && keep < held && q.positions[keep].key == keys[(size_t) keep] &&
               (q.positions[keep].token == TV_TOKEN_IMAGE) == (is_image[(size_t) keep] != 0)) {
            ++keep;
        }
        keep = std::min(keep, total - 1);
        keep = std::min(keep, tv::first_hooked_position(s, seq));  // hooked positions are evaluated afresh
        keep = std::min(keep, q.written_from);                     // and so are positions a hook wrote
        keep = unit_starts[(size_t) keep];  // never split an image of the new prompt
        if (keep < held) {
            keep = std::min(keep, q.positions[keep].unit_start);  // nor one that the sequence holds
        }
    }
    truncate_to(s, seq, keep);
    if (keep == 0) {
        if (s->seqs.size() == 1) {
            llama_memory_clear(llama_get_memory(s->ctx.get()), true);
        } else {
            llama_memory_seq_rm(llama_get_memory(s->ctx.get()), seq, -1, -1);
        }
        q.positions.clear();
        q.next_pos = 0;
        q.written_from = INT32_MAX;
    }
    sp.keep = keep;
    // skip the units (and the part of a text unit) the sequence keeps
    while (sp.unit < sp.tp.units.size() && sp.index + sp.tp.units[sp.unit].n_tokens <= keep) {
        sp.index += sp.tp.units[sp.unit].n_tokens;
        sp.unit++;
    }
    sp.unit_done = keep - sp.index;
    return TV_OK;
}

// Decodes the pending text of several sequences together: one llama_decode reads the weights once for all of
// them. Each round takes every sequence's text up to its next image, in ubatch-sized decodes; the rows of a
// decode are recorded for hooks (llama.cpp keeps a batch's order with a unified KV cache).
tv_status decode_text_together(tv_session * s, std::vector<seq_plan *> & plans) {
    struct pending {
        seq_plan * sp;
        int32_t from;   // offset in the unit's tokens
        int32_t to;
        bool last;      // the prompt's last position is in this run: its logits are wanted
    };
    std::vector<pending> runs;
    for (seq_plan * sp : plans) {
        if (sp->unit < sp->tp.units.size() && sp->tp.units[sp->unit].chunk == nullptr) {
            const tv::prompt_unit & u = sp->tp.units[sp->unit];
            runs.push_back({sp, sp->unit_done, u.n_tokens, sp->unit + 1 == sp->tp.units.size()});
        }
    }
    if (runs.empty()) {
        return TV_OK;
    }
    const bool hooked = tv::arm_hooks(s, TV_PHASE_PROMPT);
    const int32_t step = hooked ? std::min(s->batch_cap, (int32_t) llama_n_ubatch(s->ctx.get())) : s->batch_cap;
    const int32_t n_ctx = (int32_t) llama_n_ctx(s->ctx.get());
    (void) n_ctx;
    size_t r = 0;
    while (r < runs.size()) {
        llama_batch & b = s->batch.value;
        b.n_tokens = 0;
        s->plan.ubatch_rows.clear();
        s->plan.ubatch_outputs.clear();
        struct added {
            seq_plan * sp;
            int32_t n;
            bool logits_at_end;
        };
        std::vector<added> in_batch;
        while (r < runs.size() && b.n_tokens < step) {
            pending & pr = runs[r];
            seq_plan * sp = pr.sp;
            tv_seq & q = s->seqs[(size_t) sp->seq];
            const tv::prompt_unit & u = sp->tp.units[sp->unit];
            const int32_t m = std::min(step - b.n_tokens, pr.to - pr.from);
            const int32_t start_index = (int32_t) q.positions.size();
            for (int32_t j = 0; j < m; ++j) {
                const int32_t k = b.n_tokens;
                const int32_t index = start_index + j;
                b.token[k] = u.tokens[(size_t) (pr.from + j)];
                b.pos[k] = q.next_pos + j;
                b.n_seq_id[k] = 1;
                b.seq_id[k][0] = sp->seq;
                const bool end = pr.last && pr.from + j == pr.to - 1;
                b.logits[k] = end || (hooked && tv::hook_needs_output(s, sp->seq, index));
                if (hooked) {
                    s->plan.ubatch_rows.push_back({sp->seq, index});
                    if (b.logits[k]) {
                        s->plan.ubatch_outputs.push_back({sp->seq, index});
                    }
                }
                b.n_tokens++;
            }
            // the positions are recorded now; a failed decode cuts every sequence of the batch back
            for (int32_t j = 0; j < m; ++j) {
                const int32_t t = u.tokens[(size_t) (pr.from + j)];
                q.positions.push_back({t, (uint64_t) (uint32_t) t, start_index + j, q.next_pos + j});
            }
            q.next_pos += m;
            q.logits_valid = false;
            in_batch.push_back({sp, m, pr.last && pr.from + m == pr.to});
            pr.from += m;
            if (pr.from == pr.to) {
                ++r;
            }
        }
        const int32_t rc = tv::decode(s, b);
        if (rc != 0) {
            for (const added & a : in_batch) {
                tv_seq & q = s->seqs[(size_t) a.sp->seq];
                truncate_to(s, a.sp->seq, (int32_t) q.positions.size() - a.n);
            }
            return fail(TV_ERR_DECODE, "llama_decode failed with code %d%s", rc,
                        rc == 1 ? " (no KV cache slot: context full)" : "");
        }
        if (hooked) {
            const tv_status st = hook_error(s);
            if (st != TV_OK) {
                return st;
            }
        }
        // logits rows: the batch index of each sequence's last token, where it ended its prompt
        int32_t k = 0;
        for (const added & a : in_batch) {
            k += a.n;
            if (a.logits_at_end) {
                tv_seq & q = s->seqs[(size_t) a.sp->seq];
                q.logits_valid = true;
                q.logits_row = k - 1;
                q.logits_decode = s->n_decodes;
            }
        }
    }
    for (seq_plan * sp : plans) {
        if (sp->unit < sp->tp.units.size() && sp->tp.units[sp->unit].chunk == nullptr) {
            sp->index += sp->tp.units[sp->unit].n_tokens;
            sp->unit++;
            sp->unit_done = 0;
        }
    }
    return TV_OK;
}

// Evaluates prompts[i] into sequences seqs[i]: images one sequence at a time, text of all sequences together.
tv_status eval_prompts(tv_session * s, const tv_prompt * const * prompts, const int32_t * seqs, int32_t n,
                       bool add_bos, bool reuse_prefix, int32_t * n_reused) {
    std::vector<std::unique_ptr<seq_plan>> owned;
    std::vector<seq_plan *> plans;
    for (int32_t i = 0; i < n; ++i) {
        owned.push_back(std::make_unique<seq_plan>());
        tv_status st = prepare(s, seqs[i], prompts[i], add_bos, reuse_prefix, *owned.back());
        if (st != TV_OK) {
            return st;
        }
        plans.push_back(owned.back().get());
        if (n_reused != nullptr) {
            n_reused[i] = owned.back()->keep;
        }
    }
    while (true) {
        bool left = false;
        for (seq_plan * sp : plans) {
            // images at the head of a sequence's pending units, decoded on their own
            while (sp->unit < sp->tp.units.size() && sp->tp.units[sp->unit].chunk != nullptr) {
                const tv_status st = decode_image(s, sp->seq, sp->tp.units[sp->unit]);
                if (st != TV_OK) {
                    return st;
                }
                sp->index += sp->tp.units[sp->unit].n_tokens;
                sp->unit++;
                sp->unit_done = 0;
            }
            left = left || sp->unit < sp->tp.units.size();
        }
        if (!left) {
            break;
        }
        const tv_status st = decode_text_together(s, plans);
        if (st != TV_OK) {
            return st;
        }
    }
    return TV_OK;
}

tv_status check_seq(const tv_session * s, int32_t seq) {
    if (seq < 0 || seq >= (int32_t) s->seqs.size()) {
        return fail(TV_ERR_INVALID_ARG, "sequence %d is outside [0, %d)", seq, (int32_t) s->seqs.size());
    }
    return TV_OK;
}

}  // namespace

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
    p.n_seq = 1;
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
        if (params.n_seq < 1 || params.n_seq > 256) {
            return fail(TV_ERR_INVALID_ARG, "n_seq must be 1..256, got %d", params.n_seq);
        }
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = (uint32_t) (params.n_ctx == 0 ? llama_model_n_ctx_train(model->model.get()) : params.n_ctx);
        cp.n_batch = (uint32_t) params.n_batch;
        cp.n_ubatch = (uint32_t) std::min(params.n_ubatch, params.n_batch);
        cp.n_seq_max = (uint32_t) params.n_seq;
        // one cache for all sequences: a forked prefix shares its cells, and a batch keeps its order in a ubatch
        cp.kv_unified = true;
        cp.n_threads = params.n_threads;
        cp.n_threads_batch = params.n_threads_batch > 0 ? params.n_threads_batch : params.n_threads;
        cp.flash_attn_type = (llama_flash_attn_type) params.flash_attn;
        cp.type_k = params.kv_type == 1 ? GGML_TYPE_F32 : GGML_TYPE_F16;
        cp.type_v = cp.type_k;
        cp.no_perf = true;
        tv::context_ptr ctx(tv::remote_call(model, [&] { return llama_init_from_model(model->model.get(), cp); }));
        if (!ctx) {
            if (tv::rpc_server_lost(model->rpc_endpoints)) {
                tv::mark_rpc_lost(model, tv_last_error());
                return fail(TV_ERR_RPC, "llama.cpp could not create a context: %s", tv_last_error());
            }
            return fail(TV_ERR_LOAD, "llama.cpp could not create a context (n_ctx %u)", cp.n_ctx);
        }
        auto s = std::make_unique<tv_session>();
        s->model = model;
        s->seed = params.seed;
        s->batch_cap = (int32_t) llama_n_batch(ctx.get());
        s->batch = tv::owned_batch(s->batch_cap);
        s->sampling = tv_sampling_default_params();
        s->sampler = tv::make_sampler(s->sampling, params.seed);
        s->seqs.resize((size_t) params.n_seq);
        s->seqs[0].positions.reserve(llama_n_ctx(ctx.get()));
        s->ctx = std::move(ctx);
        result = s.release();
        return TV_OK;
    });
    return result;
}

// NULL-safe (delete of NULL does nothing); the members free the sampler, the batch and the context.
extern "C" TV_API void tv_session_free(tv_session * s) {
    if (s != nullptr && s->ctx && !s->model->rpc_endpoints.empty()) {
        // llama.cpp's context synchronizes as it is freed; a lost RPC server is reported here, where it is caught
        try {
            llama_synchronize(s->ctx.get());
        } catch (const std::exception &) {
        }
    }
    delete s;
}

extern "C" TV_API int32_t tv_session_n_ctx(const tv_session * s) { return (int32_t) llama_n_ctx(s->ctx.get()); }
extern "C" TV_API int32_t tv_session_n_batch(const tv_session * s) { return (int32_t) llama_n_batch(s->ctx.get()); }
extern "C" TV_API int32_t tv_session_n_ubatch(const tv_session * s) { return (int32_t) llama_n_ubatch(s->ctx.get()); }
extern "C" TV_API int32_t tv_session_n_past(const tv_session * s) { return (int32_t) s->seqs[0].positions.size(); }
extern "C" TV_API int32_t tv_session_n_seq(const tv_session * s) { return s == nullptr ? -1 : (int32_t) s->seqs.size(); }

extern "C" TV_API int32_t tv_session_seq_n_past(const tv_session * s, int32_t seq) {
    if (s == nullptr || seq < 0 || seq >= (int32_t) s->seqs.size()) {
        return -1;
    }
    return (int32_t) s->seqs[(size_t) seq].positions.size();
}

extern "C" TV_API int32_t tv_session_tokens(const tv_session * s, int32_t * out, int32_t capacity) {
    const auto & positions = s->seqs[0].positions;
    const int32_t n = (int32_t) positions.size();
    if (out != nullptr) {
        for (int32_t i = 0; i < std::min(n, capacity); ++i) {
            out[i] = positions[i].token;
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
        const int32_t seq = 0;
        const tv_status st = eval_prompts(s, &p, &seq, 1, add_bos, reuse_prefix, n_reused);
        if (st != TV_OK) {
            return st;
        }
        llama_sampler_reset(s->sampler.get());
        s->generated.clear();
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_eval_prompts(tv_session * s, const tv_prompt * const * prompts,
                                                    const int32_t * seqs, int32_t n, bool add_bos,
                                                    bool reuse_prefix, int32_t * n_reused) {
    return tv::guarded([&] {
        if (s == nullptr || prompts == nullptr || seqs == nullptr || n <= 0) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_eval_prompts: NULL argument or n <= 0");
        }
        for (int32_t i = 0; i < n; ++i) {
            if (prompts[i] == nullptr) {
                return fail(TV_ERR_INVALID_ARG, "prompt %d is NULL", i);
            }
            tv_status st = check_seq(s, seqs[i]);
            if (st != TV_OK) {
                return st;
            }
            for (int32_t j = 0; j < i; ++j) {
                if (seqs[j] == seqs[i]) {
                    return fail(TV_ERR_INVALID_ARG, "sequence %d is given two prompts", seqs[i]);
                }
            }
        }
        return eval_prompts(s, prompts, seqs, n, add_bos, reuse_prefix, n_reused);
    });
}

extern "C" TV_API tv_status tv_session_eval_tokens(tv_session * s, const int32_t * tokens, int32_t n) {
    return tv::guarded([&] {
        if (s == nullptr || n < 0 || (tokens == nullptr && n > 0)) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_eval_tokens: invalid arguments");
        }
        const int32_t n_ctx = (int32_t) llama_n_ctx(s->ctx.get());
        const int32_t held = (int32_t) s->seqs[0].positions.size();
        if (held + n > n_ctx) {
            return fail(TV_ERR_CONTEXT_FULL, "%d more tokens do not fit: %d of %d positions are used", n, held, n_ctx);
        }
        return tv::decode_tokens(s, 0, tokens, n, true, TV_PHASE_PROMPT);
    });
}

extern "C" TV_API tv_status tv_session_seq_truncate(tv_session * s, int32_t seq, int32_t n_keep) {
    return tv::guarded([&] {
        if (s == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "session is NULL");
        }
        tv_status st = check_seq(s, seq);
        if (st != TV_OK) {
            return st;
        }
        const auto & positions = s->seqs[(size_t) seq].positions;
        if (n_keep < 0 || n_keep > (int32_t) positions.size()) {
            return fail(TV_ERR_INVALID_ARG, "n_keep %d is outside [0, %d]", n_keep, (int32_t) positions.size());
        }
        if (n_keep > 0 && n_keep < (int32_t) positions.size() && positions[n_keep].unit_start != n_keep) {
            return fail(TV_ERR_INVALID_ARG, "position %d is inside an image; cut before or after it", n_keep);
        }
        truncate_to(s, seq, n_keep);
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_truncate(tv_session * s, int32_t n_keep) {
    return tv_session_seq_truncate(s, 0, n_keep);
}

extern "C" TV_API tv_status tv_session_seq_fork(tv_session * s, int32_t src, int32_t dst, int32_t n_keep) {
    return tv::guarded([&] {
        if (s == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "session is NULL");
        }
        tv_status st = check_seq(s, src);
        if (st == TV_OK) {
            st = check_seq(s, dst);
        }
        if (st != TV_OK) {
            return st;
        }
        if (src == dst) {
            return fail(TV_ERR_INVALID_ARG, "a sequence cannot be forked into itself (%d)", src);
        }
        tv_seq & from = s->seqs[(size_t) src];
        const int32_t held = (int32_t) from.positions.size();
        if (n_keep < 0 || n_keep > held) {
            return fail(TV_ERR_INVALID_ARG, "n_keep %d is outside [0, %d]", n_keep, held);
        }
        if (n_keep > 0 && n_keep < held && from.positions[n_keep].unit_start != n_keep) {
            return fail(TV_ERR_INVALID_ARG, "position %d is inside an image; fork before or after it", n_keep);
        }
        llama_memory_t mem = llama_get_memory(s->ctx.get());
        llama_memory_seq_rm(mem, dst, -1, -1);
        const llama_pos end = n_keep == held ? from.next_pos : from.positions[n_keep].pos;
        if (n_keep > 0) {
            llama_memory_seq_cp(mem, src, dst, 0, end);  // shares the cells: nothing is recomputed or copied
        }
        tv_seq & to = s->seqs[(size_t) dst];
        to.positions.assign(from.positions.begin(), from.positions.begin() + n_keep);
        to.next_pos = n_keep == 0 ? 0 : end;
        to.written_from = from.written_from < n_keep ? from.written_from : INT32_MAX;
        to.logits_valid = false;
        if (n_keep == held && from.logits_valid) {  // the whole sequence: its last logits too
            const float * l = tv::seq_logits(s, src);
            if (l != nullptr) {
                to.logits.assign(l, l + llama_vocab_n_tokens(s->model->vocab));
                to.logits_row = -1;
                to.logits_valid = true;
            }
        }
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_seq_logits(tv_session * s, int32_t seq, float * out, int32_t n_vocab) {
    return tv::guarded([&] {
        if (s == nullptr || out == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_seq_logits: NULL argument");
        }
        tv_status st = check_seq(s, seq);
        if (st != TV_OK) {
            return st;
        }
        const int32_t nv = llama_vocab_n_tokens(s->model->vocab);
        if (n_vocab != nv) {
            return fail(TV_ERR_INVALID_ARG, "logits buffer holds %d values but the vocabulary has %d", n_vocab, nv);
        }
        if (!s->seqs[(size_t) seq].logits_valid) {
            return fail(TV_ERR_STATE, "no logits: evaluate a prompt that ends with text first");
        }
        const float * l = tv::seq_logits(s, seq);
        if (l == nullptr) {
            return fail(TV_ERR_STATE, "llama.cpp holds no logits for the last position");
        }
        memcpy(out, l, sizeof(float) * (size_t) nv);
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_logits(tv_session * s, float * out, int32_t n_vocab) {
    return tv_session_seq_logits(s, 0, out, n_vocab);
}
