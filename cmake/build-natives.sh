#!/usr/bin/env bash
# Builds the native libraries (pinned llama.cpp + libtaskvec) once per machine and copies them to --out.
#
#   cmake/build-natives.sh --out DIR [--portable] [--cuda [--cuda-arch LIST]] [--jobs N] [--verbose[=true|false]]
#   cmake/build-natives.sh --print-key [--portable] [--cuda ...]     the cache keys and folders, nothing built
#
# Cache (outside the clone): ${TASKVEC_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/taskvec}
#   src/                            the fetched llama.cpp source (fetched under the lock src/.fetch.lock)
#   build/<llama key>/              the CMake build tree (llama.cpp objects reused when only our sources change) and
#                                   its build.log (configure, compile and install output of the last build)
#   build/<llama key>.lock          flock(1) lock: one build per build tree at a time; holds the builder's pid
#   natives/<full key>/{lib,include,bin,share}   the finished install; a hit skips CMake entirely. Built in
#                                   natives/.tmp-<full key>-<pid>, .manifest.sha256 and .complete written last, then
#                                   renamed into place, so a reader sees a whole entry or none.
# The llama key is the pin, the flags, the compiler and, unless --portable, the host CPU (what the compiler resolves
# -march=native to); the full key adds the project's native sources.
#
# Environment: TASKVEC_PORTABLE=1, TASKVEC_CUDA=1, TASKVEC_CUDA_ARCHITECTURES, TASKVEC_LLAMA_CPP_DIR (own source
# tree), TASKVEC_NATIVE_VERBOSE=1 (all of CMake's and the compiler's output on the console, as --verbose),
# TASKVEC_NATIVE_LOCK_TIMEOUT (seconds to wait for another build of the same tree, default 3600),
# TASKVEC_CPU_FINGERPRINT (replaces the host CPU fingerprint; for tests).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="" portable=0 cuda=0 cuda_arch="${TASKVEC_CUDA_ARCHITECTURES:-75;80;86;89;90}" jobs="$(nproc 2>/dev/null || echo 2)"
print_key=0 verbose=0
is_true() { case "${1,,}" in 1|true|yes|on) return 0 ;; *) return 1 ;; esac; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --portable) portable=1; shift ;;
    --cuda) cuda=1; shift ;;
    --cuda-arch) cuda_arch="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --print-key) print_key=1; shift ;;
    --verbose) verbose=1; shift ;;
    --verbose=*) is_true "${1#--verbose=}" && verbose=1; shift ;;
    *) echo "build-natives: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$out" ] || [ "$print_key" = 1 ] || { echo "build-natives: --out DIR is required" >&2; exit 2; }
[ "${TASKVEC_PORTABLE:-}" = "1" ] && portable=1
[ "${TASKVEC_CUDA:-}" = "1" ] && cuda=1
is_true "${TASKVEC_NATIVE_VERBOSE:-}" && verbose=1
lock_timeout="${TASKVEC_NATIVE_LOCK_TIMEOUT:-3600}"

say() { echo "taskvec natives: $*"; }
fail() { echo "build-natives: $*" >&2; exit 1; }
elapsed() { local s=$1; if [ "$s" -ge 60 ]; then echo "$((s / 60)) min $((s % 60)) s"; else echo "$s s"; fi; }

# The host CPU as the compiler sees it for -march=native (the flags ggml's GGML_NATIVE=ON build uses): gcc's cc1 line
# (-march=<cpu> and every -m<feature>/-mno-<feature>) or clang's -cc1 line (-target-cpu, -target-feature); cache
# sizes (--param) are left out. Without a compiler answer: /proc/cpuinfo's model name and flags. Sets cpu_label
# (readable) and cpu_hash.
cpu_fingerprint() {
  local text="" line
  if [ -n "${TASKVEC_CPU_FINGERPRINT:-}" ]; then
    cpu_label="$TASKVEC_CPU_FINGERPRINT"; text="override $TASKVEC_CPU_FINGERPRINT"
  else
    line="$(${CXX:-c++} -march=native -### -E - </dev/null 2>&1 | grep -E 'cc1' | head -1 || true)"
    if [ -n "$line" ]; then
      text="$(printf '%s\n' "$line" | tr -d '"' | awk '{
          for (i = 1; i <= NF; i++) {
            t = $i
            if (p != "") { print p "=" t; p = ""; continue }
            if (t == "-target-cpu" || t == "-target-feature" || t == "-tune-cpu") { p = t; continue }
            if (t ~ /^-m[a-z0-9]/) print t
          } }' | LC_ALL=C sort -u)"
      cpu_label="$(printf '%s\n' "$text" | sed -n 's/^-march=//p; s/^-target-cpu=//p' | head -1)"
    fi
    if [ -z "$text" ]; then
      text="$(grep -m1 -E '^(model name|Processor|CPU part)' /proc/cpuinfo 2>/dev/null || true)
$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2>/dev/null || true)"
      cpu_label="$(grep -m1 '^model name' /proc/cpuinfo 2>/dev/null | sed 's/^[^:]*: *//' | tr ' ' '_' || true)"
    fi
    text="$(uname -m) $text"
  fi
  cpu_label="${cpu_label:-unknown}"
  cpu_hash="$(printf '%s\n' "$text" | sha256sum | cut -c1-12)"
}

cache="${TASKVEC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/taskvec}"
flags="portable=$portable cuda=$cuda"
[ "$cuda" = 1 ] && flags="$flags arch=$cuda_arch"
user_src="${TASKVEC_LLAMA_CPP_DIR:-}"
[ -n "$user_src" ] && flags="$flags src=$(cd "$user_src" && pwd)"
# A host build (GGML_NATIVE=ON: -march=native) runs only on CPUs like this one: the CPU is part of its key.
# A portable build runs anywhere and is shared by every CPU.
cpu_label="any" cpu_hash=""
if [ "$portable" = 0 ]; then
  cpu_fingerprint
  flags="$flags cpu=$cpu_hash"
fi
compiler="$(${CXX:-c++} --version 2>/dev/null | head -1 || true)"

llama_key="$( { cat "$here/llama-cpp-pin.cmake"; echo "$flags"; echo "$compiler"; } | sha256sum | cut -c1-16)"
full_key="$( { echo "$llama_key"; cd "$root" && find native cmake -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.txt' -o -name '*.cmake' -o -name '*.sh' -o -name '*.patch' \) | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-16)"
build="$cache/build/$llama_key"
install="$cache/natives/$full_key"
lock="$cache/build/$llama_key.lock"
log="$build/build.log"
describe="$flags"; [ "$portable" = 0 ] && describe="${flags/cpu=$cpu_hash/cpu=$cpu_label/$cpu_hash}"

if [ "$print_key" = 1 ]; then
  printf 'llama_key=%s\nfull_key=%s\nflags=%s\ncpu=%s\ncpu_hash=%s\nbuild=%s\nnatives=%s\nlock=%s\nlog=%s\n' \
    "$llama_key" "$full_key" "$flags" "$cpu_label" "$cpu_hash" "$build" "$install" "$lock" "$log"
  exit 0
fi

# Copies the entry to --out and checks the copy against the entry's manifest: a hit only when every file arrived
# as it was built (an entry replaced while it was being read fails the check and goes through the lock).
deliver() {
  [ -f "$install/.complete" ] || return 1
  rm -rf "$out"; mkdir -p "$out"
  cp -a "$install/." "$out/" 2>/dev/null && [ -f "$out/.complete" ] \
    && (cd "$out" && sha256sum --quiet -c .manifest.sha256 >/dev/null 2>&1)
}

if deliver; then
  say "cache hit $install ($describe)"
  say "$out"
  exit 0
fi

# --- one build per build tree at a time -------------------------------------------------------------------------
command -v flock >/dev/null || fail "needs flock(1) (Debian/Ubuntu package util-linux) to lock the native cache"
mkdir -p "$cache/build" "$cache/natives"
exec 9>>"$lock"
if ! flock -n 9; then
  holder="$(head -1 "$lock" 2>/dev/null || true)"
  say "waiting for another build (${holder:-pid unknown}) of $build; up to ${lock_timeout} s (TASKVEC_NATIVE_LOCK_TIMEOUT)"
  waited=$SECONDS
  if ! flock -w "$lock_timeout" 9; then
    fail "timed out after ${lock_timeout} s waiting for another build (${holder:-pid unknown}) that holds $lock." \
         "The lock belongs to a running process (the kernel drops it when its holder exits): wait for it or stop it" \
         "(fuser -v $lock), or set TASKVEC_NATIVE_LOCK_TIMEOUT to wait longer."
  fi
  say "the other build ended after $(elapsed $((SECONDS - waited)))"
fi
printf 'pid %s on %s since %s, clone %s\n' "$$" "$(hostname 2>/dev/null || echo localhost)" "$(date '+%F %T')" "$root" > "$lock"

if deliver; then   # built meanwhile by the build we waited for
  say "cache hit $install ($describe), built by the other build"
  say "$out"
  exit 0
fi
tmp_install="$cache/natives/.tmp-$full_key-$$"
old_install="$cache/natives/.old-$full_key-$$"
trap 'rm -rf "$tmp_install" "$old_install"' EXIT
rm -rf "$cache/natives/.tmp-$full_key-"* "$cache/natives/.old-$full_key-"*   # left by killed builds (we hold the lock)
if [ -e "$install" ]; then
  say "cache entry $install is incomplete or altered; rebuilding it" >&2
  mv "$install" "$old_install"; rm -rf "$old_install"
fi

# --- the build: output to build/<key>/build.log, one line per step on the console --------------------------------
mkdir -p "$build"
{ echo "# taskvec natives $(date '+%F %T'): $describe"; echo "# llama key $llama_key, full key $full_key, clone $root"; } > "$log"
started=$SECONDS
say "building ($describe) in $build; log: $log"

step_failed() {  # step rc
  echo "build-natives: $1 failed (exit $2)." >&2
  if [ "$verbose" = 0 ]; then
    echo "build-natives: the last 40 lines of $log:" >&2
    tail -n 40 "$log" | sed 's/^/  | /' >&2
  fi
  echo "build-natives: full log: $log" >&2
  exit "$2"
}
# run_step NAME COMMAND...: the command's output goes to the log (and to the console with --verbose)
run_step() {
  local name="$1" t0=$SECONDS rc=0; shift
  echo "# --- $name: $*" >> "$log"
  if [ "$verbose" = 1 ]; then
    say "$name"
    "$@" 2>&1 | tee -a "$log" || rc=${PIPESTATUS[0]}
    [ "$rc" = 0 ] || step_failed "$name" "$rc"
    say "$name: done in $(elapsed $((SECONDS - t0)))"
  else
    printf 'taskvec natives: %s ... ' "$name"
    "$@" >> "$log" 2>&1 || rc=$?
    if [ "$rc" != 0 ]; then echo "failed"; step_failed "$name" "$rc"; fi
    echo "done in $(elapsed $((SECONDS - t0)))"
  fi
}
# The last progress mark in the log: ninja's [N/M] or make's [ P%].
progress() { tail -n 300 "$log" 2>/dev/null | tr '\r' '\n' | grep -Eo '^\[ *[0-9]+(/[0-9]+|%)\]' | tail -1 | tr -d '[] ' || true; }
percent() { case "$1" in */*) echo $(( ${1%/*} * 100 / (${1#*/} > 0 ? ${1#*/} : 1) )) ;; *%) echo "${1%\%}" ;; *) echo 0 ;; esac; }
# build_step NAME COMMAND...: like run_step, with a progress line every 20% (or one live line on a terminal)
build_step() {
  local name="$1" t0=$SECONDS rc=0 pid p pct next=20 tty=0; shift
  [ "$verbose" = 1 ] && { run_step "$name" "$@"; return; }
  [ -t 1 ] && tty=1
  echo "# --- $name: $*" >> "$log"
  "$@" >> "$log" 2>&1 &
  pid=$!
  trap 'kill -TERM "$pid" 2>/dev/null; exit 143' TERM INT
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    p="$(progress)"; [ -n "$p" ] || continue
    pct="$(percent "$p")"
    if [ "$tty" = 1 ]; then
      printf '\rtaskvec natives: %s %s (%s%%), %s   ' "$name" "$p" "$pct" "$(elapsed $((SECONDS - t0)))"
    elif [ "$pct" -ge "$next" ] && [ "$pct" -lt 100 ]; then
      say "$name $p ($pct%), $(elapsed $((SECONDS - t0)))"
      next=$(( (pct / 20 + 1) * 20 ))
    fi
  done
  wait "$pid" || rc=$?
  trap - TERM INT
  [ "$tty" = 1 ] && printf '\n'
  [ "$rc" = 0 ] || step_failed "$name" "$rc"
  say "$name ${p:+$p }done in $(elapsed $((SECONDS - t0)))"
}

if [ "$cuda" = 1 ]; then
  command -v nvcc >/dev/null || fail "--cuda needs the CUDA toolkit (nvcc); none found. The default build is CPU-only."
  cuda_home="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
  found=""
  for d in "$cuda_home" "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda /usr/local/cuda-* /usr; do
    [ -n "$d" ] || continue
    for h in "$d"/include/cublas_v2.h "$d"/targets/*/include/cublas_v2.h; do
      [ -f "$h" ] && found="$h"
    done
  done
  if [ -z "$found" ]; then
    fail "the CUDA toolkit at $cuda_home has no cuBLAS (cublas_v2.h), which ggml's CUDA backend needs. The default build is CPU-only."
  fi
fi

if [ -z "$user_src" ]; then
  pin() { sed -n "s/^set($1 \"\\(.*\\)\".*/\\1/p" "$here/llama-cpp-pin.cmake" | head -1; }
  src_dir="$cache/src/llama.cpp-$(pin TASKVEC_LLAMA_CPP_TAG)-$(pin TASKVEC_LLAMA_CPP_COMMIT)"
  if [ ! -f "$src_dir/include/llama.h" ]; then
    run_step "fetching llama.cpp $(pin TASKVEC_LLAMA_CPP_TAG) (npm node-llama-cpp@$(pin TASKVEC_NODE_LLAMA_CPP_VERSION)) into $cache/src" \
      cmake -DTASKVEC_CACHE_DIR="$cache" -P "$here/fetch-llama-cpp.cmake"
  fi
fi

cmake_args=(-S "$root/native" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTASKVEC_CACHE_DIR="$cache"
            -DTASKVEC_PORTABLE=$([ $portable = 1 ] && echo ON || echo OFF)
            -DTASKVEC_CUDA=$([ $cuda = 1 ] && echo ON || echo OFF))
[ "$cuda" = 1 ] && cmake_args+=(-DCMAKE_CUDA_ARCHITECTURES="$cuda_arch")
# the build folder is shared by every clone on this machine (it is keyed by the llama.cpp build, not the clone):
# a cache configured from another clone's native/ is dropped, or CMake refuses the new source folder
if [ -f "$build/CMakeCache.txt" ]; then
  configured_from="$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")"
  if [ -n "$configured_from" ] && [ "$configured_from" != "$root/native" ]; then
    echo "build-natives: the build folder was configured from $configured_from; configuring it for $root/native" >&2
    rm -rf "$build/CMakeCache.txt" "$build/CMakeFiles"
  fi
fi
command -v ninja >/dev/null && [ ! -f "$build/CMakeCache.txt" ] && cmake_args+=(-G Ninja)
run_step configuring cmake "${cmake_args[@]}"
build_step compiling cmake --build "$build" --parallel "$jobs" --target taskvec taskvec-decode-loop taskvec-leak-probe
run_step installing cmake --install "$build" --prefix "$tmp_install"
if [ "$portable" = 1 ]; then  # backend modules that ggml loads at run time, for the jar
  (cd "$tmp_install/lib" && ls libggml-cpu-*.so libggml-rpc.so 2>/dev/null || true) > "$tmp_install/lib/ggml-backends.list"
fi
echo "$describe" > "$tmp_install/.flags"
(cd "$tmp_install" && find . -type f ! -name '.manifest.sha256' ! -name '.complete' | LC_ALL=C sort | xargs sha256sum > .manifest.sha256)
touch "$tmp_install/.complete"
mv -T "$tmp_install" "$install"   # rename(2): the entry appears whole
say "built in $(elapsed $((SECONDS - started))): $install"
flock -u 9
deliver || fail "the new cache entry $install does not copy intact to $out"
say "$out"
