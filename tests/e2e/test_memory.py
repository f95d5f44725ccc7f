"""/memory end to end on a tiny random Llama (--dataset tokens): memory per
rank grows by the per-client state, not by the base, as clients per rank
grow (pFedLoRU, 2 against 8 clients on one rank: base, adapter and optimiser
bytes equal; client state larger by exactly 6 private pairs, counted here
from the model's shapes); --base-dtype bfloat16 halves the base bytes and
leaves the adapters; --activation-checkpointing lowers the measured
activations and leaves the losses; a non-float32 base is an error for the
image models and for an algorithm that trains the base."""
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
from llama_reference import CASES, make_weights, write_hf_dir, write_token_shard as write_shard  # noqa: E402

from common import Checker, mpirun, parse_args  # noqa: E402

args = parse_args()
c = Checker()
W = args.workdir
os.makedirs(W, exist_ok=True)

cfg = dict(CASES["llama3_gqa"], vocab_size=48)
hf = f"{W}/hf"
write_hf_dir(hf, cfg, make_weights(cfg, np.random.default_rng(5)))


tokens = f"{W}/tokens"
rng = np.random.default_rng(7)
for name in ("alpha", "beta"):
    os.makedirs(f"{tokens}/{name}", exist_ok=True)
    write_shard(f"{tokens}/{name}/train.bin", rng.integers(0, cfg["vocab_size"], 2000))
    write_shard(f"{tokens}/{name}/val.bin", rng.integers(0, cfg["vocab_size"], 400))

R = 4  # --lora-rank
base_flags = ["--dataset", "tokens", "--token-dir", tokens, "--base", hf, "--domains", "alpha,beta",
              "--ood-domains", "none", "--partition", "by-domain", "--rounds", 1, "--local-steps", 2,
              "--batch-size", 4, "--context", 32, "--eval-sequences", 2, "--optimizer", "adamw", "--lr", 0.01,
              "--lora-rank", R, "--alpha", 4, "--seed", 3, "--overwrite"]


def memory(name, flags, clients=2):
    out = f"{W}/{name}.h5"
    mpirun(args, 1, base_flags + ["--clients", clients, "--clients-per-round", clients] + flags + ["--out", out])
    with h5py.File(out, "r") as f:
        m = {k: int(f["memory"][k][0]) for k in f["memory"]}
        m["losses"] = f["rounds/train_loss"][:]
    print(f"{name}: " + ", ".join(f"{k} {v}" for k, v in m.items() if k != "losses"))
    return m


# One LoRA pair (U r x in... as out x r and r x in) on every projection of every layer, float32.
C, F, H, KV, D = (cfg[k] for k in ("hidden_size", "intermediate_size", "num_attention_heads",
                                   "num_key_value_heads", "head_dim"))
shapes = [(C, H * D), (C, KV * D), (C, KV * D), (H * D, C), (C, F), (C, F), (F, C)]  # (in, out)
pair_bytes = cfg["num_hidden_layers"] * sum(4 * R * (i + o) for i, o in shapes)

few = memory("pfedloru-2", ["--algorithm", "pfedloru"], clients=2)
many = memory("pfedloru-8", ["--algorithm", "pfedloru"], clients=8)
for k in ("base_bytes", "adapter_bytes", "optimizer_bytes"):
    c.check(few[k] == many[k] and few[k] > 0, f"{k} independent of the clients a rank hosts: {few[k]} vs {many[k]}")
grown = many["client_state_bytes"] - few["client_state_bytes"]
c.check(grown == 6 * pair_bytes, f"8 - 2 clients: client state grew by {grown} bytes, 6 private pairs = "
                                 f"{6 * pair_bytes} (one pair {pair_bytes})")

f32 = memory("fedit-f32", ["--algorithm", "fedit"])
b16 = memory("fedit-bf16", ["--algorithm", "fedit", "--base-dtype", "bfloat16"])
c.check(2 * b16["base_bytes"] == f32["base_bytes"], f"bfloat16 base: {b16['base_bytes']} bytes, float32 {f32['base_bytes']}")
c.check(b16["adapter_bytes"] == f32["adapter_bytes"] and b16["optimizer_bytes"] == f32["optimizer_bytes"],
        "bfloat16 base: adapters and optimiser state unchanged (float32)")
rel = float(np.max(np.abs(b16["losses"] - f32["losses"]) / f32["losses"]))
print(f"bfloat16 base vs float32: max relative train-loss difference {rel:.3g} (tolerance 2e-2)")
c.check(rel < 2e-2, "bfloat16 base trains to float32's loss within bf16 rounding")

ckpt = memory("fedit-ckpt", ["--algorithm", "fedit", "--activation-checkpointing", "--lora-dropout", 0.1])
plain = memory("fedit-drop", ["--algorithm", "fedit", "--lora-dropout", 0.1])
c.check(0 < ckpt["activation_bytes"] < plain["activation_bytes"],
        f"activation checkpointing: {ckpt['activation_bytes']} activation bytes, without {plain['activation_bytes']}")
rel = float(np.max(np.abs(ckpt["losses"] - plain["losses"]) / plain["losses"]))
print(f"checkpointed vs plain (dropout 0.1): max relative train-loss difference {rel:.3g} (tolerance 1e-6)")
c.check(rel < 1e-6, "activation checkpointing leaves the losses")

p = mpirun(args, 1, ["--base-dtype", "bfloat16", "--rounds", 1, "--out", f"{W}/mlp.h5", "--overwrite"], check=False)
c.check(p.returncode == 2 and "--base-dtype bfloat16: only for --dataset text or tokens" in p.stderr,
        f"--base-dtype for the MLP: exit {p.returncode}, {p.stderr.strip()[-200:]}")
p = mpirun(args, 1, base_flags + ["--clients", 2, "--clients-per-round", 2, "--algorithm", "fedavg", "--base-dtype", "bfloat16",
                                  "--out", f"{W}/dense.h5"], check=False)
c.check(p.returncode != 0 and "trains the base weights" in p.stderr,
        f"--base-dtype with fedavg: exit {p.returncode}, {p.stderr.strip()[-200:]}")
c.done()
