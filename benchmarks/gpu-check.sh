#!/usr/bin/env bash
# GPU check and benchmarks, for a Linux machine with an NVIDIA GPU, the CUDA toolkit (with cuBLAS), CMake, a C++
# compiler and Python 3, but no JDK, no Maven and no network. It is written for a short lease: a deadline, a
# timeout on every step, the most important figures first, and a summary rewritten after every step, so a run
# killed at any moment still leaves its figures in OUT.
#
#   benchmarks/gpu-check.sh [--out DIR] [--deadline SECONDS] [--reuse] [--bundle DIR|FILE] [--natives DIR]
#                           [--classpath CP] [--work DIR] [--no-7b] [--no-official] [--rounds N] [--cpu]
#                           [--organism DIR]
#   benchmarks/gpu-check.sh --check-bundle [FILE]    verifies a bundle holds what this script needs, and exits
#
#   --out DIR        where the results go: at most 5 files (summary.md, results.json, steps.tsv, logs.tar.gz and,
#                    on a fatal error, FATAL.txt). Default: $OUT when set (the device tool), else
#                    benchmarks/results/<gpu|cpu>-<date>.
#   --deadline S     stop starting steps S seconds after the start (default 540: a 600 s call with margin). A step
#                    that would not fit its estimate is skipped and recorded; a running step is killed at the
#                    deadline.
#   --reuse          keep the work folder of an earlier run on this machine: its build, its models and its finished
#                    steps; only what is not done yet runs (a second call on the same warm machine).
#   --bundle         what benchmarks/prepare-gpu-bundle.sh made: the folder gpu-bundle/ (holding bundle.tar.xz) or
#                    the archive itself. Default: gpu-bundle/ at the repository root; without one, the JDK on the
#                    PATH and java/target (a development machine).
#   --natives DIR    use these already built natives (libtaskvec.so and its libraries) instead of building them;
#                    llama-bench and llama-batched-bench are then looked for in DIR too, and skipped if absent.
#   --classpath CP   run the project's classes from this class path with the `java` on the PATH (tests).
#   --work DIR       the work folder (default ${TMPDIR:-/tmp}/taskvec-gpu-check).
#   --cpu            the same steps without CUDA, on the tiny model (to test the script without a GPU).
#   --organism DIR   a trained model organism (DIR/model.gguf, DIR/mmproj.gguf, optional DIR/llm.gguf): after the
#                    paper workload, the paper's experiment (taskvec xpatch) on it with every layer on the GPU, then the
#                    same on this machine's CPU; the summary compares the two tables. Default (GPU runs):
#                    organism/ at the repository root when it holds model.gguf.
#
# Steps, in the order that gets the most important figures first:
#   unpack -> models generated in the background (the generator is plain Java) while the natives build
#   build  -> CUDA natives (libtaskvec, llama, ggml-cuda, mtmd), llama-bench and llama-batched-bench from the same
#             source, for this card
#             (TASKVEC_CUDA_ARCHITECTURES, else nvidia-smi's compute capability, else torch's, else "native")
#   check  -> fail fast: every library resolves (ldd), `taskvec info` loads OUR natives and says GPU offload is
#             available, and sees the GPU
#   hooks  -> org.taskvec.perf.GpuCheck: identity patch bit-identical, last-layer transplant equal, every layer's
#             captures against the CPU engine
#   1b F16 -> taskvec bench and llama-bench, in ABBA order
#   batched -> batched decode (issue 13): taskvec bench --batched (the Java API: prompts as separate sequences in one
#             decode, then batched greedy decode) and llama-batched-bench with the same npp/ntg/npl, in ABBA order
#   paper  -> the paper's workload through taskvec and the official way (transformers, forward hooks, no KV cache)
#             on the 7b shape, F16 against fp16
#   paper-parallel -> the same workload sequentially, on parallel sequences and at the official procedure's cost
#             on this engine (bench --parallel --official-cost), interleaved; ratios per phase
#   organism -> with a trained model organism: taskvec xpatch on the GPU, then on the CPU (the same table expected)
#   7b Q4_K_M -> quantized in the background as soon as the 7b model exists, then taskvec bench and llama-bench
#   the rest  -> 1b Q8_0 and Q4_K_M
# Nothing is piped through tee and no bare `wait` is used (both can hang on the device machine). Background jobs
# stay in the script's process group, so a kill of the group (the device tool's limit) takes them down too.
set -uo pipefail
set -a   # every variable is exported: steps run their functions in a child bash under `timeout`
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle=""
out=""
deadline_s=540
reuse=0
seven_b=1
official=1
rounds=10
cpu=0
organism=""
natives_in=""
classpath=""
check_bundle_file=""
work="${TMPDIR:-/tmp}/taskvec-gpu-check"
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --deadline) deadline_s="$2"; shift 2 ;;
    --reuse) reuse=1; shift ;;
    --natives) natives_in="$2"; shift 2 ;;
    --classpath) classpath="$2"; shift 2 ;;
    --check-bundle) check_bundle_file="${2:-$root/gpu-bundle/bundle.tar.xz}"; [ $# -gt 1 ] && shift; shift ;;
    --work) work="$2"; shift 2 ;;
    --no-7b) seven_b=0; shift ;;
    --no-official) official=0; shift ;;
    --rounds) rounds="$2"; shift 2 ;;
    --cpu) cpu=1; shift ;;
    --organism) organism="$2"; shift 2 ;;
    --pinned-source-name) break ;;
    *) echo "gpu-check: unknown argument $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
unpack() {  # ARCHIVE DIR: xz may be missing on the GPU machine; Python's lzma reads it too
  tar -xJf "$1" -C "$2" 2> /dev/null \
    || python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "$1" "$2"
}
pinned_source_name() {
  local tag commit
  tag="$(sed -n 's/^set(TASKVEC_LLAMA_CPP_TAG "\([^"]*\)".*/\1/p' "$root/cmake/llama-cpp-pin.cmake")"
  commit="$(sed -n 's/^set(TASKVEC_LLAMA_CPP_COMMIT "\([^"]*\)".*/\1/p' "$root/cmake/llama-cpp-pin.cmake")"
  echo "llama.cpp-$tag-$commit"
}
check_bundle() {  # ARCHIVE: every problem on its own line; exit status 1 if any
  local archive="$1" tmp b name problems=0
  problem() { echo "bundle problem: $*"; problems=$(( problems + 1 )); }
  [ -f "$archive" ] || { problem "$archive does not exist (benchmarks/prepare-gpu-bundle.sh makes it)"; return 1; }
  tmp="$(mktemp -d)"
  unpack "$archive" "$tmp" || { problem "$archive does not unpack"; rm -rf "$tmp"; return 1; }
  b="$tmp/gpu-bundle"
  name="$(pinned_source_name)"
  if [ ! -x "$b/jre/bin/java" ]; then
    problem "no Java runtime (gpu-bundle/jre/bin/java)"
  else
    "$b/jre/bin/java" -cp "$b/lib/*" org.taskvec.cli.TaskvecCli --version > "$tmp/version.txt" 2>&1 \
      || problem "the runtime cannot start the CLI: $(tail -1 "$tmp/version.txt")"
    # the model generator (plain Java: jars and modules) and the natives in the jar (JavaCPP needs jdk.unsupported)
    "$b/jre/bin/java" -cp "$b/lib/*" org.taskvec.cli.TaskvecCli synth --out "$tmp/m" --shape tiny > "$tmp/synth.txt" 2>&1 \
      || problem "the runtime cannot generate a model: $(tail -1 "$tmp/synth.txt")"
    "$b/jre/bin/java" -cp "$b/lib/*" org.taskvec.cli.TaskvecCli info > "$tmp/info.txt" 2>&1 \
      || problem "the runtime cannot load the natives: $(tail -1 "$tmp/info.txt")"
    "$b/jre/bin/java" -cp "$b/lib/*" org.taskvec.perf.GpuCheck > "$tmp/gpucheck.txt" 2>&1
    grep -q 'ClassNotFoundException\|NoClassDefFoundError' "$tmp/gpucheck.txt" && problem "org.taskvec.perf.GpuCheck is missing"
  fi
  if [ ! -f "$b/llama.cpp-src.tar" ]; then
    problem "no llama.cpp source (gpu-bundle/llama.cpp-src.tar)"
  else
    tar -tf "$b/llama.cpp-src.tar" > "$tmp/src.txt" 2> /dev/null || problem "llama.cpp-src.tar does not read"
    local f
    for f in CMakeLists.txt src/llama.cpp ggml/CMakeLists.txt ggml/src/ggml-cuda/CMakeLists.txt ggml/src/ggml-cuda/mmq.cu \
        ggml/src/ggml-cpu/CMakeLists.txt tools/mtmd/CMakeLists.txt tools/llama-bench/llama-bench.cpp common/CMakeLists.txt \
        tools/batched-bench/batched-bench.cpp; do
      grep -qx "$name/$f" "$tmp/src.txt" || problem "the source lacks $name/$f (the pinned release is $name)"
    done
    if [ $problems = 0 ] && command -v cmake > /dev/null; then  # the tree configures as the GPU build will
      tar -xf "$b/llama.cpp-src.tar" -C "$tmp"
      cmake -S "$root/native" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release -DTASKVEC_LLAMA_CPP_DIR="$tmp/$name" \
          -DTASKVEC_WITH_LLAMA_BENCH=ON -DTASKVEC_CUDA=OFF > "$tmp/cmake.txt" 2>&1 \
        || problem "the bundled source does not configure: $(grep -m1 -A2 'CMake Error' "$tmp/cmake.txt" | tr '\n' ' ')"
    fi
  fi
  rm -rf "$tmp"
  [ $problems = 0 ] && echo "bundle ok: $archive ($(du -h "$archive" | cut -f1))"
  [ $problems = 0 ]
}
if [ "${1:-}" = --pinned-source-name ]; then pinned_source_name; exit 0; fi
if [ -n "$check_bundle_file" ]; then
  check_bundle "$check_bundle_file"
  exit $?
fi

[ -n "$out" ] || out="${OUT:-}"
[ -n "$out" ] || out="$root/benchmarks/results/$([ $cpu = 1 ] && echo cpu || echo gpu)-$(date +%Y%m%d-%H%M)"
mkdir -p "$out" || exit 2
out="$(cd "$out" && pwd)"
start=$(date +%s)
deadline=$(( start + deadline_s ))
jobs="$(nproc)"

if [ $reuse = 0 ]; then rm -rf "$work"; fi
raw="$work/raw"          # every log and JSON; what comes back is the summary and one archive of this folder
mkdir -p "$work" "$raw/done" || exit 2
work="$(cd "$work" && pwd)"
raw="$work/raw"
models="$work/models"
natives="$work/natives"
mkdir -p "$models"
echo "$(date -u +%FT%TZ) start: deadline ${deadline_s}s, reuse $reuse, cpu $cpu" >> "$raw/runs.txt"
bg_pids=()

log() {  # one line to stderr and to steps.tsv (seconds since start, step, status, seconds taken, detail)
  local name="$1" status="$2" took="$3" detail="${4:-}"
  echo "[gpu-check +$(( $(date +%s) - start ))s] $name: $status${took:+ (${took}s)}${detail:+ - $detail}" >&2
  printf '%s\t%s\t%s\t%s\t%s\n' "$(( $(date +%s) - start ))" "$name" "$status" "$took" "$detail" >> "$raw/steps.tsv"
}

summarize() {  # rewrites OUT from raw/: logs.tar.gz, summary.md, results.json, and steps.tsv last (a reader that
               # sees a step in steps.tsv finds its files in the others)
  tar -czf "$out/logs.tar.gz.new" -C "$raw" --exclude=done --exclude=summary.md.new --exclude=results.json.new . \
      2> /dev/null && mv "$out/logs.tar.gz.new" "$out/logs.tar.gz"
  if command -v python3 > /dev/null && python3 "$root/benchmarks/gpu_summary.py" "$raw" > "$raw/summary.md.new" \
      2> "$raw/summary.log"; then
    mv "$raw/summary.md.new" "$raw/summary.md"
  else
    { echo "# taskvec GPU check (gpu_summary.py failed: see summary.log)"; echo; echo '```'; cat "$raw/steps.tsv"
      echo '```'; } > "$raw/summary.md"
  fi
  cp "$raw/summary.md" "$out/summary.md.new" 2> /dev/null && mv "$out/summary.md.new" "$out/summary.md"
  [ -f "$raw/results.json" ] && cp "$raw/results.json" "$out/results.json.new" && mv "$out/results.json.new" "$out/results.json"
  cp "$raw/steps.tsv" "$out/steps.tsv.new" 2> /dev/null && mv "$out/steps.tsv.new" "$out/steps.tsv"
}

kill_tree() {  # PID [SIGNAL]: the process and all its descendants (TERM by default)
  local c
  for c in $(pgrep -P "$1" 2> /dev/null); do kill_tree "$c" "${2:-TERM}"; done
  kill -"${2:-TERM}" "$1" 2> /dev/null
}
stop_background() {
  local p
  for p in "${bg_pids[@]}"; do kill_tree "$p"; done
  bg_pids=()
}

finished=0
on_exit() {
  local rc=$?
  trap - EXIT TERM INT
  stop_background
  [ $finished = 1 ] || log "run" "ended early" "$(( $(date +%s) - start ))" "exit code $rc"
  summarize
}
trap on_exit EXIT
trap 'log run "killed by a signal" "" ""; exit 143' TERM INT

fatal() {  # a failure after which no figure can be trusted: one clear line, in the summary and in FATAL.txt
  if [ "$(left)" -le 0 ]; then set -- "the deadline came first" "$1 (${2:-})"; fi
  log "FATAL" "$1" "" "${2:-}"
  echo "gpu-check FATAL: $1${2:+ - $2}" > "$raw/FATAL.txt"
  cp "$raw/FATAL.txt" "$out/FATAL.txt"
  exit 1
}

left() { echo $(( deadline - $(date +%s) )); }

# step NAME ESTIMATE_S COMMAND...: runs COMMAND (a function or program) under a timeout that ends at the deadline;
# skipped when fewer than ESTIMATE_S seconds are left, or when an earlier run (--reuse) finished it. Output goes to
# raw/NAME.log. Returns the command's status (0 when done earlier).
step() {
  local name="$1" est="$2"; shift 2
  if [ -f "$raw/done/$name" ]; then
    log "$name" "done earlier" "" "kept from an earlier run"
    return 0
  fi
  local l; l=$(left)
  if [ "$l" -lt "$est" ]; then
    log "$name" "skipped" "" "needs ~${est}s, ${l}s left before the deadline"
    summarize
    return 99
  fi
  local t0; t0=$(date +%s)
  export -f $(compgen -A function)
  # the step runs in the background of THIS process group (not under timeout(1), which makes a group of its own
  # that a kill of the script's group would miss) and is killed with its descendants at the deadline
  bash -c '"$@"' _ "$@" > "$raw/$name.log" 2>&1 &
  local pid=$! rc timed_out=0 grace
  while kill -0 "$pid" 2> /dev/null; do
    if [ "$(left)" -le 0 ]; then
      timed_out=1
      kill_tree "$pid" TERM
      for grace in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2> /dev/null && sleep 1; done
      kill_tree "$pid" KILL
      break
    fi
    sleep 0.5
  done
  wait "$pid" 2> /dev/null
  rc=$?
  [ $timed_out = 1 ] && rc=124
  local took=$(( $(date +%s) - t0 ))
  case $rc in
    0) touch "$raw/done/$name"; log "$name" "ok" "$took" ;;
    124|137) log "$name" "timed out" "$took" "killed at the deadline (estimate was ${est}s); see $name.log" ;;
    *) log "$name" "failed" "$took" "exit code $rc: $(grep -v '^\s*$' "$raw/$name.log" | tail -1 | cut -c1-200)" ;;
  esac
  summarize
  return $rc
}

# ---- the Java runtime and the jars
java_bin=""
cp=""
if [ -z "$bundle" ] && [ -z "$classpath" ] && [ -d "$root/gpu-bundle" ]; then bundle="$root/gpu-bundle"; fi
if [ -n "$classpath" ]; then
  java_bin="$(command -v java || true)"
  [ -n "$java_bin" ] || fatal "--classpath needs java on the PATH"
  cp="$classpath"
  src_tar=""
elif [ -n "$bundle" ]; then
  archive="$bundle"
  [ -d "$bundle" ] && archive="$bundle/bundle.tar.xz"
  # with --reuse the runtime unpacked by an earlier run is enough (a later call need not carry the bundle again)
  [ -f "$archive" ] || [ -x "$work/gpu-bundle/jre/bin/java" ] \
    || fatal "no bundle" "$archive is missing: run benchmarks/prepare-gpu-bundle.sh and carry gpu-bundle"
  if [ ! -x "$work/gpu-bundle/jre/bin/java" ]; then
    t0=$(date +%s)
    unpack "$archive" "$work" 2> "$raw/unpack.log" || fatal "bundle does not unpack" "$archive: $(tail -1 "$raw/unpack.log")"
    log "unpack" "ok" "$(( $(date +%s) - t0 ))" "$(du -sh "$work/gpu-bundle" | cut -f1)"
  fi
  java_bin="$work/gpu-bundle/jre/bin/java"
  cp="$work/gpu-bundle/lib/*"
  src_tar="$work/gpu-bundle/llama.cpp-src.tar"
else
  java_bin="$(command -v java || true)"
  [ -n "$java_bin" ] && [ -f "$root/java/target/taskvec.jar" ] \
    || fatal "no bundle and no development build" "run benchmarks/prepare-gpu-bundle.sh, or mvn package with a JDK"
  cp="$root/java/target/taskvec.jar:$root/java/target/lib/*"
  src_tar=""
fi
"$java_bin" -version > "$raw/java-version.txt" 2>&1 || fatal "the Java runtime does not start" "$java_bin"

# Java with OUR natives first (pathsFirst) and the CUDA libraries on the loader's path
run_java() { "$java_bin" -Xss4m -Dorg.bytedeco.javacpp.pathsFirst=true -Djava.library.path="$natives" -cp "$cp" "$@"; }
taskvec() { run_java org.taskvec.cli.TaskvecCli "$@"; }
# plain Java for the model generator (no natives needed), so it can run while the natives build
synth() { "$java_bin" -cp "$cp" org.taskvec.cli.TaskvecCli synth "$@"; }

if [ $cpu = 1 ]; then shape=tiny; seven_b=0; ngl=0; else shape=1b; ngl=99; fi
small="$models/small"
big="$models/7b"

# ---- models in the background: the small shape first, then the 7b; each folder gets a .done marker
background() {  # NAME COMMAND...: runs beside the steps, output in raw/NAME.log
  local name="$1"; shift
  export -f $(compgen -A function)
  bash -c '"$@"' _ "$@" > "$raw/$name.log" 2>&1 &
  bg_pids+=($!)
}
gen_models() {
  local t0
  if [ ! -f "$small/.done" ]; then
    t0=$(date +%s); rm -rf "$small"
    synth --out "$small" --shape "$shape" --type F16 || { log "synth $shape" "failed" "$(( $(date +%s) - t0 ))" "see synth.log"; exit 1; }
    touch "$small/.done"; log "synth $shape F16" "ok" "$(( $(date +%s) - t0 ))"
  fi
  if [ "$seven_b" = 1 ] && [ ! -f "$big/.done" ]; then
    t0=$(date +%s); rm -rf "$big"
    synth --out "$big" --shape 7b --type F16 || { log "synth 7b" "failed" "$(( $(date +%s) - t0 ))" "see synth.log"; exit 1; }
    touch "$big/.done"; log "synth 7b F16" "ok" "$(( $(date +%s) - t0 ))"
  fi
}
background synth gen_models

# ---- the natives
cuda_lib_dirs() {  # folders that may hold libcudart/libcublas/libcuda on this machine
  local d nv
  nv="$(command -v nvcc 2> /dev/null)"
  for d in ${CUDA_HOME:+$CUDA_HOME/lib64} ${nv:+$(dirname "$(dirname "$(readlink -f "$nv")")")/lib64} \
      ${nv:+$(dirname "$(dirname "$(readlink -f "$nv")")")/targets/x86_64-linux/lib} \
      /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu; do
    [ -d "$d" ] && echo "$d"
  done
}
if ! command -v nvcc > /dev/null; then
  for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do [ -x "$d/nvcc" ] && { PATH="$d:$PATH"; break; }; done
fi
export LD_LIBRARY_PATH="$natives$(for d in $(cuda_lib_dirs); do printf ':%s' "$d"; done)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

bench_bin=""
build_natives() {
  local src arch gen cuda_flags
  tar -xf "$src_tar" -C "$work" || return 1
  src="$(ls -d "$work"/llama.cpp-* | head -1)"
  if command -v ninja > /dev/null; then gen=(-G Ninja); else gen=(-G "Unix Makefiles"); fi
  if [ $cpu = 1 ]; then
    cuda_flags=(-DTASKVEC_CUDA=OFF)
  else
    arch="${TASKVEC_CUDA_ARCHITECTURES:-}"
    [ -n "$arch" ] || arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2> /dev/null | head -1 | tr -d ' .')"
    [ -n "$arch" ] || arch="$(python3 -c 'import torch; print("%d%d" % torch.cuda.get_device_capability())' 2> /dev/null)"
    [ -n "$arch" ] || arch=native
    echo "CUDA architectures: $arch; nvcc: $(command -v nvcc)"
    cuda_flags=(-DTASKVEC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch")
    command -v nvcc > /dev/null && cuda_flags+=(-DCMAKE_CUDA_COMPILER="$(command -v nvcc)")
  fi
  echo "generator: ${gen[*]}, $jobs jobs"
  cmake -S "$root/native" -B "$work/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DTASKVEC_LLAMA_CPP_DIR="$src" \
      -DTASKVEC_WITH_LLAMA_BENCH=ON "${cuda_flags[@]}" || return 1
  # compiler output in build.log; a failure shows its first errors
  cmake --build "$work/build" --parallel "$jobs" --target taskvec llama-bench llama-batched-bench \
      > "$work/build-output.log" 2>&1 || {
    grep -m 20 -E 'error|Error' "$work/build-output.log"; tail -5 "$work/build-output.log"; return 1; }
  tail -3 "$work/build-output.log"
  mkdir -p "$natives"
  find "$work/build" -name 'lib*.so*' \( -type f -o -type l \) -exec cp -a {} "$natives/" \;
  cp "$(find "$work/build" -name llama-bench -type f | head -1)" "$natives/" || return 1
  cp "$(find "$work/build" -name llama-batched-bench -type f | head -1)" "$natives/" || return 1
}
if [ -n "$natives_in" ]; then
  mkdir -p "$natives" && cp -a "$natives_in"/. "$natives/" || fatal "cannot copy --natives" "$natives_in"
  log "build" "skipped" "" "prebuilt natives from $natives_in"
elif [ ! -f "$raw/done/build" ]; then
  [ -n "$src_tar" ] && [ -f "$src_tar" ] || fatal "no llama.cpp source to build from" "the bundle lacks llama.cpp-src.tar"
  step build $([ $cpu = 1 ] && echo 60 || echo 240) build_natives \
    || fatal "the native build failed" "$(grep -v '^\s*$' "$raw/build.log" | tail -3 | tr '\n' ' ' | cut -c1-400)"
else
  log "build" "done earlier" "" "kept from an earlier run"
fi
[ -x "$natives/llama-bench" ] && bench_bin="$natives/llama-bench"
batched_bin=""
[ -x "$natives/llama-batched-bench" ] && batched_bin="$natives/llama-batched-bench"
[ -f "$natives/libtaskvec.so" ] || fatal "no libtaskvec.so in the natives" "$natives"

# ---- fail fast: libraries resolve, our natives are the ones loaded, GPU offload available
missing="$(for f in "$natives"/lib*.so "$bench_bin" "$batched_bin"; do [ -n "$f" ] && [ -f "$f" ] && ldd "$f" 2>&1 | grep 'not found' \
  | sed "s|^|$(basename "$f"): |"; done | sort -u)"
[ -z "$missing" ] || fatal "native libraries do not resolve" "$(echo "$missing" | tr '\n' ' ')"
ldd "$natives/libtaskvec.so" > "$raw/ldd.txt" 2>&1
[ -f "$natives/libggml-cuda.so" ] && ldd "$natives/libggml-cuda.so" >> "$raw/ldd.txt" 2>&1
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >> "$raw/ldd.txt"
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv > "$raw/gpu.csv" 2>&1 \
    || echo "nvidia-smi failed" > "$raw/gpu.csv"
else
  echo "no nvidia-smi" > "$raw/gpu.csv"
fi
info_check() {
  # the engine's own view, on a model-free call: the version, the natives' folder, the GPUs, GPU offload
  taskvec info > "$raw/info.txt" 2>&1 || return 1
  cat "$raw/info.txt"
  grep -q "^natives .*$natives" "$raw/info.txt" || { echo "the natives loaded are not $natives"; return 1; }
  if [ $cpu = 0 ]; then
    grep -q '^gpu offload *available' "$raw/info.txt" || { echo "GPU offload not available in the loaded natives"; return 1; }
    # GPU discovery (JavaCPP's CUDA presets) is only needed for --gpu-layers auto: a warning, not a failure
    grep -q '^gpu 0 ' "$raw/info.txt" || echo "warning: taskvec's GPU discovery sees no GPU (see gpus above)"
  fi
}
step check $([ $cpu = 1 ] && echo 5 || echo 10) info_check || fatal "the engine does not run on the GPU" "$(tail -1 "$raw/check.log")"

# ---- the steps, most important first
wait_for() {  # FILE: waits for a background product until the deadline
  while [ ! -f "$1" ]; do
    [ "$(left)" -gt 0 ] || return 1
    if [ -n "${2:-}" ] && ! kill -0 "$2" 2> /dev/null && [ ! -f "$1" ]; then return 1; fi
    sleep 1
  done
}
synth_pid="${bg_pids[0]}"
step wait-small 5 wait_for "$small/.done" "$synth_pid" || fatal "no small model" "$(tail -3 "$raw/synth.log" | tr '\n' ' ')"

gl=$([ $cpu = 1 ] && echo 0 || echo -1)
step hooks 20 run_java org.taskvec.perf.GpuCheck "$small/model.gguf" "$raw/hooks.json" "$gl" 0.05

bench() {  # NAME MODEL
  taskvec bench --model "$2" --mmproj "$(dirname "$2")/mmproj.gguf" --gpu-layers "$gl" --prompt-tokens 512 \
      --gen-tokens 128 --rounds "$rounds" --json "$raw/bench-$1.json"
}
llama_bench() {  # NAME MODEL: pp at depth 0 matches taskvec's prompt; tg at depth 512 matches its decode
  "$bench_bin" -m "$2" -ngl "$ngl" -p 512 -n 128 -d "0,512" -r "$rounds" -o json > "$raw/llama-bench-$1.json"
}
bench2() { bench "$1.2" "$2"; }
llama_bench2() { llama_bench "$1.2" "$2"; }
pair() {  # NAME MODEL: taskvec bench and llama-bench in ABBA order (two processes each), so that drift of the
          # machine falls on both alike; gpu_summary.py pairs the first A with the first B, the second with the second
  step "bench-$1" $([ $cpu = 1 ] && echo 10 || echo 40) bench "$1" "$2"
  if [ -n "$bench_bin" ]; then
    step "llama-bench-$1" $([ $cpu = 1 ] && echo 5 || echo 30) llama_bench "$1" "$2" \
      && step "llama-bench-$1.2" $([ $cpu = 1 ] && echo 5 || echo 30) llama_bench2 "$1" "$2" \
      && step "bench-$1.2" $([ $cpu = 1 ] && echo 10 || echo 40) bench2 "$1" "$2"
  else
    log "llama-bench-$1" "skipped" "" "no llama-bench in the natives"
  fi
}
pair "$shape-F16" "$small/model.gguf"

# batched decode (issue 13): the engine's Java API against llama-batched-bench, the same npp/ntg/npl, context, batch
# (the session's 512), threads and unified KV cache; on the CPU the tiny model with short sequences
if [ $cpu = 1 ]; then b_npp=32; b_ntg=16; else b_npp=128; b_ntg=128; fi
b_npl=1,4,16,64
b_ctx=$(( 64 * (b_npp + b_ntg) ))
b_threads=$(( jobs < 8 ? jobs : 8 ))
batched_taskvec() {  # NAME MODEL K
  taskvec bench --model "$2" --gpu-layers "$gl" --batched --npp "$b_npp" --ntg "$b_ntg" --npl "$b_npl" --ctx "$b_ctx" \
      --threads "$b_threads" --json "$raw/batched-taskvec-$1.$3.jsonl"
}
batched_llama() {  # NAME MODEL K: JSON lines on stdout, its log on stderr
  "$batched_bin" -m "$2" -ngl "$ngl" -c "$b_ctx" -b 512 -ub 512 -npp "$b_npp" -ntg "$b_ntg" -npl "$b_npl" -kvu \
      -t "$b_threads" -tb "$b_threads" --output-format jsonl > "$raw/llama-batched-bench-$1.$3.out" || return 1
  grep '^{' "$raw/llama-batched-bench-$1.$3.out" > "$raw/llama-batched-bench-$1.$3.jsonl"
}
batched_pair() {  # NAME MODEL: ABBA, pair k is batched-taskvec-NAME.k with llama-batched-bench-NAME.k
  local est_a est_b
  if [ $cpu = 1 ]; then est_a=10; est_b=5; else est_a=40; est_b=30; fi
  if [ -z "$batched_bin" ]; then
    log "llama-batched-bench-$1" "skipped" "" "no llama-batched-bench in the natives"
    return 0
  fi
  step "batched-$1" $est_a batched_taskvec "$1" "$2" 1 \
    && step "llama-batched-bench-$1" $est_b batched_llama "$1" "$2" 1 \
    && step "llama-batched-bench-$1.2" $est_b batched_llama "$1" "$2" 2 \
    && step "batched-$1.2" $est_a batched_taskvec "$1" "$2" 2
}
batched_pair "$shape-F16" "$small/model.gguf"

# the 7b quantization runs in the background (half the cores) while the paper workload uses the GPU
quantize_bg() {
  wait_for "$big/.done" "$synth_pid" || exit 1
  local t0; t0=$(date +%s)
  run_java org.taskvec.cli.TaskvecCli quantize --threads "$(( jobs / 2 ))" "$big/model.gguf" "$big/model-Q4_K_M.gguf.part" Q4_K_M \
    && mv "$big/model-Q4_K_M.gguf.part" "$big/model-Q4_K_M.gguf" \
    && log "quantize 7b Q4_K_M" "ok" "$(( $(date +%s) - t0 ))" "in the background, $(( jobs / 2 )) threads"
}
if [ $seven_b = 1 ] && [ ! -f "$big/model-Q4_K_M.gguf" ]; then background quantize-7b quantize_bg; fi

quantize_small() {  # TYPE
  [ -f "$small/model-$1.gguf" ] || taskvec quantize "$small/model.gguf" "$small/model-$1.gguf" "$1"
}
small_quantized_done=0
small_quantized() {  # the least important figures: the small shape in Q8_0 and Q4_K_M
  [ $small_quantized_done = 0 ] || return 0
  small_quantized_done=1
  local t
  for t in Q8_0 Q4_K_M; do
    step "quantize-$shape-$t" 20 quantize_small "$t" && pair "$shape-$t" "$small/model-$t.gguf"
  done
}
# while the 7b model is still being generated, the GPU does the small quantized pairs instead of waiting
if [ $seven_b = 1 ] && [ ! -f "$big/.done" ]; then small_quantized; fi

if [ $seven_b = 1 ]; then
  pw_model="$big/model.gguf"; pw_config=llava-1.5-7b; workload="$root/benchmarks/paper-workload.json"
  step wait-7b 5 wait_for "$big/.done" "$synth_pid" || log "paper" "skipped" "" "no 7b model (see synth.log)"
else
  pw_model="$small/model.gguf"; pw_config=tiny; workload="$root/benchmarks/paper-workload-tiny.json"
fi
paper_taskvec() {
  taskvec bench --model "$pw_model" --mmproj "$(dirname "$pw_model")/mmproj.gguf" --gpu-layers "$gl" \
      --paper-workload "$workload" --json "$raw/paper-taskvec.json"
}
paper_parallel() {
  taskvec bench --model "$pw_model" --mmproj "$(dirname "$pw_model")/mmproj.gguf" --gpu-layers "$gl" \
      --paper-workload "$workload" --parallel 8 --official-cost --rounds 2 --json "$raw/paper-parallel.json"
}
paper_official() {
  python3 "$root/benchmarks/official_loop.py" --config "$pw_config" --workload "$workload" --json "$raw/paper-official.json"
}
if [ -f "$pw_model" ] && { [ $seven_b = 0 ] || [ -f "$big/.done" ]; }; then
  step paper-taskvec $([ $cpu = 1 ] && echo 10 || echo 45) paper_taskvec
  if [ $official = 1 ] && python3 -c "import torch, transformers" > /dev/null 2>&1; then
    step paper-official $([ $cpu = 1 ] && echo 30 || echo 90) paper_official
  else
    log "paper-official" "skipped" "" "disabled, or python3 lacks torch/transformers"
  fi
  # issue 13: sequential, on 8 parallel sequences and at the official cost on this engine, interleaved (2 rounds)
  step paper-parallel $([ $cpu = 1 ] && echo 20 || echo 150) paper_parallel
fi

# the paper's experiment on a trained model organism: every layer on the GPU, then all on the CPU
# (by default on a GPU the organism shipped in the repository; a --cpu run only with --organism)
[ -n "$organism" ] || [ $cpu = 1 ] || { [ -f "$root/organism/model.gguf" ] && organism="$root/organism"; }
organism_xpatch() {  # WHERE GPU_LAYERS: fresh task vectors (no cache), the report in raw/organism-WHERE/
  local llm=()
  [ -f "$organism/llm.gguf" ] && llm=(--llm "$organism/llm.gguf")
  taskvec xpatch --model "$organism/model.gguf" --mmproj "$organism/mmproj.gguf" "${llm[@]}" --several-images yes \
      --gpu-layers "$2" --no-cache --out "$raw/organism-$1"
}
if [ -n "$organism" ]; then
  if [ -f "$organism/model.gguf" ] && [ -f "$organism/mmproj.gguf" ]; then
    if [ $cpu = 0 ]; then step organism-gpu 60 organism_xpatch gpu -1; fi
    step organism-cpu 60 organism_xpatch cpu 0
  else
    log "organism" "skipped" "" "$organism lacks model.gguf or mmproj.gguf"
  fi
fi

if [ $seven_b = 1 ]; then
  step wait-7b-Q4_K_M 5 wait_for "$big/model-Q4_K_M.gguf" "${bg_pids[1]:-}" \
    && pair 7b-Q4_K_M "$big/model-Q4_K_M.gguf"
fi
small_quantized

finished=1
log "run" "finished" "$(( $(date +%s) - start ))" "$(ls "$raw/done" | wc -l) steps done"
