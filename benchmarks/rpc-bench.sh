#!/usr/bin/env bash
# The cost of layers on RPC servers: starts two `taskvec rpc-server` processes on loopback (ports the OS picks),
# runs `taskvec bench --rpc` (the model local and split over both servers, interleaved), and stops the servers
# (also on failure or Ctrl-C).
#
#   benchmarks/rpc-bench.sh --model M [--out DIR] [--server-threads N] [bench options: --rounds, --prompt-tokens, ...]
#
# DIR (default benchmarks/results/rpc-cpu-<date>) receives the bench's table (bench.txt), its JSON and the servers'
# output.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
model="" out="" server_threads="$(nproc)"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --server-threads) server_threads="$2"; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[ -n "$model" ] || { echo "rpc-bench: --model M is required" >&2; exit 2; }
out="${out:-$root/benchmarks/results/rpc-cpu-$(date +%Y%m%d)}"
mkdir -p "$out"

pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; }
trap stop EXIT INT TERM

endpoints=()
for i in 1 2; do
  : > "$out/server-$i.log"
  "$root/taskvec" rpc-server --port 0 --threads "$server_threads" > "$out/server-$i.log" 2>&1 &
  pids+=($!)
  port=""
  for _ in $(seq 1 600); do
    port="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/server-$i.log" | head -1 || true)"
    [ -n "$port" ] && break
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$out/server-$i.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -n "$port" ] || { echo "rpc-bench: server $i did not start" >&2; cat "$out/server-$i.log" >&2; exit 1; }
  # the line comes before ggml binds: wait until the port accepts
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  endpoints+=("127.0.0.1:$port")
done
list="$(IFS=,; echo "${endpoints[*]}")"
echo "rpc-bench: servers $list ($server_threads threads each)" | tee "$out/bench.txt"
"$root/taskvec" bench --model "$model" --rpc "$list" --json "$out/bench.json" "${args[@]}" 2> "$out/bench.log" \
  | tee -a "$out/bench.txt"
