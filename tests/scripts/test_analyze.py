#!/usr/bin/env python3
"""Tests scripts/analyze.py on a real flbench run.

    test_analyze.py FLBENCH

Runs flbench for 3 rounds on 2 ranks into a temporary directory, then checks
that analyze.py prints one table row whose numbers equal the file's
(recomputed here with h5py), that --json carries the exact values, that the
PNG plots exist and are non-empty, that --scaling works on two runs, that
--target's rounds, MB and virtual seconds to a target equal a recount from
the file's rows (per run, and per algorithm as mean and standard deviation),
that --seeds groups runs by all but their seed with the right mean,
standard deviation, 95% interval and Welch verdicts, and that
files that are not flbench results are rejected with a clear message and a
non-zero exit. Exits 77 (skipped) when h5py, numpy, matplotlib or mpirun is
missing.
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
ANALYZE = os.path.join(HERE, "..", "..", "scripts", "analyze.py")

try:
    import h5py
    import numpy as np
    import matplotlib  # noqa: F401  (analyze.py --plots needs it)
except ImportError as e:
    print(f"SKIP: {sys.executable} lacks {e.name} (use /usr/bin/python3 on Debian)")
    sys.exit(SKIP)

failures = 0


def check(cond, what):
    global failures
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        failures += 1


def mpirun(np_):
    cmd = ["mpirun", "-np", str(np_), "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def run_flbench(flbench, np_, out, clients=8, per_round=4):
    cmd = mpirun(np_) + [flbench, "--rounds", "3", "--clients", str(clients),
                         "--clients-per-round", str(per_round), "--local-steps", "3",
                         "--eval-every", "2", "--out", out, "--overwrite"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout, r.stderr)
        sys.exit(f"FAIL  flbench run failed: {' '.join(cmd)}")


def analyze(*args):
    return subprocess.run([sys.executable, ANALYZE, *args], capture_output=True, text=True)


def table_rows(text):
    """The markdown table's data rows as lists of cells."""
    lines = [l for l in text.splitlines() if l.startswith("|")]
    return [[c.strip() for c in l.strip("|").split("|")] for l in lines[2:]]


def expected(path):
    """The summary recomputed straight from the file."""
    with h5py.File(path, "r") as f:
        r = f["rounds"]
        acc = r["test_accuracy"][()]
        loss = r["test_loss"][()]
        cfg = f.attrs["config_toml"]
        clients = int(next(l.split("=")[1] for l in cfg.splitlines()
                           if l.startswith("clients=")))
        return {
            "algorithm": f.attrs["algorithm"],
            "mpi_size": int(f.attrs["mpi_size"]),
            "clients": clients,
            "rounds": int(f.attrs["completed_rounds"]),
            "test_accuracy": float(acc[~np.isnan(acc)][-1]),
            "test_loss": float(loss[~np.isnan(loss)][-1]),
            "mb_up": float(r["bytes_gathered"][()].sum()) / 1e6,
            "mb_down": float(r["bytes_down"][()].sum()) / 1e6,
            "s_per_round": float(r["wall_s"][()].mean()),
        }


def spent_until(path, metric, target):
    """A brute-force recount of what a run spent until it first reached a
    target: walks the rounds one by one and sums the rows by hand."""
    with h5py.File(path, "r") as f:
        r, c = f["rounds"], f["clients"]
        values = r["test_" + metric][()]
        for i in range(len(values)):
            v = values[i]
            if math.isnan(v) or (v < target if metric == "accuracy" else v > target):
                continue
            rnd = int(r["round"][i])
            down = sum(int(b) for cr, b in zip(c["round"][()], c["download_bytes"][()]) if cr <= rnd)
            return {"round": rnd + 1, "value": float(v),
                    "mb_up": sum(int(x) for x in r["bytes_gathered"][: i + 1]) / 1e6,
                    "mb_down": down / 1e6,
                    "virtual_s": sum(float(x) for x in r["virtual_s"][: i + 1]),
                    "wall_s": sum(float(x) for x in r["wall_s"][: i + 1])}
    return None


def check_targets(a, b):
    with h5py.File(a, "r") as f:
        acc = f["rounds"]["test_accuracy"][()]
        loss = f["rounds"]["test_loss"][()]
    reachable_acc = float(np.nanmax(acc))  # reached at its first evaluation that high
    reachable_loss = float(np.nanmin(loss))
    targets = [("accuracy", reachable_acc), ("loss", reachable_loss), ("accuracy", 1.01)]
    args = [x for m, v in targets for x in ("--target", f"{m}={v!r}")]
    r = analyze(a, *args, "--json")
    check(r.returncode == 0, f"--target --json exits 0 ({r.stderr.strip()})")
    got = json.loads(r.stdout)["to_target"] if r.returncode == 0 else []
    check(len(got) == 3, f"one to_target entry per target (got {len(got)})")
    for entry, (metric, value) in zip(got, targets):
        want = spent_until(a, metric, value)
        if want is None:
            check(entry["round"] is None and math.isnan(entry["mb_up"]),
                  f"{metric} >= {value}: not reached (json round {entry['round']})")
            continue
        for key, w in want.items():
            g = entry[key]
            same = g == w if key == "round" else math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12)
            check(same, f"to {metric} {value:.4f}: {key} {g!r} == recount {w!r} "
                        f"(difference {abs(g - w) if g is not None else '?'}, tolerance 1e-9 relative)")

    # The table: a row per run and target, "not reached" for the unreachable one.
    r = analyze(a, *args)
    check(r.returncode == 0 and "Time and bytes to target" in r.stdout, "--target prints its tables")
    runs_part = r.stdout.split("Time and bytes to target, per run:")[-1].split("Per algorithm")[0]
    rows = table_rows(runs_part)
    check(len(rows) == 3 and rows[2][3] == "not reached", f"per-run rows: {rows}")
    want = spent_until(a, "accuracy", reachable_acc)
    check(bool(rows) and rows[0][3] == str(want["round"]) and rows[0][4] == f"{want['mb_up']:.3f}"
          and rows[0][5] == f"{want['mb_down']:.3f}" and rows[0][6] == f"{want['virtual_s']:.2f}",
          f"per-run row {rows[0] if rows else '?'} shows round {want['round']}, "
          f"{want['mb_up']:.3f} MB up, {want['mb_down']:.3f} MB down, {want['virtual_s']:.2f} virtual s")

    # Per algorithm over two runs: the mean and sample standard deviation.
    target = min(reachable_acc, float(np.nanmax(h5py.File(b, "r")["rounds"]["test_accuracy"][()])))
    r = analyze(a, b, "--target", f"accuracy={target!r}", "--json")
    alg = json.loads(r.stdout)["to_target_by_algorithm"] if r.returncode == 0 else [{}]
    check(len(alg) == 1 and alg[0].get("runs") == 2 and alg[0].get("reached") == 2,
          f"one algorithm row over 2 runs, both reached: {alg}")
    per_run = [spent_until(p, "accuracy", target) for p in (a, b)]
    for key in ("mb_up", "mb_down", "virtual_s"):
        v = [w[key] for w in per_run]
        mean, sd = float(np.mean(v)), float(np.std(v, ddof=1))
        g, gsd = alg[0].get(key, math.nan), alg[0].get(key + "_sd", math.nan)
        check(math.isclose(g, mean, rel_tol=1e-9, abs_tol=1e-12) and
              math.isclose(gsd, sd, rel_tol=1e-9, abs_tol=1e-9),
              f"per algorithm {key}: {g!r} ± {gsd!r} == {mean!r} ± {sd!r} (tolerance 1e-9)")

    for bad, msg in (("acc=0.5", "expected accuracy=VALUE or loss=VALUE"),
                     ("accuracy=high", "is not a number"), ("loss=nan", "must be finite")):
        r = analyze(a, "--target", bad)
        check(r.returncode == 2 and msg in r.stderr, f"--target {bad} rejected (exit {r.returncode}): "
                                                     f"{r.stderr.strip().splitlines()[-1] if r.stderr else ''}")


def check_downloads(path):
    """--downloads against a recount: the old count round by round, the honest one client row by row."""
    with h5py.File(path, "r") as f:
        down, per_round = f["rounds"]["bytes_down"][()], f["rounds"]["clients"][()]
        old = sum(float(down[t - 1]) * float(per_round[t]) for t in range(1, len(down)))
        honest = sum(float(b) for b in f["clients"]["download_bytes"][()])
        catch_up = sum(float(b) for b in f["clients"]["catch_up_bytes"][()])
        hours = float(f["rounds"]["virtual_clock_s"][-1]) / 3600
    r = analyze(path, "--downloads", "--json")
    rows = json.loads(r.stdout).get("downloads", []) if r.returncode == 0 else []
    check(r.returncode == 0 and len(rows) == 1, f"--downloads --json: one row ({r.stderr.strip()})")
    if rows:
        got, want = rows[0], {"mb_down_old": old / 1e6, "mb_down": honest / 1e6, "ratio": honest / old,
                              "catch_up_share": catch_up / honest, "virtual_h": hours}
        for key, w in want.items():
            check(math.isclose(got[key], w, rel_tol=1e-12), f"--downloads {key}: {got[key]!r} == recount {w!r}")
    # FedAvg broadcasts the dense state: a client never needs more than one broadcast.
    check(honest == old > 0 and catch_up == 0, f"fedavg: honest {honest:.0f} == old {old:.0f} bytes, catch-up {catch_up:.0f}")
    r = analyze(path, "--downloads")
    check(r.returncode == 0 and "MB down, honest" in r.stdout, "--downloads prints its table")


def check_seeds(a, tmp):
    """--seeds on copies of run `a` given seeds, lr values and final test
    accuracies chosen here: the grouping, mean, sample standard deviation
    and 95% t-interval against Python's statistics module and the t table
    value t(0.975, 2) = 4.303, and Welch's verdicts on clear cases."""
    import statistics
    d = os.path.join(tmp, "seeds")
    os.makedirs(d)
    accuracies = {0.05: [0.80, 0.81, 0.82],    # the best
                  0.02: [0.805, 0.815, 0.80],  # inside its noise
                  0.01: [0.70, 0.71, 0.72]}    # clearly worse
    for lr, accs in accuracies.items():
        for seed, acc in zip((1, 2, 3), accs):
            path = os.path.join(d, f"lr{lr}_seed{seed}.h5")
            shutil.copy(a, path)
            with h5py.File(path, "a") as f:
                toml = f.attrs["config_toml"]
                toml = toml.decode() if isinstance(toml, bytes) else toml
                toml = "\n".join(f"seed={seed}" if l.startswith("seed=") else
                                 f"lr={lr}" if l.startswith("lr=") else
                                 f'out="{path}"' if l.startswith("out=") else l for l in toml.splitlines())
                f.attrs["config_toml"] = toml
                f["rounds/test_accuracy"][-1] = acc
    r = analyze(d, "--seeds", "--json")
    check(r.returncode == 0, f"--seeds --json exits 0 ({r.stderr.strip()})")
    rows = {row["experiment"]: row for row in json.loads(r.stdout)["by_seed"]} if r.returncode == 0 else {}
    check(len(rows) == 3, f"9 files, 3 experiments (differing only in seed within each): {sorted(rows)}")
    worst = 0.0
    for lr, accs in accuracies.items():
        row = rows.get(f"lr{lr}", {})
        check(row.get("seeds") == [1, 2, 3], f"lr={lr}: seeds 1, 2, 3 ({row.get('seeds')})")
        want = (statistics.mean(accs), statistics.stdev(accs), 4.303 * statistics.stdev(accs) / math.sqrt(3))
        got = (row.get("test_accuracy", math.nan), row.get("test_accuracy_sd", math.nan),
               row.get("test_accuracy_ci95", math.nan))
        diff = max(abs(g - w) for g, w in zip(got, want))
        worst = max(worst, diff)
        check(diff < 1e-9, f"lr={lr}: mean, sd, 95% half-width {got} == {want} (difference {diff:.1e}, tolerance 1e-9)")
    verdicts = {lr: rows.get(f"lr{lr}", {}).get("vs_best") for lr in accuracies}
    check(verdicts == {0.05: "best", 0.02: "inside noise", 0.01: "worse"}, f"Welch's verdicts: {verdicts}")
    r = analyze(d, "--seeds")
    # With a validation split in every run, the best is chosen on validation, not test.
    for path in os.listdir(d):
        with h5py.File(os.path.join(d, path), "a") as f:
            f["rounds/val_accuracy"][-1] = 0.9 if path.startswith("lr0.02") else 0.5 + 0.01 * int(path[-4])
    rows = {row["experiment"]: row for row in json.loads(analyze(d, "--seeds", "--json").stdout)["by_seed"]}
    check(rows.get("lr0.02", {}).get("vs_best") == "best" and rows["lr0.02"].get("ranked_by") == "val_accuracy",
          f"every run validated: the best by validation accuracy (lr0.02), not by test: "
          f"{ {k: (v.get('vs_best'), v.get('val_accuracy')) for k, v in rows.items()} }")
    # --personal-fraction's mean over clients (schema 9): its own columns, over the seeds.
    plain = analyze(d, "--seeds").stdout
    check("personal acc" not in plain, "no personal columns without --personal-fraction")
    for path in os.listdir(d):
        with h5py.File(os.path.join(d, path), "a") as f:
            f["rounds/personal_accuracy"][-1] = 0.6 + 0.01 * int(path[-4])
            f["rounds/personal_global_accuracy"][-1] = 0.5
    rows = {row["experiment"]: row for row in json.loads(analyze(d, "--seeds", "--json").stdout)["by_seed"]}
    got = (rows.get("lr0.05", {}).get("personal_accuracy", math.nan), rows.get("lr0.05", {}).get("personal_accuracy_sd", math.nan))
    diff = max(abs(got[0] - 0.62), abs(got[1] - 0.01))
    check(diff < 1e-9, f"personal accuracy mean, sd {got} == (0.62, 0.01) (difference {diff:.1e}, tolerance 1e-9)")
    table = analyze(d, "--seeds").stdout
    check(re.search(r"\| +personal acc \| +global on slices \|", table) is not None and
          re.search(r"\| +0\.6200 ± 0\.0100 \| +0\.5000 ± 0\.0000 \|", table) is not None,
          f"--seeds shows the personal columns:\n{table[-700:]}")
    # Files whose names do not tell the experiments apart: algorithm and the differing keys.
    for i, path in enumerate(sorted(os.listdir(d))):
        os.rename(os.path.join(d, path), os.path.join(d, f"run{i}.h5"))
    labels = sorted(row["experiment"] for row in json.loads(analyze(d, "--seeds", "--json").stdout)["by_seed"])
    check(labels == ["fedavg lr=0.01", "fedavg lr=0.02", "fedavg lr=0.05"], f"labels from the config: {labels}")
    check("3 seed(s) per row" in r.stdout and re.search(r"\| lr0\.01 +\| 1,2,3 \| 0\.01 +\| +0\.7100 ± 0\.0100 \| +0\.0248 \|", r.stdout) is not None,
          f"the table's caption and a row as mean ± sd and ± 95%:\n{r.stdout[-900:]}")


def check_clients(a, tmp):
    """scripts/issue3.py clients on copies of run `a` with a /client_eval
    written here: two seeds of 10 clients at the last evaluation (an earlier
    evaluation that must be ignored), against statistics worked out by hand."""
    d = os.path.join(tmp, "clients")
    os.makedirs(d)
    for seed in (1, 2):
        path = os.path.join(d, f"pfedloru_seed{seed}.h5")
        shutil.copy(a, path)
        with h5py.File(path, "a") as f:
            toml = f.attrs["config_toml"]
            toml = toml.decode() if isinstance(toml, bytes) else toml
            f.attrs["config_toml"] = "\n".join(f"seed={seed}" if l.startswith("seed=") else l for l in toml.splitlines())
            if "client_eval" in f:
                del f["client_eval"]
            e = f.create_group("client_eval")
            mine = [0.1 * i + 0.1 * (seed - 1) for i in range(10)]  # seed 1: 0.0 .. 0.9; seed 2: 0.1 .. 1.0
            e["round"] = [0] * 10 + [7] * 10
            e["personal_accuracy"] = [1.0] * 10 + mine
            e["global_accuracy"] = [0.0] * 10 + [0.5] * 10
    py = os.path.join(os.path.dirname(__file__), "../../scripts/issue3.py")
    r = subprocess.run([sys.executable, py, "clients", d, "pfedloru"], capture_output=True, text=True)
    row = [l for l in r.stdout.splitlines() if l.startswith("| pfedloru |")]
    # personal mean 0.45, 0.55; 10th percentile 0.09, 0.19 (linear); global 0.5; better: 4/10, 5/10; sd 0.0707
    want = "| 50.0% ± 7.1 | 14.0% ± 7.1 | 50.0% ± 0.0 | 50.0% ± 0.0 | 45.0% ± 7.1 |"
    check(r.returncode == 0 and len(row) == 1 and row[0].startswith("| pfedloru | 1,2 |") and row[0].endswith(want),
          f"clients: {row} ends with {want!r} ({r.stderr.strip()})")
    r = subprocess.run([sys.executable, py, "clients", d, "fedavg"], capture_output=True, text=True)
    check(r.returncode == 1 and "no finished run" in r.stderr, f"clients without runs: exit 1 ({r.stderr.strip()})")


def check_pick_lr(a, tmp):
    """scripts/issue3.py pick-lr (run-issue3.sh tune-lr) on copies of run `a`
    with validation curves written here: the rate with the best mean of its
    last 3 validation evaluations wins (not the best last one, never the
    test); a diverged rate (its log, no completed_rounds) is no candidate,
    and neither is the next smaller rate (one grid step of margin)."""
    d = os.path.join(tmp, "tune")
    os.makedirs(d)
    curves = {"0.05": None,                        # diverged
              "0.02": [0.95, 0.95, 0.95],     # the best, but next to the diverged rate
              "0.01": [0.70, 0.70, 0.90],     # the best last evaluation, mean 0.767
              "0.005": [0.80, 0.80, 0.80]}    # the best mean of the last 3: 0.80
    for lr, val in curves.items():
        path = os.path.join(d, f"fedavg_lr{lr}.h5")
        open(os.path.join(d, f"fedavg_lr{lr}.log"), "w").write("flbench\n")
        shutil.copy(a, path)
        with h5py.File(path, "a") as f:
            if val is None:
                del f.attrs["completed_rounds"]
                continue
            f["rounds/val_accuracy"][:] = val  # run_flbench's 3 rounds
            f["rounds/test_accuracy"][:] = 0.99 if lr == "0.01" else 0.5  # the test set never picks
    py = os.path.join(os.path.dirname(__file__), "../../scripts/issue3.py")
    r = subprocess.run([sys.executable, py, "pick-lr", d, "fedavg"], capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.strip() == "fedavg 0.005 0.8000",
          f"pick-lr: {r.stdout.strip()!r} == 'fedavg 0.005 0.8000' ({r.stderr.strip()})")
    r = subprocess.run([sys.executable, py, "pick-lr", d, "topk"], capture_output=True, text=True)
    check(r.returncode == 1 and "no finished run" in r.stderr, f"pick-lr without candidates: exit 1 ({r.stderr.strip()})")
    # Only a rate next to a diverged one finished: it is taken, with a warning to extend the grid.
    for lr in ("0.02", "0.01"):
        open(os.path.join(d, f"lbgm_lr{lr}.log"), "w").write("flbench\n")
        shutil.copy(os.path.join(d, f"fedavg_lr{'0.05' if lr == '0.02' else '0.005'}.h5"), os.path.join(d, f"lbgm_lr{lr}.h5"))
    r = subprocess.run([sys.executable, py, "pick-lr", d, "lbgm"], capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.strip() == "lbgm 0.01 0.8000" and "extend the grid below 0.01" in r.stderr,
          f"pick-lr falls back to the best finished rate with a warning: {r.stdout.strip()!r} ({r.stderr.strip()})")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_analyze.py FLBENCH")
    flbench = os.path.abspath(sys.argv[1])
    if not shutil.which("mpirun"):
        print("SKIP: mpirun not found")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="flb-test-analyze-")
    try:
        run_dir = os.path.join(tmp, "runs")
        os.makedirs(run_dir)
        a = os.path.join(run_dir, "np2.h5")
        run_flbench(flbench, 2, a)
        exp = expected(a)

        # 1. The table: one row, numbers equal to the file's (at the printed precision).
        r = analyze(a)
        print(r.stdout)
        check(r.returncode == 0, f"analyze.py exits 0 (got {r.returncode}: {r.stderr.strip()})")
        rows = table_rows(r.stdout)
        check(len(rows) == 1, f"one table row (got {len(rows)})")
        row = rows[0] if rows else [""] * 10
        check(row[0] == a, "file column")
        check(row[1] == exp["algorithm"], "algorithm column")
        check(int(row[2]) == exp["mpi_size"] == 2, "mpi_size column equals the attribute (2)")
        check(int(row[3]) == exp["clients"] == 8, "clients column equals config_toml (8)")
        check(int(row[4]) == exp["rounds"] == 3, "rounds column equals completed_rounds (3)")
        for i, key, digits in ((5, "test_accuracy", 4), (6, "test_loss", 4), (7, "mb_up", 3),
                               (8, "mb_down", 3), (9, "s_per_round", 4)):
            want = f"{exp[key]:.{digits}f}"
            check(row[i] == want, f"{key}: table {row[i]} == file {want}")

        check(len(row) > 10 and row[10] == str(int(h5py.File(a, "r").attrs["schema_version"])) == "9",
              f"schema column says the file's schema_version (9): {row[10:]}")
        check("schema_version 9" in r.stderr, f"analyze.py says which schema it read: {r.stderr.strip()}")

        # 1b. A schema_version 1 file (byte columns named bytes_up) reads the same.
        old = os.path.join(tmp, "schema1.h5")
        shutil.copy(a, old)
        with h5py.File(old, "a") as f:
            f.attrs["schema_version"] = 1
            f.move("rounds/bytes_gathered", "rounds/bytes_up")
            f.move("clients/upload_bytes", "clients/bytes_up")
        r = analyze(old)
        old_rows = table_rows(r.stdout)
        check(r.returncode == 0 and len(old_rows) == 1 and old_rows[0][7] == row[7] and old_rows[0][10] == "1",
              f"schema_version 1 file: MB up {old_rows[0][7] if old_rows else '?'} == {row[7]}, schema column 1 "
              f"({r.stderr.strip()})")
        check("schema_version 1" in r.stderr, "analyze.py says it read schema_version 1")

        # 2. --json: the exact values.
        r = analyze(a, "--json")
        got = json.loads(r.stdout)["runs"][0]
        for key, want in exp.items():
            g = got[key]
            same = (g == want) if not isinstance(want, float) else math.isclose(
                g, want, rel_tol=1e-12, abs_tol=0)
            check(same, f"json {key}: {g!r} == {want!r}")

        # 3. Plots, and scaling over a second run on 1 rank.
        b = os.path.join(run_dir, "np1.h5")
        run_flbench(flbench, 1, b)
        c = os.path.join(run_dir, "np2-weak.h5")
        run_flbench(flbench, 2, c, clients=16, per_round=8)  # per rank: as np1 (weak scaling)
        plots = os.path.join(tmp, "plots")
        r = analyze(run_dir, "--scaling", "--plots", plots)
        print(r.stdout)
        check(r.returncode == 0, f"analyze.py DIR --scaling --plots exits 0 ({r.stderr.strip()})")
        check(len(table_rows(r.stdout.split("Strong scaling")[0])) == 3,
              "directory search finds the 3 runs")
        check("Strong scaling" in r.stdout and "fedavg clients=8 " in r.stdout,
              "strong-scaling table has the clients=8 series")
        check("fedavg clients/rank=8 " in r.stdout, "weak-scaling table has the clients/rank=8 series")
        pngs = ["accuracy_vs_round.png", "accuracy_vs_bytes.png", "loss_vs_round.png",
                "loss_vs_bytes.png", "accuracy_vs_virtual_time.png", "loss_vs_virtual_time.png",
                "accuracy_vs_download.png", "loss_vs_download.png", "phases_np1.png", "phases_np2.png",
                "phases_np2-weak.png", "scaling_strong.png", "scaling_weak.png"]
        for p in pngs:
            path = os.path.join(plots, p)
            check(os.path.isfile(path) and os.path.getsize(path) > 1000, f"plot {p} written")

        # 4. Time and bytes to a target, against a recount from the rows.
        check_targets(a, b)
        check_downloads(a)
        check_seeds(a, tmp)
        check_pick_lr(a, tmp)
        check_clients(a, tmp)

        # 5. Rejections: not HDF5, HDF5 but not flbench, unknown schema version.
        not_h5 = os.path.join(tmp, "notes.h5")
        with open(not_h5, "w") as f:
            f.write("not hdf5\n")
        foreign = os.path.join(tmp, "foreign.h5")
        with h5py.File(foreign, "w") as f:
            f["x"] = np.arange(3)
        future = os.path.join(tmp, "future.h5")
        shutil.copy(a, future)
        with h5py.File(future, "a") as f:
            f.attrs["schema_version"] = 99
        for path, msg in ((not_h5, "not an HDF5 file"),
                          (foreign, "not an flbench result file"),
                          (future, "schema_version 99")):
            r = analyze(path)
            check(r.returncode != 0 and msg in r.stderr,
                  f"{os.path.basename(path)} rejected (exit {r.returncode}): {r.stderr.strip()}")
        # A foreign file found while searching a directory is skipped, not fatal.
        shutil.copy(foreign, os.path.join(run_dir, "foreign.h5"))
        r = analyze(run_dir)
        check(r.returncode == 0 and "skipping" in r.stderr and len(table_rows(r.stdout)) == 3,
              "foreign file inside a directory is skipped with a note")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"test_analyze: {failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
