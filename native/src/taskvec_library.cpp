// The library: the thread's last error (tv::fail, tv_last_error, tv_last_status), backend initialisation
// (tv_init) and version and system information.
#include "taskvec.h"
#include "taskvec_internal.h"

#include "ggml-backend.h"
#include "llama.h"
#include "mtmd.h"

#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>

using tv::fail;

namespace {
thread_local std::string t_last_error;
thread_local tv_status t_last_status = TV_OK;
}  // namespace

namespace tv {
tv_status fail(tv_status status, const char * fmt, ...) {
    char buf[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(buf, sizeof(buf), fmt, args);
    va_end(args);
    t_last_error = buf;
    t_last_status = status;
    return status;
}
}  // namespace tv

extern "C" TV_API tv_status tv_init(const char * backend_dir) {
    static std::once_flag once;
    return tv::guarded([&] {
        std::call_once(once, [&] {
            tv::install_log_router();
            if (backend_dir != nullptr && backend_dir[0] != '\0') {
                ggml_backend_load_all_from_path(backend_dir);
            } else {
                ggml_backend_load_all();
            }
            llama_backend_init();
        });
        if (ggml_backend_dev_count() == 0) {
            return fail(TV_ERR_LOAD, "no ggml backend could be loaded (backend folder: %s)",
                        backend_dir != nullptr ? backend_dir : "(default)");
        }
        return TV_OK;
    });
}

extern "C" TV_API const char * tv_last_error(void) { return t_last_error.c_str(); }

extern "C" TV_API tv_status tv_last_status(void) { return t_last_status; }
extern "C" TV_API const char * tv_llama_version(void) { return llama_version(); }
extern "C" TV_API const char * tv_system_info(void) { return llama_print_system_info(); }
extern "C" TV_API const char * tv_media_marker(void) { return mtmd_default_marker(); }
// llama_supports_gpu_offload also says yes for the RPC backend, which every build has: ask for a local GPU device
extern "C" TV_API bool tv_gpu_offload_supported(void) {
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        const enum ggml_backend_dev_type t = ggml_backend_dev_type(ggml_backend_dev_get(i));
        if (t == GGML_BACKEND_DEVICE_TYPE_GPU || t == GGML_BACKEND_DEVICE_TYPE_IGPU) {
            return true;
        }
    }
    return false;
}
