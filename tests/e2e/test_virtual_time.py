"""Virtual time and honest downloads through the real path (mpirun, HDF5):

- every virtual column is bitwise the same on 1 and 3 ranks;
- each client's download_bytes and catch_up_bytes equal a ledger
  recomputed here from /rounds/bytes_down and who took part when;
- its times equal virtual_clock.h's closed form from the trace's values,
  and each round's virtual_s is its slowest client, virtual_clock_s their sum;
- with every client in every round nothing is caught up; FedAvg's dense
  broadcast is the dense state, so its catch-up is capped at one broadcast;
- a bad --system gets one clear error."""
import h5py
import numpy as np

from common import ALGORITHMS, Checker, mpirun, parse_args, write_trace

args = parse_args()
c = Checker()
CLIENTS = 12
TRACE = [  # class, clients, compute, up, down, latency
    ("slow", "0-3", 0.25, 2.0, 10.0, 0.08),
    ("mid", "4-7", 1.0, 20.0, 100.0, 0.02),
    ("fast", "*", 4.0, 100.0, 1000.0, 0.005),
]
trace = write_trace(f"{args.workdir}/trace.csv", TRACE)


def system_of(client):
    for _, ids, compute, up, down, latency in TRACE:
        if ids == "*" or int(ids.split("-")[0]) <= client <= int(ids.split("-")[-1]):
            return compute, up, down, latency
    raise AssertionError(client)


def run(name, np_, algorithm, per_round, extra=()):
    out = f"{args.workdir}/{name}.h5"
    mpirun(args, np_, ["--clients", CLIENTS, "--clients-per-round", per_round, "--rounds", 5, "--local-steps", 2,
                       "--eval-every", 5, "--algorithm", algorithm, "--system", f"trace:{trace}",
                       "--step-seconds", 0.3, "--out", out] + ALGORITHMS[algorithm] + list(extra))
    return out


def columns(path):
    with h5py.File(path, "r") as f:
        return ({k: f["rounds"][k][:] for k in f["rounds"]}, {k: f["clients"][k][:] for k in f["clients"]})


VIRTUAL_ROUNDS = ("virtual_s", "virtual_clock_s", "bytes_down")
VIRTUAL_CLIENTS = ("client", "download_bytes", "catch_up_bytes", "virtual_down_s", "virtual_compute_s", "virtual_up_s",
                   "virtual_done_s")


def check_ledger(who, rounds, clients, dense=None):
    """The ledger and the closed form, recomputed from the rows."""
    holds = {}  # client -> the round whose start it holds
    worst = 0.0
    catch_ups = 0
    for t in range(len(rounds["round"])):
        here = clients["round"] == t
        done = []
        for i in np.flatnonzero(here):
            cl = int(clients["client"][i])
            missed = int(sum(rounds["bytes_down"][holds.get(cl, 0):t]))
            want = missed if dense is None else min(missed, dense)
            last = int(rounds["bytes_down"][t - 1]) if t > 0 else 0
            ok = clients["download_bytes"][i] == want and clients["catch_up_bytes"][i] == max(0, want - last)
            if not ok or (dense is None and clients["download_bytes"][i] > missed):
                c.check(False, f"{who}: round {t} client {cl}: download {clients['download_bytes'][i]} catch-up "
                               f"{clients['catch_up_bytes'][i]}, the ledger says {want} and {max(0, want - last)}")
            catch_ups += clients["catch_up_bytes"][i] > 0
            compute, up, down, latency = system_of(cl)
            d = latency + 8.0 * clients["download_bytes"][i] / (1e6 * down)
            k = clients["steps"][i] * 0.3 / compute
            u = latency + 8.0 * clients["upload_bytes"][i] / (1e6 * up)
            got = (clients["virtual_down_s"][i], clients["virtual_compute_s"][i], clients["virtual_up_s"][i],
                   clients["virtual_done_s"][i])
            for g, w in zip(got, (d, k, u, d + k + u)):
                worst = max(worst, abs(g - w) / w)
            done.append(clients["virtual_done_s"][i])
        c.check(rounds["virtual_s"][t] == max(done), f"{who}: round {t}'s virtual_s is its slowest client")
        for i in np.flatnonzero(here):
            holds[int(clients["client"][i])] = t
    c.check(np.allclose(rounds["virtual_clock_s"], np.cumsum(rounds["virtual_s"]), rtol=1e-12, atol=0),
            f"{who}: virtual_clock_s is the running sum of virtual_s")
    c.check(worst < 1e-12, f"{who}: times' max relative difference from the closed form {worst:.1e} (tolerance 1e-12)")
    print(f"{who}: ledger and closed form hold; {catch_ups} clients caught up; times within {worst:.1e}")
    return catch_ups


# Partial participation, a sparse algorithm: 1 and 3 ranks, the same bits.
one, three = run("fedsrd-np1", 1, "fedsrd", 3), run("fedsrd-np3", 3, "fedsrd", 3)
(r1, c1), (r3, c3) = columns(one), columns(three)
for k in VIRTUAL_ROUNDS:
    c.check(np.array_equal(r1[k], r3[k]), f"fedsrd: /rounds/{k} bitwise equal on 1 and 3 ranks")
for k in VIRTUAL_CLIENTS:
    c.check(np.array_equal(c1[k], c3[k]), f"fedsrd: /clients/{k} bitwise equal on 1 and 3 ranks")
caught = check_ledger("fedsrd, 3 of 12 per round", r1, c1)
c.check(caught > 0, f"fedsrd, 3 of 12 per round: some clients caught up on missed broadcasts ({caught})")

# Everyone every round: each client downloads exactly the last broadcast.
rf, cf = columns(run("fedsrd-full", 2, "fedsrd", CLIENTS))
check_ledger("fedsrd, every client", rf, cf)
c.check(not cf["catch_up_bytes"].any(), "fedsrd, every client every round: no catch-up bytes")
prev = np.concatenate([[0], rf["bytes_down"][:-1]])
c.check(np.array_equal(cf["download_bytes"], prev[cf["round"]]), "fedsrd, every client: download = last round's broadcast")

# --compute-time measured: each client's compute is its measured training
# time over its compute factor (not reproducible, so checked per row).
rm, cm = columns(run("fedavg-measured", 2, "fedavg", 3, ["--compute-time", "measured"]))
worst = 0.0
for i in range(len(cm["client"])):
    compute = system_of(int(cm["client"][i]))[0]
    want = cm["train_s"][i] / compute
    worst = max(worst, abs(cm["virtual_compute_s"][i] - want) / max(want, 1e-300))
    done = cm["virtual_down_s"][i] + cm["virtual_compute_s"][i] + cm["virtual_up_s"][i]
    c.check(cm["train_s"][i] > 0 and cm["virtual_done_s"][i] == done,
            f"measured: client {cm['client'][i]}: trained {cm['train_s'][i]:.4f} s, done = down + compute + up")
c.check(worst < 1e-12, f"measured: virtual_compute_s = train_s / compute factor (max relative difference {worst:.1e})")

# FedAvg broadcasts the dense state: catch-up never exceeds one broadcast.
ra, ca = columns(run("fedavg-partial", 2, "fedavg", 3))
c.check(np.all(ra["bytes_down"] == ra["bytes_down"][0]), "fedavg: every broadcast has the same size")
check_ledger("fedavg, 3 of 12 per round", ra, ca, dense=int(ra["bytes_down"][0]))
c.check(not ca["catch_up_bytes"].any(), "fedavg: a dense broadcast leaves nothing to catch up")

# Bad --system: one line, exit non-zero, the spec named.
for spec, needle in (("bogus", "is not uniform"), ("uniform:speed=3", "'speed=3' is not KEY=VALUE"),
                     (f"trace:{args.workdir}/none.csv", "cannot open the file")):
    p = mpirun(args, 2, ["--clients", CLIENTS, "--rounds", 1, "--system", spec,
                         "--out", f"{args.workdir}/bad.h5"], check=False)
    lines = [l for l in p.stderr.splitlines() if needle in l]
    c.check(p.returncode != 0 and len(lines) == 1 and "terminate called" not in p.stderr,
            f"--system {spec}: exit {p.returncode}, one line naming it: {p.stderr.strip()[-400:]}")

c.done()
