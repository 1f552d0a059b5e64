#!/usr/bin/env bash
# Builds the native libraries (pinned llama.cpp + libtaskvec) once per machine and copies them to --out.
#
#   cmake/build-natives.sh --out DIR [--portable] [--cuda [--cuda-arch LIST]] [--jobs N]
#
# Cache (outside the clone): ${TASKVEC_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/taskvec}
#   build/<llama+flags key>/        the CMake build tree (llama.cpp objects reused when only our sources change)
#   natives/<full key>/{lib,include,bin,share}   the finished install, keyed by llama.cpp pin, flags and sources;
#                                   a hit skips CMake entirely.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="" portable=0 cuda=0 cuda_arch="${TASKVEC_CUDA_ARCHITECTURES:-75;80;86;89;90}" jobs="$(nproc 2>/dev/null || echo 2)"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --portable) portable=1; shift ;;
    --cuda) cuda=1; shift ;;
    --cuda-arch) cuda_arch="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    *) echo "build-natives: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "build-natives: --out DIR is required" >&2; exit 2; }
[ "${TASKVEC_PORTABLE:-}" = "1" ] && portable=1
[ "${TASKVEC_CUDA:-}" = "1" ] && cuda=1

cache="${TASKVEC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taskvec}"
flags="portable=$portable cuda=$cuda"
[ "$cuda" = 1 ] && flags="$flags arch=$cuda_arch"
user_src="${TASKVEC_LLAMA_CPP_DIR:-}"
[ -n "$user_src" ] && flags="$flags src=$(cd "$user_src" && pwd)"
compiler="$(${CXX:-c++} --version 2>/dev/null | head -1 || true)"

llama_key="$( { cat "$here/llama-cpp-pin.cmake"; echo "$flags"; echo "$compiler"; } | sha256sum | cut -c1-16)"
full_key="$( { echo "$llama_key"; cd "$root" && find native cmake -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.txt' -o -name '*.cmake' -o -name '*.sh' \) | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-16)"
mkdir -p "$cache"
build="$cache/build/$llama_key"
install="$cache/natives/$full_key"

# A cache entry is used only when every file still matches the checksums written when it was built.
if [ -f "$install/.complete" ] && (cd "$install" && sha256sum --quiet -c .manifest.sha256 >/dev/null 2>&1); then
  echo "taskvec natives: cache hit $install ($flags)"
else
  if [ -e "$install" ]; then
    echo "taskvec natives: cache entry $install is incomplete or altered; rebuilding it" >&2
    rm -rf "$install"
  fi
  echo "taskvec natives: building ($flags) in $build"
  if [ "$cuda" = 1 ]; then
    command -v nvcc >/dev/null || { echo "build-natives: --cuda needs the CUDA toolkit (nvcc); none found. The default build is CPU-only." >&2; exit 1; }
    cuda_home="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
    found=""
    for d in "$cuda_home" "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda /usr/local/cuda-* /usr; do
      [ -n "$d" ] || continue
      for h in "$d"/include/cublas_v2.h "$d"/targets/*/include/cublas_v2.h; do
        [ -f "$h" ] && found="$h"
      done
    done
    if [ -z "$found" ]; then
      echo "build-natives: the CUDA toolkit at $cuda_home has no cuBLAS (cublas_v2.h), which ggml's CUDA backend needs. The default build is CPU-only." >&2
      exit 1
    fi
  fi
  cmake_args=(-S "$root/native" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTASKVEC_CACHE_DIR="$cache"
              -DCMAKE_INSTALL_PREFIX="$install.tmp" -DTASKVEC_PORTABLE=$([ $portable = 1 ] && echo ON || echo OFF)
              -DTASKVEC_CUDA=$([ $cuda = 1 ] && echo ON || echo OFF))
  [ "$cuda" = 1 ] && cmake_args+=(-DCMAKE_CUDA_ARCHITECTURES="$cuda_arch")
  command -v ninja >/dev/null && [ ! -f "$build/CMakeCache.txt" ] && cmake_args+=(-G Ninja)
  cmake "${cmake_args[@]}" > "$cache/configure-$llama_key.log" 2>&1 || { cat "$cache/configure-$llama_key.log" >&2; exit 1; }
  cmake --build "$build" --parallel "$jobs" --target taskvec taskvec-decode-loop taskvec-leak-probe
  rm -rf "$install.tmp"
  cmake --install "$build" > /dev/null
  if [ "$portable" = 1 ]; then  # backend modules that ggml loads at run time, for the jar
    (cd "$install.tmp/lib" && ls libggml-cpu-*.so 2>/dev/null || true) > "$install.tmp/lib/ggml-backends.list"
  fi
  echo "$flags" > "$install.tmp/.flags"
  (cd "$install.tmp" && find . -type f ! -name '.manifest.sha256' ! -name '.complete' | LC_ALL=C sort | xargs sha256sum > .manifest.sha256)
  touch "$install.tmp/.complete"
  rm -rf "$install"; mv "$install.tmp" "$install"
fi
rm -rf "$out"; mkdir -p "$out"
cp -a "$install/." "$out/"
echo "taskvec natives: $out"
