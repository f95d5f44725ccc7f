#!/usr/bin/env bash
# ctest corpora.make: builds the text corpora with scripts/make-corpora.sh
# into WORKDIR, checks that every domain is there and non-empty and that a
# second run changes nothing, then loads them with the C++ reader
# (TextCorpus.LoadsTheMadeCorpora in the unit tests).
# Usage: check-corpora.sh MAKE_CORPORA_SH WORKDIR UNIT_TEST_BINARY
set -euo pipefail
script=$1 work=$2 unit_tests=$3
fail() { echo "check-corpora: FAIL: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
"$script" "$work/a"
"$script" "$work/b" >/dev/null
"$script" "$work/b" >/dev/null  # over an existing tree
diff -r "$work/a" "$work/b" >/dev/null || fail "two runs of make-corpora.sh differ"

expected="en en-computing en-science en-literature en-society de es it code"
listed=$(awk -F'\t' 'NR > 1 { printf "%s ", $1 }' "$work/a/domains.tsv")
[ "$listed" = "$expected " ] || fail "domains.tsv lists '$listed', expected '$expected'"
while IFS=$'\t' read -r domain files docs bytes _; do
  [ "$files" -ge 1 ] && [ "$docs" -ge 50 ] && [ "$bytes" -ge 100000 ] ||
    fail "domain $domain: $files files, $docs documents, $bytes bytes"
  actual=$(cat "$work/a/$domain"/* | wc -c)
  [ "$actual" -eq "$bytes" ] || fail "domain $domain: domains.tsv says $bytes bytes, files hold $actual"
  seps=$(cat "$work/a/$domain"/* | grep -c '^%$')
  [ "$seps" -eq "$docs" ] || fail "domain $domain: domains.tsv says $docs documents, files hold $seps"
  [ "$bytes" -le "${FLB_CORPUS_CAP:-1048576}" ] || fail "domain $domain: $bytes bytes is over the cap"
done < <(tail -n +2 "$work/a/domains.tsv")

FLB_TEST_CORPUS_DIR="$work/a" "$unit_tests" --gtest_filter=TextCorpus.LoadsTheMadeCorpora --gtest_brief=0
rm -rf "$work"
echo "check-corpora: OK"
