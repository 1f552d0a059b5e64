// Prompts: text, token and image parts (tv_prompt_*), and their tokenization into evaluation units (runs of text
// tokens and the media chunks libmtmd makes of each image, with their digests), as a session evaluates them
// (taskvec_session.cpp) or lays them out (tv_session_prompt_layout).
#include "taskvec.h"
#include "taskvec_internal.h"

#include "llama.h"
#include "mtmd.h"

#include <cstdio>
#include <new>
#include <string>
#include <vector>

using tv::fail;

namespace {

uint64_t fnv1a(const uint8_t * data, size_t n, uint64_t h = 1469598103934665603ull) {
    for (size_t i = 0; i < n; ++i) {
        h = (h ^ data[i]) * 1099511628211ull;
    }
    return h;
}

void push_text_tokens(tv::tokenized_prompt & tp, const int32_t * t, size_t n) {
    if (n == 0) {
        return;
    }
    if (tp.units.empty() || tp.units.back().chunk != nullptr) {
        tp.units.push_back(tv::prompt_unit{});
    }
    tv::prompt_unit & u = tp.units.back();
    u.tokens.insert(u.tokens.end(), t, t + n);
    u.n_tokens = (int32_t) u.tokens.size();
}

}  // namespace

namespace tv {

tv_status tokenize_prompt(tv_model * m, const tv_prompt * p, bool add_bos, tokenized_prompt & tp) {
    bool first = true;
    int32_t n_images = 0;  // image parts so far
    for (const auto & part : p->parts) {
        if (part.is_tokens) {
            push_text_tokens(tp, part.tokens.data(), part.tokens.size());
        } else if (!part.is_image) {
            const bool special = first && add_bos;
            int32_t n = llama_tokenize(m->vocab, part.text.data(), (int32_t) part.text.size(), nullptr, 0, special,
                                       true);
            std::vector<int32_t> toks((size_t) (n < 0 ? -n : n));
            n = llama_tokenize(m->vocab, part.text.data(), (int32_t) part.text.size(), toks.data(),
                               (int32_t) toks.size(), special, true);
            if (n < 0) {
                return fail(TV_ERR_TOKENIZE, "could not tokenize a text part of %zu bytes", part.text.size());
            }
            toks.resize((size_t) n);
            push_text_tokens(tp, toks.data(), toks.size());
        } else {
            if (m->mtmd == nullptr) {
                return fail(TV_ERR_NO_PROJECTOR, "the prompt has an image but the model was loaded without a "
                                                 "projector (mmproj)");
            }
            if (first && add_bos && llama_vocab_get_add_bos(m->vocab)) {
                const int32_t bos = llama_vocab_bos(m->vocab);
                push_text_tokens(tp, &bos, 1);
            }
            bitmap_ptr bmp(mtmd_bitmap_init((uint32_t) part.w, (uint32_t) part.h, part.rgb.data()));
            if (!bmp) {
                return fail(TV_ERR_IMAGE, "libmtmd rejected an image of %dx%d", part.w, part.h);
            }
            uint64_t digest = fnv1a(part.rgb.data(), part.rgb.size());
            digest = fnv1a((const uint8_t *) &part.w, sizeof(part.w), digest);
            digest = fnv1a((const uint8_t *) &part.h, sizeof(part.h), digest);
            char id[32];
            snprintf(id, sizeof(id), "%016llx", (unsigned long long) digest);
            mtmd_bitmap_set_id(bmp.get(), id);
            mtmd_input_part ip{nullptr, bmp.get()};
            const mtmd_input_part * parts[1] = {&ip};
            tp.owned.emplace_back(mtmd_input_chunks_init());
            mtmd_input_chunks * chunks = tp.owned.back().get();
            const int32_t rc = mtmd_tokenize_from_parts(m->mtmd.get(), chunks, parts, 1, false);
            bmp.reset();  // the chunks hold what they need of the image
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
                    tp.units.push_back(prompt_unit{{}, c, chunk_digest, (int32_t) mtmd_input_chunk_get_n_tokens(c),
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

}  // namespace tv

extern "C" TV_API tv_prompt * tv_prompt_init(void) { return new (std::nothrow) tv_prompt(); }
extern "C" TV_API void tv_prompt_free(tv_prompt * p) { delete p; }

extern "C" TV_API tv_status tv_prompt_add_text(tv_prompt * p, const char * text, int32_t len) {
    return tv::guarded([&] {
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
    return tv::guarded([&] {
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
    return tv::guarded([&] {
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

extern "C" TV_API int32_t tv_session_prompt_layout(tv_session * s, const tv_prompt * p, bool add_bos, int32_t * out,
                                                   int32_t capacity) {
    int32_t result = -1;
    const tv_status st = tv::guarded([&] {
        if (s == nullptr || p == nullptr || capacity < 0 || (out == nullptr && capacity > 0)) {
            return fail(TV_ERR_INVALID_ARG, "tv_session_prompt_layout: invalid arguments");
        }
        tv::tokenized_prompt tp;
        tv_status r = tv::tokenize_prompt(s->model, p, add_bos, tp);
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
