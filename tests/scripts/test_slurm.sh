#!/usr/bin/env bash
# Tests the sbatch templates on a one-node local Slurm (scripts/local-slurm.sh):
#   1. slurm/single.sbatch, 3 rounds on 2 ranks: the HDF5 file has completed_rounds == 3;
#   2. slurm/array.sbatch over 2 configs (LAUNCHER=mpirun): two finished files;
#   3. the checkpoint/requeue path with the real flbench on 2 ranks
#      (CHECKPOINT_EVERY=2): SIGUSR1 to the batch shell -> forwarded through
#      srun -> flbench finishes the round, checkpoints, exits 75 -> requeue
#      -> the next start passes --resume and finishes: every round once;
#   4. with CHECKPOINT_EVERY=0 the same signal is only logged;
#   5. scaling-strong/-weak.sbatch over 1 and 2 ranks, read by analyze.py --scaling.
#   test_slurm.sh FLBENCH
# Exits 77 (skipped) when not root, when Slurm or munge is missing, or when
# the local cluster does not start. Stops the cluster at the end if it started it.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 FLBENCH" >&2; exit 2; }
flbench=$(readlink -f "$1")
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=$PATH:/usr/sbin
TIMEOUT_S=${TIMEOUT_S:-300}   # per job

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root to start a local Slurm"; exit 77; }
for b in slurmctld slurmd munged sbatch scontrol h5dump; do
  command -v $b >/dev/null || { echo "SKIP: $b not installed"; exit 77; }
done
started=0
if ! "$root/scripts/local-slurm.sh" status >/dev/null 2>&1; then
  "$root/scripts/local-slurm.sh" start || { echo "SKIP: local Slurm did not start"; exit 77; }
  started=1
fi

tmp=$(mktemp -d /tmp/flb-test-slurm-XXXXXX)
cleanup() {
  [ $started -eq 1 ] && "$root/scripts/local-slurm.sh" stop >/dev/null
  if [ -n "${KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi   # KEEP=1: keep for debugging
}
trap cleanup EXIT
fails=0
check() {  # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok    $what"; else echo "FAIL  $what"; fails=$((fails + 1)); fi
}
completed_rounds() { h5dump -a completed_rounds "$1" 2>/dev/null | sed -n 's/^ *(0): \([0-9]*\)/\1/p'; }
job_states() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | sort -u | tr '\n' ' '; }
# wait_job ID: waits until every task of the job has ended; prints the states.
wait_job() {
  local t=0 s
  while [ $t -lt "$TIMEOUT_S" ]; do
    s=$(job_states "$1")
    if [ -n "$s" ] && ! grep -qE 'PENDING|RUNNING|CONFIGURING|COMPLETING|REQUEUE' <<<"$s"; then
      echo "$s"; return 0
    fi
    sleep 1; t=$((t + 1))
  done
  echo "TIMEOUT($s)"; return 1
}

cd "$tmp" || exit 1
# Small runs, results under $tmp; checkpointing off unless a test turns it on.
export FLBENCH_SRC=$root FLBENCH=$flbench RESULTS=$tmp/results ROUNDS=3 CHECKPOINT_EVERY=0
small="--clients 8 --clients-per-round 4 --local-steps 3"

# 1. single.sbatch
j=$(CONFIG='' ARGS="$small" sbatch --parsable --ntasks=2 "$root/slurm/single.sbatch")
s=$(wait_job "$j")
check "single.sbatch job $j completed (state $s)" [ "$s" = "COMPLETED " ]
f=$tmp/results/flbench-$j/run.h5
check "single: $f has completed_rounds == 3" [ "$(completed_rounds "$f")" = 3 ]
[ "$s" = "COMPLETED " ] || cat "$tmp"/flbench-"$j".out "$tmp/results/flbench-$j/run.log"

# 2. array.sbatch over 2 configs, launched with mpirun
for seed in 1 2; do
  printf 'clients = 8\nclients-per-round = 4\nlocal-steps = 3\nseed = %d\n' $seed >"seed$seed.toml"
done
printf '# two configs\nseed1.toml\n\nseed2.toml\n' >configs.txt
j=$(CONFIG_LIST=configs.txt LAUNCHER=mpirun ARGS='' sbatch --parsable --ntasks=2 --array=0-1 "$root/slurm/array.sbatch")
s=$(wait_job "$j")
check "array.sbatch job $j completed (states $s)" [ "$s" = "COMPLETED " ]
for f in 000-seed1 001-seed2; do
  check "array: $f.h5 has completed_rounds == 3" \
    [ "$(completed_rounds "$tmp/results/flbench-array-$j/$f.h5")" = 3 ]
done
[ "$s" = "COMPLETED " ] || cat "$tmp"/flbench-array-"$j"_*.out "$tmp/results/flbench-array-$j/"*.log

# 3. checkpoint, requeue, resume: the real flbench on 2 ranks, rounds long
#    enough (--local-steps 40) that the signal comes well before the end.
long="--clients 8 --clients-per-round 4 --local-steps 40 --threads 1"
j=$(CONFIG='' ARGS="$long" ROUNDS=40 CHECKPOINT_EVERY=2 sbatch --parsable --ntasks=2 "$root/slurm/single.sbatch")
d=$tmp/results/flbench-$j
for _ in $(seq 120); do grep -qE '^round +3/' "$d/run.log" 2>/dev/null && break; sleep 0.5; done
scancel --batch --signal=USR1 "$j"        # what --signal=B:USR1@120 does near the limit
for _ in $(seq 120); do grep -q 'checkpointed after round' "$d/run.log" 2>/dev/null && [ "$(job_states "$j")" = "PENDING " ] && break; sleep 0.5; done
check "USR1: flbench checkpointed (exit 75) and the job was requeued" grep -q 'checkpointed after round' "$d/run.log"
check "USR1: checkpoint $d/run.h5.ckpt written" [ -e "$d/run.h5.ckpt/manifest.txt" ]
check "USR1: the job script saw status 75 and requeued" grep -q 'checkpointed on request; requeueing' "$tmp/flbench-$j.out"
# Skip Slurm's requeue delay (about 2 min), but only once the old step is
# gone: a new step with the same id would fail to launch while it lingers.
for _ in $(seq 60); do pgrep -x slurmstepd >/dev/null || break; sleep 0.5; done
scontrol update JobId="$j" StartTime=now
s=$(wait_job "$j")
check "requeued job $j completed (state $s)" [ "$s" = "COMPLETED " ]
check "second start passed --resume" grep -q -- '--resume' "$d/run.log"
check "second start resumed from the checkpoint" grep -q 'resuming from .*run.h5.ckpt after round' "$d/run.log"
check "resumed run finished: completed_rounds == 40" [ "$(completed_rounds "$d/run.h5")" = 40 ]
if /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  check "resumed run: rounds 0..39 once each, 4 client rows each" /usr/bin/python3 -c "
import h5py, numpy as np, sys
f = h5py.File('$d/run.h5', 'r')
sys.exit(not (np.array_equal(f['rounds/round'][:], np.arange(40)) and
              np.array_equal(np.bincount(f['clients/round'][:]), np.full(40, 4))))"
fi
check "Slurm counted one restart" grep -q 'Restarts=1' <(scontrol show job "$j")
[ "$s" = "COMPLETED " ] || cat "$tmp/flbench-$j.out" "$d/run.log"

# 4. USR1 with checkpointing off: logged and ignored, the run goes on.
j=$(CONFIG='' ARGS="$long" ROUNDS=1000 sbatch --parsable --ntasks=1 "$root/slurm/single.sbatch")
for _ in $(seq 120); do grep -qE '^round +1/' "$tmp/results/flbench-$j/run.log" 2>/dev/null && break; sleep 0.5; done
scancel --batch --signal=USR1 "$j"
sleep 2
check "USR1 without checkpointing: job $j still running" [ "$(job_states "$j")" = "RUNNING " ]
check "USR1 without checkpointing: logged" grep -q 'checkpointing is off' "$tmp/flbench-$j.out"
scancel "$j"

# 5. Scaling templates: 1 and 2 ranks each, then analyze.py --scaling.
js=$(CONFIG='' ARGS="--local-steps 3" RANKS="1 2" CLIENTS=8 CLIENTS_PER_ROUND=4 \
     sbatch --parsable --ntasks=2 "$root/slurm/scaling-strong.sbatch")
jw=$(CONFIG='' ARGS="--local-steps 3" RANKS="1 2" CLIENTS_PER_RANK=4 \
     sbatch --parsable --ntasks=2 "$root/slurm/scaling-weak.sbatch")
for j in "$js" "$jw"; do
  s=$(wait_job "$j")
  check "scaling job $j completed (state $s)" [ "$s" = "COMPLETED " ]
done
for f in flbench-strong-$js/np1-c8 flbench-strong-$js/np2-c8 flbench-weak-$jw/np1-cpr4 flbench-weak-$jw/np2-cpr4; do
  check "scaling: $f.h5 has completed_rounds == 3" [ "$(completed_rounds "$tmp/results/$f.h5")" = 3 ]
done
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import h5py' 2>/dev/null; then
  out=$(/usr/bin/python3 "$root/scripts/analyze.py" --scaling "$tmp/results/flbench-strong-$js" "$tmp/results/flbench-weak-$jw")
  echo "$out"
  check "analyze.py finds a strong series" grep -q '^| fedavg clients=8 ' <<<"$out"
  check "analyze.py finds a weak series" grep -q '^| fedavg clients/rank=4 ' <<<"$out"
fi

echo "test_slurm: $fails failure(s)"
[ $fails -eq 0 ]
