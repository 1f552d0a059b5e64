// Generation on a session: sampling parameters and the sampler chain, stop tokens and strings, and generation
// step by step (tv_session_generate_step: sample, decode with the generation-phase hooks, check the stops) or in
// one call (tv_session_generate).
#include "taskvec.h"
#include "taskvec_internal.h"

#include "llama.h"

#include <algorithm>
#include <string>

using tv::fail;

namespace {

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

namespace tv {

sampler_ptr make_sampler(const tv_sampling_params & sp, uint32_t session_seed) {
    sampler_ptr chain(llama_sampler_chain_init(llama_sampler_chain_default_params()));
    // the chain owns the samplers added to it
    if (sp.temperature <= 0.0f) {
        llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
        return chain;
    }
    if (sp.top_k > 0) {
        llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(sp.top_k));
    }
    if (sp.top_p < 1.0f) {
        llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(sp.top_p, 1));
    }
    llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(sp.temperature));
    llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(sp.seed == UINT32_MAX ? session_seed : sp.seed));
    return chain;
}

}  // namespace tv

extern "C" TV_API tv_sampling_params tv_sampling_default_params(void) {
    tv_sampling_params p{};
    p.temperature = 0.0f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.seed = UINT32_MAX;  // the session's seed
    return p;
}

extern "C" TV_API tv_status tv_session_set_sampling(tv_session * s, tv_sampling_params params) {
    return tv::guarded([&] {
        if (s == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "session is NULL");
        }
        tv_status st = check_sampling(params);
        if (st != TV_OK) {
            return st;
        }
        s->sampler = tv::make_sampler(params, s->seed);
        s->sampling = params;
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_sample(tv_session * s, int32_t * token) {
    return tv::guarded([&] {
        if (s == nullptr || token == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_sample: NULL argument");
        }
        if (!s->seqs[0].logits_valid) {
            return fail(TV_ERR_STATE, "no logits to sample from: evaluate a prompt that ends with text first");
        }
        *token = tv::sample_seq(s, 0);
        return TV_OK;
    });
}

extern "C" TV_API tv_status tv_session_set_stops(tv_session * s, const int32_t * tokens, int32_t n_tokens,
                                                 const char * strings, int32_t packed_len) {
    return tv::guarded([&] {
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
    return tv::guarded([&] {
        if (s == nullptr || token == nullptr || stop == nullptr) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_generate_step: NULL argument");
        }
        *stop = TV_STOP_NONE;
        tv_seq & q = s->seqs[0];
        if (!q.logits_valid) {
            return fail(TV_ERR_STATE, "no logits to sample from: evaluate a prompt that ends with text first");
        }
        const int32_t t = tv::sample_seq(s, 0);
        *token = t;
        if (llama_vocab_is_eog(s->model->vocab, t)) {
            *stop = TV_STOP_EOG;
            return TV_OK;
        }
        if ((int32_t) q.positions.size() + 1 > (int32_t) llama_n_ctx(s->ctx.get())) {
            q.logits_valid = false;
            return fail(TV_ERR_CONTEXT_FULL, "generation reached the end of the context (%d positions)",
                        (int32_t) llama_n_ctx(s->ctx.get()));
        }
        const tv_status st = tv::decode_tokens(s, 0, &t, 1, true, TV_PHASE_GENERATION);
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
            if (tv::hits_stop_string(s, s->generated, (size_t) std::max(n, 0))) {
                *stop = TV_STOP_STRING;
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

namespace tv {

bool hits_stop_string(const tv_session * s, const std::string & generated, size_t last_piece) {
    const size_t from = generated.size() > s->longest_stop + last_piece
                            ? generated.size() - s->longest_stop - last_piece : 0;
    for (const auto & str : s->stop_strings) {
        if (generated.find(str, from) != std::string::npos) {
            return true;
        }
    }
    return false;
}

}  // namespace tv

extern "C" TV_API tv_status tv_session_generate_seqs(tv_session * s, const int32_t * seqs, int32_t n, int32_t n_max,
                                                     int32_t * out, int32_t * n_out, int32_t * stops) {
    return tv::guarded([&] {
        if (s == nullptr || seqs == nullptr || out == nullptr || n_out == nullptr || stops == nullptr || n <= 0 ||
            n_max < 0) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_generate_seqs: invalid arguments");
        }
        const int32_t n_seq = (int32_t) s->seqs.size();
        for (int32_t i = 0; i < n; ++i) {
            if (seqs[i] < 0 || seqs[i] >= n_seq) {
                return fail(TV_ERR_INVALID_ARG, "sequence %d is outside [0, %d)", seqs[i], n_seq);
            }
            for (int32_t j = 0; j < i; ++j) {
                if (seqs[j] == seqs[i]) {
                    return fail(TV_ERR_INVALID_ARG, "sequence %d is given twice", seqs[i]);
                }
            }
            if (!s->seqs[(size_t) seqs[i]].logits_valid) {
                return fail(TV_ERR_STATE, "sequence %d has no logits to sample from: evaluate a prompt that ends "
                            "with text first", seqs[i]);
            }
            n_out[i] = 0;
            stops[i] = TV_STOP_NONE;
        }
        if (n > s->batch_cap) {  // one token per sequence per decode
            return fail(TV_ERR_INVALID_ARG, "%d sequences do not fit a batch of %d", n, s->batch_cap);
        }
        // a sampler per sequence, seeded apart, so that sampled continuations are independent and reproducible
        std::vector<tv::sampler_ptr> samplers;
        for (int32_t i = 0; i < n; ++i) {
            tv_sampling_params sp = s->sampling;
            sp.seed = (sp.seed == UINT32_MAX ? s->seed : sp.seed) + (uint32_t) seqs[i];
            samplers.push_back(tv::make_sampler(sp, s->seed));
        }
        std::vector<std::string> generated((size_t) n);
        std::vector<char> active((size_t) n, 1);
        const int32_t n_ctx = (int32_t) llama_n_ctx(s->ctx.get());
        const int32_t n_vocab = llama_vocab_n_tokens(s->model->vocab);
        for (int32_t step = 0; step < n_max; ++step) {
            // sample every active sequence's next token from its logits
            std::vector<int32_t> next((size_t) n, -1);
            for (int32_t i = 0; i < n; ++i) {
                if (!active[(size_t) i]) {
                    continue;
                }
                const llama_token t = tv::sample_logits(samplers[(size_t) i].get(), tv::seq_logits(s, seqs[i]),
                                                        n_vocab);
                out[(size_t) i * n_max + step] = t;
                n_out[i] = step + 1;
                if (llama_vocab_is_eog(s->model->vocab, t)) {
                    stops[i] = TV_STOP_EOG;  // not evaluated
                    active[(size_t) i] = 0;
                    continue;
                }
                if ((int32_t) s->seqs[(size_t) seqs[i]].positions.size() + 1 > n_ctx) {
                    return fail(TV_ERR_CONTEXT_FULL, "sequence %d reached the end of the context", seqs[i]);
                }
                next[(size_t) i] = t;
            }
            // evaluate them in one decode, each sequence's token with its logits
            llama_batch & b = s->batch.value;
            b.n_tokens = 0;
            const bool hooked = tv::arm_hooks(s, TV_PHASE_GENERATION);
            s->plan.ubatch_rows.clear();
            s->plan.ubatch_outputs.clear();
            std::vector<int32_t> row_of((size_t) n, -1);
            for (int32_t i = 0; i < n; ++i) {
                if (next[(size_t) i] < 0) {
                    continue;
                }
                tv_seq & q = s->seqs[(size_t) seqs[i]];
                const int32_t k = b.n_tokens++;
                const int32_t index = (int32_t) q.positions.size();
                b.token[k] = next[(size_t) i];
                b.pos[k] = q.next_pos;
                b.n_seq_id[k] = 1;
                b.seq_id[k][0] = seqs[i];
                b.logits[k] = true;
                if (hooked) {
                    s->plan.ubatch_rows.push_back({seqs[i], index});
                    s->plan.ubatch_outputs.push_back({seqs[i], index});
                }
                row_of[(size_t) i] = k;
            }
            if (b.n_tokens == 0) {
                break;
            }
            const int32_t rc = tv::decode(s, b);
            if (rc != 0) {
                return fail(TV_ERR_DECODE, "llama_decode failed with code %d", rc);
            }
            for (int32_t i = 0; i < n; ++i) {
                const int32_t k = row_of[(size_t) i];
                if (k < 0) {
                    continue;
                }
                tv_seq & q = s->seqs[(size_t) seqs[i]];
                const int32_t t = next[(size_t) i];
                const int32_t index = (int32_t) q.positions.size();
                q.positions.push_back({t, (uint64_t) (uint32_t) t, index, q.next_pos});
                q.next_pos++;
                q.logits_valid = true;
                q.logits_row = k;
                q.logits_decode = s->n_decodes;
            }
            if (hooked && !s->plan.error.empty()) {
                std::string e = s->plan.error;
                s->plan.error.clear();
                return fail(TV_ERR_STATE, "hook failed: %s", e.c_str());
            }
            // stop conditions of the tokens just evaluated
            for (int32_t i = 0; i < n; ++i) {
                const int32_t t = next[(size_t) i];
                if (t < 0) {
                    continue;
                }
                if (std::find(s->stop_tokens.begin(), s->stop_tokens.end(), t) != s->stop_tokens.end()) {
                    stops[i] = TV_STOP_TOKEN;
                    active[(size_t) i] = 0;
                } else if (!s->stop_strings.empty()) {
                    char piece[256];
                    const int32_t np = llama_token_to_piece(s->model->vocab, t, piece, sizeof(piece), 0, false);
                    if (np > 0 && np <= (int32_t) sizeof(piece)) {
                        generated[(size_t) i].append(piece, (size_t) np);
                    }
                    if (tv::hits_stop_string(s, generated[(size_t) i], (size_t) std::max(np, 0))) {
                        stops[i] = TV_STOP_STRING;
                        active[(size_t) i] = 0;
                    }
                }
            }
        }
        return TV_OK;
    });
}
