#!/usr/bin/env bash
# Issue 12: the presets re-measured under honest download accounting
# (README, "Virtual time and honest downloads"): every issue-3 preset
# (scripts/run-issue3.sh runs: Fashion-MNIST, 10 of 100 clients per round)
# and language-model preset b (scripts/run-lm.sh b: 10 of 100 clients per
# round) for the algorithms whose broadcast can be smaller than the dense
# state (FedSRD, FedSRD-e) beside FedIT, whose broadcast is the dense
# state. Then scripts/analyze.py --downloads over each.
#
#   scripts/run-downloads.sh          (about 30 minutes here)
#
# Runs go to results/downloads/{issue3,lm} (the .h5 files are ignored by
# git); the tables to results/downloads/{issue3,lm}.md. The environment of
# run-issue3.sh and run-lm.sh passes through (SETTINGS, ALGS, RUN_FLAGS,
# CORPORA, FLBENCH, ...: ctest's quick run sets them); OUT (results/downloads).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/downloads}
OUT=$OUT/issue3 scripts/run-issue3.sh runs || echo "run-downloads: some issue-3 runs failed (above); their rows are missing"
OUT=$OUT/lm BASE=results/lm/base ONLY="fedit fedsrd fedsrd-e fedsrd-no-l1 fedsrd-e-no-l1" scripts/run-lm.sh b
for part in issue3 lm; do
  /usr/bin/python3 scripts/analyze.py --downloads "$OUT/$part" | sed -n '/^Downloads/,$p' >"$OUT/$part.md"
  cat "$OUT/$part.md"
done
