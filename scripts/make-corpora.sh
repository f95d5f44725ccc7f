#!/usr/bin/env bash
# Assembles the byte-level text domains for LoRA fine-tuning experiments
# from installed Debian packages only (no network):
#
#   en             every English fortune file (fortunes, fortunes-min)
#   en-computing   English topic subsets of the same files (disjoint from
#   en-science       each other, all contained in `en`: use either `en` or
#   en-literature    the en-* topics in one run, not both)
#   en-society
#   de / es / it   fortunes-de, fortunes-es, fortunes-it (offensive off/ sets excluded)
#   code           C and C++ headers of libc6-dev and libstdc++-12-dev, one document per file
#
# Usage: scripts/make-corpora.sh [OUT_DIR]     (default: corpora/ at the repo root)
#
# Output: OUT_DIR/<domain>/<source>.txt in fortune format (documents end
# with a line holding a single `%`), and OUT_DIR/domains.tsv, the table it
# prints. Every domain is capped at FLB_CORPUS_CAP bytes (default 1 MiB) by
# keeping an evenly spaced subset of its documents, so it samples all its
# source files. The result is a pure function of the installed package
# versions; rerunning replaces each domain directory whole (idempotent).
set -euo pipefail
export LC_ALL=C  # bytes, not characters; sort order independent of the locale

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/corpora}
cap=${FLB_CORPUS_CAP:-1048576}
code_file_cap=65536  # larger headers (generated tables) are skipped
fortune_dir=/usr/share/games/fortunes

die() { echo "make-corpora: $*" >&2; exit 1; }

command -v dpkg-query >/dev/null 2>&1 ||
  die "dpkg-query not found: this script reads Debian package file lists (Debian 12)"
[[ $cap =~ ^[0-9]+$ ]] && [ "$cap" -ge 4096 ] || die "FLB_CORPUS_CAP=$cap: must be a byte count >= 4096"

require_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      die "package $p is not installed: run scripts/install-deps.sh"
  done
}

# Regular files (not symlinks: fortunes' top level links into it/) that the
# named packages install and whose path matches the extended regex $1.
package_files() {
  local regex=$1
  shift
  # find -type f (without -L) drops symlinks and anything that is not a file.
  dpkg-query -L "$@" | grep -E "$regex" | sort -u | xargs -r -d '\n' sh -c 'find "$@" -maxdepth 0 -type f' sh
}

# English topic files -> topic domain (paths on stdin, those of topic $1 on
# stdout). Files not listed are only in `en`.
en_topic_files() {
  awk -v topic="$1" '{
    n = split($0, part, "/"); f = part[n]; t = ""
    if (f ~ /^(computers|linux|linuxcookie|perl|debian|knghtbrd)$/) t = "en-computing"
    else if (f ~ /^(science|medicine|education|goedel|paradoxum|magic)$/) t = "en-science"
    else if (f ~ /^(literature|songs-poems|humorists|pratchett|startrek)$/) t = "en-literature"
    else if (f ~ /^(politics|law|people|men-women|work|drugs|ethnic)$/) t = "en-society"
    if (t == topic) print
  }'
}

# build_domain DOMAIN MODE < "input<TAB>output-name" lines.
# MODE fortune: documents are separated by `%` lines; overstrikes (x BS y)
#   are reduced to the struck character.
# MODE code: one document per file; a file holding a `%` line (it would split
#   on reading) or over code_file_cap bytes is skipped.
# Pass 1 counts documents and bytes; pass 2 keeps document i when
# floor((i+1) f) > floor(i f), f = 0.95 cap / bytes (an even stride), and
# never lets the domain pass `cap` bytes.
build_domain() {
  local domain=$1 mode=$2 manifest tmp
  manifest=$(mktemp)
  cat >"$manifest"
  [ -s "$manifest" ] || die "domain $domain: no source files found (are its packages installed? run scripts/install-deps.sh)"
  tmp="$out/.$domain.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  awk -v mode="$mode" -v cap="$cap" -v file_cap="$code_file_cap" -v dir="$tmp" -v domain="$domain" '
    function flush(   len, keep) {
      if (doc ~ /^[ \t\r\n]*$/) { doc = ""; return }
      len = length(doc) + 2  # "%\n"
      if (pass == 1) { count++; total += len }
      else {
        keep = int((index_ + 1) * f) > int(index_ * f)
        index_++
        if (keep && written + len <= cap) {
          printf "%s%%\n", doc > target
          written += len; kept++; used[target] = 1
        }
      }
      doc = ""
    }
    function read_file(path, target_,   line, text, bad, n) {
      target = target_
      doc = ""
      if (mode == "code") {
        text = ""; bad = 0; n = 0
        while ((getline line < path) > 0) {
          n += length(line) + 1
          if (line == "%" || line == "%\r" || n > file_cap) { bad = 1; break }
          text = text line "\n"
        }
        close(path)
        if (bad) return
        doc = text
        flush()
        return
      }
      while ((getline line < path) > 0) {
        if (line == "%" || line == "%\r") { flush(); continue }
        gsub(/.\010/, "", line)
        doc = doc line "\n"
      }
      close(path)
      flush()
    }
    function run(   line, tab) {
      while ((getline line < manifest) > 0) {
        tab = index(line, "\t")
        read_file(substr(line, 1, tab - 1), dir "/" substr(line, tab + 1))
      }
      close(manifest)
    }
    BEGIN {
      manifest = ARGV[1]; ARGV[1] = ""
      pass = 1; run()
      if (count == 0) { print "make-corpora: domain " domain ": its source files hold no documents" > "/dev/stderr"; exit 1 }
      f = total > cap ? 0.95 * cap / total : 1
      pass = 2; index_ = 0; run()
      for (t in used) close(t)
      nfiles = 0; for (t in used) nfiles++
      printf "%s\t%d\t%d\t%d\n", domain, nfiles, kept, written > (dir "/../.summary." domain)
    }' "$manifest"
  rm -f "$manifest"
  rm -rf "${out:?}/$domain"
  mv "$tmp" "$out/$domain"
}

fortune_manifest() {  # paths on stdin -> "path<TAB>basename.txt"
  awk '{ n = split($0, part, "/"); printf "%s\t%s.txt\n", $0, part[n] }'
}

require_packages fortunes fortunes-min fortunes-de fortunes-es fortunes-it libc6-dev libstdc++-12-dev
mkdir -p "$out"
rm -f "$out"/.summary.*

not_index='\.(dat|u8)$'
en_files=$(package_files "^$fortune_dir/[^/]+\$" fortunes fortunes-min | grep -Ev "$not_index")
declare -A source_of=(
  [en]="fortunes, fortunes-min" [en-computing]="fortunes" [en-science]="fortunes"
  [en-literature]="fortunes, fortunes-min" [en-society]="fortunes"
  [de]="fortunes-de" [es]="fortunes-es" [it]="fortunes-it" [code]="libc6-dev, libstdc++-12-dev"
)
domains=(en en-computing en-science en-literature en-society de es it code)

fortune_manifest <<<"$en_files" | build_domain en fortune
for topic in en-computing en-science en-literature en-society; do
  en_topic_files "$topic" <<<"$en_files" | fortune_manifest | build_domain "$topic" fortune
done
package_files "^$fortune_dir/de/[^/]+\$" fortunes-de | grep -Ev "$not_index" | fortune_manifest | build_domain de fortune
package_files "^$fortune_dir/es/[^/]+\\.fortunes\$" fortunes-es | fortune_manifest | build_domain es fortune
package_files "^$fortune_dir/it/[^/]+\$" fortunes-it | grep -Ev "$not_index" | fortune_manifest | build_domain it fortune
# Code: one output file per package, named after it.
{
  package_files '^/usr/include/.*\.h$' libc6-dev | sed 's/$/\tlibc6-dev.txt/'
  package_files '^/usr/include/.*\.h$' libstdc++-12-dev | sed 's/$/\tlibstdc++-12-dev.txt/'
} | build_domain code code

{
  printf 'domain\tfiles\tdocuments\tbytes\tpackages\n'
  for d in "${domains[@]}"; do
    printf '%s\t%s\n' "$(cat "$out/.summary.$d")" "${source_of[$d]}"
  done
} >"$out/domains.tsv"
rm -f "$out"/.summary.*
awk -F'\t' '{ printf "%-14s %6s %10s %10s  %s\n", $1, $2, $3, $4, $5 }' "$out/domains.tsv"
echo "make-corpora: wrote ${#domains[@]} domains to $out (cap $cap bytes each)"
