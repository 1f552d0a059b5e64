// Routes llama.cpp / ggml / libmtmd log output to one callback as whole lines.
// ggml logs in fragments (GGML_LOG_LEVEL_CONT continues the previous line), so fragments are joined per thread.
#include "taskvec.h"
#include "taskvec_internal.h"

#include "ggml.h"
#include "llama.h"
#include "mtmd.h"
#include "mtmd-helper.h"

#include <atomic>
#include <string>

namespace {

std::atomic<tv_log_callback> g_callback{nullptr};

struct pending_line {
    std::string text;
    int32_t level = TV_LOG_INFO;
};

thread_local pending_line t_pending;

void emit(int32_t level, const std::string & line) {
    tv_log_callback cb = g_callback.load(std::memory_order_acquire);
    if (cb != nullptr && !line.empty()) {
        cb(level, line.c_str());
    }
}

void on_log(enum ggml_log_level level, const char * text, void * /*user_data*/) {
    if (text == nullptr) {
        return;
    }
    pending_line & p = t_pending;
    if (level != GGML_LOG_LEVEL_CONT) {
        if (!p.text.empty()) {  // a new message starts: flush an unterminated previous one
            emit(p.level, p.text);
            p.text.clear();
        }
        p.level = level == GGML_LOG_LEVEL_NONE ? TV_LOG_INFO : (int32_t) level;
    }
    for (const char * c = text; *c != '\0'; ++c) {
        if (*c == '\n') {
            emit(p.level, p.text);
            p.text.clear();
        } else {
            p.text.push_back(*c);
        }
    }
}

}  // namespace

namespace tv {

void install_log_router() {
    llama_log_set(on_log, nullptr);
    mtmd_log_set(on_log, nullptr);
    mtmd_helper_log_set(on_log, nullptr);
}

}  // namespace tv

extern "C" TV_API void tv_log_set(tv_log_callback cb) {
    g_callback.store(cb, std::memory_order_release);
    tv::install_log_router();
}
