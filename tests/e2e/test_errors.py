"""Bad input gets a clear one-line error and a non-zero exit, never a hang,
a stack trace or a damaged output file."""
import gzip
import hashlib
import os
import shutil

import h5py
import numpy as np

from common import Checker, mpirun, parse_args

args = parse_args()
c = Checker()
small = ["--clients", 6, "--clients-per-round", 2, "--rounds", 1, "--local-steps", 1]


def expect_error(np_, flags, needle, code=None, what=""):
    p = mpirun(args, np_, flags, timeout=120, check=False)
    err = p.stderr
    ok = p.returncode != 0 and needle in err and "terminate called" not in err and "Traceback" not in err
    if code is not None:
        ok = ok and p.returncode == code
    c.check(ok, f"{what}: exit {p.returncode}, wanted '{needle}' in stderr:\n{err[-800:]}")
    return p


expect_error(1, ["--bogus-flag"], "--bogus-flag", 2, "unknown flag")
expect_error(2, ["--clients", 0], "--clients", 2, "out-of-range value")
expect_error(1, ["--clients", 5, "--clients-per-round", 6], "--clients-per-round", 2, "m > N")
expect_error(2, ["--partition", "zipf"], "--partition", 2, "unknown partition")
syn = small + ["--dataset", "synthetic", "--out", f"{args.workdir}/syn.h5"]
expect_error(1, syn, "pass --model logreg", None, "synthetic without --model logreg")
expect_error(1, syn + ["--model", "logreg", "--algorithm", "fedloru"], "no hidden layer", None, "synthetic with a low-rank algorithm")
expect_error(1, syn + ["--model", "logreg", "--partition", "dirichlet"], "drop --partition", None, "synthetic with --partition")
expect_error(1, small + ["--model", "logreg", "--out", f"{args.workdir}/lr.h5"], "only for --dataset synthetic", None, "logreg on images")
expect_error(1, syn + ["--model", "logreg", "--personal-fraction", 0.1], "--personal-fraction: only for --dataset fashion-mnist",
             None, "a personal slice on the synthetic task")
expect_error(1, small + ["--validation-fraction", 0.5, "--personal-fraction", 0.5, "--out", f"{args.workdir}/vp.h5"],
             "together at most 0.9", None, "validation + personal slices leave nothing to train on")
expect_error(2, small + ["--data-dir", "/nonexistent", "--out", f"{args.workdir}/x.h5"], "--data-dir", 1, "missing data")

# --transport nccl where it cannot run (a build without NCCL, or no GPU on some rank): one
# message, non-zero, nothing written. With a GPU on every rank it runs, and is left to gpu-check.sh.
nccl_out = f"{args.workdir}/nccl.h5"
p = mpirun(args, 2, small + ["--transport", "nccl", "--out", nccl_out], timeout=120, check=False)
if p.returncode != 0:
    c.check("--transport nccl" in p.stderr and "Traceback" not in p.stderr and "terminate called" not in p.stderr
            and not os.path.exists(nccl_out), f"--transport nccl without a GPU: one clear error, no file:\n{p.stderr[-600:]}")
expect_error(1, small + ["--transport", "gloo"], "--transport", 2, "unknown transport")

# A truncated dataset file.
bad = f"{args.workdir}/bad-data"
os.makedirs(bad)
src = "/usr/share/datasets/fashion-mnist"
for name in os.listdir(src):
    shutil.copy(os.path.join(src, name), bad)
blob = open(f"{bad}/train-labels-idx1-ubyte.gz", "rb").read()
open(f"{bad}/train-labels-idx1-ubyte.gz", "wb").write(blob[: len(blob) // 2])
expect_error(2, small + ["--data-dir", bad, "--out", f"{args.workdir}/y.h5"], "train-labels", 1, "truncated dataset")
# Well-formed gzip, wrong content length.
open(f"{bad}/train-labels-idx1-ubyte.gz", "wb").write(gzip.compress(b"\0\0\x08\x01\0\0\0\x05abc"))
expect_error(2, small + ["--data-dir", bad, "--out", f"{args.workdir}/y.h5"], "truncated file", 1, "short dataset")

# An existing output is refused and left byte-for-byte intact.
out = f"{args.workdir}/keep.h5"
mpirun(args, 2, small + ["--out", out])
digest = hashlib.sha256(open(out, "rb").read()).hexdigest()
expect_error(2, small + ["--out", out], "--overwrite", 1, "existing output")
c.check(hashlib.sha256(open(out, "rb").read()).hexdigest() == digest, "existing output unchanged")
p = mpirun(args, 2, small + ["--out", out, "--overwrite"], check=False)
c.check(p.returncode == 0, "--overwrite replaces it")
expect_error(1, small + ["--out", f"{args.workdir}/no/such/dir/x.h5"], "cannot create", 1, "unwritable output")

# A config file: the same names as the options; a bad key or value is named.
cfg = f"{args.workdir}/ok.toml"
open(cfg, "w").write('clients = 6\nclients-per-round = 2\nrounds = 1\nlocal-steps = 1\n')
p = mpirun(args, 1, ["--config", cfg, "--out", f"{args.workdir}/cfg.h5"], check=False)
c.check(p.returncode == 0 and "round 1/1" in p.stdout, "--config runs")
open(cfg, "w").write('clients = "many"\n')
expect_error(1, ["--config", cfg], "clients", 2, "bad value in config")
expect_error(1, ["--config", f"{args.workdir}/missing.toml"], "missing.toml", 2, "missing config file")

def flbench_lines(stderr):
    """stderr's non-blank lines without mpirun's own notices (the blocks it
    prints between lines of dashes when a rank exits non-zero)."""
    out, in_block = [], False
    for line in stderr.splitlines():
        if line.startswith("-----"):
            in_block = not in_block
        elif not in_block and line.strip():
            out.append(line)
    return out


# A strict config: exit 2, ONE line naming file:line and the key, from rank 0
# only (2 ranks), and nothing written.
def bad_config(name, text, needles, what):
    path = f"{args.workdir}/{name}.toml"
    out = f"{args.workdir}/{name}.h5"
    open(path, "w").write(text)
    p = expect_error(2, ["--config", path, "--out", out], needles[0], 2, what)
    lines = flbench_lines(p.stderr)
    c.check(len(lines) == 1, f"{what}: one line on stderr, got {len(lines)}: {lines}")
    line = lines[0] if lines else ""
    print(f"  {what}: {line}")
    for n in needles:
        c.check(n in line, f"{what}: '{n}' in '{line}'")
    c.check(not os.path.exists(out), f"{what}: nothing written")


small_toml = 'clients = 6\nclients-per-round = 2\nrounds = 1\nlocal-steps = 1\n'
bad_config("syntax", "seed = \n[[bad\n", ["syntax.toml:1: seed: TOML syntax error"], "TOML syntax error")
bad_config("typo", small_toml + "rouns = 9\n", ["typo.toml:5: rouns: unknown option", "did you mean rounds?"],
           "unknown key")
bad_config("twice", small_toml + "local_steps = 2\n", ["twice.toml:5: local_steps: given twice",
                                                        "also as local-steps on line 4"], "a-b and a_b")
bad_config("twice-same", small_toml + "rounds = 2\n", ["twice-same.toml:5: rounds: given twice (also on line 3)"],
           "the same key twice")
bad_config("range", small_toml + "batch-size = 0\n", ["range.toml:5: batch-size:", "not in range"], "out of range")
bad_config("type", small_toml + "lr = \"fast\"\n", ["type.toml:5: lr: expected a number, got a string"],
           "wrong type")
bad_config("list-type", small_toml + "accumulate-rounds = [1, \"x\"]\n",
           ["list-type.toml:5: accumulate-rounds: expected a list of integers"], "wrong type in a list")
bad_config("flag-type", small_toml + "overwrite = 1\n", ["flag-type.toml:5: overwrite: expected true or false"],
           "a flag given a number")
bad_config("renamed", small_toml + "rank = 4\n", ["renamed.toml:5: rank: was renamed lora-rank"], "renamed key")
bad_config("renamed2", small_toml + "client_ranks = [1, 2]\n",
           ["renamed2.toml:5: client_ranks: was renamed client-lora-ranks"], "renamed list key")
bad_config("table", small_toml + "[pretrain]\nsteps = 3\n", ["table.toml:", "pretrain", "no tables"], "a table")

# Keys with '_' work, and a command-line flag overrides the file.
cfg = f"{args.workdir}/underscore.toml"
open(cfg, "w").write('clients = 6\nclients_per_round = 2\nrounds = 3\nlocal_steps = 1\nlora_rank = 4\n')
p = mpirun(args, 1, ["--config", cfg, "--rounds", 1, "--out", f"{args.workdir}/underscore.h5"], check=False)
c.check(p.returncode == 0 and "round 1/1" in p.stdout, f"'_' keys accepted, --rounds overrides: {p.stdout[-300:]}{p.stderr}")

# The renamed options on the command line.
for old, new in (("--rank", "--lora-rank"), ("--client-ranks", "--client-lora-ranks")):
    p = expect_error(2, small + [old, 4], f"{old} was renamed {new}", 2, f"{old} on the command line")
    c.check(len(flbench_lines(p.stderr)) == 1, f"{old}: one line: {p.stderr}")
# A global model that diverged while every client's loss stayed finite (FedSRD with rank-16
# LoRA at the default lr 0.05 on the MLP: its factors reach ~1e21 in round 5, the logits
# overflow): the evaluation stops every rank with one message; the rows up to that round are
# in the file, which is not marked complete.
diverged = f"{args.workdir}/diverged.h5"
p = expect_error(2, ["--algorithm", "fedsrd", "--lora-rank", 16, "--alpha", 16, "--clients", 400,
                     "--clients-per-round", 20, "--rounds", 10, "--local-steps", 2, "--eval-every", 1,
                     "--out", diverged], "the global model diverged", 1, "a diverged global model")
c.check(len(flbench_lines(p.stderr)) == 1, f"a diverged global model: one line: {p.stderr[-600:]}")
with h5py.File(diverged, "r") as f:
    loss = f["rounds"]["test_loss"][:]
    c.check("completed_rounds" not in f.attrs and len(loss) < 10 and not np.isfinite(loss[-1]),
            f"a diverged global model: {len(loss)} rows written, the last loss {loss[-1]}, not marked complete")
c.done()
