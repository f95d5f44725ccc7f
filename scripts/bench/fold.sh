#!/usr/bin/env bash
# Hierarchical aggregation of the algorithms that reconstruct the clients'
# products (FlexLoRA, FedSRD: each rank folds its uploads, algo/rank_fold.h)
# against central mode, side by side in one run. MLP with rank-16 LoRA on
# fc1 and fc2 (784 -> 200 -> 200), Fashion-MNIST IID, 2 local steps per
# client at lr 0.01 (FedSRD diverges at the default 0.05 here), 2 ranks of 1 thread; 20 clients per round (a rank stacks 160
# columns, below min(d) = 200: its fold is the stacks themselves) and 200
# (1,600 columns: each fold is QR-reduced to 200). Per configuration the
# mean over rounds 2..ROUNDS of: the clients' upload bytes, the bytes that
# reached rank 0, rank 0's gather, the aggregation (hierarchical: the
# slowest rank's decode and fold, then rank 0's merge and server step), the
# round's wall time; and the final test loss's relative difference from
# central mode's. Writes results/bench/fold.md. Runs from any directory.
#
#   scripts/bench/fold.sh [ROUNDS]     (default 6)
#
# Environment: FLBENCH (build/apps/flbench), OUT (results/bench/fold.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
rounds=${1:-6}
flbench=${FLBENCH:-$root/build/apps/flbench}
out=${OUT:-$root/results/bench/fold.md}
py=/usr/bin/python3
[ -x "$flbench" ] || { echo "fold: $flbench not found: build first (scripts/build.sh) or set FLBENCH" >&2; exit 1; }
[ "$rounds" -ge 2 ] 2>/dev/null || { echo "fold: ROUNDS must be an integer >= 2 (1 warm-up round)" >&2; exit 2; }
mpi=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$out")"
{
  echo "# Hierarchical aggregation by folds: FlexLoRA and FedSRD"
  echo
  echo "MLP, LoRA rank 16 on fc1 and fc2, Fashion-MNIST IID, 2 local steps per client at lr 0.01, 2 ranks x 1 thread."
  echo "Mean of rounds 2..$rounds. MB up: the clients' uploads; MB to rank 0: what moved (central: the uploads;"
  echo "hierarchical: the ranks' folds). aggregate: central, rank 0 decodes and runs the server step; hierarchical,"
  echo "the slowest rank's decode and fold, then rank 0's merge and server step. loss vs central: the final test"
  echo "loss's relative difference."
  echo "Made by \`scripts/bench/fold.sh $rounds\` on $(nproc) cores, $(date -u +%Y-%m-%d), $("$flbench" --version | head -1)."
  echo
  echo "| algorithm | clients/round | aggregation | MB up | MB to rank 0 | gather ms | aggregate ms | wall ms | loss vs central |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|"
  for alg in flexlora fedsrd; do
    for cpr in 20 200; do
      for mode in central hierarchical; do
        h5=$tmp/$alg-$cpr-$mode.h5
        mpirun "${mpi[@]}" -np 2 "$flbench" --algorithm "$alg" --lora-rank 16 --alpha 16 --lr 0.01 --clients 400 \
          --clients-per-round "$cpr" --rounds "$rounds" --local-steps 2 --threads 1 --eval-every "$rounds" \
          --aggregation "$mode" --out "$h5" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
        $py - "$h5" "$tmp/$alg-$cpr-central.h5" "$alg" "$cpr" "$mode" <<'PY'
import sys, h5py, numpy as np
f, central, alg, cpr, mode = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), *sys.argv[3:]
r = f["rounds"]
m = lambda c: float(np.mean(r[c][1:]))
loss, ref = f["eval"]["loss"][-1], central["eval"]["loss"][-1]
print(f"| {alg} | {cpr} | {mode} | {m('bytes_gathered') / 1e6:.2f} | {m('bytes_moved') / 1e6:.2f} | "
      f"{m('gather_s') * 1e3:.1f} | {m('aggregate_s') * 1e3:.1f} | {m('wall_s') * 1e3:.0f} | {abs(loss - ref) / ref:.1e} |")
PY
      done
    done
  done
} | tee "$out.tmp"
mv "$out.tmp" "$out"
