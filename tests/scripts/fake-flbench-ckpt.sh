#!/usr/bin/env bash
# A stand-in for flbench that follows the checkpoint/requeue contract the
# sbatch templates rely on (slurm/flbench-job.sh), so the templates can be
# tested before flbench implements it:
#   --checkpoint-every K   accepted;
#   SIGUSR1                write a checkpoint next to --out (<out>.ckpt) and exit 75;
#   --resume               continue from <out>.ckpt and finish (exit 0).
# Without a signal it "trains" for at most 60 s, then fails.
set -u
out="" resume=0
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift ;;
    --resume) resume=1 ;;
  esac
  shift
done
[ -n "$out" ] || { echo "fake-flbench: no --out" >&2; exit 2; }
if [ $resume -eq 1 ]; then
  [ -e "$out.ckpt" ] || { echo "fake-flbench: --resume without $out.ckpt" >&2; exit 3; }
  echo "fake-flbench: resumed from $out.ckpt"
  echo finished >"$out"
  exit 0
fi
trap 'echo checkpoint >"$out.ckpt"; echo "fake-flbench: checkpointed on SIGUSR1"; exit 75' USR1
echo "fake-flbench: training (pid $$)"
echo partial >"$out"
for _ in $(seq 600); do sleep 0.1; done
echo "fake-flbench: no signal came" >&2
exit 1
