#!/usr/bin/env bash
# Wire codec benchmark (apps/bench/wire_bench.cc): encode + decode of the
# MLP's dense 0.8 MB upload and of sparse ones, next to a memcpy of the same
# bytes measured in the same run, and the version-1 code path as the
# baseline. Writes results/bench/wire_codec.md. Runs from any directory;
# needs a build (scripts/build.sh; FLB_BUILD_DIR as there). OUT names
# another table file (ctest's quick run).
#   scripts/bench/wire_codec.sh [ITERATIONS]     (default 400; 20 for a quick check)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FLB_BUILD_DIR:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac
iterations=${1:-400}
bench=$build/apps/wire_bench
[ -x "$bench" ] || { echo "wire_codec: $bench not found; build first: $root/scripts/build.sh" >&2; exit 1; }
out=${OUT:-$root/results/bench/wire_codec.md}
mkdir -p "$(dirname "$out")"
"$bench" --iterations "$iterations" --warmup $((iterations / 10 + 1)) --out "$out.tmp"
{
  cat "$out.tmp"
  echo
  echo "Made by \`scripts/bench/wire_codec.sh $iterations\` on $(nproc) cores ($(uname -m)), $(date -u +%Y-%m-%d)," \
       "git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)."
} >"$out"
rm -f "$out.tmp"
echo "wire_codec: wrote $out"
