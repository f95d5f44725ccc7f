#!/usr/bin/env bash
# Issue 5's experiments: LoRA fine-tuning of a small byte-level Llama across
# heterogeneous text domains with FedSRD, FedSRD-e and their baselines.
#
#   scripts/run-lm.sh [a|b|c|all]     (default all; NP=2 ranks; THREADS=1 per rank)
#   scripts/run-lm.sh tune P          each method's AdamW lr on a validation split (issue 13)
#   scripts/run-lm.sh seeds P         each method at its tuned lr over SEEDS, large held-out sets
#   scripts/run-lm.sh ablation        preset c's ablations over SEEDS at fedsrd-no-l1's tuned lr of preset a
#
#   a  configs/lm/domains-4.toml: 4 clients, one domain each, full participation
#   b  configs/lm/domains-100.toml: 100 clients, Dirichlet(0.3) over domains, 10 per round
#   c  the ablation on (a), without the L1 rescale (see METHODS): sparsifier x
#      upload sparsity inside FedSRD (a fixed sparsity: every sparsifier sends the
#      same bytes), and FedSRD with and without reconstruction (naive A/B
#      averaging of the sparsified uploads; both factors every round, or
#      alternating: one factor, FedSRD's download budget)
#
# Every LoRA method aggregates with the same client weights, AGG_WEIGHTS
# (samples: n_i / n, what full fine-tuning's FedAvg uses).
#
# tune P runs every method of METHODS at each lr of LRS (seed 1, TUNE_ROUNDS
# rounds, --validation-fraction VAL) into $OUT/P/tune/ and writes the lr
# with the lowest validation loss (mean of the last 3 evaluations; one grid
# step below a diverged rate: scripts/issue3.py pick-lr --by val_loss) to
# $OUT/P/tuned-lr.txt. seeds P runs every method at that lr once per seed of
# SEEDS as $OUT/P/NAME_seedN.h5 with --eval-sequences EVAL_SEQUENCES (the
# held-out sets' loss standard error below about 0.01: /eval/loss_se).
# scripts/lm_table.py then reports mean ± sd over the seeds.
#
# Makes the corpora and the pretrained base when missing, skips runs whose
# HDF5 file is complete, writes results/lm/<preset>/*.h5 and the tables
# (results/lm/README.md is written by hand around them).
#
# Environment: NP, THREADS, FLBENCH (binary; default build/apps/flbench),
# OUT (default results/lm), BASE (the pretrained base; default $OUT/base),
# ONLY (run only these run names, e.g. "fedit fedsrd": scripts/run-downloads.sh),
# CORPORA (default corpora), PRETRAIN_STEPS (1500),
# RUN_FLAGS (flags appended to every run, e.g. "--rounds 2": ctest's quick run),
# AGG_WEIGHTS (samples), LRS ("0.0005 0.001 0.002 0.005"), VAL (0.05),
# TUNE_ROUNDS (20), SEEDS ("1 2 3"), EVAL_SEQUENCES (10000: more than any held-out set has).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
preset_arg=${2:-}
case $what in
  a | b | c | all | ablation) ;;
  tune | seeds) case $preset_arg in a | b) ;; *) echo "usage: $0 $what a|b" >&2; exit 2 ;; esac ;;
  *) echo "usage: $0 [a|b|c|all] | tune a|b | seeds a|b | ablation" >&2; exit 2 ;;
esac
NP=${NP:-2}
THREADS=${THREADS:-1}
FLB=${FLBENCH:-build/apps/flbench}
OUT=${OUT:-results/lm}
BASE=${BASE:-$OUT/base}
ONLY=${ONLY:-}
CORPORA=${CORPORA:-corpora}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-1500}
AGG_WEIGHTS=${AGG_WEIGHTS:-samples}
LRS=${LRS:-"0.0005 0.001 0.002 0.005"}
VAL=${VAL:-0.05}
TUNE_ROUNDS=${TUNE_ROUNDS:-20}
read -r -a SEED_LIST <<<"${SEEDS:-1 2 3}"
EVAL_SEQUENCES=${EVAL_SEQUENCES:-10000}
read -r -a RUN_FLAGS <<<"${RUN_FLAGS:-}"
PY=/usr/bin/python3
[ -x "$FLB" ] || scripts/build.sh
[ -d "$CORPORA/de" ] || scripts/make-corpora.sh "$CORPORA"
mpi=(--oversubscribe)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
mkdir -p "$OUT"
if [ ! -f "$BASE/model.safetensors" ]; then
  echo "run-lm: pretraining the base model ($BASE, a Hugging Face directory)"
  "$FLB" pretrain --corpus-dir "$CORPORA" --steps "$PRETRAIN_STEPS" --report-every 250 --threads "$THREADS" \
    --out "$BASE" --overwrite | tee "$OUT/pretrain.log"
fi

complete() { "$PY" -c "import h5py,sys; sys.exit(0 if 'completed_rounds' in h5py.File(sys.argv[1],'r').attrs else 1)" "$1" 2>/dev/null; }

# run DIR NAME FLAGS...: one flbench run into $OUT/DIR/NAME.h5 (DIR: a preset,
# or PRESET/tune), with the preset's config. A failed run stops the script,
# unless TOLERATE=1 (tuning: a diverged rate is an outcome).
TOLERATE=0
run() {
  local preset=$1 name=$2
  shift 2
  local dir=$OUT/$preset out=$OUT/$preset/$name.h5
  [ -z "$ONLY" ] || [[ " $ONLY " == *" ${name%%_*} "* ]] || return 0
  mkdir -p "$dir"
  if [ -f "$out" ] && complete "$out"; then
    echo "run-lm: $out complete, skipped"
    return
  fi
  echo "run-lm: $preset/$name: $*"
  if mpirun "${mpi[@]}" -np "$NP" "$FLB" --config "configs/lm/$(config_of "${preset%%/*}").toml" --threads "$THREADS" \
      --corpus-dir "$CORPORA" --base "$BASE" "$@" "${RUN_FLAGS[@]}" --out "$out" --overwrite >"$dir/$name.log" 2>&1; then
    tail -1 "$dir/$name.log"
  elif [ "$TOLERATE" = 1 ]; then
    echo "run-lm: $preset/$name failed: $(grep -m1 'flbench: error' "$dir/$name.log" || tail -1 "$dir/$name.log")"
  else
    tail -5 "$dir/$name.log"; exit 1
  fi
}
config_of() { case $1 in a | c) echo domains-4 ;; b) echo domains-100 ;; esac; }

# The paper's comparison: same seed, rounds, local steps and LoRA rank, and
# one client weighting for every LoRA method. NAME|FLAGS.
W=(--aggregation-weights "$AGG_WEIGHTS")
METHODS=(
  "fedavg|--algorithm fedavg"  # full fine-tuning, dense uploads (not the paper's FedAvg: that is LoRA FedAvg, fedit)
  "fedit|--algorithm fedit ${W[*]}"  # the paper's "FedAvg": LoRA, A and B averaged
  "fedprox|--algorithm fedprox --prox-mu 0.01 ${W[*]}"
  "ffa-lora|--algorithm ffa-lora ${W[*]}"
  "flexlora|--algorithm flexlora ${W[*]}"
  "fed-dare|--algorithm fed-dare --dare-p 0.9 ${W[*]}"
  "fedsrd-e|--algorithm fedsrd-e --adaptive-sparsity --download-sparsity 0.8 ${W[*]}"
  "fedsrd|--algorithm fedsrd --adaptive-sparsity --download-sparsity 0.8 ${W[*]}"
  # The L1-preserving rescale of the authors' code (on by default) scales the
  # ~5% surviving entries up several-fold; both variants also run without it.
  "fedsrd-e-no-l1|--algorithm fedsrd-e --adaptive-sparsity --download-sparsity 0.8 --no-l1-rescale ${W[*]}"
  "fedsrd-no-l1|--algorithm fedsrd --adaptive-sparsity --download-sparsity 0.8 --no-l1-rescale ${W[*]}"
)
# The names of METHODS (those in ONLY, when it is set).
method_names() {
  local m
  for m in "${METHODS[@]}"; do
    [ -z "$ONLY" ] || [[ " $ONLY " == *" ${m%%|*} "* ]] && echo -n "${m%%|*} "
  done
}
method_flags() { local m; for m in "${METHODS[@]}"; do [ "${m%%|*}" = "$1" ] && echo "${m#*|}"; done; }

compare() {
  local p=$1 name flags
  for name in $(method_names); do
    read -r -a flags <<<"$(method_flags "$name")"
    run "$p" "$name" "${flags[@]}"
  done
}

# tune P: every method at every lr of LRS on the validation split.
tune() {
  local p=$1 name lr flags
  TOLERATE=1
  for name in $(method_names); do
    read -r -a flags <<<"$(method_flags "$name")"
    for lr in $LRS; do
      run "$p/tune" "${name}_lr$lr" "${flags[@]}" --lr "$lr" --validation-fraction "$VAL" --rounds "$TUNE_ROUNDS" --seed 1
    done
  done
  TOLERATE=0
  # shellcheck disable=SC2046
  "$PY" scripts/issue3.py pick-lr --by val_loss "$OUT/$p/tune" $(method_names) | tee "$OUT/$p/tuned-lr.txt"
  "$PY" scripts/lm_table.py --tune "$OUT/$p" >"$OUT/$p/tune.md"
}

tuned_lr() { awk -v a="$2" '$1 == a { print $2 }' "$OUT/$1/tuned-lr.txt"; }

# seeds P: every method at its tuned lr, once per seed.
seeds() {
  local p=$1 name lr seed flags
  [ -f "$OUT/$p/tuned-lr.txt" ] || { echo "run-lm: no $OUT/$p/tuned-lr.txt: run '$0 tune $p' first" >&2; exit 1; }
  for name in $(method_names); do
    read -r -a flags <<<"$(method_flags "$name")"
    lr=$(tuned_lr "$p" "$name")
    [ -n "$lr" ] || { echo "run-lm: $name has no tuned lr in $OUT/$p/tuned-lr.txt" >&2; exit 1; }
    for seed in "${SEED_LIST[@]}"; do
      run "$p" "${name}_seed$seed" "${flags[@]}" --lr "$lr" --seed "$seed" --eval-sequences "$EVAL_SEQUENCES"
    done
  done
}

# ablation: preset c over the seeds at fedsrd-no-l1's tuned lr of preset a:
# the sparsifiers at one fixed upload sparsity (equal bytes), and
# reconstruction against naive averaging, with both factors every round or
# alternating (FedSRD's download budget).
ablation() {
  local lr seed s
  [ -f "$OUT/a/tuned-lr.txt" ] || { echo "run-lm: no $OUT/a/tuned-lr.txt: run '$0 tune a' first" >&2; exit 1; }
  lr=$(tuned_lr a fedsrd-no-l1)
  [ -n "$lr" ] || { echo "run-lm: fedsrd-no-l1 has no tuned lr in $OUT/a/tuned-lr.txt" >&2; exit 1; }
  local common=(--algorithm fedsrd --download-sparsity 0.8 --no-l1-rescale "${W[@]}" --lr "$lr" --eval-sequences "$EVAL_SEQUENCES")
  for seed in "${SEED_LIST[@]}"; do
    for s in importance magnitude random; do
      run c "fedsrd-$s-0.9_seed$seed" "${common[@]}" --no-adaptive-sparsity --upload-sparsity 0.9 --sparsifier "$s" --seed "$seed"
    done
    run c "fedsrd-reconstruction_seed$seed" "${common[@]}" --adaptive-sparsity --seed "$seed"
    run c "fedsrd-no-reconstruction-both_seed$seed" "${common[@]}" --adaptive-sparsity --no-reconstruction --seed "$seed"
    run c "fedsrd-no-reconstruction-alternating_seed$seed" "${common[@]}" --adaptive-sparsity --no-reconstruction \
      --no-reconstruction-factors alternating --seed "$seed"
  done
}

case $what in
  tune) tune "$preset_arg"; exit 0 ;;
  seeds) seeds "$preset_arg" ;;
  ablation) ablation ;;
esac

case $what in a | all) compare a ;; esac
case $what in b | all) compare b ;; esac
case $what in c | all)
  for s in importance magnitude random; do
    for p in 0.5 0.8 0.9 0.95; do
      run c "fedsrd-$s-$p" --algorithm fedsrd --no-adaptive-sparsity --upload-sparsity "$p" --sparsifier "$s" \
        --download-sparsity 0.8 --no-l1-rescale "${W[@]}"
    done
  done
  run c fedsrd-reconstruction --algorithm fedsrd --adaptive-sparsity --download-sparsity 0.8 --no-l1-rescale "${W[@]}"
  run c fedsrd-no-reconstruction --algorithm fedsrd --adaptive-sparsity --download-sparsity 0.8 --no-l1-rescale \
    --no-reconstruction "${W[@]}"
  ;;
esac

for p in a b c; do  # only where runs are (a table.md whose runs are not here stays as it is)
  if compgen -G "$OUT/$p/*.h5" >/dev/null; then "$PY" scripts/lm_table.py "$OUT/$p" >"$OUT/$p/table.md" && cat "$OUT/$p/table.md"; fi
done
# the plots of preset a's runs (not of tune/'s)
if compgen -G "$OUT/a/*.h5" >/dev/null; then "$PY" scripts/analyze.py "$OUT"/a/*.h5 --plots "$OUT/plots-a" >/dev/null; fi
