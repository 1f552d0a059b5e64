#!/usr/bin/env bash
# Prepares, on a machine with a JDK, Maven and the network, what benchmarks/gpu-check.sh needs on a GPU machine
# that has no JDK, no Maven and no network: a jlink'ed Java runtime, the project's jars, and the pinned llama.cpp
# source. Output: gpu-bundle/ at the repository root (git-ignored; name it in the device tool's `carry`).
#
#   benchmarks/prepare-gpu-bundle.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/gpu-bundle"
cd "$root"
mvn -B -q -ntp -DskipTests package >&2
rm -rf "$out"
mkdir -p "$out/lib"
cp java/target/taskvec.jar "$out/lib/"
cp java/target/lib/*.jar "$out/lib/"
# the modules the jars use (AWT for ImageIO and the charts, Unsafe for JavaCPP, ...)
modules="$(jdeps --multi-release 17 --ignore-missing-deps --print-module-deps --class-path "$out/lib/*" "$out/lib/taskvec.jar" 2>/dev/null || true)"
modules="${modules:-java.base,java.desktop,java.logging,java.sql,jdk.unsupported}"
jlink --add-modules "$modules,jdk.unsupported" --strip-debug --no-header-files --no-man-pages --compress=2 \
      --output "$out/jre" >&2
# the pinned llama.cpp source as cached by the native build (the GPU machine cannot fetch it), without what a CUDA
# build of the libraries and llama-bench does not read
src="$(ls -d "${TASKVEC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taskvec}"/src/llama.cpp-* | head -1)"
name="$(basename "$src")"
tar -cf "$out/llama.cpp-src.tar" -C "$(dirname "$src")" --exclude=.git --exclude="$name/docs" \
    --exclude="$name/models/*" --exclude="$name/media" --exclude="$name/benches" --exclude="$name/tests" \
    --exclude="$name/examples" --exclude="$name/gguf-py" --exclude="$name/ggml/src/ggml-hexagon" \
    --exclude="$name/ggml/src/ggml-sycl" --exclude="$name/ggml/src/ggml-vulkan" --exclude="$name/ggml/src/ggml-opencl" \
    --exclude="$name/ggml/src/ggml-cann" --exclude="$name/ggml/src/ggml-musa" --exclude="$name/tools/server/public*" \
    --exclude="$name/tools/mtmd/test-*" "$name"
tar -rf "$out/llama.cpp-src.tar" -C "$(dirname "$src")" "$name/models/ggml-vocab-llama-spm.gguf"
# one compressed file: the device tool carries at most 64 MiB
tar -cJf "$root/gpu-bundle.tar.xz" -C "$root" gpu-bundle
rm -rf "$out"
du -sh "$root/gpu-bundle.tar.xz" >&2
