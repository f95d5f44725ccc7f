#!/usr/bin/env python3
"""Writes a random-initialised Llama as a Hugging Face model directory
(config.json + model.safetensors, as transformers' save_pretrained lays them
out) and random llm.c token shards, for scripts/gpu-check.sh's throughput run.

  make_llama.py --shape llama-3.2-1b --dtype bf16 --out DIR
  make_llama.py --shape tiny --dtype f32 --out DIR --tokens TOKDIR --domains a,b,c,d

Shapes: llama-3.2-1b (hidden 2048, 16 layers, 32 heads, 8 KV heads,
intermediate 8192, vocab 128256, llama3 rope scaling, tied embeddings: the
published config.json of meta-llama/Llama-3.2-1B with random weights) and
tiny (the same architecture, small). Needs only torch (any version with
bfloat16): the safetensors file is written here (u64 header length, JSON
header padded to 8 bytes, tensors in header order), one tensor at a time,
so a 2.5 GB model never sits in memory twice. Tensors are made on the GPU
when one is visible (faster), else on the CPU.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "model"))
from llama_reference import write_token_shard as write_shard  # noqa: E402

SHAPES = {
    "llama-3.2-1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                         num_attention_heads=32, num_key_value_heads=8, head_dim=64,
                         max_position_embeddings=131072, tie_word_embeddings=True,
                         rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
    "tiny": dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=1024,
                 tie_word_embeddings=True,
                 rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 256}),
}
DTYPES = {"bf16": (torch.bfloat16, "BF16", "bfloat16", torch.int16),
          "f32": (torch.float32, "F32", "float32", torch.int32)}


def config_json(s, dtype_name):
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
            "attention_bias": False, "mlp_bias": False, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
            "bos_token_id": 128000 if s["vocab_size"] > 128001 else 0,
            "eos_token_id": 128001 if s["vocab_size"] > 128001 else 1,
            "initializer_range": 0.02, "torch_dtype": dtype_name, **s}


def tensor_shapes(s):
    """[(name, shape)] in the order transformers names them."""
    C, F, D = s["hidden_size"], s["intermediate_size"], s["head_dim"]
    H, KV, V = s["num_attention_heads"], s["num_key_value_heads"], s["vocab_size"]
    out = [("model.embed_tokens.weight", (V, C))]
    for i in range(s["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [(p + "self_attn.q_proj.weight", (H * D, C)), (p + "self_attn.k_proj.weight", (KV * D, C)),
                (p + "self_attn.v_proj.weight", (KV * D, C)), (p + "self_attn.o_proj.weight", (C, H * D)),
                (p + "mlp.gate_proj.weight", (F, C)), (p + "mlp.up_proj.weight", (F, C)),
                (p + "mlp.down_proj.weight", (C, F)),
                (p + "input_layernorm.weight", (C,)), (p + "post_attention_layernorm.weight", (C,))]
    out.append(("model.norm.weight", (C,)))
    if not s["tie_word_embeddings"]:
        out.append(("lm_head.weight", (V, C)))
    return out


def write_model(out, s, dtype_key, seed):
    torch_dtype, st_dtype, cfg_dtype, bits = DTYPES[dtype_key]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json(s, cfg_dtype), f, indent=2)
    shapes = tensor_shapes(s)
    size = torch.tensor([], dtype=torch_dtype).element_size()
    header, offset = {}, 0
    for name, shape in shapes:
        n = math.prod(shape) * size
        header[name] = {"dtype": st_dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator(device=device).manual_seed(seed)
    path = os.path.join(out, "model.safetensors")
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for name, shape in shapes:
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                t = torch.ones(shape, device=device)
            else:  # std 0.02, as initializer_range: activations stay O(1) through 16 layers
                t = torch.randn(shape, generator=gen, device=device) * 0.02
            f.write(t.to(torch_dtype).view(bits).cpu().numpy().tobytes())
    os.replace(path + ".tmp", path)
    params = sum(math.prod(sh) for _, sh in shapes)
    return params, offset


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", choices=sorted(SHAPES), required=True)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--tokens", help="also write random token shards: TOKENS/<domain>/{train,val}.bin")
    ap.add_argument("--domains", default="d0,d1,d2,d3")
    ap.add_argument("--train-tokens", type=int, default=200000)
    ap.add_argument("--val-tokens", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    s = SHAPES[a.shape]
    params, nbytes = write_model(a.out, s, a.dtype, a.seed)
    print(f"make_llama: {a.out}: {a.shape}, {params:,} parameters, {nbytes / 2**30:.2f} GiB {a.dtype}")
    if a.tokens:
        rng = np.random.default_rng(a.seed)
        for d in a.domains.split(","):
            os.makedirs(os.path.join(a.tokens, d), exist_ok=True)
            for split, n in (("train", a.train_tokens), ("val", a.val_tokens)):
                write_shard(os.path.join(a.tokens, d, split + ".bin"),
                            rng.integers(0, s["vocab_size"], n, dtype=np.uint32), s["vocab_size"])
        print(f"make_llama: {a.tokens}: random shards for {a.domains} "
              f"({a.train_tokens:,} train, {a.val_tokens:,} val tokens each)")


if __name__ == "__main__":
    sys.exit(main())
