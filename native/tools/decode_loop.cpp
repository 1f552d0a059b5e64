// Greedy decoding in a plain C++ loop over libtaskvec: the reference the JMH benchmark compares the Java API with.
// Same library, same calls (tv_session_eval_prompt, then tv_session_generate_step per token).
//
//   taskvec-decode-loop MODEL THREADS N_TOKENS REPEATS [PROMPT]
// Prints one line per repeat: "decode_tokens_per_s <value>", then "median <value>".
#include "taskvec.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char ** argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL THREADS N_TOKENS REPEATS [PROMPT]\n", argv[0]);
        return 2;
    }
    const char * path = argv[1];
    const int threads = atoi(argv[2]);
    const int n_tokens = atoi(argv[3]);
    const int repeats = atoi(argv[4]);
    const std::string text = argc > 5 ? argv[5] : "Q: What is the capital of France?\nA:";

    tv_log_set(nullptr);
    if (tv_init(nullptr) != TV_OK) {
        fprintf(stderr, "init: %s\n", tv_last_error());
        return 1;
    }
    tv_model * model = tv_model_load(path, tv_model_default_params());
    if (model == nullptr) {
        fprintf(stderr, "load: %s\n", tv_last_error());
        return 1;
    }
    tv_session_params sp = tv_session_default_params();
    sp.n_ctx = 512;
    sp.n_threads = threads;
    tv_session * session = tv_session_init(model, sp);
    if (session == nullptr) {
        fprintf(stderr, "session: %s\n", tv_last_error());
        return 1;
    }
    tv_prompt * prompt = tv_prompt_init();
    tv_prompt_add_text(prompt, text.c_str(), (int32_t) text.size());

    std::vector<double> rates;
    for (int r = 0; r < repeats; ++r) {
        if (tv_session_eval_prompt(session, prompt, true, false, nullptr) != TV_OK) {
            fprintf(stderr, "prompt: %s\n", tv_last_error());
            return 1;
        }
        const auto t0 = std::chrono::steady_clock::now();
        int generated = 0;
        for (int i = 0; i < n_tokens; ++i) {
            int32_t token = 0;
            int32_t stop = TV_STOP_NONE;
            if (tv_session_generate_step(session, &token, &stop) != TV_OK) {
                fprintf(stderr, "step: %s\n", tv_last_error());
                return 1;
            }
            ++generated;
            if (stop != TV_STOP_NONE) {
                break;
            }
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        rates.push_back(generated / s);
        printf("decode_tokens_per_s %.4f\n", generated / s);
    }
    std::sort(rates.begin(), rates.end());
    printf("median %.4f\n", rates[rates.size() / 2]);
    tv_prompt_free(prompt);
    tv_session_free(session);
    tv_model_free(model);
    return 0;
}
