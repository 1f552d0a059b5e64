# Script mode: fetches the pinned llama.cpp source into the cache (as configuring native/ would), so that
# build-natives.sh can report fetching and configuring as separate steps.
#
#   cmake -DTASKVEC_CACHE_DIR=DIR -P cmake/fetch-llama-cpp.cmake
include(${CMAKE_CURRENT_LIST_DIR}/llama-cpp.cmake)
