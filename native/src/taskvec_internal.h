// Internal declarations shared by the translation units of libtaskvec.
#pragma once

namespace tv {
// Points llama.cpp, ggml and libmtmd logging at the library's line router.
void install_log_router();
}  // namespace tv
