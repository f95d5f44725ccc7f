"""A failing rank ends the whole job promptly, through the real path
(mpirun, HDF5), with the test hook FLB_TEST_FAULT (core/test_fault.h):

- a rank that throws in round 3: the job exits non-zero within seconds,
  with one flbench message naming that rank, the round and the phase;
- a rank that hangs in round 3, with --round-timeout: rank 0's watchdog
  (core/watchdog.h) ends the job one timeout after the round began, with
  one message naming rank 0, the round and the phase it waited in;
- a rank killed with SIGKILL in round 3: mpirun ends the job within
  seconds and names the rank; rank 0's last progress line names round 2;
- each leaves the results file with rounds 1 and 2 readable and whole;
- a run that finishes inside its --round-timeout is not disturbed;
- the memory preflight refuses, before round 1 and before the results
  file exists, LBGM with error feedback on 50,000 clients sampled 10 per
  round for 5,000 rounds (two float32 copies of the 199,210-parameter MLP
  per client: 79.7 GB), with the numbers; --skip-memory-check lets it
  start; a small run prints its estimate;
- bad --round-timeout and FLB_TEST_FAULT values get one clear error."""
import math
import os
import subprocess
import time

import h5py
import numpy as np

from common import Checker, parse_args

args = parse_args()
c = Checker()
TIMEOUT_S = 4
BASE = ["--local-steps", 2, "--eval-every", 1, "--threads", 1]
SMALL = ["--clients", 8, "--clients-per-round", 4, "--rounds", 6]


def run(name, fault=None, extra=(), np_=2, limit=120):
    """Runs flbench with FLB_TEST_FAULT=fault; returns (process, seconds, out path)."""
    out = f"{args.workdir}/{name}.h5"
    cmd = [args.mpiexec, "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    sized = list(extra) if "--clients" in extra else SMALL + list(extra)
    cmd += ["-np", str(np_), args.flbench] + [str(f) for f in BASE + ["--out", out] + sized]
    env = dict(os.environ)
    env.pop("FLB_TEST_FAULT", None)
    if fault:
        env["FLB_TEST_FAULT"] = fault
    start = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=limit)
    return p, time.monotonic() - start, out


def flbench_errors(p):
    """flbench's own error lines (mpirun's banners are not flbench's; a bad
    option's line from CLI11 starts with the option)."""
    return [l for l in (p.stdout + p.stderr).splitlines()
            if (l.startswith("flbench") and "error" in l) or (l.startswith("--") and not l.startswith("---"))]


def check_two_whole_rounds(who, out):
    with h5py.File(out, "r") as f:
        rounds = f["rounds/round"][:]
        c.check(np.array_equal(rounds, [0, 1]), f"{who}: the file keeps rounds 1 and 2 (rows {rounds.tolist()})")
        c.check(bool(np.all(np.isfinite(f["rounds/train_loss"][:]))), f"{who}: the kept rounds are whole")
        c.check(len(f["clients/round"][:]) == 8, f"{who}: the clients of both rounds (rows {len(f['clients/round'])})")
        c.check("completed_rounds" not in f.attrs, f"{who}: not marked finished")


# A reference: how long 2 ranks take to start and run 6 rounds here.
p, ok_s, out = run("finishes", extra=["--round-timeout", 60])
p_ok_stdout = p.stdout
c.check(p.returncode == 0, f"a run inside --round-timeout 60 finishes (exit {p.returncode}: {p.stderr[-300:]})")
with h5py.File(out, "r") as f:
    c.check(int(f.attrs.get("completed_rounds", -1)) == 6, "... with its 6 rounds")
print(f"a whole run: {ok_s:.1f} s")

# 1. A rank that throws.
p, s, out = run("throws", "1:3:train:throw")
errors = flbench_errors(p)
print(f"throw: exit {p.returncode} after {s:.1f} s: {errors}")
c.check(p.returncode != 0, f"throw: the job fails (exit {p.returncode})")
c.check(s < ok_s + 20, f"throw: it ends promptly ({s:.1f} s; a whole run takes {ok_s:.1f} s)")
c.check(errors == ["flbench: rank 1: error in round 3, phase train: injected fault (FLB_TEST_FAULT)"],
        f"throw: one message naming rank 1, round 3 and the phase: {errors}")
check_two_whole_rounds("throw", out)

# 2. A rank that hangs: rank 0 waits for its records; the watchdog ends the job.
p, s, out = run("hangs", "1:3:train:hang", extra=["--round-timeout", TIMEOUT_S])
errors = flbench_errors(p)
print(f"hang: exit {p.returncode} after {s:.1f} s: {errors}")
c.check(p.returncode != 0, f"hang: the job fails (exit {p.returncode})")
c.check(s < ok_s + TIMEOUT_S + 20, f"hang: it ends about one --round-timeout ({TIMEOUT_S} s) after round 3 began "
                                   f"({s:.1f} s; a whole run takes {ok_s:.1f} s)")
want = "flbench: rank 0: error: round 3, phase "  # the phase rank 0 waits in: train (a collective of its own)
c.check(len(errors) == 1 and errors[0].startswith(want) and
        f"did not finish within --round-timeout {TIMEOUT_S} s" in errors[0],
        f"hang: one message, rank 0's, naming round 3 and the phase it waited in: {errors}")
check_two_whole_rounds("hang", out)

# 3. A rank that dies: mpirun ends the job and names the rank.
p, s, out = run("dies", "1:3:train:die")
text = p.stdout + p.stderr
print(f"die: exit {p.returncode} after {s:.1f} s")
c.check(p.returncode != 0, f"die: the job fails (exit {p.returncode})")
c.check(s < ok_s + 20, f"die: it ends promptly ({s:.1f} s)")
c.check("rank 1" in text and ("signal 9" in text or "Killed" in text),
        f"die: mpirun names rank 1 and the signal: {text[-600:]}")
progress = [l for l in p.stdout.splitlines() if l.startswith("round ")]
c.check(bool(progress) and progress[-1].startswith("round 2/6"),
        f"die: rank 0's last progress line is round 2's: {progress[-1:] or p.stdout[-300:]}")
check_two_whole_rounds("die", out)

# 4. The memory preflight.
with open(f"{args.workdir}/finishes.log", "w") as f:
    f.write(p_ok_stdout)
line = [l for l in p_ok_stdout.splitlines() if l.startswith("flbench: memory preflight:")]
c.check(len(line) == 1 and "GiB available" in line[0], f"a small run prints its estimate: {line}")
huge = ["--algorithm", "lbgm", "--error-feedback", "--clients", 50000, "--partition", "iid"]
# 10 per round for 5,000 rounds: every client may get its state.
p, s, out = run("huge", extra=huge + ["--clients-per-round", 10, "--rounds", 5000], np_=1, limit=300)
errors = flbench_errors(p)
print(f"preflight: exit {p.returncode} after {s:.1f} s: {errors}")
per_client = 2 * 4 * 199210
c.check(p.returncode == 1 and len(errors) == 1 and "memory preflight" in errors[0] and "--skip-memory-check" in errors[0],
        f"LBGM on 50,000 clients is refused with one message (exit {p.returncode}): {errors}")
want_gib = f"{50000 * per_client / 2**30:.2f} GiB per-client state"
c.check(bool(errors) and want_gib in errors[0], f"... naming the per-client state ({want_gib}): {errors}")
c.check(not os.path.exists(out), "... before the results file exists")
# With --skip-memory-check it starts: round 1 is reached (where the hook stops it).
p, s, out = run("huge-skip", "0:1:train:throw", extra=huge + ["--clients-per-round", 10, "--rounds", 5000,
                                                              "--skip-memory-check"], np_=1, limit=300)
errors = flbench_errors(p)
c.check(len(errors) == 1 and "error in round 1, phase train: injected fault" in errors[0] and os.path.exists(out),
        f"--skip-memory-check lets it start: {errors}")

# 5. Bad values.
for fault, extra, msg in ((None, ["--round-timeout", -1], "--round-timeout: must be a number of seconds >= 0 (0: no watchdog), not -1"),
                          ("1:0:train:throw", [], "ROUND counts from 1"),
                          ("1:3:trian:throw", [], "PHASE 'trian' is not one of sample, train"),
                          ("1:3:train:explode", [], "ACTION 'explode' is not one of throw, hang, die"),
                          ("1:3", [], "expected RANK:ROUND:PHASE:ACTION")):
    p, s, _ = run("bad", fault, extra=extra + ["--overwrite"])
    errors = flbench_errors(p)
    c.check(p.returncode == 2 and len(errors) == 1 and msg in errors[0],
            f"FLB_TEST_FAULT={fault} {extra}: one error containing {msg!r} (exit {p.returncode}): {errors}")

c.done()
