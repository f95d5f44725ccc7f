#!/usr/bin/env bash
# Per-client framework overhead of a FedAvg round (everything but local
# training: encode, gather, decode + aggregate, broadcast, apply, client
# rows) against its copy bound, on 1 and 2 ranks with 200 clients per round.
# The bound is the time to move each upload's bytes three times (encode,
# gather, the aggregation's read) at the memcpy rate measured in the same
# run (numpy's copy of a round's worth of uploads, out of cache).
# Writes results/bench/overhead.md. Runs from any directory.
#
#   scripts/bench/overhead.sh [ROUNDS]      (default 12; the first 2 are warm-up)
#
# Environment: FLBENCH (default build/apps/flbench); BASE_FLBENCH (optional:
# another build, e.g. the previous main's, timed side by side in the same
# run); OUT (default results/bench/overhead.md); NP_LIST (default "1 2").
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-12}
flbench=${FLBENCH:-build/apps/flbench}
out=${OUT:-results/bench/overhead.md}
np_list=${NP_LIST:-1 2}
py=/usr/bin/python3
[ -x "$flbench" ] || { echo "overhead: $flbench not found: build first (scripts/build.sh) or set FLBENCH" >&2; exit 1; }
[ "$rounds" -ge 3 ] 2>/dev/null || { echo "overhead: ROUNDS must be an integer >= 3 (2 warm-up rounds)" >&2; exit 2; }
mpi=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
binaries=("new:$flbench")
[ -n "${BASE_FLBENCH:-}" ] && binaries=("before:$BASE_FLBENCH" "${binaries[@]}")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$out")"
cpr=200
memcpy=$($py -c "
import numpy as np, time
n = $cpr * 199210 * 4  # a round's uploads of the MLP
a, b = np.ones(n, np.uint8), np.empty(n, np.uint8)
best = min((lambda t: (np.copyto(b, a), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(15))
print('%.3f' % (n / best / 1e9))")
{
  echo "# Framework overhead per client: flbench vs its copy bound"
  echo
  echo "FedAvg, MLP (199,210 parameters: 0.8 MB per upload), Fashion-MNIST IID, 1,000 clients, $cpr per round,"
  echo "1 local step per client, 1 thread per rank; mean of rounds 3..$rounds. Overhead = encode (slowest rank)"
  echo "+ gather (without the wait for the slowest rank where /rounds/gather_wait_s records it) + decode/aggregate + broadcast + apply +"
  echo "client rows, per client. Bound = 3 x upload bytes / memcpy rate (memcpy measured in this run: $memcpy GB/s)."
  echo "Made by \`scripts/bench/overhead.sh $rounds\` on $(nproc) cores, $(date -u +%Y-%m-%d)."
  for entry in "${binaries[@]}"; do echo "${entry%%:*}: $("${entry#*:}" --version | head -1)"; done
  echo
  echo "| build | ranks | upload bytes | encode ms | gather ms | wait ms | aggregate ms | bcast+apply ms | rows ms | overhead ms/client | bound ms/client | overhead / bound |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for np_ in $np_list; do
    for entry in "${binaries[@]}"; do
      name=${entry%%:*} bin=${entry#*:}
      h5=$tmp/$name-np$np_.h5
      mpirun "${mpi[@]}" -np "$np_" "$bin" --clients 1000 --clients-per-round $cpr --rounds "$rounds" --local-steps 1 \
        --threads 1 --eval-every 10000000 --out "$h5" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
      $py - "$h5" "$name" "$np_" "$memcpy" <<'PY'
import sys, h5py, numpy as np
f, name, np_, memcpy = h5py.File(sys.argv[1], "r"), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
r = f["rounds"]
m = lambda c: float(np.mean(r[c][2:])) if c in r else float("nan")
cpr = m("clients")
up = r["bytes_gathered"] if "bytes_gathered" in r else r["bytes_up"]
per_upload = float(np.mean(up[2:])) / cpr
wait = m("gather_wait_s") if "gather_wait_s" in r else 0.0
enc, gat, agg, bc, ap, io = (m(c) for c in ("encode_s", "gather_s", "aggregate_s", "bcast_s", "apply_s", "io_s"))
over = (enc + gat + agg + bc + ap + io) / cpr * 1e3  # gather_s excludes the wait where it is recorded
bound = 3 * per_upload / (memcpy * 1e9) * 1e3
ms = lambda s: "%.1f" % (s * 1e3)
w = ms(wait) if "gather_wait_s" in r else "in gather"
print(f"| {name} | {np_} | {per_upload:,.0f} | {ms(enc)} | {ms(gat)} | {w} | {ms(agg)} | {ms(bc + ap)} | {ms(io)} | "
      f"{over:.3f} | {bound:.3f} | {over / bound:.2f} |")
PY
    done
  done
} | tee "$out.tmp"
mv "$out.tmp" "$out"
