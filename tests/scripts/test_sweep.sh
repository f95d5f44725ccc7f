#!/usr/bin/env bash
# Tests scripts/sweep: a 2-point sweep (1 and 2 ranks) runs, writes one
# finished HDF5 file per point under deterministic names, and a second
# invocation skips both; --dry-run lists the runs; --emit-sbatch writes a
# valid array job; --seeds adds a seed axis.
#   test_sweep.sh FLBENCH [PYTHON]     (PYTHON: default /usr/bin/python3)
# Exits 77 (skipped) when mpirun or the Python is missing.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 FLBENCH [PYTHON]" >&2; exit 2; }
flbench=$(readlink -f "$1")
python=${2:-/usr/bin/python3}
sweep=$(cd "$(dirname "$0")/../.." && pwd)/scripts/sweep
command -v mpirun >/dev/null || { echo "SKIP: mpirun not found"; exit 77; }
[ -x "$python" ] || { echo "SKIP: $python not found"; exit 77; }
command -v h5dump >/dev/null || { echo "SKIP: h5dump not found (apt-get install hdf5-tools)"; exit 77; }

tmp=$(mktemp -d /tmp/flb-test-sweep-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok    $what"; else echo "FAIL  $what"; fails=$((fails + 1)); fi
}
completed_rounds() { h5dump -a completed_rounds "$1" 2>/dev/null | sed -n 's/^ *(0): \([0-9]*\)/\1/p'; }

# shellcheck disable=SC2054  # the commas separate sweep values, not array elements
args=(--flbench "$flbench" --out-dir "$tmp/out" --ranks 1,2 --clients 8 local-steps=2)
fixed=(-- --rounds 3 --clients-per-round 4)   # every run; not part of the names
names=(np1_clients8_local-steps2 np2_clients8_local-steps2)

out=$("$python" "$sweep" "${args[@]}" --dry-run "${fixed[@]}"); echo "$out"
check "--dry-run lists 2 runs" [ "$(grep -c 'would run' <<<"$out")" -eq 2 ]
check "--dry-run runs nothing" [ ! -e "$tmp/out/${names[0]}.h5" ]

out=$("$python" "$sweep" "${args[@]}" "${fixed[@]}"); rc=$?; echo "$out"
check "sweep exits 0" [ $rc -eq 0 ]
for n in "${names[@]}"; do
  check "$n.h5 finished 3 rounds" [ "$(completed_rounds "$tmp/out/$n.h5")" = 3 ]
  check "$n.log written" [ -s "$tmp/out/$n.log" ]
done
stamp=$(stat -c %Y "$tmp/out/${names[0]}.h5" "$tmp/out/${names[1]}.h5")

sleep 1
out=$("$python" "$sweep" "${args[@]}" "${fixed[@]}"); rc=$?; echo "$out"
check "re-run exits 0" [ $rc -eq 0 ]
check "re-run skips both points" grep -q "0 ran, 2 skipped, 0 failed" <<<"$out"
check "re-run leaves the files alone" [ "$(stat -c %Y "$tmp/out/${names[0]}.h5" "$tmp/out/${names[1]}.h5")" = "$stamp" ]

"$python" "$sweep" "${args[@]}" --emit-sbatch "$tmp/sweep.sbatch" "${fixed[@]}" >/dev/null
check "--emit-sbatch writes valid bash" bash -n "$tmp/sweep.sbatch"
check "--emit-sbatch has a 2-task array" grep -q '^#SBATCH --array=0-1$' "$tmp/sweep.sbatch"
check "--emit-sbatch keeps the point names" grep -q "${names[1]}" "$tmp/sweep.sbatch"

# --seeds: the seed is the last axis of every name; bad seeds are refused.
out=$("$python" "$sweep" --flbench "$flbench" --out-dir "$tmp/seeds" --algorithms fedavg,topk --seeds 1,2,3 --dry-run); echo "$out"
check "--seeds 1,2,3 x 2 algorithms: 6 runs" [ "$(grep -c 'would run' <<<"$out")" -eq 6 ]
check "--seeds names end in seed1..3" grep -q "topk_np1_seed3" <<<"$out"
out=$("$python" "$sweep" --flbench "$flbench" --seeds 1,x --dry-run 2>&1); rc=$?
check "--seeds 1,x is refused (exit 2): $out" [ $rc -eq 2 ] && grep -q "expected non-negative integers" <<<"$out"
out=$("$python" "$sweep" --flbench "$flbench" --seeds 1 seed=2 --dry-run 2>&1); rc=$?
check "--seeds with a seed= axis is refused (exit 2)" [ $rc -eq 2 ]

echo "test_sweep: $fails failure(s)"
[ $fails -eq 0 ]
