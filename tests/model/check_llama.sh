#!/usr/bin/env bash
# ctest model.llama_reference: makes the reference fixture with the
# independent float64 decoder, then runs flbench's decoder against it.
#   check_llama.sh REFERENCE_PY WORKDIR UNIT_TESTS_BINARY
set -euo pipefail
ref=$1 work=$2 tests=$3
rm -rf "$work" && mkdir -p "$work"
"${PYTHON:-/usr/bin/python3}" "$ref" "$work"   # PYTHON: the ctest sets the configured Python (FLB_H5PY_PYTHON)
FLB_LLAMA_FIXTURE="$work" "$tests" --gtest_filter='LlamaReference.*' | tee "$work.log"
grep -q '\[  PASSED  \] 1 test' "$work.log" || { echo "check_llama: the reference test did not run and pass" >&2; exit 1; }
