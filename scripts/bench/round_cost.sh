#!/usr/bin/env bash
# Round cost of flbench vs the same work in a bare PyTorch loop
# (scripts/bench/bare_pytorch_round.py), both on this machine, one after the other,
# per model, for 1 and 2 threads. Writes results/bench/round_cost.md. Runs from any directory.
#   scripts/bench/round_cost.sh [ROUNDS]
# Environment: FLBENCH (binary; default build/apps/flbench), OUT (the table;
# default results/bench/round_cost.md; ctest's quick run writes elsewhere),
# MODELS (default "mlp cnn-lbgm lenet-fedloru": the default MLP and the
# papers' own models, written in the bare loop as their authors' code writes them).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-30}
flbench=${FLBENCH:-build/apps/flbench}
out=${OUT:-results/bench/round_cost.md}
models=${MODELS:-mlp cnn-lbgm lenet-fedloru}
[ -x "$flbench" ] || { echo "round_cost: $flbench not found: build first (scripts/build.sh) or set FLBENCH" >&2; exit 1; }
[ "$rounds" -ge 2 ] 2>/dev/null || { echo "round_cost: ROUNDS must be an integer >= 2 (round 1 is excluded as warm-up)" >&2; exit 2; }
py=/usr/bin/python3
$py -c "import torch" 2>/dev/null || { echo "round_cost: needs Debian's python3-torch (apt-get install python3-torch)" >&2; exit 1; }
# flbench's mallopt settings (apps/flbench/main.cc), as glibc's environment variables.
same_malloc=(MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647 MALLOC_TOP_PAD_=268435456)
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{
  echo "# Round cost: flbench vs a bare PyTorch loop"
  echo
  echo "FedAvg, Fashion-MNIST IID, 100 clients, 10 per round, 1 local epoch, batch 32;"
  echo "seconds per round, mean over rounds 2..$rounds (evaluation excluded), one process."
  echo "Made by \`scripts/bench/round_cost.sh $rounds\` (MODELS=\"$models\") on $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo
  echo "\"bare, flbench's malloc\": the bare loop under glibc's MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_"
  echo "and MALLOC_TOP_PAD_ set as flbench sets them (mallopt in apps/flbench/main.cc): freed blocks stay in"
  echo "the heap, so a convolution's large scratch buffers are not mapped and zeroed afresh at every step."
  echo "The ratio is against that loop."
  echo
  echo "| model | threads | bare PyTorch s/round | bare, flbench's malloc s/round | flbench s/round | flbench / bare (same malloc) |"
  echo "|---|---:|---:|---:|---:|---:|"
  for m in $models; do
    for t in 1 2; do
      bare=$($py scripts/bench/bare_pytorch_round.py --model "$m" --threads "$t" --rounds "$rounds" | sed -E 's/.*mean ([0-9.]+) s.*/\1/')
      kept=$(env "${same_malloc[@]}" $py scripts/bench/bare_pytorch_round.py --model "$m" --threads "$t" --rounds "$rounds" |
             sed -E 's/.*mean ([0-9.]+) s.*/\1/')
      "$flbench" --model "$m" --threads "$t" --rounds "$rounds" --eval-every 100000 --out "$tmp/$m-t$t.h5" >/dev/null
      flb=$($py -c "import h5py; f=h5py.File('$tmp/$m-t$t.h5'); print('%.4f' % (f['rounds/wall_s'][1:]-f['rounds/eval_s'][1:]).mean())")
      echo "| $m | $t | $bare | $kept | $flb | $($py -c "print('%.2f' % ($flb / $kept))") |"
    done
  done
} | tee "$out.tmp"
mv "$out.tmp" "$out"
