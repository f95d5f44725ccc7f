#!/usr/bin/env bash
# The FedSRD server step for every adapted layer of a real model (default
# Llama-3.2-3B: q,k,v,o,gate,up,down x 28, r = 64, 4 clients): flbench's
# fedsrd::solve (apps/bench/server_bench.cc), the previous stacked-QR code
# kept there as the baseline, and the factored path as a bare PyTorch loop
# (scripts/bench/bare_pytorch_server.py), in one run with the same threads.
# Issue 11's target: flbench within 1.1x of the bare loop. Before timing,
# server_bench checks fedsrd against a dense float64 reference and the
# baseline (a difference above 1e-4 exits 1). Writes
# results/bench/server_step.md. Runs from any directory.
#
#   scripts/bench/server_step.sh [REPS]     (default 3)
#
# Environment: MODEL (llama-3.2-3b; llama-3.2-1b, llama-3-8b, qwen2-7b),
# CLIENTS (4), RANK (64), THREADS (both sides; default nproc), OUT
# (results/bench/server_step.md), FLB_BUILD_DIR. OMP_WAIT_POLICY reaches
# both sides alike (PASSIVE on a machine shared with other work).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FLB_BUILD_DIR:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac
reps=${1:-3}
model=${MODEL:-llama-3.2-3b}
clients=${CLIENTS:-4}
rank=${RANK:-64}
threads=${THREADS:-$(nproc)}
out=${OUT:-$root/results/bench/server_step.md}
bench=$build/apps/server_bench
py=/usr/bin/python3
[ -x "$bench" ] || { echo "server_step: $bench not found; build first: $root/scripts/build.sh" >&2; exit 1; }
[ "$reps" -ge 1 ] 2>/dev/null || { echo "server_step: REPS must be an integer >= 1" >&2; exit 2; }
$py -c "import torch" 2>/dev/null || { echo "server_step: needs Debian's python3-torch (/usr/bin/python3)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bench" --model "$model" --clients "$clients" --rank "$rank" --reps "$reps" --threads "$threads" --json "$tmp/flbench.json" | tee "$tmp/flbench.txt"
$py "$root/scripts/bench/bare_pytorch_server.py" --shapes "$tmp/flbench.json" --clients "$clients" --rank "$rank" \
  --reps "$reps" --threads "$threads" --out "$tmp/bare.json"
mkdir -p "$(dirname "$out")"
$py - "$tmp/flbench.json" "$tmp/bare.json" "$model" "$clients" "$rank" >"$out.tmp" <<'PY'
import json, sys
f, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
model, m, r = sys.argv[3:6]
bare = {s["name"]: s for s in b["shapes"]}
print(f"# FedSRD server step, every adapted layer of {model} (m = {m} clients, r = {r}, R = m r)\n")
assert f["threads"] == b["threads"], (f["threads"], b["threads"])
print(f"Per round (mean of an A- and a B-round, median of the repetitions), {f['threads']} threads on both sides, "
      f"torch {b['torch']}; #wrong {f['wrong']} (flbench against a dense float64 reference, tolerance 1e-5, and "
      "against its previous code, tolerance 1e-4). Bare PyTorch: the factored path (stack, QR, small SVD, "
      "pinv) in float32 stacks, and the same in float64 to the difference.\n")
print("| projection | d_out x d_in | count | flbench fedsrd | before | bare float32 | bare float64 | flbench / bare float32 "
      "| flbench / bare float64 | flbench fedsrd-e | bare fedsrd-e | flbench / bare |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
tot = [0.0] * 6
for s in f["shapes"]:
    n, c = s["name"], s["count"]
    row = [s["fedsrd_s"], s["before_s"], bare[n]["fedsrd_s"], bare[n]["fedsrd_float64_s"], s["fedsrd_e_s"],
           bare[n]["fedsrd_e_s"]]
    tot = [t + c * v for t, v in zip(tot, row)]
    ms = [f"{1e3 * v:.2f} ms" for v in row]
    print(f"| {n} | {s['d_out']} x {s['d_in']} | {c} | {ms[0]} | {ms[1]} | {ms[2]} | {ms[3]} | {row[0]/row[2]:.2f} | "
          f"{row[0]/row[3]:.2f} | {ms[4]} | {ms[5]} | {row[4]/row[5]:.2f} |")
print(f"| **whole model** | | | **{tot[0]:.2f} s** | {tot[1]:.2f} s | {tot[2]:.2f} s | {tot[3]:.2f} s | "
      f"**{tot[0]/tot[2]:.2f}** | **{tot[0]/tot[3]:.2f}** | **{tot[4]:.2f} s** | {tot[5]:.2f} s | **{tot[4]/tot[5]:.2f}** |")
print(f"\nflbench against its previous code (float64 QRs of [B + dB_1 ..], float64 to the difference): "
      f"{tot[0]/tot[1]:.2f}x the time.\n")
print(f"Accuracy ({f['accuracy_shape']}; clients' updates at a fraction of the factors' scale, as training moves B A "
      "a little per round): max |solved - reference| / max |reference| over an A- and a B-round, against a dense "
      "float64 reference.\n")
print("| updates / factors | flbench fedsrd | before | bare float32 | bare float64 | flbench fedsrd-e | bare fedsrd-e |")
print("|---|---|---|---|---|---|---|")
bare_acc = {e["scale"]: e for e in b["accuracy"]}
for e in f["accuracy"]:
    g = bare_acc[e["scale"]]
    print(f"| {e['scale']:.0e} | {e['fedsrd']:.1e} | {e['before']:.1e} | {g['bare']:.1e} | {g['bare_float64']:.1e} | "
          f"{e['fedsrd_e']:.1e} | {g['bare_e']:.1e} |")
PY
{
  cat "$out.tmp"
  echo
  echo "Made by \`scripts/bench/server_step.sh $reps\` (MODEL=$model CLIENTS=$clients RANK=$rank THREADS=$threads${OMP_WAIT_POLICY:+ OMP_WAIT_POLICY=$OMP_WAIT_POLICY}) on $(nproc) cores" \
       "($(uname -m)), $(date -u +%Y-%m-%d), git $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)."
} >"$out"
rm -f "$out.tmp"
echo "server_step: wrote $out"
