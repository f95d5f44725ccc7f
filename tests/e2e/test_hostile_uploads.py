"""Hostile uploads through the real path (mpirun, MPI_Gatherv, HDF5),
crafted on rank 1 in round 2 by the test hook FLB_TEST_UPLOAD
(sim/hostile_upload.h), one kind at a time:

- under --on-bad-upload skip the run goes on, /rounds/rejected counts the
  one upload in round 2, stderr names the client (or the rank and byte of a
  broken header) and the field, and every dataset of the results file but
  the byte counts and timings is bitwise equal to a run where that client
  did not upload at all (FLB_TEST_UPLOAD=1:2:omit): the upload never
  touched server state (a duplicate: equal to the run without it, the
  first copy being kept);
- under --on-bad-upload stop the run ends (exit 1) with one message naming
  the same field, and the file keeps round 1;
- a well-formed upload boosted 1000x (kind boost, a model-replacement
  attack) is accepted and wrecks the model; --clip-update-norm scales it
  back (/rounds/clipped counts it, centrally and hierarchically), a clip
  no honest upload reaches changes nothing bitwise, one below every
  honest norm clips every upload, and an algorithm whose uploads are not
  additive updates is refused;
- a malformed FLB_TEST_UPLOAD is an error.

Top-k at 1% sends index lists (so positions can be corrupted) and, without
error feedback, keeps no client state; FedAvg (dense parts) is checked for
the kinds that apply to any payload, centrally and, for a few kinds, under
--aggregation hierarchical (where rank 1 decodes and rejects its own)."""
import os
import subprocess

import h5py

from common import Checker, parse_args, reproducible_datasets, same_bits

args = parse_args()
c = Checker()
RUN = ["--clients", 8, "--clients-per-round", 4, "--rounds", 3, "--local-steps", 2, "--eval-every", 1,
       "--threads", 1]
TOPK = ["--algorithm", "topk", "--topk-ratio", 0.01]
FEDAVG = ["--algorithm", "fedavg"]
# kind -> what the rejection names (the field, in the message's parentheses)
KINDS = {
    "magic": "(magic)", "version": "(version)", "overrun": "(length)", "truncated": "exceeds the buffer",
    "algorithm": "(algorithm)", "foreign": "(client)", "unsampled": "(client)", "duplicate": "uploaded twice",
    "tensor": "(tensor)", "count": "(count)", "nan": "(values)", "inf": "(values)",
    "unsorted": "(positions)", "repeated": "(positions)", "position": "(positions)",
}
INDEX_KINDS = {"unsorted", "repeated", "position"}
# Columns that count the bytes that travelled (a crafted upload is longer
# or shorter than none) or the rejections themselves.
MOVED = {"rounds/bytes_gathered", "rounds/bytes_moved", "rounds/rejected"}


def run(name, upload, flags, policy="skip"):
    out = f"{args.workdir}/{name}.h5"
    cmd = [args.mpiexec, "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    cmd += ["-np", "2", args.flbench] + [str(f) for f in RUN + flags + ["--on-bad-upload", policy, "--out", out]]
    env = dict(os.environ)
    env.pop("FLB_TEST_UPLOAD", None)
    if upload:
        env["FLB_TEST_UPLOAD"] = upload
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300), out


def messages(p, needle):
    return [l for l in (p.stdout + p.stderr).splitlines() if l.startswith("flbench") and needle in l]


HIERARCHICAL_KINDS = {"magic", "truncated", "foreign", "duplicate", "nan"}
for alg, flags in (("topk", TOPK), ("fedavg", FEDAVG), ("fedavg-hierarchical", FEDAVG + ["--aggregation", "hierarchical"])):
    p, ref = run(f"{alg}-omit", "1:2:omit", flags)
    c.check(p.returncode == 0, f"{alg}: the reference run without the upload finishes ({p.stderr[-300:]})")
    omitted = {k: v for k, v in reproducible_datasets(ref).items() if k not in MOVED}
    p, plain = run(f"{alg}-plain", None, flags)
    untouched = {k: v for k, v in reproducible_datasets(plain).items() if k not in MOVED}
    for kind, field in KINDS.items():
        if alg.startswith("fedavg") and kind in INDEX_KINDS:
            continue  # dense parts carry no positions
        if alg == "fedavg-hierarchical" and kind not in HIERARCHICAL_KINDS:
            continue
        who = f"{alg} {kind}"
        p, out = run(f"{alg}-{kind}", f"1:2:{kind}", flags)
        rejected = messages(p, "rejected upload")
        c.check(p.returncode == 0, f"{who}: skip: the run goes on (exit {p.returncode}: {p.stderr[-400:]})")
        c.check(len(rejected) == 1 and "round 2: rejected upload" in rejected[0] and field in rejected[0] and
                ("client " in rejected[0] or "rank 1" in rejected[0]),
                f"{who}: skip: one rejection in round 2 naming the sender and {field}: {rejected}")
        if p.returncode != 0:
            continue
        with h5py.File(out, "r") as f:
            c.check(f["rounds/rejected"][:].tolist() == [0, 1, 0], f"{who}: /rounds/rejected {f['rounds/rejected'][:]}")
        want = untouched if kind == "duplicate" else omitted
        got = {k: v for k, v in reproducible_datasets(out).items() if k not in MOVED}
        differ = sorted(k for k in want if k not in got or not same_bits(want[k], got[k]))
        c.check(set(got) == set(want) and not differ,
                f"{who}: skip: bitwise equal to the run where the client did not upload"
                f"{' (kept its first copy)' if kind == 'duplicate' else ''} (differ: {differ[:6]})")

        p, out = run(f"{alg}-{kind}-stop", f"1:2:{kind}", flags, policy="stop")
        errors = [l for l in (p.stdout + p.stderr).splitlines() if l.startswith("flbench") and "error" in l]
        c.check(p.returncode == 1 and len(errors) == 1 and field in errors[0] and "round 2" in errors[0],
                f"{who}: stop: exit 1 with one message naming round 2 and {field} (exit {p.returncode}): {errors}")
        with h5py.File(out, "r") as f:
            c.check(f["rounds/round"][:].tolist() == [0], f"{who}: stop: the file keeps round 1")

# Clipping update norms (sim/update_clipping.h). The honest uploads of this
# setting have norms between 0.1 and 0.3; rank 1's boosted one about 1000x.
def rounds_of(out, column):
    with h5py.File(out, "r") as f:
        return f["rounds/" + column][:]


p, plain = run("fedavg-plain-again", None, FEDAVG)
plain_loss = rounds_of(plain, "test_loss")
p, boosted = run("fedavg-boost", "1:2:boost", FEDAVG)
c.check(p.returncode == 0 and rounds_of(boosted, "rejected").tolist() == [0, 0, 0],
        f"boost: a well-formed upload is accepted (exit {p.returncode}: {p.stderr[-300:]})")
c.check(rounds_of(boosted, "test_loss")[1] > 10 * plain_loss[1],
        f"boost: unclipped, it wrecks the model (round 2 test loss {rounds_of(boosted, 'test_loss')[1]:.4g} "
        f"against {plain_loss[1]:.4g})")
for name, flags in (("central", FEDAVG), ("hierarchical", FEDAVG + ["--aggregation", "hierarchical"])):
    p, out = run(f"fedavg-boost-clip-{name}", "1:2:boost", flags + ["--clip-update-norm", 1])
    loss = rounds_of(out, "test_loss") if p.returncode == 0 else [float("nan")] * 3
    c.check(p.returncode == 0 and rounds_of(out, "clipped").tolist() == [0, 1, 0],
            f"boost, clip 1 ({name}): the boosted upload alone is clipped (exit {p.returncode}: {p.stderr[-300:]})")
    c.check(loss[1] < 1.5 * plain_loss[1],
            f"boost, clip 1 ({name}): round 2 test loss {loss[1]:.4g}, near the honest run's {plain_loss[1]:.4g}")
    print(f"boost, clip 1 ({name}): test loss per round {list(loss)}; unclipped {list(rounds_of(boosted, 'test_loss'))}, "
          f"honest {list(plain_loss)}")
p, loose = run("fedavg-clip-loose", None, FEDAVG + ["--clip-update-norm", 1e9])
want = {k: v for k, v in reproducible_datasets(plain).items() if k not in MOVED}
got = {k: v for k, v in reproducible_datasets(loose).items() if k not in MOVED}
differ = sorted(k for k in want if k not in got or not same_bits(want[k], got[k]))
c.check(p.returncode == 0 and not differ and rounds_of(loose, "clipped").tolist() == [0, 0, 0],
        f"clip 1e9: nothing clipped, bitwise equal to no clipping (differ: {differ[:6]})")
p, tight = run("fedavg-clip-tight", None, FEDAVG + ["--clip-update-norm", 0.01])
c.check(p.returncode == 0 and rounds_of(tight, "clipped").tolist() == rounds_of(tight, "arrived").tolist() == [4, 4, 4],
        f"clip 0.01: every upload clipped ({rounds_of(tight, 'clipped') if p.returncode == 0 else p.stderr[-300:]})")
for flags, needle in ((["--algorithm", "fedsrd", "--clip-update-norm", 1], "fedsrd's uploads are not additive updates"),
                      (["--algorithm", "fedavg", "--clip-update-norm", -1], "--clip-update-norm")):
    p, _ = run("clip-bad", None, flags + ["--overwrite"])
    errors = [l for l in (p.stdout + p.stderr).splitlines() if needle in l]  # CLI11's own errors lack the prefix
    c.check(p.returncode == 2 and len(errors) == 1 and "Traceback" not in p.stderr,
            f"{flags}: exit 2 with one error containing {needle!r} (exit {p.returncode}): {errors}")

# Malformed hook values.
for value, msg in (("1:2", "expected RANK:ROUND:KIND"), ("1:0:magic", "ROUND counts from 1"),
                   ("x:2:magic", "RANK 'x'"), ("1:2:evil", "KIND 'evil' is not one of omit, magic")):
    p, _ = run("bad", value, FEDAVG + ["--overwrite"])
    errors = [l for l in (p.stdout + p.stderr).splitlines() if l.startswith("flbench") and "error" in l]
    c.check(p.returncode == 2 and len(errors) == 1 and msg in errors[0],
            f"FLB_TEST_UPLOAD={value}: one error containing {msg!r} (exit {p.returncode}): {errors}")

c.done()
