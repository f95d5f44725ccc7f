#!/usr/bin/env bash
# The main job on its built-in default: installs what is missing, builds
# (Release) and runs FedAvg on Fashion-MNIST over 2 MPI ranks, writing
# results/quickstart.h5. Extra arguments go to flbench (e.g. --rounds 5).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
mkdir -p results
mpi_flags=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi_flags+=(--allow-run-as-root)
mpirun "${mpi_flags[@]}" -np 2 build/apps/flbench --config configs/quickstart.toml \
  --out results/quickstart.h5 --overwrite "$@" | tee results/quickstart.log
echo
echo "quickstart: results in results/quickstart.h5 (schema: results/README.md)"
echo "quickstart: summary and plots: /usr/bin/python3 scripts/analyze.py results/quickstart.h5 --plots results/quickstart-plots"
