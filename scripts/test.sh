#!/usr/bin/env bash
# The test suite: installs what is missing, builds, runs ctest: the
# single-process tests (unit, fuzz replays, layering) two at a time, then
# the rest one at a time (they start MPI jobs of 2 to 4 ranks). Extra
# arguments go to one ctest instead (e.g. -R wire, -L mpi).
#
#   scripts/test.sh --sanitize [ctest args]
#     builds the unit and MPI tests with AddressSanitizer and
#     UndefinedBehaviorSanitizer into build-sanitize/ (-DFLB_SANITIZE=ON, at
#     -O1) and runs them under it; any finding fails its test. Leak checking
#     is off: LibTorch, Open MPI and HDF5 (not instrumented) keep
#     allocations to exit. (The fuzz targets' inputs run under the same
#     sanitizers in --fuzz, which replays them before fuzzing.)
#
#   scripts/test.sh --fuzz
#     builds the libFuzzer targets with clang into build-fuzz/ and runs each
#     for FLB_FUZZ_SECONDS (20) from its seeds: scripts/fuzz.sh -t 20.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
if [ "${1:-}" = --sanitize ]; then
  shift
  export ASAN_OPTIONS=detect_leaks=0:detect_odr_violation=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  FLB_BUILD_DIR=build-sanitize FLB_BUILD_TARGETS="flb_unit_tests flb_mpi_tests" scripts/build.sh -DFLB_SANITIZE=ON
  cd build-sanitize
  ctest --output-on-failure -L 'unit|mpi' -LE large "$@"
  exit
fi
if [ "${1:-}" = --fuzz ]; then
  exec scripts/fuzz.sh -t "${FLB_FUZZ_SECONDS:-20}" -j 1
fi
scripts/build.sh
cd build
if [ $# -gt 0 ]; then
  exec ctest --output-on-failure "$@"
fi
single='^(unit|fuzz|arch)$'
status=0
ctest --output-on-failure -j"$(nproc)" -L "$single" || status=1
ctest --output-on-failure -LE "$single" || status=1
exit $status
