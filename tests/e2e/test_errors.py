"""Bad input gets a clear one-line error and a non-zero exit, never a hang,
a stack trace or a damaged output file."""
import gzip
import hashlib
import os
import shutil

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
expect_error(2, small + ["--data-dir", "/nonexistent", "--out", f"{args.workdir}/x.h5"], "--data-dir", 1, "missing data")

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
c.done()
