#!/usr/bin/python3
"""ctest model.eval: `flbench eval --json` against the independent float64
decoder of llama_reference.py on tiny random Llama-family models (GQA with
llama3 rope scaling; Qwen2 with q/k/v bias and tied embeddings), plus the
errors: --context too long, a token >= vocab, a missing or bad --base, a
shard too short for one window.

usage: test_eval.py --flbench BIN --workdir DIR
"""
import argparse, json, math, os, shutil, subprocess, sys
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_reference import CASES, forward, make_weights, write_hf_dir, write_token_shard as write_shard  # noqa: E402

TOLERANCE = 1e-5  # |loss - reference| / reference


def reference_loss(c, w, tokens, T, N):
    """Mean -log p over the first min(N, (n-1)//T) windows, in float64."""
    windows = min(N, (len(tokens) - 1) // T)
    total = 0.0
    for i in range(windows):
        x = torch.tensor(tokens[i * T:i * T + T]).view(1, T)
        y = torch.tensor(tokens[i * T + 1:i * T + T + 1])
        logp = torch.log_softmax(forward(c, w, x)[0], -1)
        total -= logp[torch.arange(T), y].sum().item()
    return total / (windows * T), windows * T


def run(flbench, *args):
    return subprocess.run([flbench, "eval", *args], capture_output=True, text=True, timeout=300)


def check_case(flbench, work, name, seed, T, N, extra_tokens):
    c = CASES[name]
    rng = np.random.default_rng(100 + seed)
    w = make_weights(c, rng)
    hf = os.path.join(work, name)
    write_hf_dir(hf, c, w)
    tokens = [int(t) for t in rng.integers(0, c["vocab_size"], N * T + extra_tokens)]
    shard = os.path.join(work, name + ".bin")
    write_shard(shard, tokens)
    ref, ref_tokens = reference_loss(c, w, tokens, T, N)
    p = run(flbench, "--base", hf, "--tokens", shard, "--context", str(T), "--eval-sequences", str(N),
            "--batch-size", "2", "--json")
    if p.returncode != 0:
        print(f"FAIL {name}: exit {p.returncode}: {p.stderr.strip()}")
        return False
    out = json.loads(p.stdout)
    assert set(out) == {"loss", "perplexity", "tokens"}, p.stdout
    rel = abs(out["loss"] - ref) / ref
    ok = rel < TOLERANCE and out["tokens"] == ref_tokens and abs(out["perplexity"] - math.exp(ref)) < 1e-4 * math.exp(ref)
    print(f"{'ok  ' if ok else 'FAIL'} {name}: T={T} windows={ref_tokens // T} tokens={out['tokens']} "
          f"loss {out['loss']:.10f} reference {ref:.10f} |diff| {abs(out['loss'] - ref):.3e} relative {rel:.3e} "
          f"(tolerance {TOLERANCE:g}); perplexity {out['perplexity']:.6f}")
    return ok


def check_error(flbench, label, args, needle):
    p = run(flbench, *args)
    lines = p.stderr.strip().splitlines()
    ok = (p.returncode != 0 and len(lines) == 1 and lines[0].startswith("flbench eval: error:") and needle in lines[0]
          and p.stdout == "")
    print(f"{'ok  ' if ok else 'FAIL'} error {label}: exit {p.returncode}: {p.stderr.strip()}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flbench", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    ok = True
    # A shard longer than N windows (the rest is ignored), and one shorter
    # than N windows (fewer windows, the last one ending at the last token).
    ok &= check_case(a.flbench, a.workdir, "llama3_gqa", 0, T=16, N=5, extra_tokens=7)
    ok &= check_case(a.flbench, a.workdir, "qwen2_bias_tied", 1, T=12, N=6, extra_tokens=-12 * 2 + 1)
    ok &= check_case(a.flbench, a.workdir, "llama2_mha_bias", 2, T=32, N=3, extra_tokens=1)

    hf = os.path.join(a.workdir, "llama3_gqa")  # max_position_embeddings 128, vocab 37
    good = os.path.join(a.workdir, "llama3_gqa.bin")
    bad = os.path.join(a.workdir, "bad_token.bin")
    write_shard(bad, [1, 2, 3, 37, 4] * 40)
    short = os.path.join(a.workdir, "short.bin")
    write_shard(short, [1, 2, 3, 4, 5])
    ok &= check_error(a.flbench, "context too long", ["--base", hf, "--tokens", good, "--context", "129"],
                      "max_position_embeddings 128")
    ok &= check_error(a.flbench, "token >= vocab", ["--base", hf, "--tokens", bad, "--context", "8"], "bad_token.bin")
    ok &= check_error(a.flbench, "missing --base", ["--tokens", good], "--base")
    ok &= check_error(a.flbench, "no such --base", ["--base", os.path.join(a.workdir, "nope"), "--tokens", good],
                      "nope")
    badcfg = os.path.join(a.workdir, "bad_config")
    shutil.copytree(hf, badcfg)
    with open(os.path.join(badcfg, "config.json"), "w") as f:
        json.dump({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}, f)
    ok &= check_error(a.flbench, "bad config.json", ["--base", badcfg, "--tokens", good], "config.json")
    ok &= check_error(a.flbench, "shard too short", ["--base", hf, "--tokens", short, "--context", "8"],
                      "at least 9 tokens")
    print("model.eval:", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
