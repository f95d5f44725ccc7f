"""Dropouts, deadlines and over-selection through the real path (mpirun, HDF5):

- a run with all three is bitwise the same on 1 and 3 ranks (every column
  but the timings), for FedAvg and for LBGM with error feedback;
- each client's /clients/status is recomputed here from its virtual_done_s
  (sim/arrivals.h: dropped, late after the deadline, the first K arrivals
  by (done_s, client), the rest surplus), and /rounds' counts and
  virtual_s (the server's wait) from them;
- a dropped client is not trained (0 steps, NaN loss and done_s, no upload);
- hierarchical aggregation decides the same statuses as central;
- LBGM (--lbgm-delta 0.9: scalars whenever it can) keeps client and server
  look-back gradients in step when uploads are lost: a client whose first
  full upload was discarded would otherwise send a scalar the server cannot
  rebuild and stop the run;
- a round where no upload arrives leaves the global model as it was and
  broadcasts nothing;
- availability windows (a trace's `available` column): the run is bitwise
  the same on 1 and 3 ranks; each round's start (the server idles until a
  client is online), its online clients, that only they are sampled, and
  who went offline before uploading are recomputed here from the trace;
- bad values get one clear error."""
import math

import h5py
import numpy as np

from common import ALGORITHMS, Checker, mpirun, parse_args, reproducible_datasets, same_bits, write_trace

args = parse_args()
c = Checker()
CLIENTS, K, ROUNDS = 12, 4, 6
TRACE = [  # class, clients, compute, up, down, latency: three speeds so a deadline splits them
    ("slow", "0-3", 0.25, 2.0, 10.0, 0.08),
    ("mid", "4-7", 1.0, 20.0, 100.0, 0.02),
    ("fast", "*", 4.0, 100.0, 1000.0, 0.005),
]
trace = write_trace(f"{args.workdir}/trace.csv", TRACE)
DEADLINE = 1.5
RULES = ["--dropout-prob", 0.25, "--deadline", DEADLINE, "--over-select", 0.5]


def run(name, np_, algorithm, extra=(), check=True, system=trace, rounds=ROUNDS):
    out = f"{args.workdir}/{name}.h5"
    p = mpirun(args, np_, ["--clients", CLIENTS, "--clients-per-round", K, "--rounds", rounds, "--local-steps", 2,
                           "--eval-every", 1, "--algorithm", algorithm, "--system", f"trace:{system}",
                           "--step-seconds", 0.3, "--out", out] + ALGORITHMS[algorithm] + list(extra), check=check)
    return out if check else p


def columns(path):
    with h5py.File(path, "r") as f:
        return ({k: f["rounds"][k][:] for k in f["rounds"]}, {k: f["clients"][k][:] for k in f["clients"]})


def check_statuses(who, rounds, clients, deadline, wanted):
    """Statuses, counts and waits recomputed from the rows."""
    counts = np.zeros(4, dtype=int)
    for t in range(len(rounds["round"])):
        rows = np.flatnonzero(clients["round"] == t)
        dropped = [i for i in rows if clients["status"][i] == 1]
        for i in dropped:
            c.check(clients["steps"][i] == 0 and math.isnan(clients["loss"][i]) and clients["upload_bytes"][i] == 0
                    and math.isnan(clients["virtual_done_s"][i]) and clients["download_bytes"][i] >= 0,
                    f"{who}: round {t} client {clients['client'][i]}: dropped, so not trained and nothing uploaded")
        order = sorted((i for i in rows if clients["status"][i] != 1),
                       key=lambda i: (clients["virtual_done_s"][i], clients["client"][i]))
        want, arrived, last, late = {}, 0, 0.0, False
        for i in order:
            if clients["virtual_done_s"][i] > deadline:
                want[i], late = 2, True
            elif arrived == wanted:
                want[i] = 3
            else:
                want[i], arrived, last = 0, arrived + 1, clients["virtual_done_s"][i]
        for i, s in want.items():
            c.check(clients["status"][i] == s, f"{who}: round {t} client {clients['client'][i]}: status "
                                               f"{clients['status'][i]}, recomputed {s}")
        here = np.bincount(clients["status"][rows], minlength=4)
        counts += here
        for k, name in enumerate(("arrived", "dropped", "late", "surplus")):
            c.check(rounds[name][t] == here[k], f"{who}: round {t}: /rounds/{name} {rounds[name][t]}, rows say {here[k]}")
        wait = deadline if arrived < wanted and late else last
        c.check(rounds["virtual_s"][t] == wait, f"{who}: round {t}: virtual_s {rounds['virtual_s'][t]}, the wait is {wait}")
        c.check((rounds["bytes_down"][t] == 0) == (arrived == 0), f"{who}: round {t}: a broadcast iff an upload arrived")
    print(f"{who}: statuses recomputed; arrived {counts[0]}, dropped {counts[1]}, late {counts[2]}, surplus {counts[3]}")
    return counts


def compare_ranks(who, a, b):
    da, db = reproducible_datasets(a), reproducible_datasets(b)
    c.check(da.keys() == db.keys(), f"{who}: the same datasets on 1 and 3 ranks")
    differ = [k for k in da if k in db and not same_bits(da[k], db[k])]
    c.check(not differ, f"{who}: bitwise equal on 1 and 3 ranks (differ: {differ})")


for algorithm in ("fedavg", "lbgm"):
    one, three = run(f"{algorithm}-np1", 1, algorithm, RULES), run(f"{algorithm}-np3", 3, algorithm, RULES)
    compare_ranks(algorithm, one, three)
    rounds, clients = columns(one)
    c.check(len(clients["round"]) == ROUNDS * 6, f"{algorithm}: round(K * 1.5) = 6 clients sampled per round")
    counts = check_statuses(algorithm, rounds, clients, DEADLINE, K)
    c.check(all(counts > 0), f"{algorithm}: every status occurs ({counts})")

# Hierarchical aggregation decides the same (FedAvg's uploads have fixed sizes).
hier = run("fedavg-hier", 3, "fedavg", RULES + ["--aggregation", "hierarchical"])
(rh, ch), (rc, cc) = columns(hier), columns(f"{args.workdir}/fedavg-np1.h5")
c.check(np.array_equal(ch["status"], cc["status"]), "fedavg: hierarchical decides the same statuses as central")
check_statuses("fedavg hierarchical", rh, ch, DEADLINE, K)

# Every upload late: no broadcast, the model stands.
rl, cl = columns(run("all-late", 2, "fedavg", ["--deadline", 0.001]))
c.check(np.all(cl["status"] == 2) and np.all(rl["arrived"] == 0), "deadline 0.001 s: every upload is late")
c.check(np.all(rl["bytes_down"] == 0) and np.all(rl["virtual_s"] == 0.001), "no arrival: nothing broadcast, the server waited the deadline")
c.check(np.all(rl["test_loss"] == rl["test_loss"][0]), f"no arrival: the global model stands (test loss {rl['test_loss']})")

# Availability windows: a 10-second "day" in which the classes take turns
# online, with gaps where nobody is, so rounds idle and clients leave mid-round.
WINDOWS = [("night", "0-3", 0.25, 2.0, 10.0, 0.08, "0-2;9.5-10@10"),
           ("day", "4-7", 1.0, 20.0, 100.0, 0.02, "3-7@10"),
           ("evening", "*", 4.0, 100.0, 1000.0, 0.005, "5-8.5@10")]
SCHEDULES = {c: sched for cls, ids, *_, sched in WINDOWS for c in
             (range(int(ids.split("-")[0]), int(ids.split("-")[1]) + 1) if ids != "*" else range(8, CLIENTS))}


def windows_of(sched):
    spans, period = sched.split("@")
    return [tuple(float(x) for x in w.split("-")) for w in spans.split(";")], float(period)


def online(client, t):
    spans, period = windows_of(SCHEDULES[client])
    tau = t - period * math.floor(t / period)
    return any(a <= tau < b for a, b in spans)


def online_until(client, t):
    """When the client, online at t, goes offline: the schedules' bounds are multiples of 0.5, so whether a
    client is online is constant on [0.5 k, 0.5 (k + 1)): step through those cells."""
    u = math.floor(t / 0.5) * 0.5 + 0.5
    while online(client, u):
        u += 0.5
    return u


def check_availability(who, rounds, clients, deadline, wanted):
    clock = 0.0
    for t in range(len(rounds["round"])):
        start = clock
        while not any(online(k, start) for k in range(CLIENTS)):
            start = math.floor(start / 0.5) * 0.5 + 0.5  # the next cell (above)
        up = [k for k in range(CLIENTS) if online(k, start)]
        c.check(abs(rounds["idle_s"][t] - (start - clock)) <= 1e-9,  # flbench may start a few ulps into the window
                f"{who}: round {t}: idle_s {rounds['idle_s'][t]}, want {start - clock}")
        start = clock + rounds["idle_s"][t]
        c.check(rounds["online"][t] == len(up), f"{who}: round {t}: online {rounds['online'][t]}, the trace says {len(up)}")
        rows = np.flatnonzero(clients["round"] == t)
        sampled = list(clients["client"][rows])
        c.check(len(sampled) == min(len(up), 6) and set(sampled) <= set(up),
                f"{who}: round {t}: sampled {sampled} among the online {up}")
        want, arrived, last, late, left = {}, 0, 0.0, False, 0.0
        order = sorted((i for i in rows if clients["status"][i] != 1),
                       key=lambda i: (clients["virtual_done_s"][i], clients["client"][i]))
        for i in order:
            done, leaves = clients["virtual_done_s"][i], online_until(clients["client"][i], start) - start
            if leaves < done and leaves <= deadline:
                want[i], left = 4, max(left, leaves)
            elif done > deadline:
                want[i], late = 2, True
            elif arrived == wanted:
                want[i] = 3
            else:
                want[i], arrived, last = 0, arrived + 1, done
        for i, s in want.items():
            c.check(clients["status"][i] == s, f"{who}: round {t} client {clients['client'][i]}: status "
                                               f"{clients['status'][i]}, recomputed {s}")
        c.check(rounds["offline"][t] == sum(clients["status"][rows] == 4), f"{who}: round {t}: /rounds/offline")
        wait = last if arrived == wanted else deadline if late else max(last, left)
        c.check(abs(rounds["virtual_s"][t] - (start - clock + wait)) <= 1e-12 * max(1.0, start),
                f"{who}: round {t}: virtual_s {rounds['virtual_s'][t]}, idle + wait = {start - clock + wait}")
        clock = rounds["virtual_clock_s"][t]
    offline, idle = int(np.sum(rounds["offline"])), int(np.sum(rounds["idle_s"] > 0))
    print(f"{who}: {len(rounds['round'])} rounds recomputed from the trace; {idle} idled for a client, "
          f"{offline} clients went offline mid-round, online per round {list(rounds['online'])}")
    return offline, idle


avail = write_trace(f"{args.workdir}/windows.csv", WINDOWS)
AVAIL = ["--over-select", 0.5, "--deadline", 3]
one = run("windows-np1", 1, "fedavg", AVAIL, system=avail, rounds=16)
three = run("windows-np3", 3, "fedavg", AVAIL, system=avail, rounds=16)
compare_ranks("availability windows", one, three)
offline, idle = check_availability("availability windows", *columns(one), 3, K)
c.check(offline > 0 and idle > 0, f"availability windows: some round idled ({idle}) and some client left mid-round ({offline})")

# Bad values: one line, exit non-zero, the option named.
for flags, needle in ((["--dropout-prob", 1.5], "--dropout-prob"), (["--deadline", -1], "--deadline"),
                      (["--over-select", "lots"], "--over-select")):
    p = run("bad", 2, "fedavg", flags, check=False)
    lines = [l for l in p.stderr.splitlines() if needle in l]
    c.check(p.returncode != 0 and len(lines) == 1 and "terminate called" not in p.stderr,
            f"{flags}: exit {p.returncode}, one line naming it: {p.stderr.strip()[-400:]}")

c.done()
