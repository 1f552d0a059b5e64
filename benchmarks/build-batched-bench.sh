#!/usr/bin/env bash
# Builds llama.cpp's llama-batched-bench from the pinned source with the host natives' flags (native/CMakeLists.txt
# with TASKVEC_WITH_LLAMA_BENCH=ON: GGML_NATIVE=ON, Release, shared libraries, the same compiler) and puts it next
# to a copy of the natives the engine loads, so that both sides of benchmarks/batched-bench.sh run on the same
# libllama/libggml files.
#
#   benchmarks/build-batched-bench.sh --out DIR [--jobs N]
#
# The CMake build folder is one of its own, ${TASKVEC_CACHE_DIR:-~/.cache/taskvec}/bench-build/<llama key>, never
# the one cmake/build-natives.sh shares between clones (build/<llama key>); it is locked with flock(1) while it
# builds and kept, so a second call only copies. DIR gets: lib/ (the engine's natives, as build-natives.sh delivers
# them, plus the tool's own libllama-common and libllama-batched-bench-impl) and bin/llama-batched-bench.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="" jobs="$(nproc 2> /dev/null || echo 2)"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    *) echo "build-batched-bench: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || { echo "build-batched-bench: --out DIR is required" >&2; exit 2; }
say() { echo "build-batched-bench: $*" >&2; }

# the engine's natives (a cache hit unless this clone's native sources changed) and their keys
"$root/cmake/build-natives.sh" --out "$out" >&2
eval "$("$root/cmake/build-natives.sh" --print-key | grep -E '^(llama_key|flags)=' | sed 's/=\(.*\)/="\1"/')"
case "$flags" in *portable=0*cuda=0*) ;; *) say "host CPU builds only (flags: $flags)"; exit 2 ;; esac

cache="${TASKVEC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taskvec}"
build="$cache/bench-build/$llama_key"
mkdir -p "$cache/bench-build"
exec 9>> "$cache/bench-build/$llama_key.lock"
flock -w 3600 9 || { say "timed out waiting for another build of $build"; exit 1; }

pin() { sed -n "s/^set($1 \"\\(.*\\)\".*/\\1/p" "$root/cmake/llama-cpp-pin.cmake" | head -1; }
src="${TASKVEC_LLAMA_CPP_DIR:-$cache/src/llama.cpp-$(pin TASKVEC_LLAMA_CPP_TAG)-$(pin TASKVEC_LLAMA_CPP_COMMIT)}"
[ -f "$src/include/llama.h" ] || { say "no llama.cpp source at $src (cmake/build-natives.sh fetches it)"; exit 1; }

if [ ! -x "$build/bin/llama-batched-bench" ]; then
  gen=()
  command -v ninja > /dev/null && [ ! -f "$build/CMakeCache.txt" ] && gen=(-G Ninja)
  say "configuring $build (the natives' flags: $flags, plus TASKVEC_WITH_LLAMA_BENCH=ON)"
  cmake -S "$root/native" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DTASKVEC_CACHE_DIR="$cache" \
      -DTASKVEC_LLAMA_CPP_DIR="$src" -DTASKVEC_PORTABLE=OFF -DTASKVEC_CUDA=OFF -DTASKVEC_WITH_LLAMA_BENCH=ON \
      > "$build.configure.log" 2>&1 || { tail -20 "$build.configure.log" >&2; exit 1; }
  say "compiling llama-batched-bench ($jobs jobs; log $build.build.log)"
  cmake --build "$build" --parallel "$jobs" --target llama-batched-bench > "$build.build.log" 2>&1 \
    || { grep -m 20 -E 'error|Error' "$build.build.log" >&2; tail -5 "$build.build.log" >&2; exit 1; }
fi
grep -q '^GGML_NATIVE:BOOL=ON' "$build/CMakeCache.txt" || { say "$build is not a GGML_NATIVE build"; exit 1; }

# the tool with the engine's own libllama/libggml (same source and flags: the same ABI); only the libraries the
# engine lacks come from the tool's build
mkdir -p "$out/bin"
cp "$build/bin/llama-batched-bench" "$out/bin/"
for lib in "$build"/bin/libllama-common.so* "$build"/bin/libllama-batched-bench-impl.so*; do
  [ -e "$lib" ] && cp -a "$lib" "$out/lib/"
done
# the tool's RPATH is $ORIGIN: it looks for its libraries in bin/; point it at lib/
for f in "$out"/lib/*.so*; do ln -sf "../lib/$(basename "$f")" "$out/bin/$(basename "$f")"; done
missing="$(ldd "$out/bin/llama-batched-bench" | grep 'not found' || true)"
[ -z "$missing" ] || { say "unresolved libraries: $missing"; exit 1; }
ldd "$out/bin/llama-batched-bench" | grep -q "$out/bin/libllama.so" \
  || { say "llama-batched-bench does not load $out's libllama"; ldd "$out/bin/llama-batched-bench" >&2; exit 1; }
say "$out/bin/llama-batched-bench"
echo "$out"
