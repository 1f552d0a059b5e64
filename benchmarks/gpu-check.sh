#!/usr/bin/env bash
# GPU check and benchmarks, for a Linux machine with an NVIDIA GPU, the CUDA toolkit (with cuBLAS), CMake, a C++
# compiler and Python, but no JDK, no Maven and no network. Needs gpu-bundle.tar.xz from
# benchmarks/prepare-gpu-bundle.sh (a jlink'ed Java runtime, the project's jars, the pinned llama.cpp source).
#
#   benchmarks/gpu-check.sh [BUNDLE=gpu-bundle.tar.xz] [OUT=benchmarks/results/gpu-<date>]
#
# In one run: builds the CUDA natives and llama.cpp's llama-bench from the same source, generates the 1b-shape model
# (F16, Q8_0, Q4_K_M), proves the hooks on the GPU (identity patch bit-identical, last-layer transplant equal,
# captures against the CPU engine), runs `taskvec bench` and `llama-bench`, and writes results.json files plus a
# short summary.md under OUT.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="${1:-$root/gpu-bundle.tar.xz}"
out="${2:-$root/benchmarks/results/gpu-$(date +%Y%m%d-%H%M)}"
work="${TMPDIR:-/tmp}/taskvec-gpu"
jobs="$(nproc)"
mkdir -p "$out" "$work"
log() { echo "[gpu-check $(date +%H:%M:%S)] $*" >&2; }

log "unpacking $bundle"
tar -xJf "$bundle" -C "$work"
b="$work/gpu-bundle"
tar -xf "$b/llama.cpp-src.tar" -C "$work"
src="$(ls -d "$work"/llama.cpp-* | head -1)"
java="$b/jre/bin/java"
cp="$b/lib/*"

arch="${TASKVEC_CUDA_ARCHITECTURES:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)}"
log "CUDA build for sm_$arch ($jobs jobs)"
cmake -S "$root/native" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTASKVEC_LLAMA_CPP_DIR="$src" \
      -DTASKVEC_CUDA=ON -DTASKVEC_WITH_LLAMA_BENCH=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" > "$out/cmake.log" 2>&1
cmake --build "$work/build" --parallel "$jobs" --target taskvec taskvec-decode-loop llama-bench > "$out/build.log" 2>&1
natives="$work/natives"
mkdir -p "$natives"
cp -a "$work/build"/bin/lib*.so* "$work/build"/libtaskvec.so "$natives/"
# JavaCPP loads these (CUDA) libraries before the CPU ones inside the jar
jopts=(-Dorg.bytedeco.javacpp.pathsFirst=true -Djava.library.path="$natives" -Xss4m)
taskvec() { "$java" "${jopts[@]}" -cp "$cp" org.taskvec.cli.TaskvecCli "$@"; }

log "devices"
taskvec info --model /dev/null > /dev/null 2>&1 || true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.csv"

log "models"
models="$work/models"
taskvec synth --out "$models" --shape 1b --quantize Q8_0,Q4_K_M > "$out/synth.log"

log "hooks on the GPU"
"$java" "${jopts[@]}" -cp "$cp" org.taskvec.perf.GpuCheck "$models/model.gguf" "$out/hooks.json" -1 0.05 \
    > "$out/hooks.log" 2>&1 || log "hook checks FAILED (see hooks.json)"

for q in model model-Q8_0 model-Q4_K_M; do
  log "taskvec bench $q"
  taskvec bench --model "$models/$q.gguf" --mmproj "$models/mmproj.gguf" --gpu-layers -1 --prompt-tokens 512 \
      --gen-tokens 128 --rounds 5 --json "$out/bench-$q.json" > "$out/bench-$q.txt" 2>&1
  log "llama-bench $q"
  "$work/build/bin/llama-bench" -m "$models/$q.gguf" -ngl 99 -p 512 -n 128 -r 5 -o json > "$out/llama-bench-$q.json" \
      2> "$out/llama-bench-$q.log"
done
log "C++ decode loop (same library)"
"$work/build/taskvec-decode-loop" "$models/model.gguf" 8 128 5 > "$out/decode-loop.txt" 2>&1 || true

{
  echo "# GPU check $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo '```'
  cat "$out/gpu.csv"
  echo '```'
  echo
  echo "Hooks: $(grep -o '"passed" : [a-z]*' "$out/hooks.json" || echo 'no result')"
  for q in model model-Q8_0 model-Q4_K_M; do
    echo
    echo "## $q"
    echo '```'
    cat "$out/bench-$q.txt"
    python3 - "$out/llama-bench-$q.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1])):
    print("llama-bench n_prompt=%s n_gen=%s: %.1f tokens/s" % (r.get("n_prompt"), r.get("n_gen"), r.get("avg_ts", 0)))
PY
    echo '```'
  done
} > "$out/summary.md"
log "done: $out/summary.md"
