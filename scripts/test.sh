#!/usr/bin/env bash
# The test suite: installs what is missing, builds, runs ctest.
# Extra arguments go to ctest (e.g. -R wire, -L mpi).
#
#   scripts/test.sh --sanitize [ctest args]
#     builds the unit and MPI tests with AddressSanitizer and
#     UndefinedBehaviorSanitizer into build-sanitize/ (-DFLB_SANITIZE=ON) and
#     runs them under it, with the fuzz targets' replays; any finding fails
#     its test. Leak checking is off: LibTorch, Open MPI and HDF5 (not
#     instrumented) keep allocations to exit.
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
  FLB_BUILD_DIR=build-sanitize FLB_BUILD_TARGETS="flb_unit_tests flb_mpi_tests flb_fuzz_replays" scripts/build.sh -DFLB_SANITIZE=ON
  cd build-sanitize
  ctest --output-on-failure -L 'unit|mpi|fuzz' -LE large "$@"
  exit
fi
if [ "${1:-}" = --fuzz ]; then
  exec scripts/fuzz.sh -t "${FLB_FUZZ_SECONDS:-20}" -j 1
fi
scripts/build.sh
cd build
ctest --output-on-failure "$@"
