"""Shared helpers of the end-to-end tests: run flbench under mpirun, read results."""
import argparse
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np


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


def datasets(group, prefix=""):
    """Every dataset under group as {path: array}."""
    out = {}
    for k, v in group.items():
        if isinstance(v, h5py.Dataset):
            out[prefix + k] = v[()]
        else:
            out.update(datasets(v, prefix + k + "/"))
    return out


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
