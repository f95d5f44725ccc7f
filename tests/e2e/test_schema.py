"""The HDF5 file has the documented schema (results/README.md), h5py reads
it, and a job killed with SIGKILL leaves every completed round readable."""
import os
import re
import signal
import subprocess
import time

import h5py
import numpy as np

from common import Checker, mpirun, parse_args

args = parse_args()
c = Checker()
readme = open(os.path.join(os.path.dirname(__file__), "../../results/README.md")).read()


def documented(section):
    """Column names listed as `| name |` rows under the '## section' heading of results/README.md."""
    body = readme.split(f"## {section}")[1].split("\n## ")[0]
    return {m.group(1) for m in re.finditer(r"^\| `([a-z_0-9]+)` \|", body, re.M)}


out = f"{args.workdir}/run.h5"
mpirun(args, 2, ["--clients", 10, "--clients-per-round", 4, "--rounds", 4, "--eval-every", 2, "--local-steps", 2,
                 "--out", out])
with h5py.File(out, "r") as f:
    for section, group in (("Root attributes", None), ("/rounds", "rounds"), ("/clients", "clients"), ("/memory", "memory"),
                           ("/eval", "eval"), ("/client_eval", "client_eval")):
        names = documented(section)
        c.check(len(names) >= 5, f"results/README.md documents {section}")
        have = set(f.attrs) if group is None else set(f[group])
        c.check(names == have, f"{section}: documented {sorted(names - have)} missing, "
                               f"undocumented {sorted(have - names)}")
    c.check(int(f.attrs["schema_version"]) == 9, "schema_version is 9")
    c.check(len(f["client_eval/round"]) == 0 and bool(np.all(np.isnan(f["rounds/personal_accuracy"][:]))),
            "without --personal-fraction: no /client_eval rows, /rounds/personal_accuracy NaN")
    c.check(len(f["server_diagnostics/round"]) == 0, "/server_diagnostics: no rows for fedavg")
    se = f["eval/loss_se"][:]
    c.check(len(se) == 2 and bool(np.all((se > 0) & (se < 0.05))),
            f"/eval/loss_se over the 10,000 test images: positive and small ({se})")
    c.check(list(f["memory/rank"][:]) == [0, 1], "/memory: one row per rank, in rank order")
    rounds = f["rounds"]
    c.check(all(len(rounds[k]) == 4 for k in rounds), "every /rounds column has 4 rows")
    c.check(all(len(f["clients"][k]) == 16 for k in f["clients"]), "every /clients column has 16 rows")
    acc = rounds["test_accuracy"][:]
    c.check(np.isnan(acc[0]) and np.isfinite(acc[1]) and np.isnan(acc[2]) and np.isfinite(acc[3]),
            "--eval-every 2: rounds 2 and 4 evaluated, others NaN")
    c.check(rounds["round"].dtype == np.int64 and rounds["wall_s"].dtype == np.float64, "column types")
    c.check("clients = 10" in f.attrs["config_toml"] or "clients=10" in f.attrs["config_toml"], "config_toml holds the config")
    c.check(int(f.attrs["completed_rounds"]) == 4, "completed_rounds")

# /server_diagnostics: one row per (round, LoRA layer) for FedSRD, as documented.
srd = f"{args.workdir}/fedsrd.h5"
mpirun(args, 2, ["--algorithm", "fedsrd", "--clients", 8, "--clients-per-round", 4, "--rounds", 3, "--local-steps", 2,
                 "--upload-sparsity", 0.75, "--out", srd])
with h5py.File(srd, "r") as f:
    g = f["server_diagnostics"]
    names = documented("/server_diagnostics")
    c.check(names == set(g), f"/server_diagnostics: documented {sorted(names - set(g))} missing, "
                             f"undocumented {sorted(set(g) - names)}")
    c.check(list(g["round"][:]) == [0, 0, 1, 1, 2, 2] and list(g["layer"][:]) == [0, 1] * 3,
            f"/server_diagnostics: rows (round, layer) for 3 rounds x 2 LoRA layers of the mlp: "
            f"{list(zip(g['round'][:], g['layer'][:]))}")
    c.check(list(g["solved_factor"][:]) == [1, 1, 0, 0, 1, 1], "B first, then A, alternating (the paper's order)")
    c.check(bool(np.all(np.abs(g["upload_sparsity_a"][:] - 0.75) < 0.01)), "achieved upload sparsity about 0.75")
    c.check(bool(np.all(np.isfinite(g["truncation_error"][:]))), "fedsrd truncates: finite truncation errors")

# --validation-fraction 0.1: 600 of each IID client's 6,000 samples validate; /eval
# has a validation row per evaluated round, and /rounds/val_* are its numbers.
val = f"{args.workdir}/validation.h5"
mpirun(args, 2, ["--clients", 10, "--clients-per-round", 3, "--rounds", 2, "--eval-every", 1, "--local-steps", 2,
                 "--validation-fraction", 0.1, "--out", val])
with h5py.File(val, "r") as f:
    e, r = f["eval"], f["rounds"]
    c.check(list(e["validation"][:]) == [0, 1, 0, 1] and list(e["domain"][:]) == [0, 1, 0, 1],
            f"/eval: a test and a validation row per round ({list(e['validation'][:])})")
    c.check(f["eval"].attrs["domain_names"] in ("test,validation", b"test,validation"), "domain_names test,validation")
    c.check(np.array_equal(r["val_accuracy"][:], e["accuracy"][1::2]) and np.array_equal(r["val_loss"][:], e["loss"][1::2]),
            "/rounds/val_* are the validation rows' numbers")
    c.check(np.array_equal(r["test_accuracy"][:], e["accuracy"][0::2]), "/rounds/test_accuracy is the test row's alone")
    c.check(set(f["clients/samples"][:].tolist()) == {5400}, f"each client trains on 5,400 samples "
                                                            f"({sorted(set(f['clients/samples'][:].tolist()))})")
with h5py.File(out, "r") as f:
    c.check(bool(np.all(np.isnan(f["rounds/val_accuracy"][:]))), "without a split /rounds/val_accuracy is NaN")

# --personal-fraction 0.01 with pFedLoRU: 100 of each IID client's 10,000 samples are its
# own slice; one /client_eval row per (evaluated round, client), in client order, and
# /rounds/personal_* are the rows' means over clients.
pers = f"{args.workdir}/personal.h5"
mpirun(args, 2, ["--algorithm", "pfedloru", "--clients", 6, "--clients-per-round", 3, "--rounds", 2, "--eval-every", 1,
                 "--local-steps", 2, "--personal-fraction", 0.01, "--out", pers])
with h5py.File(pers, "r") as f:
    g, r = f["client_eval"], f["rounds"]
    c.check(list(g["round"][:]) == [0] * 6 + [1] * 6 and list(g["client"][:]) == list(range(6)) * 2,
            f"/client_eval: a row per (round, client) ({list(zip(g['round'][:], g['client'][:]))})")
    c.check(set(g["items"][:].tolist()) == {100}, f"100 held-out samples per client ({set(g['items'][:].tolist())})")
    c.check(set(f["clients/samples"][:].tolist()) == {9900}, "each client trains on the other 9,900")
    for k in (0, 1):
        rows = g["round"][:] == k
        want = (float(np.mean(g["personal_accuracy"][rows])), float(np.mean(g["global_accuracy"][rows])))
        got = (float(r["personal_accuracy"][k]), float(r["personal_global_accuracy"][k]))
        c.check(max(abs(a - b) for a, b in zip(got, want)) < 1e-12,
                f"round {k}: /rounds/personal_* {got} are the means over clients {want}")
    trained = set(f["clients/client"][:].tolist())
    last = g["round"][:] == 1
    differs = {int(cl) for cl, p, q in zip(g["client"][last], g["personal_loss"][last], g["global_loss"][last]) if p != q}
    c.check(differs and differs <= trained, f"pFedLoRU: personalised != global only for clients that trained "
                                            f"(differ {sorted(differs)}, trained {sorted(trained)})")

# config_toml reproduces the run: feed it back with --config (an algorithm with list options unset).
first = f"{args.workdir}/fedloru.h5"
mpirun(args, 1, ["--algorithm", "fedloru", "--lora-rank", 4, "--alpha", 4, "--lr", 0.02, "--clients", 10,
                 "--clients-per-round", 3, "--rounds", 2, "--local-steps", 2, "--out", first])
with h5py.File(first, "r") as f:
    open(f"{args.workdir}/again.toml", "w").write(f.attrs["config_toml"])
    want = f["rounds/train_loss"][:]
p = mpirun(args, 2, ["--config", f"{args.workdir}/again.toml", "--out", f"{args.workdir}/again.h5"], check=False)
c.check(p.returncode == 0, f"config_toml reads back: {p.stderr[-300:]}")
if p.returncode == 0:
    with h5py.File(f"{args.workdir}/again.h5", "r") as f:
        c.check(f["rounds/train_loss"][:].tobytes() == want.tobytes(), "config_toml reproduces the run bitwise")

# SIGKILL mid-run: the file stays readable with whole rounds.
killed = f"{args.workdir}/killed.h5"
cmd = [args.mpiexec, "--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else []) + [
    "-np", "2", args.flbench, "--clients", 10, "--clients-per-round", 4, "--rounds", 100000, "--local-steps", 2,
    "--eval-every", 1000, "--out", killed]
proc = subprocess.Popen([str(x) for x in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                        start_new_session=True)
seen = 0
deadline = time.time() + 120
for line in proc.stdout:
    if line.startswith("round"):
        seen += 1
    if seen >= 5 or time.time() > deadline:
        break
os.killpg(proc.pid, signal.SIGKILL)
proc.wait()
c.check(seen >= 5, "the run printed 5 rounds before the kill")
with h5py.File(killed, "r") as f:
    n = len(f["rounds/round"])
    c.check(n >= 5, f"killed run: {n} rounds readable (>= 5 printed)")
    c.check(np.array_equal(f["rounds/round"][:], np.arange(n)), "killed run: rounds 0..n-1 in order")
    c.check(np.all(np.isfinite(f["rounds/train_loss"][:])), "killed run: complete round rows")
    c.check(len(f["clients/client"]) >= 4 * n, "killed run: client rows of every completed round")
c.done()
