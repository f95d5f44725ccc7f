#!/usr/bin/env bash
# The main job on its built-in default: installs what is missing, builds
# (Release) and runs FedAvg on Fashion-MNIST over 2 MPI ranks, writing
# results/quickstart.h5. Extra arguments go to flbench (e.g. --rounds 5).
# OUT names another results file (its log goes beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-results/quickstart.h5}
scripts/install-deps.sh
scripts/build.sh
mkdir -p "$(dirname "$out")"
mpi_flags=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi_flags+=(--allow-run-as-root)
mpirun "${mpi_flags[@]}" -np 2 build/apps/flbench --config configs/quickstart.toml \
  --out "$out" --overwrite "$@" | tee "${out%.h5}.log"
echo
echo "quickstart: results in $out (schema: results/README.md)"
echo "quickstart: summary and plots: /usr/bin/python3 scripts/analyze.py $out --plots results/quickstart-plots"
