#!/usr/bin/env bash
# Batched decode of the engine (taskvec bench --batched, the Java API) against llama.cpp's llama-batched-bench on the
# same natives: the same npp/ntg/npl, context, batch sizes, threads and unified KV cache; the two processes in ABBA
# order (A B, then B A, ...), one pair per round, so that drift of the machine falls on both alike. The summary
# (benchmarks/batched_summary.py) gives per npl the median over the pairs of taskvec/llama-batched-bench for S_TG and
# S_PP, with the spread.
#
#   benchmarks/batched-bench.sh --model M.gguf --out DIR [--natives DIR] [--rounds 4] [--npp 32] [--ntg 16]
#                               [--npl 1,4,16,64] [--threads 2] [--ctx 4096] [--gpu-layers 0]
#                               [--timeout 600]
#
#   --natives DIR  what benchmarks/build-batched-bench.sh made (DIR/lib: the engine's natives, DIR/bin:
#                  llama-batched-bench); default: built (or its cached build copied) into OUT/natives
#   --timeout S    the most one process may run (killed after it; the round is then incomplete)
# The engine runs from java/target (mvn package) with the natives of DIR/lib loaded first (pathsFirst), so both
# processes use the same libllama/libggml files. Output in --out: batched-taskvec-NAME.K.jsonl and
# llama-batched-bench-NAME.K.jsonl (K = 1..rounds; NAME from the model's folder), each process's log, info.txt
# (which natives the engine loaded), command.txt, summary.md and batched-summary.json.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
model="" out="" natives="" rounds=4 npp=32 ntg=16 npl=1,4,16,64 threads=2 ctx=4096 ngl=0 limit=600
batch=512  # -b and -ub of llama-batched-bench: the batch and micro-batch of the engine's sessions (SessionParams)
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --natives) natives="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --npp) npp="$2"; shift 2 ;;
    --ntg) ntg="$2"; shift 2 ;;
    --npl) npl="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --ctx) ctx="$2"; shift 2 ;;
    --gpu-layers) ngl="$2"; shift 2 ;;
    --timeout) limit="$2"; shift 2 ;;
    *) echo "batched-bench: unknown argument $1 (see the head of $0)" >&2; exit 2 ;;
  esac
done
[ -n "$model" ] && [ -f "$model" ] || { echo "batched-bench: --model M.gguf is required" >&2; exit 2; }
[ -n "$out" ] || { echo "batched-bench: --out DIR is required" >&2; exit 2; }
mkdir -p "$out" && out="$(cd "$out" && pwd)"
if [ -z "$natives" ]; then
  natives="$out/natives"
  "$root/benchmarks/build-batched-bench.sh" --out "$natives" > "$out/build.log" 2>&1 \
    || { tail -5 "$out/build.log" >&2; exit 1; }
fi
natives="$(cd "$natives" && pwd)"
tool="$natives/bin/llama-batched-bench"
[ -x "$tool" ] || { echo "batched-bench: no $tool (benchmarks/build-batched-bench.sh makes it)" >&2; exit 1; }
jar="$root/java/target/taskvec.jar"
[ -f "$jar" ] || { echo "batched-bench: no $jar (mvn -DskipTests package)" >&2; exit 1; }
name="$(basename "$(dirname "$model")")-$(basename "$model" .gguf)"

JAVA=(java -Xss4m -Dorg.bytedeco.javacpp.pathsFirst=true -Djava.library.path="$natives/lib"
      -cp "$jar:$root/java/target/lib/*" org.taskvec.cli.TaskvecCli)
timeout -k 10 120 "${JAVA[@]}" info > "$out/info.txt" 2>&1
grep -q "^natives .*$natives/lib" "$out/info.txt" \
  || { echo "batched-bench: the engine did not load $natives/lib:" >&2; cat "$out/info.txt" >&2; exit 1; }

# the same settings on both sides: -c/--ctx, -b/-ub (the session's batch and micro-batch), threads, unified KV
# cache (the engine's sessions have one), flash attention auto (both defaults)
A=(bench --model "$model" --batched --npp "$npp" --ntg "$ntg" --npl "$npl" --ctx "$ctx" --threads "$threads"
   --gpu-layers "$ngl")
B=("$tool" -m "$model" -c "$ctx" -b "$batch" -ub "$batch" -npp "$npp" -ntg "$ntg" -npl "$npl" -kvu -t "$threads"
   -tb "$threads" -ngl "$ngl" --output-format jsonl)
{ echo "# $(date -u +%FT%TZ), rounds $rounds, ABBA"; echo "taskvec ${A[*]} --json batched-taskvec-$name.K.jsonl"
  echo "${B[*]} > llama-batched-bench-$name.K.jsonl"; } > "$out/command.txt"

run_a() {  # K
  timeout -k 10 "$limit" "${JAVA[@]}" "${A[@]}" --json "$out/batched-taskvec-$name.$1.jsonl" > "$out/batched-taskvec-$name.$1.log" 2>&1
}
run_b() {  # K: JSON lines on stdout, the rest (model loading, timings) on stderr
  timeout -k 10 "$limit" "${B[@]}" > "$out/llama-batched-bench-$name.$1.out" 2> "$out/llama-batched-bench-$name.$1.log"
  local rc=$?
  grep '^{' "$out/llama-batched-bench-$name.$1.out" > "$out/llama-batched-bench-$name.$1.jsonl"
  rm -f "$out/llama-batched-bench-$name.$1.out"
  return $rc
}
for k in $(seq 1 "$rounds"); do
  if [ $((k % 2)) = 1 ]; then order="a b"; else order="b a"; fi
  for side in $order; do
    t0=$(date +%s)
    if [ "$side" = a ]; then run_a "$k"; else run_b "$k"; fi
    echo "round $k: $([ "$side" = a ] && echo taskvec || echo llama-batched-bench) exit $? in $(( $(date +%s) - t0 )) s" >&2
  done
done
python3 "$root/benchmarks/batched_summary.py" "$out" > "$out/summary.md"
cat "$out/summary.md"
