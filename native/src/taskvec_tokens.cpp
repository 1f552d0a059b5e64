// Tokens: text to tokens, a token to its piece, tokens back to text (the model's vocabulary).
#include "taskvec.h"
#include "taskvec_internal.h"

#include "llama.h"

using tv::fail;

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
