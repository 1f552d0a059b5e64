#!/usr/bin/env bash
# A stand-in for cmake in NativeBuildScriptTest: cmake/build-natives.sh's calls, without compiling anything.
#   configure (-S/-B), --build (ninja-like "[N/M]" lines), --install --prefix (a few files, slowly), -P (fetch)
# FAKE_CMAKE_RECORD: a file that gets one line per call ("configure", "build", "install", "fetch")
# FAKE_CMAKE_STEPS: compile steps (default 50); FAKE_CMAKE_STEP_SECONDS: pause per step (default 0.02)
# FAKE_CMAKE_NOISE: extra compiler lines per step (default 0); FAKE_CMAKE_FAIL=build: the build fails
set -euo pipefail
record() { [ -z "${FAKE_CMAKE_RECORD:-}" ] || echo "$1 $$" >> "$FAKE_CMAKE_RECORD"; }
case "${1:-}" in
  --build)
    record build
    steps="${FAKE_CMAKE_STEPS:-50}"
    for i in $(seq 1 "$steps"); do
      echo "[$i/$steps] Building CXX object src/fake_$i.cpp.o"
      for j in $(seq 1 "${FAKE_CMAKE_NOISE:-0}"); do echo "fake_$i.cpp:$j: warning: noise $j"; done
      if [ "${FAKE_CMAKE_FAIL:-}" = build ] && [ "$i" -ge $((steps / 2)) ]; then
        for k in $(seq 1 100); do echo "fake error $k"; done
        echo "FAILED: src/fake_$i.cpp.o"
        exit 1
      fi
      sleep "${FAKE_CMAKE_STEP_SECONDS:-0.02}"
    done
    touch "$2/built" ;;
  --install)
    record install
    prefix=""
    while [ $# -gt 0 ]; do [ "$1" = --prefix ] && prefix="$2"; shift; done
    mkdir -p "$prefix/lib" "$prefix/include" "$prefix/share" "$prefix/bin"
    for f in lib/libtaskvec.so lib/libllama.so lib/libggml.so include/taskvec.h share/ggml-vocab-llama-spm.gguf; do
      head -c 4096 /dev/urandom > "$prefix/$f"
      sleep 0.05
    done ;;
  -P|-D*)
    if [ "${*: -2:1}" = -P ]; then record fetch; exit 0; fi
    ;&
  *)
    record configure
    build=""
    while [ $# -gt 0 ]; do [ "$1" = -B ] && build="$2"; shift; done
    mkdir -p "$build"; touch "$build/CMakeCache.txt"
    echo "-- The C compiler identification is GNU (fake)"
    echo "-- Configuring done"; echo "-- Generating done"; echo "-- Build files have been written to: $build" ;;
esac
