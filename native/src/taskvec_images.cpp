// Encoded images: the model's cache of what the projector made of each image chunk (by content digest, least
// recently used first out, within tv_model_params.image_cache_bytes), its counters (tv_model_image_cache_stats),
// and how many positions an image of a given size takes (tv_model_image_tokens).
//
// A session's prompt evaluation (taskvec_session.cpp) gets an image chunk's rows through encoded_image and decodes
// them; tv_model_image_embd (taskvec_image_embd.cpp) encodes outside any session and bypasses the cache.
#include "taskvec.h"
#include "taskvec_internal.h"

#include "llama.h"
#include "mtmd.h"

#include <iterator>
#include <mutex>
#include <vector>

using tv::fail;

namespace tv {

const std::vector<float> * image_cache::find(uint64_t key, size_t n) {
    auto hit = entries_.find(key);
    if (hit == entries_.end() || hit->second.embd.size() != n) {
        return nullptr;
    }
    lru_.splice(lru_.end(), lru_, hit->second.lru);
    hits_++;
    return &hit->second.embd;
}

void image_cache::put(uint64_t key, const std::vector<float> & embd) {
    misses_++;
    const size_t bytes = embd.size() * sizeof(float);
    if (bytes > limit_) {
        return;
    }
    while (bytes_ + bytes > limit_ && !lru_.empty()) {
        auto old = entries_.find(lru_.front());
        bytes_ -= old->second.embd.size() * sizeof(float);
        entries_.erase(old);
        lru_.pop_front();
    }
    lru_.push_back(key);
    entries_[key] = entry{embd, std::prev(lru_.end())};
    bytes_ += bytes;
}

tv_status encoded_image(tv_model * m, const mtmd_input_chunk * chunk, uint64_t digest, int32_t n_tokens,
                        std::vector<float> & embd) {
    std::lock_guard<std::mutex> lock(m->mtmd_mutex);
    const size_t n = (size_t) llama_model_n_embd_inp(m->model.get()) * (size_t) n_tokens;
    const uint64_t key = digest ^ ((uint64_t) n_tokens << 48);
    if (const std::vector<float> * cached = m->images.find(key, n)) {
        embd = *cached;
        return TV_OK;
    }
    if (mtmd_encode_chunk(m->mtmd.get(), chunk) != 0) {
        return fail(TV_ERR_IMAGE, "the projector failed to encode an image");
    }
    const float * out = mtmd_get_output_embd(m->mtmd.get());
    embd.assign(out, out + n);
    m->images.put(key, embd);
    return TV_OK;
}

}  // namespace tv

extern "C" TV_API void tv_model_image_cache_stats(tv_model * m, int64_t * hits, int64_t * misses) {
    std::lock_guard<std::mutex> lock(m->mtmd_mutex);
    if (hits != nullptr) {
        *hits = m->images.hits();
    }
    if (misses != nullptr) {
        *misses = m->images.misses();
    }
}

extern "C" TV_API int32_t tv_model_image_tokens(tv_model * m, int32_t w, int32_t h) {
    if (m == nullptr || m->mtmd == nullptr || w <= 0 || h <= 0 || (int64_t) w * h > (int64_t) 1 << 28) {
        return -1;
    }
    int32_t total = -1;
    tv::guarded([&] {
        std::vector<uint8_t> rgb((size_t) w * h * 3, 0);
        tv::bitmap_ptr bmp(mtmd_bitmap_init((uint32_t) w, (uint32_t) h, rgb.data()));
        mtmd_input_part ip{nullptr, bmp.get()};
        const mtmd_input_part * parts[1] = {&ip};
        tv::chunks_ptr chunks(mtmd_input_chunks_init());
        if (mtmd_tokenize_from_parts(m->mtmd.get(), chunks.get(), parts, 1, false) == 0) {
            total = 0;
            for (size_t i = 0; i < mtmd_input_chunks_size(chunks.get()); ++i) {
                const mtmd_input_chunk * c = mtmd_input_chunks_get(chunks.get(), i);
                if (mtmd_input_chunk_get_type(c) == MTMD_INPUT_CHUNK_TYPE_IMAGE) {
                    total += (int32_t) mtmd_input_chunk_get_n_tokens(c);
                }
            }
        }
        return TV_OK;
    });
    return total;
}
