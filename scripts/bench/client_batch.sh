#!/usr/bin/env bash
# Batched clients (--client-batch K) against one client at a time, and
# against the GEMM bound, on one core: FedAvg, Fashion-MNIST IID, 100
# clients, 10 per round, 1 local epoch, batch 32, one process, 1 thread.
# For each model and K: the local-training seconds per round (/rounds/train_s,
# mean over rounds 2..ROUNDS), clients trained per second, the speed-up over
# K = 1, and the ratio to the GEMM bound: the round's training FLOPs
# (forward 2 MACs, backward 4 MACs per sample, less the first layer's input
# gradient) at the rate of a 1024^3 float32 product on one thread, measured
# in the same run. Writes results/bench/client_batch.md. Runs from any directory.
#   scripts/bench/client_batch.sh [ROUNDS]
# Environment: FLBENCH (binary; default build/apps/flbench), OUT (the table;
# default results/bench/client_batch.md; ctest's quick run writes elsewhere),
# MODELS (default "mlp cnn"), KS (default "1 2 5 10").
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-20}
flbench=${FLBENCH:-build/apps/flbench}
out=${OUT:-results/bench/client_batch.md}
models=${MODELS:-mlp cnn}
ks=${KS:-1 2 5 10}
[ -x "$flbench" ] || { echo "client_batch: $flbench not found: build first (scripts/build.sh) or set FLBENCH" >&2; exit 1; }
[ "$rounds" -ge 2 ] 2>/dev/null || { echo "client_batch: ROUNDS must be an integer >= 2 (round 1 is excluded as warm-up)" >&2; exit 2; }
py=/usr/bin/python3
$py -c "import torch" 2>/dev/null || { echo "client_batch: needs Debian's python3-torch (apt-get install python3-torch)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# float32 GEMM rate of one thread: the best of 5 products of 1024^3
gemm=$($py -c "
import time, torch
torch.set_num_threads(1)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
a @ b
best = min((lambda t0: (a @ b, time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(5))
print('%.1f' % (2 * 1024**3 / best / 1e9))")
# per model: multiply-accumulates per sample of each layer, first layer first
declare -A macs=([mlp]="156800 40000 2000" [cnn]="230400 819200 65536 1280")
{
  echo "# Batched clients: --client-batch K against one at a time"
  echo
  echo "FedAvg, Fashion-MNIST IID, 100 clients, 10 per round, 1 local epoch, batch 32, one process, 1 thread;"
  echo "local training seconds per round (/rounds/train_s), mean over rounds 2..$rounds."
  echo "Made by \`scripts/bench/client_batch.sh $rounds\` on $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo
  echo "GEMM bound: the round's training FLOPs (2 per MAC forward, 4 backward, the first layer's input"
  echo "gradient not computed) at this thread's float32 GEMM rate, measured in the same run: $gemm GFLOP/s"
  echo "(1024^3 product, best of 5). K = 10 trains a round's 10 clients as one batched model."
  echo
  echo "| model | K | train s/round | clients/s | speed-up over K = 1 | GEMM bound s/round | train / bound |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for m in $models; do
    base=""
    for k in $ks; do
      "$flbench" --model "$m" --threads 1 --rounds "$rounds" --eval-every 100000 --client-batch "$k" \
        --out "$tmp/$m-k$k.h5" >/dev/null
      read -r train rate bound ratio speedup < <($py - "$tmp/$m-k$k.h5" "$gemm" "${macs[$m]}" "$base" <<'PY'
import sys
import h5py
import numpy as np
path, gemm, layers, base = sys.argv[1], float(sys.argv[2]), [int(v) for v in sys.argv[3].split()], sys.argv[4]
with h5py.File(path, "r") as f:
    train = f["rounds/train_s"][1:].mean()
    rnd, samples = f["clients/round"][:], f["clients/samples"][:]
    per_round = samples[rnd >= 1].sum() / (f["rounds/train_s"].shape[0] - 1)
    clients = (rnd >= 1).sum() / (f["rounds/train_s"].shape[0] - 1)
flops = per_round * (6 * sum(layers) - 2 * layers[0])
bound = flops / (gemm * 1e9)
speedup = float(base) / train if base else 1.0
print(f"{train:.4f} {clients / train:.1f} {bound:.4f} {train / bound:.2f} {speedup:.2f}")
PY
)
      [ -n "$base" ] || base=$train
      echo "| $m | $k | $train | $rate | $speedup | $bound | $ratio |"
    done
  done
} | tee "$out.tmp"
mv "$out.tmp" "$out"
