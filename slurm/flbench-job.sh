# Helpers shared by the sbatch templates in slurm/ (sourced, not run).
#
# A template sets its variable block, sources this file, then calls
#   flb_job_dir NAME            -> RUN_DIR=$RESULTS/NAME (created), job info recorded
#   flb_run NP STEM [flbench options...]
#                               -> runs flbench on NP ranks, --out $RUN_DIR/STEM.h5,
#                                  log $RUN_DIR/STEM.log; returns flbench's status
# flb_run adds --device/--threads/--data-dir/--config/--rounds from the
# variables, and the checkpoint flags when CHECKPOINT_EVERY > 0:
#   --checkpoint-every K     always;
#   --resume                 when a complete checkpoint of STEM exists
#                            ($RUN_DIR/STEM.h5.ckpt or .ckpt.old with its manifest;
#                            a lone .ckpt.tmp is a checkpoint that was never finished);
# A run that finished leaves $RUN_DIR/STEM.done and is skipped when the job
# runs again (requeue). An unfinished run without a checkpoint is restarted
# with --overwrite.
#
# Time limit and preemption: the templates ask for `--signal=B:USR1@120`, so
# Slurm signals this batch shell 120 s before the limit. With checkpointing on
# the signal is forwarded to flbench (srun and mpirun both pass SIGUSR1 to the
# ranks), which finishes the round, checkpoints and exits with status 75; the
# job then requeues itself (`#SBATCH --requeue`) and resumes on its next start.
# With checkpointing off the signal is only logged.

# flbench's exit status after a checkpoint on request (EX_TEMPFAIL).
FLB_EXIT_CHECKPOINTED=75

flb_log() { echo "[$(date '+%F %T')] flbench-job: $*"; }
flb_die() { echo "[$(date '+%F %T')] flbench-job: error: $*" >&2; exit 1; }

# Checks the variables every template shares.
flb_check() {
  [ -n "${SLURM_JOB_ID:-}" ] || flb_die "not inside a Slurm job: submit with sbatch"
  [ -x "$FLBENCH" ] || flb_die "FLBENCH=$FLBENCH is not an executable; build flbench (scripts/build.sh) or set FLBENCH"
  case "$LAUNCHER" in
    srun|mpirun) ;;
    *) flb_die "LAUNCHER=$LAUNCHER: use srun or mpirun" ;;
  esac
  command -v "$LAUNCHER" >/dev/null 2>&1 || flb_die "LAUNCHER=$LAUNCHER not found on PATH (module load openmpi?)"
  [[ "$CHECKPOINT_EVERY" =~ ^[0-9]+$ ]] || flb_die "CHECKPOINT_EVERY=$CHECKPOINT_EVERY: a number of rounds (0: off)"
  if [ -n "${CONFIG:-}" ] && [ ! -f "$CONFIG" ]; then flb_die "CONFIG=$CONFIG: no such file"; fi
  return 0
}

# flb_job_dir NAME: creates RUN_DIR=$RESULTS/NAME and records how the job ran.
flb_job_dir() {
  RUN_DIR=$RESULTS/$1
  mkdir -p "$RUN_DIR" || flb_die "cannot create $RUN_DIR"
  {
    echo "start=$(date -Is) restart_count=${SLURM_RESTART_COUNT:-0}"
    echo "job=${SLURM_JOB_ID} name=${SLURM_JOB_NAME:-} array=${SLURM_ARRAY_JOB_ID:-}_${SLURM_ARRAY_TASK_ID:-}"
    echo "nodes=${SLURM_JOB_NODELIST:-} ntasks=${SLURM_NTASKS:-} cpus_per_task=${SLURM_CPUS_PER_TASK:-}"
    echo "flbench=$FLBENCH launcher=$LAUNCHER checkpoint_every=$CHECKPOINT_EVERY"
  } >>"$RUN_DIR/job.txt"
  flb_log "results in $RUN_DIR"
}

# The launcher command for NP ranks, in the array FLB_CMD.
flb_launcher() {
  local np=$1
  if [ "$LAUNCHER" = srun ]; then
    # --mpi: pmix for Open MPI 4/5 (pmi2 for MPICH / Intel MPI). Each step
    # inherits the job's --cpus-per-task and --gpus-per-task.
    FLB_CMD=(srun --mpi="$SRUN_MPI" --ntasks="$np" --kill-on-bad-exit=1)
    # shellcheck disable=SC2206  # SRUN_ARGS is a list of words on purpose
    FLB_CMD+=(${SRUN_ARGS:-})
  else
    # Open MPI's mpirun reads the Slurm allocation itself (hosts, slots).
    FLB_CMD=(mpirun -np "$np")
    [ "$(id -u)" -eq 0 ] && FLB_CMD+=(--allow-run-as-root)
    # shellcheck disable=SC2206
    FLB_CMD+=(${MPIRUN_ARGS:-})
  fi
}

# Forwards a signal to the running launcher (set as a trap in flb_run).
flb_on_signal() {
  local sig=$1
  if [ "$CHECKPOINT_EVERY" -gt 0 ] && [ -n "${FLB_CHILD:-}" ]; then
    flb_log "got SIG$sig: asking flbench to finish the round, checkpoint and exit"
    kill -USR1 "$FLB_CHILD" 2>/dev/null || true
  else
    flb_log "got SIG$sig, but checkpointing is off (CHECKPOINT_EVERY=0): the run continues until the time limit"
  fi
}

# flb_run NP STEM [flbench options...]
flb_run() {
  local np=$1 stem=$2
  shift 2
  local out=$RUN_DIR/$stem.h5 log=$RUN_DIR/$stem.log
  if [ -e "$RUN_DIR/$stem.done" ]; then
    flb_log "$stem: already finished ($out), skipping"
    return 0
  fi
  local args=()
  [ -n "${CONFIG:-}" ] && args+=(--config "$CONFIG")
  args+=("$@")
  [ -n "${ROUNDS:-}" ] && args+=(--rounds "$ROUNDS")
  [ -n "${DEVICE:-}" ] && args+=(--device "$DEVICE")
  [ -n "${THREADS:-}" ] && args+=(--threads "$THREADS")
  [ -n "${DATA_DIR:-}" ] && args+=(--data-dir "$DATA_DIR")
  # shellcheck disable=SC2206  # ARGS is a list of words on purpose
  args+=(${ARGS:-})
  args+=(--out "$out")
  if [ "$CHECKPOINT_EVERY" -gt 0 ]; then
    args+=(--checkpoint-every "$CHECKPOINT_EVERY")
    if [ -e "$out.ckpt/manifest.txt" ] || [ -e "$out.ckpt.old/manifest.txt" ]; then
      args+=(--resume)
    elif [ -e "$out" ]; then
      args+=(--overwrite)
    fi
  elif [ -e "$out" ]; then
    args+=(--overwrite)   # an unfinished earlier attempt: start over
  fi

  flb_launcher "$np"
  flb_log "$stem: ${FLB_CMD[*]} $FLBENCH ${args[*]}"
  echo "# $(date -Is) job ${SLURM_JOB_ID} restart ${SLURM_RESTART_COUNT:-0}: ${FLB_CMD[*]} $FLBENCH ${args[*]}" >>"$log"

  # Run in the background so that this shell can take SIGUSR1/SIGTERM and
  # forward them; `wait` returns early when a trap runs, so wait again until
  # the launcher is gone.
  trap 'flb_on_signal USR1' USR1
  trap 'flb_on_signal TERM' TERM
  "${FLB_CMD[@]}" "$FLBENCH" "${args[@]}" >>"$log" 2>&1 &
  FLB_CHILD=$!
  local rc=0
  wait "$FLB_CHILD" || rc=$?
  while kill -0 "$FLB_CHILD" 2>/dev/null; do
    rc=0
    wait "$FLB_CHILD" || rc=$?
  done
  FLB_CHILD=
  trap 'flb_on_signal USR1' USR1   # keep ignoring a late signal between runs

  if [ $rc -eq 0 ]; then
    date -Is >"$RUN_DIR/$stem.done"
    flb_log "$stem: done -> $out"
  elif [ $rc -eq $FLB_EXIT_CHECKPOINTED ] && [ "$CHECKPOINT_EVERY" -gt 0 ]; then
    flb_log "$stem: checkpointed on request; requeueing job $SLURM_JOB_ID to resume"
    scontrol requeue "$SLURM_JOB_ID" || flb_die "scontrol requeue failed; resubmit this job to resume"
    exit 0
  else
    flb_log "$stem: flbench failed with status $rc; last lines of $log:"
    tail -n 20 "$log" >&2
  fi
  return $rc
}
