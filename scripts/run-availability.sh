#!/usr/bin/env bash
# Availability windows (issue 12): the quickstart experiment (FedAvg,
# Fashion-MNIST, 100 clients, 10 per round, 100 rounds) on the device
# classes of configs/systems/example-availability.csv (phones in three time
# zones, each online 8 hours a day; desktops always on), against the same
# classes always online (results/availability/always.csv). --step-seconds 30
# makes a phone's round last about half an hour, so 100 rounds span days.
#
#   scripts/run-availability.sh        (about 1 minute here)
#
# Writes results/availability/{windows,always}.h5 (ignored by git) and
# prints what the README's "Availability windows" quotes.
# Environment: NP (ranks, 2), FLBENCH (build/apps/flbench), OUT (results/availability),
# RUN_FLAGS (flags appended to both runs, e.g. "--rounds 3": ctest's quick run).
set -euo pipefail
cd "$(dirname "$0")/.."
NP=${NP:-2}
FLB=${FLBENCH:-build/apps/flbench}
OUT=${OUT:-results/availability}
read -r -a RUN_FLAGS <<<"${RUN_FLAGS:-}"
[ -x "$FLB" ] || scripts/build.sh
mpi=(mpirun -np "$NP" --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
mkdir -p "$OUT"
for run in windows:configs/systems/example-availability.csv always:results/availability/always.csv; do
  name=${run%%:*} trace=${run#*:}
  "${mpi[@]}" "$FLB" --config configs/quickstart.toml --system "trace:$trace" --step-seconds 30 \
    "${RUN_FLAGS[@]}" --out "$OUT/$name.h5" --overwrite >"$OUT/$name.log" 2>&1 || { tail -5 "$OUT/$name.log"; exit 1; }
  echo "$name: $(tail -1 "$OUT/$name.log")"
done
/usr/bin/python3 - "$OUT" <<'PY'
import sys
import h5py
import numpy as np
for name in ("windows", "always"):
    with h5py.File(f"{sys.argv[1]}/{name}.h5", "r") as f:
        r, c = f["rounds"], f["clients"]
        phones = c["client"][:] < 90
        print(f"{name}: virtual {r['virtual_clock_s'][-1] / 3600:.1f} h, final test accuracy "
              f"{r['test_accuracy'][-1]:.4f}, online per round min {r['online'][:].min()} max {r['online'][:].max()}, "
              f"rounds that idled {int(np.sum(r['idle_s'][:] > 0))}, clients lost offline {int(np.sum(r['offline'][:]))}, "
              f"arrived {int(np.sum(r['arrived'][:]))} of {len(c['client'])} sampled, "
              f"phones among the sampled {phones.mean():.0%}, mean round {np.mean(r['virtual_s'][:]) / 60:.1f} min")
PY
