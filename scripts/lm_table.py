#!/usr/bin/env python3
"""The table of issue 5's language-model runs, from their HDF5 files.

  /usr/bin/python3 scripts/lm_table.py results/lm/a
  /usr/bin/python3 scripts/lm_table.py --tune results/lm/a   # run-lm.sh tune's grid: a/tune.md

One row per run (file): in-domain and out-of-domain held-out loss and
next-byte accuracy at the last evaluation (means over the domains of each
kind, from /eval; the validation row, --validation-fraction, is neither),
upload per client per round (/clients/upload_bytes), total MB up
(/rounds/bytes_gathered) and down, and
the server's mean seconds per round (decode + aggregate + encode).

Runs named NAME_seedN (scripts/run-lm.sh seeds, ablation) are grouped by
NAME instead: one row per NAME with its seeds, its learning rate (from
config_toml), the losses and accuracies as mean ± sample standard deviation
over the seeds, and the largest standard error of an in-domain held-out
loss (/eval/loss_se), which says how finely the held-out sets resolve a
difference; "vs best" is analyze.py's Welch test at 5% on the in-domain
losses against the row with the lowest mean.
"""
import glob
import os
import re
import statistics
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    sys.exit("lm_table.py needs h5py and numpy: run it with /usr/bin/python3 (Debian's python3-h5py)")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from analyze import _pm, mean_sd, welch_differs  # noqa: E402  (the --seeds statistics, shared)


def summary(path):
    with h5py.File(path, "r") as f:
        ev = {k: f["eval"][k][()] for k in f["eval"]}
        last = ev["round"] == ev["round"].max()
        held = ev["validation"] != 1 if "validation" in ev else np.ones(len(ev["round"]), bool)
        ind, ood = last & held & (ev["in_domain"] == 1), last & held & (ev["in_domain"] == 0)
        r, c = f["rounds"], f["clients"]
        # schema_version 1 named both byte columns bytes_up (results/README.md)
        gathered = r["bytes_gathered"] if "bytes_gathered" in r else r["bytes_up"]
        upload = c["upload_bytes"] if "upload_bytes" in c else c["bytes_up"]
        rounds = len(r["round"])
        return {
            "run": os.path.basename(path)[:-3],
            "rounds": rounds,
            "in_loss": ev["loss"][ind].mean(),
            "in_acc": ev["accuracy"][ind].mean(),
            "ood_loss": ev["loss"][ood].mean() if ood.any() else float("nan"),
            "ood_acc": ev["accuracy"][ood].mean() if ood.any() else float("nan"),
            "kb_client_round": upload[()].mean() / 1e3,
            "mb_up": gathered[()].sum() / 1e6,
            "mb_down": r["bytes_down"][()].sum() / 1e6,
            "server_s": r["aggregate_s"][()].mean(),
            "wall_s": r["wall_s"][()].sum(),
            "in_loss_se": float(ev["loss_se"][ind].max()) if "loss_se" in ev else float("nan"),
            "lr": lr_of(f.attrs.get("config_toml", "")),
        }


def lr_of(toml):
    toml = toml.decode() if isinstance(toml, bytes) else str(toml)
    m = re.search(r"^lr\s*=\s*(\S+)", toml, re.M)
    return m.group(1) if m else "?"


def pm(values, spec, scale=1.0):
    """mean ± sd of `values` (x scale), as analyze.py --seeds writes it."""
    mean, sd = mean_sd(values)
    return _pm(mean * scale, sd * scale, spec)


def seed_table(rows):
    """One row per NAME of the NAME_seedN runs (see the module's doc)."""
    groups = {}
    for r in rows:
        m = re.fullmatch(r"(.+)_seed([0-9]+)", r["run"])
        groups.setdefault(m.group(1), []).append((int(m.group(2)), r))
    losses = {name: [r["in_loss"] for _, r in members] for name, members in groups.items()}
    best = min(losses, key=lambda n: statistics.mean(losses[n]))
    counts = sorted({len(m) for m in groups.values()})
    print(f"Mean ± sample standard deviation over {'/'.join(map(str, counts))} seed(s) per row; lr: each row's "
          f"rate (tuned on validation: tuned-lr.txt); in-domain se: the largest standard error of an in-domain "
          f"held-out loss (/eval/loss_se). vs best: Welch's two-sided t-test at 5% on the in-domain loss against "
          f"the lowest mean ({best}): 'inside noise' rows cannot be told from it; '?': fewer than two seeds.")
    print()
    print("| method | seeds | lr | in-domain loss | in-domain acc | OOD loss | OOD acc | in-domain se "
          "| KB up / client / round | MB up | MB down | vs best |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, members in groups.items():
        rs = [r for _, r in sorted(members, key=lambda m: m[0])]
        differs = welch_differs(losses[name], losses[best])
        verdict = "best" if name == best else "?" if differs is None else "worse" if differs else "inside noise"
        lrs = sorted({r["lr"] for r in rs})
        print(f"| {name} | {','.join(str(s) for s, _ in sorted(members, key=lambda m: m[0]))} | {'/'.join(lrs)} | "
              f"{pm([r['in_loss'] for r in rs], '{:.4f}')} | {pm([r['in_acc'] for r in rs], '{:.2f}%', 100)} | "
              f"{pm([r['ood_loss'] for r in rs], '{:.4f}')} | {pm([r['ood_acc'] for r in rs], '{:.2f}%', 100)} | "
              f"{max(r['in_loss_se'] for r in rs):.4f} | {statistics.mean(r['kb_client_round'] for r in rs):.1f} | "
              f"{statistics.mean(r['mb_up'] for r in rs):.2f} | {statistics.mean(r['mb_down'] for r in rs):.2f} | "
              f"{verdict} |")


def tune_table(preset_dir):
    """run-lm.sh tune's grid: each method's validation loss (mean of its last
    3 evaluations, as pick-lr scores it) at each rate of tune/NAME_lrX.h5;
    the rate in tuned-lr.txt in bold, 'diverged' for an unfinished run."""
    cells, rates = {}, set()
    for path in sorted(glob.glob(os.path.join(preset_dir, "tune", "*_lr*.h5"))):
        name, lr = re.fullmatch(r"(.+)_lr(.+)", os.path.basename(path)[:-3]).groups()
        rates.add(lr)
        with h5py.File(path, "r") as f:
            val = f["rounds/val_loss"][()] if "completed_rounds" in f.attrs else None
        val = None if val is None else val[~np.isnan(val)]
        cells.setdefault(name, {})[lr] = "diverged" if val is None or not val.size else f"{val[-3:].mean():.3f}"
    tuned_path = os.path.join(preset_dir, "tuned-lr.txt")
    tuned = dict(line.split()[:2] for line in open(tuned_path)) if os.path.exists(tuned_path) else {}
    rates = sorted(rates, key=float)
    print(f"Validation loss (mean of the last 3 evaluations) of each method at each rate tried "
          f"(`scripts/run-lm.sh tune`; table by `scripts/lm_table.py --tune {preset_dir}`). Bold: the rate "
          f"`scripts/issue3.py pick-lr --by val_loss` chose (`tuned-lr.txt`).")
    print()
    print("| method | " + " | ".join(rates) + " |")
    print("|---|" + "---:|" * len(rates))
    for name, row in cells.items():
        print(f"| {name} | " + " | ".join(f"**{row[r]}**" if tuned.get(name) == r else row.get(r, "-")
                                        for r in rates) + " |")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--tune":
        return tune_table(sys.argv[2])
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    files = sorted(glob.glob(os.path.join(sys.argv[1], "*.h5")))
    if not files:
        sys.exit(f"lm_table.py: no .h5 files in {sys.argv[1]}")
    rows = [summary(p) for p in files]
    seeded = [r for r in rows if re.fullmatch(r".+_seed[0-9]+", r["run"])]
    if seeded:
        print(f"Runs in `{sys.argv[1]}` over seeds (made by `scripts/run-lm.sh seeds|ablation`; table by "
              f"`scripts/lm_table.py {sys.argv[1]}`).")
        print()
        seed_table(seeded)
        rows = [r for r in rows if r not in seeded]
        if not rows:
            return
        print()
    print(f"Runs in `{sys.argv[1]}` (made by `scripts/run-lm.sh`; table by `scripts/lm_table.py {sys.argv[1]}`).")
    print()
    print("| run | rounds | in-domain loss | in-domain acc | OOD loss | OOD acc | KB up / client / round "
          "| MB up | MB down | server s / round | run s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in rows:
        print(f"| {s['run']} | {s['rounds']} | {s['in_loss']:.4f} | {100 * s['in_acc']:.2f}% | {s['ood_loss']:.4f} | "
              f"{100 * s['ood_acc']:.2f}% | {s['kb_client_round']:.1f} | {s['mb_up']:.2f} | {s['mb_down']:.2f} | "
              f"{s['server_s']:.4f} | {s['wall_s']:.1f} |")


if __name__ == "__main__":
    main()
