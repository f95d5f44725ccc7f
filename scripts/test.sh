#!/usr/bin/env bash
# The test suite: installs what is missing, builds, runs ctest.
# Extra arguments go to ctest (e.g. -R wire, -L mpi).
#
#   scripts/test.sh --sanitize [ctest args]
#     builds the unit and MPI tests with AddressSanitizer and
#     UndefinedBehaviorSanitizer into build-sanitize/ (-DFLB_SANITIZE=ON) and
#     runs them under it; any finding fails its test. Leak checking is off:
#     LibTorch, Open MPI and HDF5 (not instrumented) keep allocations to exit.
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
scripts/build.sh
cd build
ctest --output-on-failure "$@"
