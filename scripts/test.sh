#!/usr/bin/env bash
# The test suite: installs what is missing, builds, runs ctest.
# Extra arguments go to ctest (e.g. -R wire, -L mpi).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure "$@"
