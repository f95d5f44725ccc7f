#!/usr/bin/env python3
"""The table of issue 5's language-model runs, from their HDF5 files.

  /usr/bin/python3 scripts/lm_table.py results/lm/a

One row per run (file): in-domain and out-of-domain held-out loss and
next-byte accuracy at the last evaluation (means over the domains of each
kind, from /eval), upload per client per round (/clients/upload_bytes), total MB up
(/rounds/bytes_gathered) and down, and
the server's mean seconds per round (decode + aggregate + encode).
"""
import glob
import os
import sys

try:
    import h5py
    import numpy as np
except ImportError:
    sys.exit("lm_table.py needs h5py and numpy: run it with /usr/bin/python3 (Debian's python3-h5py)")


def summary(path):
    with h5py.File(path, "r") as f:
        ev = {k: f["eval"][k][()] for k in f["eval"]}
        last = ev["round"] == ev["round"].max()
        ind, ood = last & (ev["in_domain"] == 1), last & (ev["in_domain"] == 0)
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
        }


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    files = sorted(glob.glob(os.path.join(sys.argv[1], "*.h5")))
    if not files:
        sys.exit(f"lm_table.py: no .h5 files in {sys.argv[1]}")
    rows = [summary(p) for p in files]
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
