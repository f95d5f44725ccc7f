#!/usr/bin/env bash
# Strong and weak scaling of a FedAvg round, central against hierarchical
# aggregation (--aggregation), on 1, 2 and 4 ranks (oversubscribed beyond
# the cores). MLP on Fashion-MNIST IID, 1 local step per client, 1 thread
# per rank; strong: 200 clients per round whatever the ranks; weak: 100
# clients per round per rank. Per configuration, the mean over the rounds
# after 2 warm-up rounds of: the slowest rank's training and encoding (the
# parallel part), rank 0's gather (central: the uploads; hierarchical: the
# reduction of the ranks' sums) and aggregation (central: rank 0 decodes
# and sums every upload; hierarchical: the slowest rank sums its own, then
# rank 0 finishes), broadcast + apply, the round's wall time, and the
# serial share (gather + aggregate) / wall: where it passes one half, rank 0
# is the bottleneck. Writes results/bench/scaling.md. Runs from any directory.
#
#   scripts/bench/scaling.sh [ROUNDS]     (default 8)
#
# Environment: FLBENCH (build/apps/flbench), OUT (results/bench/scaling.md),
# NP_LIST ("1 2 4"), MODES ("central hierarchical"), KINDS ("strong weak").
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
rounds=${1:-8}
flbench=${FLBENCH:-$root/build/apps/flbench}
out=${OUT:-$root/results/bench/scaling.md}
np_list=${NP_LIST:-1 2 4}
modes=${MODES:-central hierarchical}
kinds=${KINDS:-strong weak}
py=/usr/bin/python3
[ -x "$flbench" ] || { echo "scaling: $flbench not found: build first (scripts/build.sh) or set FLBENCH" >&2; exit 1; }
[ "$rounds" -ge 3 ] 2>/dev/null || { echo "scaling: ROUNDS must be an integer >= 3 (2 warm-up rounds)" >&2; exit 2; }
mpi=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$out")"
{
  echo "# Strong and weak scaling: central against hierarchical aggregation"
  echo
  echo "FedAvg, MLP (0.8 MB per upload), Fashion-MNIST IID, 1 local step per client, 1 thread per rank;"
  echo "strong: 200 clients per round of 1,000; weak: 100 per round per rank of 500 per rank. Mean of rounds 3..$rounds."
  echo "train+encode: the slowest rank. serial = gather + aggregate (rank 0's share) / wall."
  echo "Made by \`scripts/bench/scaling.sh $rounds\` on $(nproc) cores (more ranks than cores are oversubscribed), $(date -u +%Y-%m-%d), $("$flbench" --version | head -1)."
  echo
  echo "| scaling | ranks | aggregation | clients/round | train+encode ms | gather ms | aggregate ms | bcast+apply ms | wall ms | serial | MB to rank 0 |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for kind in $kinds; do
    for np_ in $np_list; do
      if [ "$kind" = strong ]; then cpr=200 clients=1000; else cpr=$((100 * np_)) clients=$((500 * np_)); fi
      for mode in $modes; do
        h5=$tmp/$kind-$np_-$mode.h5
        mpirun "${mpi[@]}" -np "$np_" "$flbench" --clients "$clients" --clients-per-round "$cpr" --rounds "$rounds" \
          --local-steps 1 --threads 1 --eval-every 10000000 --aggregation "$mode" --out "$h5" >"$tmp/log" 2>&1 ||
          { cat "$tmp/log" >&2; exit 1; }
        $py - "$h5" "$kind" "$np_" "$mode" "$cpr" <<'PY'
import sys, h5py, numpy as np
f, kind, np_, mode, cpr = h5py.File(sys.argv[1], "r"), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
r = f["rounds"]
m = lambda c: float(np.mean(r[c][2:]))
work = m("train_s") + m("encode_s")
serial = m("gather_s") + m("aggregate_s")
ms = lambda s: "%.1f" % (s * 1e3)
print(f"| {kind} | {np_} | {mode} | {cpr} | {ms(work)} | {ms(m('gather_s'))} | {ms(m('aggregate_s'))} | "
      f"{ms(m('bcast_s') + m('apply_s'))} | {ms(m('wall_s'))} | {serial / m('wall_s'):.2f} | {m('bytes_moved') / 1e6:.1f} |")
PY
      done
    done
  done
} | tee "$out.tmp"
mv "$out.tmp" "$out"
