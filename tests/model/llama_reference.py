#!/usr/bin/python3
"""An independent Llama-family decoder in float64 PyTorch (written for this
test from the Llama/Qwen2 papers and Meta's reference code, not from
flbench), for flbench's model/llama.cc.

Writes, for each case, DIR/<case>/ with
  config.txt   key value lines (the LlamaConfig fields)
  weights.bin  float32 tensors back to back; weights.txt: name offset dims...
  idx.txt      B T then the token ids
  logits.bin   float64 (B, T, V) reference logits
  hf/          the same model as a Hugging Face directory: config.json and
               model.safetensors (F32), written by hand here (struct + json)

usage: llama_reference.py DIR
"""
import json, math, os, struct, sys
import numpy as np
import torch

CASES = {
    # Llama-3 style: GQA (4 query heads on 2 KV heads), llama3 rope scaling
    # chosen so that all three wavelength bands occur, untied head.
    "llama3_gqa": dict(architecture="LlamaForCausalLM", model_type="llama", vocab_size=37, hidden_size=32,
                       intermediate_size=48, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                       head_dim=8, max_position_embeddings=128, rms_norm_eps=1e-5, rope_theta=500000.0,
                       rope_type="llama3", rope_factor=8.0, rope_low_freq_factor=1.0, rope_high_freq_factor=8.0,
                       rope_original_max_position_embeddings=64, tie_word_embeddings=0, qkv_bias=0, o_bias=0,
                       mlp_bias=0),
    # Qwen2 style: q/k/v bias, no o bias, tied embeddings, head_dim != C/H.
    "qwen2_bias_tied": dict(architecture="Qwen2ForCausalLM", model_type="qwen2", vocab_size=41, hidden_size=24,
                            intermediate_size=40, num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=1,
                            head_dim=10, max_position_embeddings=64, rms_norm_eps=1e-6, rope_theta=1000000.0,
                            rope_type="", tie_word_embeddings=1, qkv_bias=1, o_bias=0, mlp_bias=0),
    # Llama-2 style multi-head attention (KV = H), every bias on.
    "llama2_mha_bias": dict(architecture="LlamaForCausalLM", model_type="llama", vocab_size=29, hidden_size=16,
                            intermediate_size=24, num_hidden_layers=3, num_attention_heads=2, num_key_value_heads=2,
                            head_dim=8, max_position_embeddings=32, rms_norm_eps=1e-6, rope_theta=10000.0,
                            rope_type="", tie_word_embeddings=0, qkv_bias=1, o_bias=1, mlp_bias=1),
}


def inv_frequencies(c):
    """Meta's apply_scaling (llama-models), one frequency at a time."""
    D = c["head_dim"]
    freqs = [1.0 / (c["rope_theta"] ** (2 * i / D)) for i in range(D // 2)]
    if c["rope_type"] != "llama3":
        return freqs
    old, low, high, factor = (c["rope_original_max_position_embeddings"], c["rope_low_freq_factor"],
                              c["rope_high_freq_factor"], c["rope_factor"])
    out = []
    for f in freqs:
        wavelen = 2 * math.pi / f
        if wavelen < old / high:
            out.append(f)
        elif wavelen > old / low:
            out.append(f / factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append((1 - smooth) * f / factor + smooth * f)
    return out


def make_weights(c, rng):
    C, F, D = c["hidden_size"], c["intermediate_size"], c["head_dim"]
    H, KV, V = c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"]
    w = {"model.embed_tokens.weight": rng.normal(0, 0.5, (V, C))}
    shapes = {"q_proj": (H * D, C), "k_proj": (KV * D, C), "v_proj": (KV * D, C), "o_proj": (C, H * D)}
    mlp = {"gate_proj": (F, C), "up_proj": (F, C), "down_proj": (C, F)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for n, s in shapes.items():
            w[p + "self_attn." + n + ".weight"] = rng.normal(0, 1 / math.sqrt(s[1]), s)
            if (n != "o_proj" and c["qkv_bias"]) or (n == "o_proj" and c["o_bias"]):
                w[p + "self_attn." + n + ".bias"] = rng.normal(0, 0.1, s[0])
        for n, s in mlp.items():
            w[p + "mlp." + n + ".weight"] = rng.normal(0, 1 / math.sqrt(s[1]), s)
            if c["mlp_bias"]:
                w[p + "mlp." + n + ".bias"] = rng.normal(0, 0.1, s[0])
        w[p + "input_layernorm.weight"] = 1 + rng.normal(0, 0.2, C)
        w[p + "post_attention_layernorm.weight"] = 1 + rng.normal(0, 0.2, C)
    w["model.norm.weight"] = 1 + rng.normal(0, 0.2, C)
    if not c["tie_word_embeddings"]:
        w["lm_head.weight"] = rng.normal(0, 1 / math.sqrt(C), (V, C))
    # The C++ side reads float32: the reference uses exactly those values.
    return {k: torch.tensor(v.astype(np.float32), dtype=torch.float64) for k, v in w.items()}


def linear(w, name, x):
    y = x @ w[name + ".weight"].T
    return y + w[name + ".bias"] if name + ".bias" in w else y


def rms(x, weight, eps):
    return weight * x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def rotate(x, freqs):
    """x (T, D): pair (i, i + D/2) rotated by angle t * freqs[i] at position t."""
    T, D = x.shape
    out = x.clone()
    for t in range(T):
        for i, f in enumerate(freqs):
            a, b = x[t, i], x[t, i + D // 2]
            cs, sn = math.cos(t * f), math.sin(t * f)
            out[t, i], out[t, i + D // 2] = a * cs - b * sn, b * cs + a * sn
    return out


def forward(c, w, idx):
    H, KV, D = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    freqs = inv_frequencies(c)
    B, T = idx.shape
    logits = []
    for b in range(B):
        x = w["model.embed_tokens.weight"][idx[b]]  # (T, C)
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = rms(x, w[p + "input_layernorm.weight"], c["rms_norm_eps"])
            q, k, v = (linear(w, p + "self_attn." + n, h) for n in ("q_proj", "k_proj", "v_proj"))
            heads = []
            for j in range(H):
                g = j // (H // KV)  # the KV head this query head reads
                qj = rotate(q[:, j * D:(j + 1) * D], freqs)
                kg = rotate(k[:, g * D:(g + 1) * D], freqs)
                vg = v[:, g * D:(g + 1) * D]
                scores = qj @ kg.T / math.sqrt(D)
                scores = scores + torch.triu(torch.full((T, T), float("-inf"), dtype=torch.float64), 1)
                heads.append(torch.softmax(scores, -1) @ vg)
            x = x + linear(w, p + "self_attn.o_proj", torch.cat(heads, -1))
            h = rms(x, w[p + "post_attention_layernorm.weight"], c["rms_norm_eps"])
            gate, up = linear(w, p + "mlp.gate_proj", h), linear(w, p + "mlp.up_proj", h)
            x = x + linear(w, p + "mlp.down_proj", gate * torch.sigmoid(gate) * up)
        out = rms(x, w["model.norm.weight"], c["rms_norm_eps"])
        head = w["model.embed_tokens.weight"] if c["tie_word_embeddings"] else w["lm_head.weight"]
        logits.append(out @ head.T)
    return torch.stack(logits)


def write_hf_dir(d, c, w):
    """config.json as transformers writes it, and model.safetensors: u64
    header length, the JSON header (padded with spaces to 8 bytes), data."""
    os.makedirs(d, exist_ok=True)
    cfg = {"architectures": [c["architecture"]], "model_type": c["model_type"], "hidden_act": "silu",
           "torch_dtype": "float32"}
    for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "num_key_value_heads", "head_dim", "max_position_embeddings", "rms_norm_eps", "rope_theta"):
        cfg[k] = c[k]
    cfg["tie_word_embeddings"] = bool(c["tie_word_embeddings"])
    if c["model_type"] == "llama":
        assert c["qkv_bias"] == c["o_bias"]
        cfg["attention_bias"], cfg["mlp_bias"] = bool(c["qkv_bias"]), bool(c["mlp_bias"])
    cfg["rope_scaling"] = None if c["rope_type"] != "llama3" else {
        "rope_type": "llama3", "factor": c["rope_factor"], "low_freq_factor": c["rope_low_freq_factor"],
        "high_freq_factor": c["rope_high_freq_factor"],
        "original_max_position_embeddings": c["rope_original_max_position_embeddings"]}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    header, blobs, offset = {}, [], 0
    for k, v in w.items():
        b = v.numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def write_token_shard(path, tokens, vocab_size=65536):
    """llm.c's token shard: a 256 x int32 header (magic 20240520, version,
    count), then uint16 tokens (version 1) or, for a vocabulary over 65,536,
    uint32 (version 2)."""
    version = 1 if vocab_size <= 65536 else 2
    header = np.zeros(256, dtype="<i4")
    header[:3] = [20240520, version, len(tokens)]
    with open(path, "wb") as f:
        f.write(header.tobytes() + np.asarray(tokens, dtype="<u2" if version == 1 else "<u4").tobytes())


def main():
    root = sys.argv[1]
    for seed, (name, c) in enumerate(CASES.items()):
        d = os.path.join(root, name)
        os.makedirs(d, exist_ok=True)
        rng = np.random.default_rng(seed + 1)
        w = make_weights(c, rng)
        idx = torch.tensor(rng.integers(0, c["vocab_size"], (2, 12)))
        logits = forward(c, w, idx)
        with open(os.path.join(d, "config.txt"), "w") as f:
            for k, v in c.items():
                f.write(f"{k} {v if v != '' else '-'}\n")
        with open(os.path.join(d, "weights.bin"), "wb") as f, open(os.path.join(d, "weights.txt"), "w") as index:
            offset = 0
            for k, v in w.items():
                f.write(v.numpy().astype(np.float32).tobytes())
                index.write(f"{k} {offset} {' '.join(str(s) for s in v.shape)}\n")
                offset += v.numel()
        with open(os.path.join(d, "idx.txt"), "w") as f:
            f.write(f"{idx.shape[0]} {idx.shape[1]} " + " ".join(str(int(t)) for t in idx.flatten()) + "\n")
        logits.numpy().astype(np.float64).tofile(os.path.join(d, "logits.bin"))
        write_hf_dir(os.path.join(d, "hf"), c, w)
        print(f"{name}: {len(w)} tensors, logits {tuple(logits.shape)}")


if __name__ == "__main__":
    main()
