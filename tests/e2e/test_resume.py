"""Checkpoint and resume (README "Checkpoint and resume"): a run stopped by
SIGTERM exits 75 after a checkpoint, and --resume continues it to the end
with /rounds, /clients, /eval and /final_model BITWISE equal to an
uninterrupted run, no round duplicated or missing: for FedAvg, for LBGM
(top-k base, error feedback: state on the clients and on the server) and
for pFedLoRU (private factors; merges change the frozen W), on 2 ranks.
A rank 0 killed with SIGKILL in the middle of a checkpoint leaves the
previous one usable (FLB_TEST_CRASH_IN_CHECKPOINT), and --resume still
ends bitwise equal, dropping the rows written after that checkpoint. And
`--config` with a file's own stored config_toml resumes it."""
import os
import re
import signal
import subprocess
import time

import h5py
import numpy as np

from common import Checker, datasets, mpirun, parse_args

args = parse_args()
c = Checker()
R = 6
base = ["--clients", 12, "--clients-per-round", 6, "--partition", "shards", "--local-steps", 30, "--batch-size", 16,
        "--seed", 11, "--lr", 0.02, "--eval-every", 2, "--threads", 1]
ALGORITHMS = {
    "fedavg": [],
    "lbgm": ["--lbgm-delta", 0.9, "--base-compressor", "topk", "--topk-ratio", 0.1, "--error-feedback"],
    "pfedloru": ["--lora-rank", 4, "--alpha", 4, "--accumulate-every", 2, "--lr", 0.005],  # 0.02 diverges
}
TIMING = {"wall_s", "train_s", "encode_s", "gather_wait_s", "gather_s", "aggregate_s", "bcast_s", "apply_s", "eval_s", "io_s",
          "rss_max_bytes", "activation_bytes"}  # activation_bytes: the peak of the steps this attempt ran
END_ATTRS = ["completed_rounds", "mpi_gatherv_bytes_sent_all_ranks", "mpi_bcast_bytes", "memory_per_client_bytes"]


def load(path):
    with h5py.File(path, "r") as f:
        data = {k: v for k, v in datasets(f).items() if k.split("/")[-1] not in TIMING}
        attrs = {k: int(f.attrs[k]) for k in END_ATTRS if k in f.attrs}
    return data, attrs


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def compare(name, path, ref):
    got, got_attrs = load(path)
    want, want_attrs = ref
    c.check(set(got) == set(want), f"{name}: same datasets ({sorted(set(got) ^ set(want))})")
    bad = [k for k in want if k in got and not same(got[k], want[k])]
    c.check(not bad, f"{name}: bitwise equal to the uninterrupted run (differs: {bad})")
    c.check(got_attrs == want_attrs, f"{name}: end-of-run attributes {got_attrs} == {want_attrs}")
    rounds = got["rounds/round"]
    c.check(np.array_equal(rounds, np.arange(len(want["rounds/round"]))), f"{name}: rounds 0..R-1 once each: {rounds}")
    per_round = np.bincount(got["clients/round"])
    c.check(np.all(per_round == 6) and np.all(np.diff(got["clients/round"]) >= 0),
            f"{name}: 6 client rows per round, in order: {per_round}")
    print(f"{name}: {len(want)} datasets compared bitwise, {len(rounds)} rounds")


def flbench_pids(launcher_pid):
    """The flbench processes mpirun started (its children), from /proc/*/stat."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == launcher_pid:  # field 4: ppid
            pids.append(int(entry))
    return sorted(pids)


def run_and_sigterm(flags, after_round):
    """Starts flbench on 2 ranks, sends SIGTERM to ONE rank once round `after_round` is printed."""
    cmd = [args.mpiexec, "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else []) + \
          ["-np", "2", args.flbench] + [str(f) for f in flags]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, sent = [], False
    for line in proc.stdout:
        out.append(line)
        if not sent and re.match(rf"round +{after_round}/", line):
            pids = flbench_pids(proc.pid)
            os.kill(pids[-1], signal.SIGTERM)
            sent = True
    proc.wait(timeout=300)
    return proc.returncode, "".join(out), sent


def manifest_round(out):
    for d in (out + ".ckpt", out + ".ckpt.old"):
        if os.path.exists(d + "/manifest.txt"):
            m = re.search(r"^completed_rounds (\d+)$", open(d + "/manifest.txt").read(), re.M)
            return d, int(m.group(1))
    return None, None


for algo, extra in ALGORITHMS.items():
    flags = base + ["--algorithm", algo] + extra
    full = f"{args.workdir}/{algo}-full.h5"
    t0 = time.time()
    mpirun(args, 2, flags + ["--rounds", R, "--out", full])
    ref = load(full)
    print(f"{algo}: uninterrupted {R} rounds in {time.time() - t0:.1f} s")

    # 1. SIGTERM to one rank after round 2: every rank finishes its round, checkpoints, exits 75.
    out = f"{args.workdir}/{algo}-sigterm.h5"
    code, log, sent = run_and_sigterm(flags + ["--rounds", R, "--checkpoint-every", 2, "--out", out], 2)
    m = re.search(r"flbench: checkpointed after round (\d+); resume with --resume", log)
    c.check(sent and code == 75 and m is not None, f"{algo}: SIGTERM -> exit 75 and the message (exit {code}):\n{log[-600:]}")
    stopped = int(m.group(1)) if m else -1
    d, n = manifest_round(out)
    c.check(d == out + ".ckpt" and n == stopped and 2 <= stopped < R, f"{algo}: checkpoint {d} after round {n} (stopped {stopped})")
    with h5py.File(out, "r") as f:
        c.check("completed_rounds" not in f.attrs and len(f["rounds/round"]) == stopped,
                f"{algo}: the stopped file is unfinished with {stopped} rounds")
    p = mpirun(args, 2, flags + ["--rounds", R, "--checkpoint-every", 2, "--resume", "--out", out])
    c.check(f"resuming from {out}.ckpt after round {stopped}" in p.stdout, f"{algo}: resume says where it starts")
    compare(f"{algo} SIGTERM after round {stopped} + --resume", out, ref)

    # 2. Rank 0 killed (SIGKILL) inside the checkpoint after round 4, between the
    #    complete .tmp and the swap: .ckpt still holds round 2; the HDF5 file has
    #    4 rounds, and --resume drops rounds 3-4 and redoes them.
    if algo != "fedavg":
        out = f"{args.workdir}/{algo}-crash.h5"
        os.environ["FLB_TEST_CRASH_IN_CHECKPOINT"] = "4"
        p = mpirun(args, 2, flags + ["--rounds", R, "--checkpoint-every", 2, "--out", out], check=False)
        del os.environ["FLB_TEST_CRASH_IN_CHECKPOINT"]
        d, n = manifest_round(out)
        c.check(p.returncode not in (0, 75) and os.path.isdir(out + ".ckpt.tmp") and d == out + ".ckpt" and n == 2,
                f"{algo}: killed in the checkpoint after round 4 (exit {p.returncode}): {d} holds round {n}")
        with h5py.File(out, "r") as f:
            c.check(len(f["rounds/round"]) == 4, f"{algo}: the killed file has 4 rounds")
        mpirun(args, 2, flags + ["--rounds", R, "--checkpoint-every", 2, "--resume", "--out", out])
        compare(f"{algo} killed in checkpoint 4 + --resume from 2", out, ref)
        c.check(not os.path.exists(out + ".ckpt.tmp") and not os.path.exists(out + ".ckpt.old"),
                f"{algo}: the next checkpoint cleaned up .tmp and .old")

# 3. Killed in the middle of the swap (.ckpt already moved to .ckpt.old): --resume uses .ckpt.old.
flags = base + ["--algorithm", "fedavg"]
full = f"{args.workdir}/fedavg-full.h5"
ref = load(full)
out = f"{args.workdir}/fedavg-swap.h5"
os.environ["FLB_TEST_CRASH_IN_CHECKPOINT"] = "4:swap"
p = mpirun(args, 2, flags + ["--rounds", R, "--checkpoint-every", 2, "--out", out], check=False)
del os.environ["FLB_TEST_CRASH_IN_CHECKPOINT"]
d, n = manifest_round(out)
c.check(p.returncode not in (0, 75) and not os.path.exists(out + ".ckpt") and d == out + ".ckpt.old" and n == 2,
        f"fedavg: killed in the swap (exit {p.returncode}): only {d} (round {n}) left")
p = mpirun(args, 2, flags + ["--rounds", R, "--checkpoint-every", 2, "--resume", "--out", out])
c.check(f"resuming from {out}.ckpt.old after round 2" in p.stdout, "fedavg: resumed from .ckpt.old")
compare("fedavg killed in the swap + --resume from .ckpt.old", out, ref)

# 4. --resume of a finished run: says so, exits 0, changes nothing.
before = open(out, "rb").read()
p = mpirun(args, 2, flags + ["--rounds", R, "--checkpoint-every", 2, "--resume", "--out", out])
c.check("already finished 6 rounds" in p.stdout and open(out, "rb").read() == before,
        f"finished run: --resume is a no-op:\n{p.stdout[-300:]}")
# ... and with a larger --rounds it continues (from the checkpoint after round 4)
# to exactly what an uninterrupted 8-round run gives.
full8 = f"{args.workdir}/fedavg-full8.h5"
mpirun(args, 2, flags + ["--rounds", 8, "--out", full8])
p = mpirun(args, 2, flags + ["--rounds", 8, "--checkpoint-every", 2, "--resume", "--out", out])
c.check("after round 4" in p.stdout, "finished run, --rounds 8: resumes after round 4")
compare("fedavg 6 rounds, then --resume --rounds 8", out, load(full8))

# ... and --config with the file's own stored config (options left at their
# defaults included: list defaults such as --domains used to be stored as a
# string and then refused as "differ" by --resume) is the same run: it
# resumes and ends bitwise equal to the uninterrupted 10-round run.
stored = f"{args.workdir}/fedavg-stored.toml"
with h5py.File(out, "r") as f:
    open(stored, "w").write(f.attrs["config_toml"])
full10 = f"{args.workdir}/fedavg-full10.h5"
mpirun(args, 2, flags + ["--rounds", 10, "--out", full10])
p = mpirun(args, 2, ["--config", stored, "--rounds", 10, "--resume"], check=False)
c.check(p.returncode == 0 and "after round 8" in p.stdout,
        f"--config <stored config_toml> --resume resumes (exit {p.returncode}):\n{p.stderr[-600:]}")
compare("fedavg --config <stored config> --resume --rounds 10", out, load(full10))


# 5. Errors: no checkpoint, other options, other MPI size.
def expect_error(np_, flags, needle, what):
    p = mpirun(args, np_, flags, check=False)
    c.check(p.returncode == 1 and needle in p.stderr and "terminate called" not in p.stderr,
            f"{what}: exit {p.returncode}, wanted '{needle}' in stderr:\n{p.stderr[-600:]}")


expect_error(2, flags + ["--rounds", R, "--resume", "--out", f"{args.workdir}/none.h5"], "drop --resume", "no checkpoint")
expect_error(2, flags + ["--rounds", 10, "--resume", "--lr", 0.03, "--out", out], "lr: 0.02", "another --lr")
expect_error(1, flags + ["--rounds", 10, "--resume", "--out", out], "mpirun -np 2", "another MPI size")
c.done()
