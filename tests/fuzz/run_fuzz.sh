#!/usr/bin/env bash
# One bounded libFuzzer run of a fuzz target (ctest's fuzz.run.* tests,
# which scripts/fuzz.sh runs):
#   run_fuzz.sh TARGET_BINARY WORKDIR SECONDS CORPUS_DIR...
# New inputs go to WORKDIR/corpus (the first corpus libFuzzer is given, so
# the committed seeds are only read), a crash to WORKDIR/crash-<sha1> with
# the input's bytes, libFuzzer's log to WORKDIR/fuzz.log; the CORPUS_DIRs
# that exist are read as seeds. Prints the final statistics (and, after a
# finding, the end of the log). Exit 0 when the run ended without a finding.
set -uo pipefail
bin=$1 work=$2 seconds=$3
shift 3
mkdir -p "$work/corpus"
seeds=()
for d in "$@"; do [ -d "$d" ] && seeds+=("$d"); done
# -rss_limit_mb / -malloc_limit_mb: an input that makes a reader allocate
# gigabytes is a finding too. -timeout: one input may take 10 s at most.
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=3072 -malloc_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$work/" "$work/corpus" "${seeds[@]}" >"$work/fuzz.log" 2>&1
rc=$?
name=$(basename "$bin")
if [ $rc -eq 0 ]; then
  echo "$name: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$work/fuzz.log" | tail -1) (log: $work/fuzz.log)"
else
  tail -n 40 "$work/fuzz.log"
  echo "$name: FOUND A PROBLEM (exit $rc): the input is $(ls "$work"/crash-* "$work"/oom-* "$work"/timeout-* "$work"/leak-* 2>/dev/null | tail -1)"
fi
exit $rc
