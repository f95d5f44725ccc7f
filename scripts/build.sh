#!/usr/bin/env bash
# Configures and builds flbench (Release) into build/ (or $FLB_BUILD_DIR).
# Extra arguments go to CMake's configure step, e.g.
#   scripts/build.sh -DCMAKE_PREFIX_PATH=/opt/libtorch-cuda
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FLB_BUILD_DIR:-build}
launcher=()
command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" "$@" >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; echo "build: CMake configure failed (log above). Run scripts/install-deps.sh first." >&2; exit 1; }
grep "flbench:" "$build.configure.log" || true
# FLB_BUILD_TARGETS: only these targets (scripts/test.sh --sanitize)
cmake --build "$build" -j"$(nproc)" ${FLB_BUILD_TARGETS:+--target $FLB_BUILD_TARGETS}
