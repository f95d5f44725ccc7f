#!/usr/bin/env python3
"""The one table of scripts/gpu-check.sh: tokens/s per client, server seconds
per round, peak memory per GPU and model FLOP utilisation of a --dataset
tokens run, from its HDF5 file (/rounds, /clients, config_toml) and the
model's config.json.

  throughput_table.py --h5 RUN.h5 --base HF_DIR [--gpu-mem-log FILE] [--peak-tflops 989.4] [--out FILE.md]

- tokens per client = its /clients steps x batch-size x context (the config);
  clients of a rank train one after another, so a client's time is the
  rank's /rounds/train_s divided by the clients it trained that round (an
  even split: flbench does not time clients one by one).
- server s/round = /rounds/aggregate_s (rank 0: decode, FedSRD's
  reconstruct/average/truncate/project/sparsify, encode the broadcast).
- peak memory per GPU = the largest memory.used nvidia-smi sampled during
  the run (`index, MiB` lines, --gpu-mem-log), which includes the CUDA
  context and LibTorch's cached blocks: flbench does not record GPU memory.
- MFU = 6 x N x tokens / train_s / peak, N = the parameters a token passes
  through as matrix products (every layer's projections and norms plus the
  LM head, V x C, counted once also when tied; not the embedding lookup),
  attention's T^2 term left out; LoRA factors are left out of N (r << C).
  Peak: the H200's dense bf16 tensor-core peak, 989.4 TFLOP/s (NVIDIA's
  SXM figure; 67 TFLOP/s is its FP32 non-tensor peak): flbench computes in
  float32, so the bf16 figure is the ceiling a bf16 path could reach.
Rows: every round; the last is the one to quote (the first includes
warm-up: CUDA context, kernel selection, allocator growth).
Falls back to the run's progress log (--log, seconds per round only) when
h5py is missing.
"""
import argparse
import json
import os
import re
import sys


def parse_toml_scalars(text):
    """key = value lines of flbench's config_toml (numbers and strings)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r'^\s*([A-Za-z0-9_-]+)\s*=\s*(.+?)\s*$', line)
        if m:
            v = m.group(2)
            try:
                out[m.group(1).replace("_", "-")] = json.loads(v)
            except ValueError:
                out[m.group(1).replace("_", "-")] = v.strip('"')
    return out


def matmul_params(base):
    c = json.load(open(os.path.join(base, "config.json")))
    C, F, L, V = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"], c["vocab_size"]
    D = c.get("head_dim") or C // c["num_attention_heads"]
    H, KV = c["num_attention_heads"], c["num_key_value_heads"]
    per_layer = C * H * D + 2 * C * KV * D + H * D * C + 3 * C * F + 2 * C
    return L * per_layer + C + V * C, c


def peak_gpu_mib(path):
    peak = {}
    if path and os.path.exists(path):
        for line in open(path):
            parts = [p.strip() for p in line.split(",")]
            if len(parts) >= 2 and parts[0].isdigit() and parts[1].split()[0].isdigit():
                peak[int(parts[0])] = max(peak.get(int(parts[0]), 0), int(parts[1].split()[0]))
    return peak


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--h5", required=True)
    ap.add_argument("--base", required=True, help="the run's --base (config.json)")
    ap.add_argument("--gpu-mem-log", help="nvidia-smi --query-gpu=index,memory.used --format=csv,noheader samples")
    ap.add_argument("--log", help="the run's progress log (fallback without h5py)")
    ap.add_argument("--peak-tflops", type=float, default=989.4)
    ap.add_argument("--label", default="")
    ap.add_argument("--out", help="also write the table (markdown) here")
    a = ap.parse_args()

    n_params, cfg = matmul_params(a.base)
    gpu = peak_gpu_mib(a.gpu_mem_log)
    mem = ", ".join(f"GPU{i} {m / 1024:.1f} GiB" for i, m in sorted(gpu.items())) or "not measured"
    lines = [f"# {a.label or 'flbench throughput'}", "",
             f"model: {cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, "
             f"{cfg['num_attention_heads']} heads / {cfg['num_key_value_heads']} KV, intermediate "
             f"{cfg['intermediate_size']}, vocab {cfg['vocab_size']}; N = {n_params / 1e9:.3f} B matmul parameters; "
             f"MFU against {a.peak_tflops:.1f} TFLOP/s (H200 dense bf16; flbench computes in float32)", ""]
    try:
        import h5py
    except ImportError:
        h5py = None
    if h5py is None:
        if not a.log:
            print("throughput_table: error: h5py is not installed; pass --log RUN.log for seconds per round",
                  file=sys.stderr)
            return 1
        lines += ["(h5py missing: seconds per round from the progress log only)", "",
                  "| round | wall s |", "|---:|---:|"]
        for line in open(a.log):
            m = re.match(r"^round\s+(\d+)/\d+ .* ([0-9.]+) s  ETA", line)
            if m:
                lines.append(f"| {m.group(1)} | {m.group(2)} |")
    else:
        f = h5py.File(a.h5, "r")
        conf = parse_toml_scalars(f.attrs["config_toml"])
        tok_per_step = int(conf["batch-size"]) * int(conf["context"])
        rounds = f["rounds/round"][:]
        cl = {k: f["clients/" + k][:] for k in ("round", "client", "rank", "steps")}
        dev = f.attrs.get("device", "?")
        dev = dev.decode() if isinstance(dev, bytes) else dev
        lines += [f"device {dev}, {int(f.attrs['mpi_size'])} rank(s), algorithm {f.attrs['algorithm']}, "
                  f"batch {conf['batch-size']} x context {conf['context']}, lora rank {conf.get('lora-rank')}; "
                  f"peak memory per GPU (nvidia-smi, max over the run): {mem}", "",
                  "| round | clients | tokens/s per client (mean, min, max) | tokens/s all clients | train s "
                  "| server s/round | round wall s | MFU |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for i, r in enumerate(rounds):
            train_s = float(f["rounds/train_s"][i])
            sel = cl["round"] == r
            ranks = cl["rank"][sel]
            tokens = cl["steps"][sel] * tok_per_step
            per_rank = {int(k): int((ranks == k).sum()) for k in set(ranks.tolist())}
            rates = [t / (train_s / per_rank[int(k)]) for t, k in zip(tokens, ranks)]
            total = float(tokens.sum()) / train_s / max(1, len(per_rank))  # per rank = per GPU
            mfu = 6 * n_params * total / (a.peak_tflops * 1e12)
            lines.append(f"| {int(r) + 1} | {int(sel.sum())} | {sum(rates) / len(rates):,.0f} "
                         f"({min(rates):,.0f}, {max(rates):,.0f}) | {float(tokens.sum()) / train_s:,.0f} | "
                         f"{train_s:.3f} | {float(f['rounds/aggregate_s'][i]):.3f} | "
                         f"{float(f['rounds/wall_s'][i]):.3f} | {100 * mfu:.2f}% |")
        lines += ["", "tokens/s per client: its tokens over its share of the rank's train_s (clients of a "
                  "rank train in turn); MFU per GPU: 6 N tokens / train_s; server: /rounds/aggregate_s."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as g:
            g.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
