#!/usr/bin/env python3
"""Golden comparison against Hugging Face transformers: `flbench eval` on a
checkpoint that transformers itself wrote equals the loss transformers'
LlamaForCausalLM computes, on small random configs (GQA with llama3 rope
scaling, tied and untied; multi-head attention with plain rope).

  hf_golden.py --flbench BIN --workdir DIR [--device cpu|cuda|auto]

For each case: a random LlamaForCausalLM (float32, eager attention) is saved
with save_pretrained (safetensors); its rotary frequencies are checked
against Meta's apply_scaling (tests/model/llama_reference.py); transformers
scores the first N windows of a random token shard in float64 (window i:
inputs tokens[i*T : i*T+T], targets one token later, as flbench eval
defines it) and `flbench eval --json` scores the saved directory. The
relative difference is printed with its tolerance.

transformers 5 writes rope settings as `rope_parameters` (4.x wrote
`rope_theta` + `rope_scaling`); when flbench refuses the directory as saved
and its config.json has that layout, that is reported as a failure and the
loss is compared once more on a copy rewritten in 4.x's layout, so the
numbers are still checked.

`flbench eval` runs on the CPU (it has no --device); --device only says
where transformers computes its reference (cuda also checks that
transformers' CUDA loss agrees with its CPU loss).

Exits 0 when every case agrees, 1 when one does not, 77 (skipped, with a
message) when transformers or torch is not installed.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOLERANCE = 1e-5  # |flbench - transformers| / transformers: flbench's float32 against a float64 reference
CUDA_TOLERANCE = 1e-3  # transformers float32 on CUDA (TF32 may be on) against its float64 CPU loss

try:
    import numpy as np
    import torch
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM
except ImportError as e:
    print(f"hf_golden: SKIP: {e.name or e} is not installed (needs torch, numpy and transformers)")
    sys.exit(77)

sys.path.insert(0, HERE)
from llama_reference import inv_frequencies, write_token_shard as write_shard  # noqa: E402

CASES = {
    "llama3_gqa_untied": dict(vocab_size=97, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                              num_attention_heads=8, num_key_value_heads=2, head_dim=8,
                              max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=500000.0,
                              rope_type="llama3", rope_factor=8.0, rope_low_freq_factor=1.0,
                              rope_high_freq_factor=4.0, rope_original_max_position_embeddings=64,
                              tie_word_embeddings=False),
    "llama3_gqa_tied": dict(vocab_size=131, hidden_size=48, intermediate_size=80, num_hidden_layers=3,
                            num_attention_heads=6, num_key_value_heads=3, head_dim=8,
                            max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=500000.0,
                            rope_type="llama3", rope_factor=32.0, rope_low_freq_factor=1.0,
                            rope_high_freq_factor=4.0, rope_original_max_position_embeddings=32,
                            tie_word_embeddings=True),
    "mha_default_rope": dict(vocab_size=61, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=4, head_dim=8,
                             max_position_embeddings=128, rms_norm_eps=1e-6, rope_theta=10000.0,
                             rope_type="", tie_word_embeddings=False),
}
T, N = 32, 6  # tokens per window, windows


def hf_config(c):
    """A LlamaConfig for case c: transformers 5 takes rope settings as
    rope_parameters, 4.x as rope_theta + rope_scaling."""
    kw = {k: c[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads", "num_key_value_heads", "head_dim",
                            "max_position_embeddings", "rms_norm_eps", "tie_word_embeddings")}
    kw.update(hidden_act="silu", attention_bias=False, mlp_bias=False, attention_dropout=0.0,
              bos_token_id=0, eos_token_id=1, pad_token_id=None)
    scaling = None
    if c["rope_type"] == "llama3":
        scaling = {"rope_type": "llama3", "factor": c["rope_factor"], "low_freq_factor": c["rope_low_freq_factor"],
                   "high_freq_factor": c["rope_high_freq_factor"],
                   "original_max_position_embeddings": c["rope_original_max_position_embeddings"]}
    if int(transformers.__version__.split(".")[0]) >= 5:
        kw["rope_parameters"] = dict(scaling or {"rope_type": "default"}, rope_theta=c["rope_theta"])
    else:
        kw.update(rope_theta=c["rope_theta"], rope_scaling=scaling)
    return LlamaConfig(**kw)


def hf_loss(model, tokens, device, dtype):
    """Mean next-token cross-entropy over the first N windows, as flbench eval defines them."""
    m = model.to(device=device, dtype=dtype)
    x = torch.tensor([tokens[i * T:i * T + T] for i in range(N)], device=device)
    y = torch.tensor([tokens[i * T + 1:i * T + T + 1] for i in range(N)], device=device)
    with torch.no_grad():
        logits = m(input_ids=x).logits.to(torch.float64)
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).item()


def to_v4_layout(src, dst):
    """A copy of the directory whose config.json has 4.x's rope_theta + rope_scaling."""
    shutil.copytree(src, dst, dirs_exist_ok=True)
    p = os.path.join(dst, "config.json")
    cfg = json.load(open(p))
    rp = dict(cfg.pop("rope_parameters"))
    cfg["rope_theta"] = rp.pop("rope_theta")
    cfg["rope_scaling"] = None if rp.get("rope_type", "default") == "default" else rp
    json.dump(cfg, open(p, "w"), indent=2)


def flbench_eval(flbench, d, shard):
    return subprocess.run([flbench, "eval", "--base", d, "--tokens", shard, "--context", str(T),
                           "--eval-sequences", str(N), "--batch-size", "2", "--json"],
                          capture_output=True, text=True, timeout=300)


def check_case(a, name, c, seed):
    ok = True
    torch.manual_seed(seed)
    model = LlamaForCausalLM(hf_config(c)).eval()
    # The random init of transformers is small (std 0.02); widen it so that
    # logits are far from uniform and a wrong rope or head would show.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0, 1 / math.sqrt(p.shape[1]) if "embed" not in n else 0.5)
    d = os.path.join(a.workdir, name)
    model.save_pretrained(d)
    if not os.path.exists(os.path.join(d, "model.safetensors")):
        print(f"FAIL {name}: save_pretrained wrote no model.safetensors ({sorted(os.listdir(d))})")
        return False
    inv = model.model.rotary_emb.inv_freq.double().cpu()
    ref = torch.tensor(inv_frequencies(c), dtype=torch.float64)
    rope_diff = ((inv - ref).abs() / ref).max().item()
    rope_ok = rope_diff <= 1e-6
    ok &= rope_ok
    print(f"{'ok  ' if rope_ok else 'FAIL'} {name}: transformers' inv_freq against Meta's apply_scaling: "
          f"max rel diff {rope_diff:.2e} (tolerance 1e-06)")
    rng = np.random.default_rng(seed)
    tokens = [int(t) for t in rng.integers(0, c["vocab_size"], N * T + 1)]
    shard = os.path.join(a.workdir, name + ".bin")
    write_shard(shard, tokens)
    ref_loss = hf_loss(model, tokens, "cpu", torch.float64)
    if a.device == "cuda":
        cuda_loss = hf_loss(model, tokens, "cuda", torch.float32)
        diff = abs(cuda_loss - ref_loss) / ref_loss
        ok &= diff <= CUDA_TOLERANCE
        print(f"{'ok  ' if diff <= CUDA_TOLERANCE else 'FAIL'} {name}: transformers cuda float32 {cuda_loss:.6f} "
              f"vs cpu float64 {ref_loss:.6f}: rel diff {diff:.2e} (tolerance {CUDA_TOLERANCE:.0e})")
    p = flbench_eval(a.flbench, d, shard)
    cfg = json.load(open(os.path.join(d, "config.json")))
    if p.returncode != 0 and "rope_parameters" in cfg:
        print(f"FAIL {name}: flbench eval refuses transformers {transformers.__version__}'s config.json "
              f"(rope_parameters layout): {p.stderr.strip()}")
        ok = False
        d4 = d + "-v4-layout"
        to_v4_layout(d, d4)
        print(f"     {name}: comparing on {d4} (config.json rewritten to rope_theta + rope_scaling)")
        p = flbench_eval(a.flbench, d4, shard)
    if p.returncode != 0:
        print(f"FAIL {name}: flbench eval exit {p.returncode}: {p.stderr.strip()}")
        return False
    got = json.loads(p.stdout)["loss"]
    diff = abs(got - ref_loss) / ref_loss
    ok &= diff <= TOLERANCE
    print(f"{'ok  ' if diff <= TOLERANCE else 'FAIL'} {name}: flbench eval {got:.8f} vs transformers "
          f"{ref_loss:.8f} (float64, {N}x{T} tokens): rel diff {diff:.2e} (tolerance {TOLERANCE:.0e})")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flbench", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    a = ap.parse_args()
    if a.device == "auto":
        a.device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.device == "cuda" and not torch.cuda.is_available():
        print("hf_golden: error: --device cuda but torch sees no GPU", file=sys.stderr)
        return 2
    os.makedirs(a.workdir, exist_ok=True)
    print(f"hf_golden: transformers {transformers.__version__}, torch {torch.__version__}, "
          f"reference on {a.device}; flbench eval on cpu (it has no --device)")
    results = [check_case(a, name, c, seed) for seed, (name, c) in enumerate(CASES.items(), start=11)]
    print(f"hf_golden: {results.count(False)} of {len(results)} case(s) failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
