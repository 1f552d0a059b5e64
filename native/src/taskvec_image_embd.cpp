// Image embeddings: what the projector makes of one image, as the text model receives it (tv_model_image_embd).
//
// For checking image positions against an independent forward pass of the text model, and for studying the
// projector's output. A prompt's image goes through the same libmtmd calls (tokenize, encode); here nothing is
// decoded, no session is involved and the encoded-image cache (taskvec_images.cpp) is bypassed.
#include "taskvec.h"
#include "taskvec_internal.h"

#include <cstring>
#include <memory>

extern "C" TV_API int32_t tv_model_n_embd_inp(const tv_model * m) {
    return m == nullptr ? -1 : (int32_t) llama_model_n_embd_inp(m->model.get());
}

extern "C" TV_API int32_t tv_model_image_embd(tv_model * m, const uint8_t * rgb, int32_t w, int32_t h, int32_t chunk,
                                              float * out, int64_t capacity, int32_t * pos, int32_t * n_pos,
                                              bool * non_causal, int32_t * n_chunks) {
    try {
        if (m == nullptr || rgb == nullptr || w <= 0 || h <= 0 || (int64_t) w * h > (int64_t) 1 << 28 ||
            capacity < 0 || (out == nullptr && capacity > 0)) {
            tv::fail(TV_ERR_INVALID_ARG, "tv_model_image_embd: invalid argument");
            return -1;
        }
        if (m->mtmd == nullptr) {
            tv::fail(TV_ERR_NO_PROJECTOR, "the model was loaded without a projector (mmproj)");
            return -1;
        }
        std::lock_guard<std::mutex> lock(m->mtmd_mutex);
        tv::bitmap_ptr bmp(mtmd_bitmap_init((uint32_t) w, (uint32_t) h, rgb));
        if (!bmp) {
            tv::fail(TV_ERR_IMAGE, "libmtmd rejected an image of %dx%d", w, h);
            return -1;
        }
        mtmd_input_part ip{nullptr, bmp.get()};
        const mtmd_input_part * parts[1] = {&ip};
        tv::chunks_ptr chunks(mtmd_input_chunks_init());
        if (mtmd_tokenize_from_parts(m->mtmd.get(), chunks.get(), parts, 1, false) != 0) {
            tv::fail(TV_ERR_IMAGE, "libmtmd could not preprocess an image of %dx%d", w, h);
            return -1;
        }
        const mtmd_input_chunk * image = nullptr;
        int32_t n_images = 0;
        for (size_t i = 0; i < mtmd_input_chunks_size(chunks.get()); ++i) {
            const mtmd_input_chunk * c = mtmd_input_chunks_get(chunks.get(), i);
            if (mtmd_input_chunk_get_type(c) == MTMD_INPUT_CHUNK_TYPE_IMAGE) {
                if (n_images == chunk) {
                    image = c;
                }
                n_images++;
            }
        }
        if (n_chunks != nullptr) {
            *n_chunks = n_images;
        }
        if (image == nullptr) {
            tv::fail(TV_ERR_INVALID_ARG, "libmtmd makes %d image chunk(s) of a %dx%d image; there is no chunk %d",
                     n_images, w, h, chunk);
            return -1;
        }
        const int32_t n_rows = (int32_t) mtmd_input_chunk_get_n_tokens(image);
        const int64_t width = llama_model_n_embd_inp(m->model.get());
        if (n_pos != nullptr) {
            *n_pos = (int32_t) mtmd_input_chunk_get_n_pos(image);
        }
        if (non_causal != nullptr) {
            *non_causal = mtmd_decode_use_non_causal(m->mtmd.get(), image);
        }
        if (pos != nullptr) {
            const mtmd_image_tokens * it = mtmd_input_chunk_get_tokens_image(image);
            const bool mrope = mtmd_decode_use_mrope(m->mtmd.get());
            for (int32_t i = 0; i < n_rows; ++i) {
                if (mrope) {
                    const mtmd_decoder_pos p = mtmd_image_tokens_get_decoder_pos(it, 0, (size_t) i);
                    pos[3 * i] = (int32_t) p.t;
                    pos[3 * i + 1] = (int32_t) p.x;
                    pos[3 * i + 2] = (int32_t) p.y;
                } else {
                    pos[3 * i] = pos[3 * i + 1] = pos[3 * i + 2] = i;
                }
            }
        }
        if (capacity < (int64_t) n_rows * width) {
            return n_rows;  // the caller asked for the size (or gave too little room): nothing encoded
        }
        if (mtmd_encode_chunk(m->mtmd.get(), image) != 0) {
            tv::fail(TV_ERR_IMAGE, "the projector failed to encode an image");
            return -1;
        }
        std::memcpy(out, mtmd_get_output_embd(m->mtmd.get()), (size_t) n_rows * (size_t) width * sizeof(float));
        return n_rows;
    } catch (const std::exception & e) {
        tv::fail(TV_ERR_INTERNAL, "internal error: %s", e.what());
        return -1;
    }
}
