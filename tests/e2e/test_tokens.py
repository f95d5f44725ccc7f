"""--dataset tokens end to end: a tiny random Llama written as a Hugging Face
directory (tests/model/llama_reference.py's make_weights and write_hf_dir)
and llm.c token shards of three domains (two held by clients, one
out-of-domain), fine-tuned with LoRA by FedSRD, FedIT and FlexLoRA on 1 and
2 ranks: the runs finish with finite, falling losses and the expected /eval
rows; LoRA sits on exactly the requested projections; FedSRD on 1, 2 and 4
ranks is bitwise identical; bad input is a clear one-line error."""
import json
import os
import subprocess
import struct
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))
from llama_reference import CASES, make_weights, write_hf_dir, write_token_shard as write_shard  # noqa: E402

from common import ALGORITHMS, Checker, mpirun, parse_args, reproducible_datasets, same_bits  # noqa: E402

args = parse_args()
c = Checker()
W = args.workdir

# The model: llama_reference's GQA + llama3-rope case with a larger vocabulary.
cfg = dict(CASES["llama3_gqa"], vocab_size=48)
V = cfg["vocab_size"]
hf = f"{W}/hf"
write_hf_dir(hf, cfg, make_weights(cfg, np.random.default_rng(5)))
PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def domain_tokens(n, mult, add, rng):
    """A learnable stream: t' = (mult t + add) mod V, with a random token 10% of the time."""
    out, t = [], int(rng.integers(V))
    for _ in range(n):
        t = int(rng.integers(V)) if rng.random() < 0.1 else (mult * t + add) % V
        out.append(t)
    return out


tokens = f"{W}/tokens"
rng = np.random.default_rng(7)
for name, (mult, add) in {"alpha": (5, 3), "beta": (7, 11), "gamma": (11, 1)}.items():
    os.makedirs(f"{tokens}/{name}")
    write_shard(f"{tokens}/{name}/train.bin", domain_tokens(3000, mult, add, rng))
    write_shard(f"{tokens}/{name}/val.bin", domain_tokens(600, mult, add, rng))

ROUNDS = 4
base_flags = ["--dataset", "tokens", "--token-dir", tokens, "--base", hf, "--domains", "alpha,beta",
              "--ood-domains", "gamma", "--partition", "by-domain", "--clients", 4, "--clients-per-round", 4,
              "--rounds", ROUNDS, "--local-steps", 4, "--batch-size", 8, "--context", 16, "--eval-sequences", 16,
              "--optimizer", "adamw", "--lr", 0.01, "--seed", 3]
load, same = reproducible_datasets, same_bits


def lora_layers(run):
    """{projection name: number of layers where it has LoRA factors} from /final_model."""
    out = {}
    for k in run:
        if k.startswith("final_model/") and k.endswith(".U0"):
            proj = k.split("/")[-1].split(".")[-2]
            out[proj] = out.get(proj, 0) + 1
    return out


runs = {}
for algo in ("fedsrd", "fedit", "flexlora"):
    for n in ((1, 2, 4) if algo == "fedsrd" else (1, 2)):
        out = f"{W}/{algo}-np{n}.h5"
        mpirun(args, n, base_flags + ["--algorithm", algo] + ALGORITHMS[algo] + ["--out", out])
        runs[(algo, n)] = load(out)
    r = runs[(algo, 1)]
    train = r["rounds/train_loss"]
    c.check(len(train) == ROUNDS and np.all(np.isfinite(train)), f"{algo}: {ROUNDS} rounds of finite train loss {train}")
    ev = r["eval/loss"]
    dom, rnd, ind = r["eval/domain"], r["eval/round"], r["eval/in_domain"]
    c.check(len(ev) == 3 * ROUNDS and np.all(np.isfinite(ev)), f"{algo}: /eval has 3 domains x {ROUNDS} rounds, finite")
    c.check(sorted(set(ind[dom == 2].tolist())) == [0] and sorted(set(ind[dom < 2].tolist())) == [1],
            f"{algo}: alpha, beta in-domain, gamma out-of-domain")
    first = ev[(rnd == rnd.min()) & (ind == 1)].mean()
    last = ev[(rnd == rnd.max()) & (ind == 1)].mean()
    print(f"{algo}: train loss {np.round(train, 4).tolist()}, in-domain eval loss {first:.4f} -> {last:.4f} "
          f"(uniform: {np.log(V):.4f})")
    c.check(last < first, f"{algo}: in-domain eval loss falls ({first:.4f} -> {last:.4f})")
    layers = lora_layers(r)
    c.check(layers == {p: cfg["num_hidden_layers"] for p in PROJ}, f"{algo}: --lora-targets all = all seven projections in "
            f"every layer, got {layers}")
    for n in (2, 4):
        if (algo, n) not in runs:
            continue
        o = runs[(algo, n)]
        keys = ["rounds/train_loss", "eval/loss", "clients/loss"] + [k for k in r if k.startswith("final_model/")]
        if algo == "fedsrd":  # bitwise: every row and the whole final model
            keys = list(r)
            c.check(set(o) == set(r), f"fedsrd np{n}: same datasets as np1")
        bad = [k for k in keys if k not in o or not same(r[k], o[k])]
        c.check(not bad, f"{algo} np{n}: bitwise equal to np1 ({len(keys)} datasets; differs: {bad[:5]})")

# --validation-fraction on tokens: each client keeps round(0.1 n) of its training
# windows out; /eval gets a "validation" row per evaluated round (never in
# /rounds/test_*), /rounds/val_loss is it, and shared evaluation keeps it the
# same bits on 1 and 2 ranks.
for n in (1, 2):
    mpirun(args, n, base_flags + ["--algorithm", "fedit"] + ALGORITHMS["fedit"] +
           ["--validation-fraction", 0.1, "--rounds", 2, "--out", f"{W}/validation-np{n}.h5"])
with h5py.File(f"{W}/validation-np2.h5", "r") as f:
    names = f["eval"].attrs["domain_names"]
    names = (names.decode() if isinstance(names, bytes) else names).split(",")
    e, r = f["eval"], f["rounds"]
    c.check(names == ["alpha", "beta", "gamma", "validation"], f"domains with the validation split last: {names}")
    v = e["validation"][:] == 1
    c.check(list(e["domain"][v]) == [3, 3], f"one validation row per evaluated round ({list(e['domain'][v])})")
    c.check(np.array_equal(r["val_loss"][:], e["loss"][v]) and bool(np.all(np.isfinite(r["val_loss"][:]))),
            "/rounds/val_loss is the validation row's")
    inside = (e["in_domain"][:] == 1) & ~v
    c.check(np.allclose(r["test_loss"][:], [np.mean(e["loss"][inside & (e["round"][:] == k)]) for k in (0, 1)], rtol=0, atol=1e-12),
            "/rounds/test_loss is the mean over the in-domain rows without the validation row")
    with h5py.File(f"{W}/validation-np1.h5", "r") as g:
        c.check(g["rounds/val_loss"][:].tobytes() == r["val_loss"][:].tobytes(),
                f"val_loss the same bits on 1 and 2 ranks ({g['rounds/val_loss'][:]} vs {r['val_loss'][:]})")
    samples = f["clients/samples"][:]
    print(f"validation split on tokens: val_loss {r['val_loss'][:]}, test_loss {r['test_loss'][:]}")
with h5py.File(f"{W}/fedit-np2.h5", "r") as f:  # the same run without the split
    full = f["clients/samples"][:]
want = [n - max(1, min(n - 1, int(0.1 * n + 0.5))) for n in full[:len(samples)]]  # llround: halves up
c.check(list(samples) == want, f"clients train on n - round(0.1 n) windows: {list(samples)} vs {want}")

# Named targets: LoRA only on q_proj and v_proj.
out = f"{W}/targets.h5"
mpirun(args, 2, base_flags + ["--algorithm", "fedsrd"] + ALGORITHMS["fedsrd"] +
       ["--lora-targets", "q_proj,v_proj", "--rounds", 1, "--out", out])
layers = lora_layers(load(out))
c.check(layers == {"q_proj": 2, "v_proj": 2}, f"--lora-targets q_proj,v_proj: got {layers}")


# Exports: the global adapter in PEFT's format and the merged model, both
# scored by flbench eval on a held-out shard: base + adapter = merged, and
# both better than the base the run started from.
adapter, merged = f"{W}/export-adapter", f"{W}/export-merged"
mpirun(args, 2, base_flags + ["--algorithm", "fedit"] + ALGORITHMS["fedit"] +
       ["--export-adapter", adapter, "--export-merged", merged, "--out", f"{W}/export.h5"])


def eval_loss(*flags):
    cmd = [args.flbench, "eval", "--tokens", f"{tokens}/alpha/val.bin", "--context", "16", "--eval-sequences", "16",
           "--json"] + list(flags)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    c.check(p.returncode == 0, f"flbench eval {' '.join(flags)}: exit {p.returncode} {p.stderr[-400:]}")
    return json.loads(p.stdout)["loss"] if p.returncode == 0 else float("nan")


base_loss, adapted, merged_loss = eval_loss("--base", hf), eval_loss("--base", hf, "--adapter", adapter), \
    eval_loss("--base", merged)
print(f"exports: flbench eval on alpha/val.bin: base {base_loss:.6f}, base + exported adapter {adapted:.6f}, "
      f"merged export {merged_loss:.6f}")
c.check(abs(adapted - merged_loss) < 1e-5 * abs(merged_loss),
        f"base + adapter equals the merged model ({adapted} vs {merged_loss}; tolerance 1e-5 relative)")
c.check(adapted < base_loss, f"the exported adapter is the trained one: loss {adapted} below the base's {base_loss}")


def expect_error(flags, needle, what):
    p = mpirun(args, 2, flags + ["--rounds", 1, "--out", f"{W}/err.h5", "--overwrite"], timeout=120, check=False)
    err = p.stderr
    line = next((l for l in err.splitlines() if needle in l), "")
    ok = p.returncode != 0 and line and "terminate called" not in err and "Traceback" not in err
    print(f"{what}: exit {p.returncode}: {line.strip()}")
    c.check(ok, f"{what}: exit {p.returncode}, wanted '{needle}' in stderr:\n{err[-800:]}")


def with_flag(*pairs):
    """base_flags with the value of each (flag, value) replaced (list options collect, so never append)."""
    f = list(base_flags)
    for flag, value in zip(pairs[::2], pairs[1::2]):
        f[f.index(flag) + 1] = value
    return f


expect_error(with_flag("--token-dir", f"{W}/no-such-dir"), "--token-dir", "missing token dir")
expect_error(with_flag("--domains", "alpha,delta"), "'delta'", "missing domain")
os.makedirs(f"{W}/bad-tokens/alpha")
write_shard(f"{W}/bad-tokens/alpha/train.bin", [1, 2, 3] * 100 + [V + 5])
write_shard(f"{W}/bad-tokens/alpha/val.bin", [1, 2, 3] * 100)
expect_error(with_flag("--token-dir", f"{W}/bad-tokens", "--domains", "alpha", "--ood-domains", "none",
                       "--clients", 2, "--clients-per-round", 2),
             "outside the vocabulary", "token >= vocab_size")
no_base = [f for i, f in enumerate(base_flags) if f != "--base" and (i == 0 or base_flags[i - 1] != "--base")]
expect_error(no_base, "--base", "no --base")
open(f"{W}/base.pt", "wb").write(b"not a model")
expect_error(with_flag("--base", f"{W}/base.pt"), "Hugging Face model directory", "--base a file")
expect_error(["--dataset", "text", "--base", hf, "--domains", "alpha", "--ood-domains", "none", "--clients", 1,
              "--clients-per-round", 1], "--dataset tokens", "--dataset text with an HF directory")
c.done()
