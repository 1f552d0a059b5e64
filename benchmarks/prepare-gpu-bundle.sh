#!/usr/bin/env bash
# Prepares, on a machine with a JDK, Maven and the network, what benchmarks/gpu-check.sh needs on a GPU machine
# that has no JDK, no Maven and no network: a jlink'ed Java runtime, the project's jars, and the pinned llama.cpp
# source. Output: gpu-bundle/bundle.tar.xz at the repository root (git-ignored; name gpu-bundle in the device
# tool's `carry`; benchmarks/gpu-check.sh finds it there).
#
#   benchmarks/prepare-gpu-bundle.sh [--jars DIR] [--out DIR]
#
#   --jars DIR   take taskvec.jar and the dependency jars from DIR instead of building them with Maven (tests)
#   --out DIR    write DIR/bundle.tar.xz (default: gpu-bundle/ at the repository root)
# The bundle is checked at the end (benchmarks/gpu-check.sh --check-bundle): a bundle that lacks what the GPU
# machine needs fails here, not on the GPU.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/gpu-bundle"
jars=""
while [ $# -gt 0 ]; do
  case "$1" in
    --jars) jars="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    *) echo "prepare-gpu-bundle: unknown argument $1" >&2; exit 2 ;;
  esac
done
stage="$(mktemp -d)/gpu-bundle"
trap 'rm -rf "$(dirname "$stage")"' EXIT
cd "$root"
mkdir -p "$stage/lib"
if [ -z "$jars" ]; then
  mvn -B -q -ntp -DskipTests package >&2
  cp java/target/taskvec.jar "$stage/lib/"
  cp java/target/lib/*.jar "$stage/lib/"
else
  cp "$jars"/*.jar "$stage/lib/"
  [ -f "$stage/lib/taskvec.jar" ] || { echo "prepare-gpu-bundle: no taskvec.jar in $jars" >&2; exit 1; }
fi
# the modules the jars use (AWT for ImageIO and the charts, Unsafe for JavaCPP, ...)
modules="$(jdeps --multi-release 17 --ignore-missing-deps --print-module-deps --class-path "$stage/lib/*" "$stage/lib/taskvec.jar" 2>/dev/null || true)"
modules="${modules:-java.base,java.desktop,java.logging,java.sql,jdk.unsupported}"
jlink --add-modules "$modules,jdk.unsupported" --strip-debug --no-header-files --no-man-pages --compress=2 \
      --output "$stage/jre" >&2
# the pinned llama.cpp source as cached by the native build (the GPU machine cannot fetch it), without what a CUDA
# build of the libraries and llama-bench does not read
name="$("$root/benchmarks/gpu-check.sh" --pinned-source-name)"
src="${TASKVEC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taskvec}/src/$name"
[ -f "$src/CMakeLists.txt" ] || { echo "prepare-gpu-bundle: the pinned source $src is missing (run mvn package first)" >&2; exit 1; }
tar -cf "$stage/llama.cpp-src.tar" -C "$(dirname "$src")" --exclude=.git --exclude="$name/docs" \
    --exclude="$name/models/*" --exclude="$name/media" --exclude="$name/benches" --exclude="$name/tests" \
    --exclude="$name/examples" --exclude="$name/gguf-py" --exclude="$name/ggml/src/ggml-hexagon" \
    --exclude="$name/ggml/src/ggml-sycl" --exclude="$name/ggml/src/ggml-vulkan" --exclude="$name/ggml/src/ggml-opencl" \
    --exclude="$name/ggml/src/ggml-cann" --exclude="$name/ggml/src/ggml-musa" --exclude="$name/tools/server/public*" \
    --exclude="$name/tools/mtmd/test-*" --exclude="$name/tools/ui" --exclude="$name/ggml/src/ggml-openvino" \
    --exclude="$name/ggml/src/ggml-webgpu" --exclude="$name/ggml/src/ggml-et" --exclude="$name/ggml/src/ggml-metal" \
    --exclude="$name/ggml/src/ggml-zdnn" --exclude="$name/ggml/src/ggml-zendnn" --exclude="$name/ggml/src/ggml-virtgpu" \
    --exclude="$name/scripts" --exclude="$name/conversion" "$name"
tar -rf "$stage/llama.cpp-src.tar" -C "$(dirname "$src")" "$name/models/ggml-vocab-llama-spm.gguf"
# one compressed file in gpu-bundle/: the device tool carries at most 64 MiB (working tree included)
rm -rf "$out"
mkdir -p "$out"
tar -cJf "$out/bundle.tar.xz.part" -C "$(dirname "$stage")" gpu-bundle
mv "$out/bundle.tar.xz.part" "$out/bundle.tar.xz"
"$root/benchmarks/gpu-check.sh" --check-bundle "$out/bundle.tar.xz" >&2
