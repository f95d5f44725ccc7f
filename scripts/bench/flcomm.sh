#!/usr/bin/env bash
# flcomm tables (apps/flcomm): what one federated round of each algorithm
# costs, phase by phase, next to its bound, on LoRA payloads shaped like a
# real model's. One table per configuration, written with the command that
# made it to $OUT/<model>-n<clients>-r<rank>.txt (and .json). Runs from any
# directory; exits 1 when any table has #wrong > 0.
#
#   scripts/bench/flcomm.sh [MODEL:RANKS:CLIENTS_PER_RANK:R ...]
#   scripts/bench/flcomm.sh --quick          (seconds: flcomm --quick on 2 ranks)
#
# Default configurations: issue 11's, on 2 ranks (n = 4, r = 64 and
# n = 100, r = 16 at Llama-3.2-3B and Llama-3-8B shapes):
#   llama-3.2-3b:2:2:64 llama-3.2-3b:2:50:16 llama-3-8b:2:2:64 llama-3-8b:2:50:16
# Environment: OUT (results/flcomm), ITERS (-n, 3), WARMUP (-w, 1),
# ALGORITHMS (flcomm's default: all seven), THREADS per rank (nproc / ranks),
# EXTRA (more flcomm or algorithm options), FLB_BUILD_DIR, MPIEXEC.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FLB_BUILD_DIR:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac
flcomm=$build/apps/flcomm
out=${OUT:-$root/results/flcomm}
mpiexec=${MPIEXEC:-mpirun}
[ -x "$flcomm" ] || { echo "flcomm.sh: $flcomm not found; build first: $root/scripts/build.sh" >&2; exit 1; }
mpi=("$mpiexec" --oversubscribe)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
mkdir -p "$out"
if [ "${1:-}" = "--quick" ]; then
  set -- quick
fi
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(llama-3.2-3b:2:2:64 llama-3.2-3b:2:50:16 llama-3-8b:2:2:64 llama-3-8b:2:50:16)
status=0
for c in "${configs[@]}"; do
  if [ "$c" = quick ]; then
    name=quick
    cmd=("${mpi[@]}" -np 2 "$flcomm" --quick)
  else
    IFS=: read -r model ranks per r <<<"$c"
    [ -n "$r" ] || { echo "flcomm.sh: '$c' is not MODEL:RANKS:CLIENTS_PER_RANK:R" >&2; exit 2; }
    threads=${THREADS:-$(( $(nproc) / ranks > 0 ? $(nproc) / ranks : 1 ))}
    name=$model-n$((ranks * per))-r$r
    cmd=("${mpi[@]}" -np "$ranks" "$flcomm" --model "$model" -r "$r" -c "$per" -n "${ITERS:-3}" -w "${WARMUP:-1}"
         --threads "$threads")
    [ -n "${ALGORITHMS:-}" ] && cmd+=(--algorithms "$ALGORITHMS")
  fi
  # shellcheck disable=SC2206
  [ -n "${EXTRA:-}" ] && cmd+=($EXTRA)
  cmd+=(--json "$out/$name.json" --overwrite)
  echo "flcomm.sh: $name" >&2
  {
    echo "# command: ${cmd[*]#"$build/"}"
    echo "# git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
  } >"$out/$name.txt"
  if ! "${cmd[@]}" >>"$out/$name.txt" 2>&1; then
    echo "flcomm.sh: $name failed or had #wrong > 0 (see $out/$name.txt)" >&2
    status=1
  fi
  tail -n 1 "$out/$name.txt" >&2
done
exit $status
