#!/usr/bin/env bash
# Issue 3 experiments: FedAvg, FedLoRU, LBGM (several thresholds), top-k,
# top-k+LBGM on Fashion-MNIST, non-IID, from the presets in configs/issue3/.
#
#   SEEDS="1 2 3" scripts/run-issue3.sh   # = tune-lr + runs + report: what results/issue3 holds
#   scripts/run-issue3.sh tune-lr    # per setting and algorithm, each lr of LRS on a validation split
#                                    # (seed 1, TUNE_ROUNDS rounds); the best on validation
#                                    # (issue3.py pick-lr) goes to $OUT/S/tuned-lr.txt
#   scripts/run-issue3.sh runs       # every setting x algorithm at its tuned lr (the preset's
#                                    # without tuned-lr.txt), once per seed of SEEDS
#   scripts/run-issue3.sh report     # analyze.py summaries and plots; with SEEDS, S_seeds.md
#                                    # (mean ± sd per algorithm); without, tables.md, curves.csv
#   scripts/run-issue3.sh tune       # the first FedLoRU lr/alpha grid on setting A (one seed, test set)
#
# Each run's config is base.toml < setting-S.toml < alg-X.toml merged into
# $OUT/S/X.toml and passed as --config. Runs go one at a time (2-core machine).
# Idempotent: a run whose .h5 has the attribute completed_rounds is skipped,
# an unfinished one is redone with --overwrite.
#
# Environment: FLBENCH (binary; default build/apps/flbench), NP (ranks, 2),
# THREADS (--threads per rank, 1), OUT (results/issue3), SETTINGS ("A B C A3"),
# ALGS ("fedavg fedloru lbgm-d0.2 lbgm-d0.4 topk topk-lbgm"), EXTRA_A (more
# algorithms on setting A only: "lbgm-d0.8"; tune-lr tunes them too), EXTRA_A3
# (""), MPIRUN (mpirun), RUN_FLAGS (flags appended to every run, e.g.
# "--rounds 2": ctest's quick run), MODEL (--model of every run, e.g. the
# papers' cnn-lbgm or lenet-fedloru; default: the presets' mlp), SEEDS (e.g.
# "1 2 3": every run once per seed, named ALG_seedN; the report stage then
# adds analyze.py --seeds' table of mean ± sd per algorithm; default: the
# presets' one seed, named ALG), LRS (tune-lr's grid), VAL (its --validation-fraction,
# 0.1), TUNE_ROUNDS (its rounds, 50).
set -euo pipefail
cd "$(dirname "$0")/.."
FLBENCH=${FLBENCH:-build/apps/flbench}
NP=${NP:-2}
THREADS=${THREADS:-1}
OUT=${OUT:-results/issue3}
CFG=configs/issue3
SETTINGS=${SETTINGS:-"A B C A3"}
ALGS=${ALGS:-"fedavg fedloru lbgm-d0.2 lbgm-d0.4 topk topk-lbgm"}
MPIRUN=${MPIRUN:-mpirun}
EXTRA_A=${EXTRA_A-"lbgm-d0.8"}  # setting A only: a looser LBGM threshold
EXTRA_A3=${EXTRA_A3-""}
PY=/usr/bin/python3
STAGE=${1:-all}
read -r -a RUN_FLAGS <<<"${RUN_FLAGS:-}"
read -r -a SEED_LIST <<<"${SEEDS:-}"
LRS=${LRS:-"0.05 0.02 0.01 0.005"}
VAL=${VAL:-0.1}
TUNE_ROUNDS=${TUNE_ROUNDS:-50}
MODEL_FLAGS=()
[ -n "${MODEL:-}" ] && MODEL_FLAGS=(--model "$MODEL")

MPI=("$MPIRUN" -np "$NP" --oversubscribe)
[ "$(id -u)" = 0 ] && MPI+=(--allow-run-as-root)

# run_one DIR NAME CONFIG [extra flbench options...]
run_one() {
  local dir=$1 name=$2 cfg=$3; shift 3
  local h5=$dir/$name.h5 log=$dir/$name.log
  if [ -e "$h5" ] && $PY scripts/issue3.py completed "$h5"; then
    echo "  $name: done already, skipping"; return 0
  fi
  local cmd=("${MPI[@]}" "$FLBENCH" --config "$cfg" --threads "$THREADS" "${MODEL_FLAGS[@]}" "$@" "${RUN_FLAGS[@]}" --out "$h5")
  [ -e "$h5" ] && cmd+=(--overwrite)
  echo "  $name: ${cmd[*]}"
  local t0=$SECONDS
  if "${cmd[@]}" > "$log" 2>&1; then
    echo "  $name: $(tail -n 1 "$log" | sed 's/^flbench: //') [$((SECONDS - t0)) s]"
  else
    echo "  $name: FAILED (see $log): $(grep -m1 'flbench: error' "$log" || tail -n 1 "$log")"
    FAILED=$((FAILED + 1))
  fi
}
FAILED=0

tune() {
  # FedLoRU diverges with large steps: a short grid on setting A (50 rounds),
  # with FedAvg at the same lrs as a reference.
  local dir=$OUT/tuning
  mkdir -p "$dir"
  $PY scripts/issue3.py merge "$dir/fedloru.toml" $CFG/base.toml $CFG/setting-A.toml $CFG/alg-fedloru.toml
  $PY scripts/issue3.py merge "$dir/fedavg.toml" $CFG/base.toml $CFG/setting-A.toml $CFG/alg-fedavg.toml
  echo "tune: setting A, 50 rounds -> $dir"
  for lr in 0.05 0.02; do
    run_one "$dir" "fedavg_lr$lr" "$dir/fedavg.toml" --rounds 50 --lr $lr
  done
  for lr in 0.05 0.02 0.01; do
    for alpha in 16 32; do
      run_one "$dir" "fedloru_lr${lr}_alpha$alpha" "$dir/fedloru.toml" --rounds 50 --lr $lr --alpha $alpha
    done
  done
  $PY scripts/analyze.py "$dir" --json "$dir/summary.json"
}

# Each algorithm's learning rate chosen on a validation split carved from
# the clients' training data (--validation-fraction), never on the test set.
tune_lr() {
  for s in $SETTINGS; do
    local dir=$OUT/$s/tune-lr
    mkdir -p "$dir"
    echo "tune-lr: setting $s, lr in {$LRS}, --validation-fraction $VAL, $TUNE_ROUNDS rounds -> $dir"
    local extra=EXTRA_$s
    for a in $ALGS ${!extra:-}; do
      $PY scripts/issue3.py merge "$dir/$a.toml" $CFG/base.toml $CFG/setting-$s.toml $CFG/alg-$a.toml
      for lr in $LRS; do
        run_one "$dir" "${a}_lr$lr" "$dir/$a.toml" --lr "$lr" --validation-fraction "$VAL" --rounds "$TUNE_ROUNDS"
      done
    done
    $PY scripts/issue3.py pick-lr "$dir" $ALGS ${!extra:-} | tee "$OUT/$s/tuned-lr.txt"
  done
  # A diverged rate is an outcome of tuning (no candidate), not a failure.
  [ "$FAILED" -eq 0 ] || echo "tune-lr: $FAILED point(s) diverged or failed: not candidates"
  FAILED=0
}

# tuned_lr_flags SETTING ALG: --lr from tune-lr's choice, when there is one.
tuned_lr_flags() {
  local file=$OUT/$1/tuned-lr.txt
  [ -f "$file" ] && awk -v a="$2" '$1 == a { print "--lr", $2 }' "$file"
  return 0
}

runs() {
  for s in $SETTINGS; do
    local dir=$OUT/$s
    mkdir -p "$dir"
    echo "setting $s -> $dir"
    local extra=EXTRA_$s
    for a in $ALGS ${!extra:-}; do
      $PY scripts/issue3.py merge "$dir/$a.toml" $CFG/base.toml $CFG/setting-$s.toml $CFG/alg-$a.toml
      local lr_flags
      read -r -a lr_flags <<<"$(tuned_lr_flags "$s" "$a")"
      if [ ${#SEED_LIST[@]} -eq 0 ]; then
        run_one "$dir" "$a" "$dir/$a.toml" "${lr_flags[@]}"
      else
        for seed in "${SEED_LIST[@]}"; do run_one "$dir" "${a}_seed$seed" "$dir/$a.toml" --seed "$seed" "${lr_flags[@]}"; done
      fi
    done
  done
}

report() {
  local tmp=$OUT/plots-all
  for s in $SETTINGS; do
    echo "== setting $s"
    $PY scripts/analyze.py "$OUT/$s"/*.h5 --json "$OUT/$s/summary.json" --plots "$tmp/$s"
    $PY scripts/analyze.py "$OUT/$s"/*.h5
    cp "$tmp/$s/accuracy_vs_bytes.png" "$OUT/${s}_accuracy_vs_upload.png"
    cp "$tmp/$s/accuracy_vs_round.png" "$OUT/${s}_accuracy_vs_round.png"
    if [ ${#SEED_LIST[@]} -gt 0 ]; then
      # the seeded runs only (not tune-lr/'s)
      $PY scripts/analyze.py "$OUT/$s"/*.h5 --seeds | sed -n '/^Per experiment/,$p' > "$OUT/${s}_seeds.md"
      cat "$OUT/${s}_seeds.md"
    fi
  done
  [ ${#SEED_LIST[@]} -gt 0 ] || $PY scripts/issue3.py report "$OUT" $SETTINGS
}

case $STAGE in
  tune) tune ;;
  tune-lr) tune_lr ;;
  runs) runs ;;
  report) report ;;
  all) tune_lr; runs; report ;;
  *) echo "usage: $0 [all|tune|tune-lr|runs|report]" >&2; exit 2 ;;
esac
if [ "$FAILED" -gt 0 ]; then
  echo "run-issue3: $FAILED run(s) failed (a diverged tuning point is expected: see the logs)" >&2
  [ "$STAGE" = tune ] || exit 1
fi
