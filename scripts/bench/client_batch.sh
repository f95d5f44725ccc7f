#!/usr/bin/env bash
# Batched clients (--client-batch K) against one client at a time, and
# against the GEMM bound, on one core, one process, 1 thread:
#   mlp, cnn  FedAvg, Fashion-MNIST IID, 100 clients, 10 per round, 1 local
#             epoch, batch 32: K copies of the dense model as one batched model;
#   lora      FedIT on the byte-level Llama of configs/lm/domains-4.toml
#             (results/lm/base, LoRA rank 8 on every projection), 16 clients,
#             all 16 per round, 10 local steps of 16 x 64 bytes: K clients'
#             adapters on one shared frozen base (multi-adapter).
# For each model and K: the local-training seconds per round (/rounds/train_s,
# mean over rounds 2..ROUNDS), clients trained per second, the speed-up over
# K = 1, and the ratio to the GEMM bound: the round's training FLOPs at the
# rate of a 1024^3 float32 product on one thread, measured in the same run.
# Image models: forward 2 MACs, backward 4 MACs per sample, less the first
# layer's input gradient. lora: the frozen base has no weight gradients, so
# 2 x forward, forward = 2 FLOPs per projection and head MAC per token (the
# T x T attention products and the rank-8 paths, under 10% here, not counted).
# Writes results/bench/client_batch.md. Runs from any directory.
#   scripts/bench/client_batch.sh [ROUNDS]
# Environment: FLBENCH (binary; default build/apps/flbench), OUT (the table;
# default results/bench/client_batch.md; ctest's quick run writes elsewhere),
# MODELS (default "mlp cnn lora"), KS (default "1 2 5 10"; lora uses
# LORA_KS, default "1 2 4 8 16").
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-20}
flbench=${FLBENCH:-build/apps/flbench}
out=${OUT:-results/bench/client_batch.md}
models=${MODELS:-mlp cnn lora}
lora_ks=${LORA_KS:-1 2 4 8 16}
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
# per model: multiply-accumulates per sample of each layer, first layer first;
# lora: per token, the byte Llama's projections and tied head, "lora" marks
# its 2 x forward rule
lora_macs=$($py -c "
import json
c = json.load(open('results/lm/base/config.json'))
C, F, L, V = c['hidden_size'], c['intermediate_size'], c['num_hidden_layers'], c['vocab_size']
q, kv = c['num_attention_heads'] * c['head_dim'], c['num_key_value_heads'] * c['head_dim']
print(L * (C * q + 2 * C * kv + q * C + 3 * C * F) + V * C)")
declare -A macs=([mlp]="156800 40000 2000" [cnn]="230400 819200 65536 1280" [lora]="lora $lora_macs")
[ -d corpora/de ] || scripts/make-corpora.sh >/dev/null
{
  echo "# Batched clients: --client-batch K against one at a time"
  echo
  echo "mlp, cnn: FedAvg, Fashion-MNIST IID, 100 clients, 10 per round, 1 local epoch, batch 32."
  echo "lora: FedIT on the byte-level Llama of configs/lm/domains-4.toml (LoRA r = 8 on every projection),"
  echo "16 clients, all per round, 10 local steps of 16 x 64 bytes: K clients' adapters on one shared base."
  echo "One process, 1 thread; local training seconds per round (/rounds/train_s), mean over rounds 2..$rounds."
  echo "Made by \`${MODELS:+MODELS=\"$models\" }${OUT:+OUT=$out }scripts/bench/client_batch.sh $rounds\` on $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo
  echo "GEMM bound: the round's training FLOPs (2 per MAC forward, 4 backward, the first layer's input"
  echo "gradient not computed; lora: 2 x forward, the frozen base has no weight gradients, attention's"
  echo "T x T products not counted) at this thread's float32 GEMM rate, measured in the same run: $gemm GFLOP/s"
  echo "(1024^3 product, best of 5). K = 10 trains a round's 10 clients as one batched model."
  echo
  echo "| model | K | train s/round | clients/s | speed-up over K = 1 | GEMM bound s/round | train / bound |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for m in $models; do
    base=""
    task=(--model "$m") model_ks=$ks
    [ "$m" = lora ] && task=(--config configs/lm/domains-4.toml --algorithm fedit --clients 16 --clients-per-round 16) \
      model_ks=$lora_ks
    for k in $model_ks; do
      "$flbench" "${task[@]}" --threads 1 --rounds "$rounds" --eval-every 100000 --client-batch "$k" \
        --out "$tmp/$m-k$k.h5" >/dev/null
      read -r train rate bound ratio speedup < <($py - "$tmp/$m-k$k.h5" "$gemm" "${macs[$m]}" "$base" <<'PY'
import sys
import tomllib
import h5py
import numpy as np
path, gemm, layers, base = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), sys.argv[4]
with h5py.File(path, "r") as f:
    train = f["rounds/train_s"][1:].mean()
    rnd, samples, steps = f["clients/round"][:], f["clients/samples"][:], f["clients/steps"][:]
    per_round = samples[rnd >= 1].sum() / (f["rounds/train_s"].shape[0] - 1)
    clients = (rnd >= 1).sum() / (f["rounds/train_s"].shape[0] - 1)
    if layers[0] == "lora":  # tokens per round: steps x batch x context
        run = tomllib.loads(f.attrs["config_toml"])
        tokens = steps[rnd >= 1].sum() * run["batch-size"] * run["context"] / (f["rounds/train_s"].shape[0] - 1)
if layers[0] == "lora":
    flops = tokens * 2 * 2 * int(layers[1])
else:
    layers = [int(v) for v in layers]
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
