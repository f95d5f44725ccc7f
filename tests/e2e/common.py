"""Shared helpers of the end-to-end tests: run flbench under mpirun, read results."""
import argparse
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

# Every algorithm flbench registers, with the flags the e2e runs give it
# (test_determinism.py runs them all), and its wire id (in every payload
# header: never renumbered). test_algorithms.py checks both against
# `flbench --list-algorithms` and `flbench --help`.
ALGORITHMS = {
    "fedavg": [],
    "topk": ["--topk-ratio", 0.05, "--error-feedback"],
    "lbgm": ["--lbgm-delta", 0.9, "--base-compressor", "topk", "--topk-ratio", 0.1, "--error-feedback"],
    "fedloru": ["--lora-rank", 4, "--alpha", 4, "--accumulate-every", 2],
    "pfedloru": ["--lora-rank", 4, "--alpha", 4, "--accumulate-every", 2],
    "mfedloru": ["--lora-rank", 4, "--alpha", 4, "--client-lora-ranks", "1,2,4"],
    "fedit": ["--lora-rank", 4, "--alpha", 4],
    "fedprox": ["--lora-rank", 4, "--alpha", 4, "--prox-mu", 0.1],
    "ffa-lora": ["--lora-rank", 4, "--alpha", 4],
    "flexlora": ["--lora-rank", 4, "--alpha", 4],
    "fed-dare": ["--lora-rank", 4, "--alpha", 4, "--dare-p", 0.5],
    "fedsrd": ["--lora-rank", 4, "--alpha", 4, "--adaptive-sparsity"],
    "fedsrd-e": ["--lora-rank", 4, "--alpha", 4, "--sparsifier", "random"],
}
WIRE_IDS = {"fedavg": 1, "topk": 2, "lbgm": 3, "fedloru": 4, "pfedloru": 5, "mfedloru": 6, "fedit": 7, "fedprox": 8,
            "ffa-lora": 9, "flexlora": 10, "fed-dare": 11, "fedsrd": 12, "fedsrd-e": 13}


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--flbench", required=True)
    p.add_argument("--mpiexec", default="mpirun")
    p.add_argument("--workdir", required=True)
    args = p.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    return args


def mpirun(args, np_, flags, timeout=600, check=True):
    """Runs flbench on np_ ranks; returns the CompletedProcess (text)."""
    cmd = [args.mpiexec, "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    cmd += ["-np", str(np_), args.flbench] + [str(f) for f in flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\nexit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def write_trace(path, rows):
    """A --system trace CSV (README, "Virtual time") of (class, clients, compute, up, down, latency) rows, each
    with an `available` schedule as a seventh field when the first has one; returns path."""
    with open(path, "w") as f:
        f.write("class,clients,compute,up_mbps,down_mbps,latency_s" + (",available" if len(rows[0]) == 7 else "") + "\n")
        for row in rows:
            f.write(",".join(str(v) for v in row) + "\n")
    return path


def datasets(group, prefix=""):
    """Every dataset under group as {path: array}."""
    out = {}
    for k, v in group.items():
        if isinstance(v, h5py.Dataset):
            out[prefix + k] = v[()]
        else:
            out.update(datasets(v, prefix + k + "/"))
    return out


# Columns that differ between runs of the same experiment: wall-clock
# timings, memory, and what depends on the number of ranks (/memory has
# one row per rank).
NOT_REPRODUCIBLE = {"wall_s", "train_s", "encode_s", "gather_wait_s", "gather_s", "aggregate_s", "bcast_s", "apply_s",
                    "eval_s", "io_s", "rss_max_bytes", "rank", "client_state_bytes", "base_bytes", "adapter_bytes",
                    "optimizer_bytes", "activation_bytes"}


def reproducible_datasets(path):
    """Every dataset of a results file but the NOT_REPRODUCIBLE columns, as {path: array}."""
    with h5py.File(path, "r") as f:
        return {k: v for k, v in datasets(f).items() if k.split("/")[-1] not in NOT_REPRODUCIBLE}


def same_bits(a, b):
    """Bitwise equality of two arrays (dtype, shape and bytes)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


class Checker:
    """Counts checks; prints 'N passed, N failed' at the end, exits non-zero on a failure."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"FAIL: {what}")

    def done(self):
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)
