// Native leak probe: repeats session cycles through the C API and reports the bytes malloc holds in use
// (mallinfo2: uordblks + hblkhd). Unlike resident memory, this is not moved by what the allocator keeps cached,
// so a steady value means nothing is lost per cycle. Used by the soak test (mvn test -Psoak).
//
//   taskvec-leak-probe MODEL MMPROJ CYCLES MODE
// MODE bits: 1 capture + patch hooks, 2 an image in the prompt, 4 four generated tokens, 8 load and free the
// model every cycle. Prints "in_use_after_warmup <bytes>" (after a tenth of the cycles) and "in_use_end <bytes>".
#include "taskvec.h"

#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static size_t in_use() {
    const struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

static tv_hook_params hook(int32_t op, const int32_t * pos, float * row) {
    tv_hook_params hp = tv_hook_default_params();
    hp.point = TV_POINT_RESID_POST;
    hp.layer = 1;
    hp.op = op;
    hp.phase = TV_PHASE_PROMPT;
    hp.positions = pos;
    hp.n_positions = 1;
    hp.data = row;
    hp.n_rows = 1;
    return hp;
}

int main(int argc, char ** argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL MMPROJ CYCLES MODE\n", argv[0]);
        return 2;
    }
    const char * model_path = argv[1];
    const int cycles = atoi(argv[3]);
    const int mode = atoi(argv[4]);
    tv_log_set(nullptr);
    if (tv_init(nullptr) != TV_OK) {
        fprintf(stderr, "init: %s\n", tv_last_error());
        return 1;
    }
    tv_model_params mp = tv_model_default_params();
    mp.mmproj_path = argv[2];
    tv_model * shared = tv_model_load(model_path, mp);
    if (shared == nullptr) {
        fprintf(stderr, "load: %s\n", tv_last_error());
        return 1;
    }
    std::vector<float> row(tv_model_n_embd(shared));
    std::vector<uint8_t> rgb(32 * 32 * 3, 100);
    tv_session_params sp = tv_session_default_params();
    sp.n_ctx = 128;
    sp.n_threads = 1;
    sp.n_threads_batch = 1;
    const char * text = "Q: France\nA:";
    const int32_t pos = 3;
    size_t warm = 0;
    for (int i = 0; i < cycles; i++) {
        tv_model * m = (mode & 8) ? tv_model_load(model_path, mp) : shared;
        tv_session * s = tv_session_init(m, sp);
        tv_prompt * p = tv_prompt_init();
        tv_prompt_add_text(p, text, (int32_t) strlen(text));
        if (mode & 2) {
            tv_prompt_add_image_rgb(p, rgb.data(), 32, 32);
        }
        if (mode & 1) {
            tv_session_add_hook(s, hook(TV_HOOK_CAPTURE, &pos, row.data()), nullptr);
        }
        if (tv_session_eval_prompt(s, p, true, false, nullptr) != TV_OK) {
            fprintf(stderr, "eval: %s\n", tv_last_error());
            return 1;
        }
        if (mode & 1) {
            tv_session_clear_hooks(s);
            tv_session_truncate(s, 0);
            tv_session_add_hook(s, hook(TV_HOOK_REPLACE, &pos, row.data()), nullptr);
            tv_session_eval_prompt(s, p, true, false, nullptr);
            tv_session_clear_hooks(s);
        }
        if (mode & 4) {
            int32_t out[4];
            int32_t n = 0;
            tv_session_generate(s, 4, out, &n, nullptr);
        }
        tv_prompt_free(p);
        tv_session_free(s);
        if (m != shared) {
            tv_model_free(m);
        }
        if (i + 1 == cycles / 10) {
            warm = in_use();
        }
    }
    printf("in_use_after_warmup %zu\nin_use_end %zu\n", warm, in_use());
    tv_model_free(shared);
    return 0;
}
