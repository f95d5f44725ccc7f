#!/usr/bin/python3
"""LoRA fine-tuning of a Hugging Face Llama directory on a token shard, as a
bare PyTorch loop: the comparison for flbench's `--dataset tokens
--algorithm fedit` training path (scripts/bench/llama_train.sh).

The loop is what one would write by hand with the eager attention of
transformers' modeling_llama (no scaled_dot_product_attention: torch 1.13
has none): frozen float32 weights, LoRA y = x W^T + s (x A^T) B^T on the
chosen projections (A Kaiming-uniform, B zero, s = alpha / r), PyTorch's
own AdamW, batches gathered into preallocated buffers, no host sync per
step. A "round" is one client's local training as flbench runs it: the
adapter reset to the global one, the optimiser state cleared, then
--steps steps; only those steps are timed.

Run with Debian's python3-torch (the same LibTorch 1.13 as flbench):
  /usr/bin/python3 scripts/bench/bare_pytorch_llama.py --hf DIR --tokens train.bin --context 256 --batch-size 4
Prints one line: key=value pairs (tokens_per_s over rounds 2.., first_loss).
"""
import argparse
import json
import math
import os
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def read_safetensors(path):
    """{name: float32 tensor} from an F32 safetensors file (u64 header length, JSON header, data)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        assert v["dtype"] == "F32", f"{path}: {k} is {v['dtype']}; this loop reads F32 checkpoints only"
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data, dtype="<f4", count=(b - a) // 4, offset=a).copy()).view(v["shape"])
    return out


def read_windows(path, context):
    """llm.c shard -> (n, context + 1) int64 non-overlapping windows, as flbench's token_corpus cuts them."""
    header = np.fromfile(path, dtype="<i4", count=256)
    assert header[0] == 20240520 and header[1] in (1, 2), f"{path}: not an llm.c token shard"
    tokens = np.fromfile(path, dtype="<u2" if header[1] == 1 else "<u4", offset=1024, count=header[2])
    n = len(tokens) // (context + 1)
    return torch.from_numpy(tokens[:n * (context + 1)].astype(np.int64).reshape(n, context + 1))


class LoraLlama:
    """The decoder of model/llama.h's comment (HF's modeling_llama), functional."""

    def __init__(self, cfg, w, rank, alpha, targets, gen):
        assert cfg.get("rope_scaling") is None, "this loop implements rope_scaling null only"
        self.c, self.w = cfg, w
        self.H, self.KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        self.D = cfg.get("head_dim", cfg["hidden_size"] // self.H)
        self.eps, self.scale = cfg["rms_norm_eps"], alpha / rank
        # inv_freq in float32, as HF (and flbench) compute it.
        self.inv_freq = 1.0 / torch.pow(torch.tensor(cfg["rope_theta"], dtype=torch.float32),
                                        torch.arange(0, self.D, 2).float() / self.D)
        self.lora = {}  # projection prefix -> (A (r, in), B (out, r))
        for name, t in w.items():
            if name.endswith(".weight") and name.split(".")[-2] in targets and ".layers." in name:
                out_f, in_f = t.shape
                bound = 1.0 / math.sqrt(in_f)
                a = (torch.rand(rank, in_f, generator=gen) * 2 - 1) * bound
                self.lora[name[:-len(".weight")]] = (a.requires_grad_(), torch.zeros(out_f, rank, requires_grad=True))

    def params(self):
        return [p for ab in self.lora.values() for p in ab]

    def linear(self, name, x):
        y = F.linear(x, self.w[name + ".weight"], self.w.get(name + ".bias"))
        if name in self.lora:
            a, b = self.lora[name]
            y = y + self.scale * F.linear(F.linear(x, a), b)
        return y

    def rms_norm(self, x, weight):
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    @staticmethod
    def rope(x, cos, sin):  # x (B, T, n, D); cos, sin (T, D)
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1)

    def forward(self, idx):  # (B, T) int64 -> (B, T, V)
        B, T = idx.shape
        H, KV, D = self.H, self.KV, self.D
        angles = torch.outer(torch.arange(T, dtype=torch.float32), self.inv_freq)
        emb = torch.cat([angles, angles], -1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        x = F.embedding(idx, self.w["model.embed_tokens.weight"])
        for i in range(self.c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            h = self.rms_norm(x, self.w[p + "input_layernorm.weight"])
            q = self.rope(self.linear(p + "self_attn.q_proj", h).view(B, T, H, D), cos, sin).transpose(1, 2)
            k = self.rope(self.linear(p + "self_attn.k_proj", h).view(B, T, KV, D), cos, sin).transpose(1, 2)
            v = self.linear(p + "self_attn.v_proj", h).view(B, T, KV, D).transpose(1, 2)
            if KV != H:  # HF's repeat_kv
                k, v = k.repeat_interleave(H // KV, 1), v.repeat_interleave(H // KV, 1)
            att = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(D)
            att = torch.softmax(att.masked_fill(mask, float("-inf")), -1)
            y = torch.matmul(att, v).transpose(1, 2).reshape(B, T, H * D)
            x = x + self.linear(p + "self_attn.o_proj", y)
            h = self.rms_norm(x, self.w[p + "post_attention_layernorm.weight"])
            x = x + self.linear(p + "mlp.down_proj", F.silu(self.linear(p + "mlp.gate_proj", h)) *
                                self.linear(p + "mlp.up_proj", h))
        out = self.rms_norm(x, self.w["model.norm.weight"])
        head = self.w.get("lm_head.weight", self.w["model.embed_tokens.weight"])
        return F.linear(out, head)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--hf", required=True, help="Hugging Face directory (config.json + model.safetensors, F32)")
    p.add_argument("--tokens", required=True, help="llm.c token shard (train.bin)")
    p.add_argument("--context", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--steps", type=int, default=8, help="local steps per round")
    p.add_argument("--rounds", type=int, default=3, help="rounds; the first is warm-up, not timed")
    p.add_argument("--lora-rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16.0)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    gen = torch.Generator().manual_seed(a.seed)
    with open(os.path.join(a.hf, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(a.hf, "model.safetensors"))
    model = LoraLlama(cfg, w, a.lora_rank, a.alpha, TARGETS, gen)
    params = model.params()
    glob = [q.detach().clone() for q in params]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.0)  # flbench's --weight-decay default is 0
    windows = read_windows(a.tokens, a.context)
    n, B, T, V = len(windows), a.batch_size, a.context, cfg["vocab_size"]
    raw = torch.empty(B, T + 1, dtype=torch.long)
    xb, yb = torch.empty(B, T, dtype=torch.long), torch.empty(B, T, dtype=torch.long)
    order = torch.randperm(n, generator=gen)
    pos, times, first_loss = 0, [], None
    loss_sum = torch.zeros((), dtype=torch.float64)
    for r in range(a.rounds):
        t0 = time.perf_counter()
        with torch.no_grad():
            for q, g in zip(params, glob):
                q.copy_(g)
        opt.state.clear()  # fresh AdamW state per client, as flbench's LocalOptimizer::reset
        loss_sum.zero_()
        for _ in range(a.steps):
            if pos + B > n:
                order, pos = torch.randperm(n, generator=gen), 0
            torch.index_select(windows, 0, order[pos:pos + B], out=raw)
            pos += B
            xb.copy_(raw[:, :T])
            yb.copy_(raw[:, 1:])
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model.forward(xb).reshape(-1, V), yb.reshape(-1))
            loss.backward()
            opt.step()
            loss_sum.add_(loss.detach())
            if first_loss is None:  # the first step's loss on the initial adapter (B = 0: the base model)
                first_loss = loss.item()
        mean_loss = loss_sum.item() / a.steps  # one sync per round, as flbench
        times.append(time.perf_counter() - t0)
    timed = times[1:] if len(times) > 1 else times
    tokens_per_s = a.steps * B * T * len(timed) / sum(timed)
    print(f"bare_pytorch_llama: threads={a.threads} rounds={a.rounds} steps={a.steps} batch={B} context={T} "
          f"tokens_per_s={tokens_per_s:.1f} s_per_round={np.mean(timed):.4f} first_loss={first_loss:.9f} "
          f"last_round_loss={mean_loss:.6f}")


if __name__ == "__main__":
    main()
