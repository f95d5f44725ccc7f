#!/usr/bin/env bash
# libFuzzer runs of the fuzz targets (tests/fuzz/README.md):
#
#   scripts/fuzz.sh [-t SECONDS] [-j JOBS] [TARGET...]
#
# builds them with clang, libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer into build-fuzz/ (-DFLB_FUZZ=ON), then runs
# each TARGET (default: all; the names of tests/fuzz/fuzz_<name>.cc) for
# SECONDS (default 600), JOBS at a time (default 1), from the committed
# seeds and kept regressions (ctest's fuzz.run.<name>). Each run's
# libFuzzer log, new corpus inputs and any finding's input (crash-<sha1>)
# are under build-fuzz/tests/fuzz/run-<name>/. Exit 1 when a target found
# something (ctest's output names it). scripts/test.sh --fuzz runs
# `scripts/fuzz.sh -t 20 -j 1`; CI runs that.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=600 jobs=1
usage="usage: scripts/fuzz.sh [-t SECONDS] [-j JOBS] [TARGET...]"
while getopts t:j:h o; do
  case $o in
    t) seconds=$OPTARG ;;
    j) jobs=$OPTARG ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[[ $seconds =~ ^[0-9]+$ && $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: -t and -j take whole numbers; $usage" >&2; exit 2; }
all=()
for f in tests/fuzz/fuzz_*.cc; do n=${f#tests/fuzz/fuzz_}; all+=("${n%.cc}"); done
targets=("${@:-${all[@]}}")
for t in "${targets[@]}"; do
  [ -f "tests/fuzz/fuzz_$t.cc" ] || { echo "fuzz: no target '$t' (one of: ${all[*]})" >&2; exit 2; }
done
scripts/install-deps.sh
FLB_BUILD_DIR=build-fuzz FLB_BUILD_TARGETS=flb_fuzz_targets scripts/build.sh -DFLB_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DFLB_FUZZ_SECONDS="$seconds"
names=$(IFS='|'; echo "${targets[*]}")
cd build-fuzz
status=0
ctest --output-on-failure -L fuzz-run -R "^fuzz\.run\.($names)\$" -j "$jobs" || status=1
for t in "${targets[@]}"; do
  grep -E '^#[0-9]+[[:space:]]+DONE' "tests/fuzz/run-$t/fuzz.log" 2>/dev/null | tail -1 | sed "s/^/fuzz: $t: /" || true
done
exit $status
