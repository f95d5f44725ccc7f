#!/usr/bin/env bash
# The GPU kit on this CPU machine (scripts/gpu-check.sh's CPU path and the
# configs/llm presets), so that a typo cannot wait for the first GPU:
#   1. gpu-check.sh and gpu-debs.sh parse (bash -n);
#   2. each configs/llm preset runs 1 round on a tiny random Llama written
#      at the preset's own paths (models/Llama-3.2-3B, tokens/llama3), sizes
#      overridden, on the CPU;
#   3. gpu-check.sh with SKIP_BUILD and this flbench: the CUDA steps say
#      they are skipped, the tiny CPU run and the table come out, no FAIL.
#   test_gpu_kit.sh FLBENCH PYTHON
# Exits 77 (skipped) when PYTHON lacks torch, numpy or h5py.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 FLBENCH PYTHON" >&2; exit 2; }
flbench=$(readlink -f "$1") python=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
"$python" -c 'import torch, numpy, h5py' 2>/dev/null || { echo "SKIP: $python lacks torch, numpy or h5py"; exit 77; }
tmp=$(mktemp -d /tmp/flb-test-gpu-kit-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() { local what=$1; shift; if "$@"; then echo "ok    $what"; else echo "FAIL  $what"; fails=$((fails + 1)); fi; }

check "bash -n scripts/gpu-check.sh scripts/gpu-debs.sh" bash -n "$root/scripts/gpu-check.sh" "$root/scripts/gpu-debs.sh"

cd "$tmp"
"$python" "$root/scripts/gpu/make_llama.py" --shape tiny --dtype bf16 --out models/Llama-3.2-3B --tokens tokens/llama3 \
  --domains de,es,it,code,en-literature,en-science --train-tokens 20000 --val-tokens 2000 >/dev/null
for preset in "$root"/configs/llm/*.toml; do
  name=$(basename "$preset" .toml)
  check "$name.toml: 1 round on a tiny Llama at the preset's paths" "$flbench" --config "$preset" --rounds 1 \
    --context 32 --local-steps 1 --batch-size 2 --eval-sequences 2 --lora-rank 4 --alpha 8 --device cpu \
    --threads 1 --out "$tmp/$name.h5"
done

OUT=$tmp/out SKIP_BUILD=1 GPU_DEBS=none FLBENCH=$flbench PYTHON=$python "$root/scripts/gpu-check.sh" >"$tmp/gpu-check.txt" 2>&1 ||
  { cat "$tmp/gpu-check.txt"; check "gpu-check.sh (CPU path) exits 0" false; }
grep -A20 'summary' "$tmp/gpu-check.txt" || true
check "gpu-check.sh: no step failed" bash -c "! grep -q '  FAIL' '$tmp/gpu-check.txt'"
check "gpu-check.sh: wrote the table" grep -q '^| 2 | 4 |' "$tmp/out/throughput.md"
check "gpu-check.sh: batched clients (step i) ran and agreed" grep -Eq 'i\. client-batch cpu +ok' "$tmp/gpu-check.txt"
if ! "$python" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  check "gpu-check.sh: says the CUDA steps are skipped" grep -q 'the CUDA steps are skipped' "$tmp/gpu-check.txt"
fi
echo "test_gpu_kit: $fails failure(s)"
[ $fails -eq 0 ]
