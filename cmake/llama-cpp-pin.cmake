# The one pinned llama.cpp release. Changing any value here changes the native cache key.
set(TASKVEC_NODE_LLAMA_CPP_VERSION "3.21.1")
# SHA-256 of llama/gitRelease.bundle inside node-llama-cpp-3.21.1.tgz
set(TASKVEC_LLAMA_CPP_BUNDLE_SHA256 "9336d8aab8f8e6a8919380f3641fe92e57b02fb55df1b6bd083b82491a6293b8")
# The bundle's single (squashed) commit; llama/llama.cpp.info.json names the upstream tag.
set(TASKVEC_LLAMA_CPP_COMMIT "80fb11ac73e66d89eae2c6a91d8a77428fa733ed")
set(TASKVEC_LLAMA_CPP_TAG "v0.4.0")
set(TASKVEC_LLAMA_CPP_URL "https://github.com/ggml-org/llama.cpp/archive/refs/tags/${TASKVEC_LLAMA_CPP_TAG}.tar.gz")
# Not verifiable from the offline build machines; set it to enforce the archive's digest.
set(TASKVEC_LLAMA_CPP_ARCHIVE_SHA256 "" CACHE STRING "expected SHA-256 of the upstream release archive (empty: not checked)")
