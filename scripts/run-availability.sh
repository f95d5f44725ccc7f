#!/usr/bin/env bash
# Availability windows (issue 12): the quickstart experiment (FedAvg,
# Fashion-MNIST, 100 clients, 10 per round, 100 rounds) on the device
# classes of configs/systems/example-availability.csv (phones in three time
# zones, each online 8 hours a day; desktops always on), against the same
# classes always online (results/availability/always.csv). --step-seconds 30
# makes a phone's round last about half an hour, so 100 rounds span days.
#
#   scripts/run-availability.sh        (about 2 minutes here)
#
# Each run once per seed of SEEDS, at the quickstart's lr 0.05 (FedAvg's
# rate tuned on validation for this config: results/time-to-accuracy).
# Writes results/availability/{windows,always}_seedN.h5 (ignored by git)
# and prints what the README's "Availability windows" quotes, as mean ± sd
# over the seeds.
# Environment: NP (ranks, 2), FLBENCH (build/apps/flbench), OUT (results/availability),
# SEEDS ("1 2 3"), RUN_FLAGS (flags appended to every run, e.g. "--rounds 3": ctest's quick run).
set -euo pipefail
cd "$(dirname "$0")/.."
NP=${NP:-2}
FLB=${FLBENCH:-build/apps/flbench}
OUT=${OUT:-results/availability}
read -r -a RUN_FLAGS <<<"${RUN_FLAGS:-}"
read -r -a SEED_LIST <<<"${SEEDS:-1 2 3}"
[ -x "$FLB" ] || scripts/build.sh
mpi=(mpirun -np "$NP" --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
mkdir -p "$OUT"
for run in windows:configs/systems/example-availability.csv always:results/availability/always.csv; do
  name=${run%%:*} trace=${run#*:}
  for seed in "${SEED_LIST[@]}"; do
    "${mpi[@]}" "$FLB" --config configs/quickstart.toml --system "trace:$trace" --step-seconds 30 --seed "$seed" \
      "${RUN_FLAGS[@]}" --out "$OUT/${name}_seed$seed.h5" --overwrite >"$OUT/${name}_seed$seed.log" 2>&1 ||
      { tail -5 "$OUT/${name}_seed$seed.log"; exit 1; }
    echo "$name seed $seed: $(tail -1 "$OUT/${name}_seed$seed.log")"
  done
done
/usr/bin/python3 - "$OUT" "${SEED_LIST[@]}" <<'PY'
import sys
import h5py
import numpy as np
out, seeds = sys.argv[1], sys.argv[2:]
for name in ("windows", "always"):
    stats = []
    for seed in seeds:
        with h5py.File(f"{out}/{name}_seed{seed}.h5", "r") as f:
            r, c = f["rounds"], f["clients"]
            stats.append([r["virtual_clock_s"][-1] / 3600, r["test_accuracy"][-1], r["online"][:].min(),
                          r["online"][:].max(), np.sum(r["idle_s"][:] > 0), np.sum(r["offline"][:]),
                          np.sum(r["arrived"][:]), len(c["client"]), np.mean(c["client"][:] < 90),
                          np.mean(r["virtual_s"][:]) / 60])
    x = np.array(stats, dtype=float)
    sd = x.std(axis=0, ddof=1) if len(seeds) > 1 else np.zeros(x.shape[1])
    m = lambda j, fmt: f"{fmt % x[:, j].mean()} ± {fmt % sd[j]}"
    print(f"{name}: virtual {m(0, '%.1f')} h, final test accuracy {m(1, '%.4f')}, online per round min "
          f"{int(x[:, 2].min())} max {int(x[:, 3].max())}, rounds that idled {m(4, '%.1f')}, clients lost offline "
          f"{m(5, '%.1f')}, arrived {m(6, '%.1f')} of {m(7, '%.0f')} sampled, phones among the sampled "
          f"{m(8, '%.3f')}, mean round {m(9, '%.1f')} min (seeds {' '.join(seeds)})")
PY
