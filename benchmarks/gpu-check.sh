#!/usr/bin/env bash
# GPU check and benchmarks, for a Linux machine with an NVIDIA GPU, the CUDA toolkit (with cuBLAS), CMake, a C++
# compiler and Python 3, but no JDK, no Maven and no network. Needs gpu-bundle.tar.xz, made beforehand on a machine
# with a JDK and Maven by benchmarks/prepare-gpu-bundle.sh (a jlink'ed Java runtime, the project's jars, the pinned
# llama.cpp source).
#
#   benchmarks/gpu-check.sh [--bundle FILE] [--out DIR] [--no-7b] [--no-official] [--rounds N] [--cpu]
#
# In one run:
#   1. builds the CUDA natives (libtaskvec, llama, ggml-cuda, mtmd) and llama.cpp's llama-bench from the same source
#      for this card's architecture (TASKVEC_CUDA_ARCHITECTURES overrides), while the benchmark-shaped models are
#      generated in the background: the 1b shape (TinyLlama-1.1B text, CLIP ViT-L/14-336 projector, 576 image
#      tokens) and the 7b shape (LLaVA-1.5-7B text) in F16; then quantizes them to Q8_0 and Q4_K_M;
#   2. proves the hooks on the GPU (org.taskvec.perf.GpuCheck: identity patch bit-identical, last-layer transplant
#      equal, every layer's captures against the CPU engine);
#   3. `taskvec bench` (plain prompt and decode, one-layer capture, all-layer capture, one-layer patch, Java API vs
#      the library's C++ decode loop, hook-free session, image encoding) and `llama-bench` on each model;
#   4. the paper's workload (extraction, patched image queries, a sweep over all layers) through taskvec
#      (`taskvec bench --paper-workload`) and the official way (benchmarks/official_loop.py: transformers, forward
#      hooks, no KV cache) on the 7b shape, F16 against fp16, when Python has torch and transformers;
#   5. writes results.json and summary.md (benchmarks/gpu_summary.py) with the goals of issue 5 as ratios.
# --cpu: the same steps without CUDA on the tiny model (to test the script on a machine without a GPU).
# Each step's output is in a log file under OUT; nothing is piped through tee (a hung pipe would eat the budget).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="$root/gpu-bundle.tar.xz"
out=""
seven_b=1
official=1
rounds=5
cpu=0
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-7b) seven_b=0; shift ;;
    --no-official) official=0; shift ;;
    --rounds) rounds="$2"; shift 2 ;;
    --cpu) cpu=1; shift ;;
    *) echo "unknown argument $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || out="$root/benchmarks/results/$([ $cpu = 1 ] && echo cpu || echo gpu)-$(date +%Y%m%d-%H%M)"
work="${TMPDIR:-/tmp}/taskvec-gpu-check"
jobs="$(nproc)"
rm -rf "$work"
mkdir -p "$out" "$work"
out="$(cd "$out" && pwd)"
start=$(date +%s)
log() { echo "[gpu-check +$(( $(date +%s) - start ))s] $*" >&2; echo -e "$(( $(date +%s) - start ))\t$*" >> "$out/steps.tsv"; }

log "unpacking $bundle"
tar -xJf "$bundle" -C "$work"
b="$work/gpu-bundle"
tar -xf "$b/llama.cpp-src.tar" -C "$work"
src="$(ls -d "$work"/llama.cpp-* | head -1)"
java="$b/jre/bin/java"
cp="$b/lib/*"
run_java() { "$java" -Xss4m -Dorg.bytedeco.javacpp.pathsFirst=true -Djava.library.path="$work/natives" -cp "$cp" "$@"; }
taskvec() { run_java org.taskvec.cli.TaskvecCli "$@"; }

# models: the generator is plain Java (no natives), so it runs while the natives build
models="$work/models"
if [ $cpu = 1 ]; then shape=tiny; seven_b=0; ngl=0; else shape=1b; ngl=99; fi
(
  "$java" -cp "$cp" org.taskvec.cli.TaskvecCli synth --out "$models/small" --shape "$shape" --type F16
  if [ $seven_b = 1 ]; then
    "$java" -cp "$cp" org.taskvec.cli.TaskvecCli synth --out "$models/7b" --shape 7b --type F16
  fi
) > "$out/synth.log" 2>&1 &
synth_pid=$!

if [ $cpu = 1 ]; then
  cuda_flags=(-DTASKVEC_CUDA=OFF)
  log "CPU build ($jobs jobs)"
else
  arch="${TASKVEC_CUDA_ARCHITECTURES:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)}"
  cuda_flags=(-DTASKVEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch")
  log "CUDA build for sm_$arch ($jobs jobs)"
fi
cmake -S "$root/native" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTASKVEC_LLAMA_CPP_DIR="$src" \
      -DTASKVEC_WITH_LLAMA_BENCH=ON "${cuda_flags[@]}" > "$out/cmake.log" 2>&1
cmake --build "$work/build" --parallel "$jobs" --target taskvec llama-bench > "$out/build.log" 2>&1
mkdir -p "$work/natives"
find "$work/build" -name 'lib*.so*' \( -type f -o -type l \) -exec cp -a {} "$work/natives/" \;
bench_bin="$(find "$work/build" -name llama-bench -type f | head -1)"
log "built: $(ls "$work/natives" | tr '\n' ' ')"

log "waiting for the model generator"
wait "$synth_pid" || { log "synth FAILED (see synth.log)"; exit 1; }
log "devices"
taskvec info --model "$models/small/model.gguf" --mmproj "$models/small/mmproj.gguf" > "$out/info.txt" 2>&1 || true
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv > "$out/gpu.csv" 2>&1 || true
else
  echo "no nvidia-smi: CPU only" > "$out/gpu.csv"
fi
log "quantizing"
quantize() { # model type
  taskvec quantize "$1" "$(dirname "$1")/model-$2.gguf" "$2" >> "$out/quantize.log" 2>&1
}
quantize "$models/small/model.gguf" Q8_0
quantize "$models/small/model.gguf" Q4_K_M
[ $seven_b = 1 ] && quantize "$models/7b/model.gguf" Q4_K_M
ls -l "$models"/*/ > "$out/models.txt"

log "hooks on the GPU"
hooks_ok=1
run_java org.taskvec.perf.GpuCheck "$models/small/model.gguf" "$out/hooks.json" "$([ $cpu = 1 ] && echo 0 || echo -1)" \
    0.05 > "$out/hooks.log" 2>&1 || { hooks_ok=0; log "hook checks FAILED (see hooks.json / hooks.log)"; }

bench_pair() { # name model prompt gen
  local name="$1" model="$2" p="$3" n="$4"
  log "taskvec bench $name"
  taskvec bench --model "$model" --mmproj "$(dirname "$model")/mmproj.gguf" --gpu-layers "$([ $cpu = 1 ] && echo 0 || echo -1)" \
      --prompt-tokens "$p" --gen-tokens "$n" --rounds "$rounds" --json "$out/bench-$name.json" \
      > "$out/bench-$name.txt" 2> "$out/bench-$name.log" || log "taskvec bench $name FAILED"
  log "llama-bench $name"
  # pp at depth 0 matches taskvec's prompt; tg at depth p matches its decode (after the prompt)
  "$bench_bin" -m "$model" -ngl "$ngl" -p "$p" -n "$n" -d "0,$p" -r "$rounds" -o json \
      > "$out/llama-bench-$name.json" 2> "$out/llama-bench-$name.log" || log "llama-bench $name FAILED"
}
bench_pair "$shape-F16" "$models/small/model.gguf" 512 128
bench_pair "$shape-Q8_0" "$models/small/model-Q8_0.gguf" 512 128
bench_pair "$shape-Q4_K_M" "$models/small/model-Q4_K_M.gguf" 512 128
[ $seven_b = 1 ] && bench_pair "7b-Q4_K_M" "$models/7b/model-Q4_K_M.gguf" 512 128

# the paper's workload, both ways, on the same architecture and weights type
if [ $seven_b = 1 ]; then
  pw_model="$models/7b/model.gguf"; pw_config=llava-1.5-7b; workload="$root/benchmarks/paper-workload.json"
else
  pw_model="$models/small/model.gguf"; pw_config=tiny; workload="$root/benchmarks/paper-workload-tiny.json"
fi
log "paper workload through taskvec ($pw_config)"
taskvec bench --model "$pw_model" --mmproj "$(dirname "$pw_model")/mmproj.gguf" \
    --gpu-layers "$([ $cpu = 1 ] && echo 0 || echo -1)" --paper-workload "$workload" --json "$out/paper-taskvec.json" \
    > "$out/paper-taskvec.txt" 2> "$out/paper-taskvec.log" || log "taskvec paper workload FAILED"
if [ $official = 1 ] && python3 -c "import torch, transformers" > /dev/null 2>&1; then
  log "paper workload the official way ($pw_config)"
  python3 "$root/benchmarks/official_loop.py" --config "$pw_config" --workload "$workload" \
      --json "$out/paper-official.json" > "$out/paper-official.txt" 2> "$out/paper-official.log" \
      || log "official loop FAILED"
else
  log "official loop skipped (disabled, or Python lacks torch/transformers)"
fi

log "summary"
python3 "$root/benchmarks/gpu_summary.py" "$out" > "$out/summary.md" 2> "$out/summary.log" || log "summary FAILED"
log "done in $(( $(date +%s) - start )) s: $out/summary.md"
[ $hooks_ok = 1 ]
