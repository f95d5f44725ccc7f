#!/usr/bin/env python3
"""Summarise and plot flbench results (HDF5 files written by `flbench --out`).

    scripts/analyze.py results/                       # markdown table, one row per run
    scripts/analyze.py a.h5 b.h5 --plots plots/       # ... and PNG plots
    scripts/analyze.py results/scaling/ --scaling --plots plots/
    scripts/analyze.py results/ --json runs.json      # machine-readable summary ('-': stdout)
    scripts/analyze.py runs/ --target accuracy=0.8 --target loss=0.5 --plots plots/
                                                      # ... MB and virtual seconds to reach them
    scripts/analyze.py runs/ --seeds                  # ... one row per experiment over its seeds

Directories are searched recursively for *.h5. A file named on the command
line that is not an flbench result is an error (exit 1); such a file found
while searching a directory is reported and skipped.

Every number in the table is read from the file: nothing is re-run. The
schema is results/README.md; this script reads schema_versions 1 to 9
and says which one each file has (the table's "schema" column, the JSON's
"schema_version"). Version 3 added /memory (not read here), version 4
/rounds/bytes_moved (not read here), version 5 virtual time and the
clients' downloads (read by --target and the plots against virtual time
and downloads), version 6 the clients' statuses (arrived, dropped, late,
surplus; not read here), version 7 availability windows and clipping
(/rounds/online, offline, idle_s, clipped; not read here), version 8
/server_diagnostics (FedSRD's server step; not read here), version 9
personalised evaluation (/rounds/personal_accuracy, personal_global_accuracy:
read into the summaries and the --seeds table; /client_eval not read here). Version 1 named /rounds/bytes_gathered "bytes_up"
(and /clients/upload_bytes "bytes_up"); its columns are read under the new
names.

Time and bytes to a target (--target accuracy=A or loss=L, repeatable): per
run, the first evaluated round whose test accuracy is at least A (test loss
at most L), and what it took to get there, counting every round up to and
including it:
  MB up      the sum of /rounds/bytes_gathered (every upload sent, also
             the late and surplus ones the server discarded);
  MB down    the sum of /clients/download_bytes (what the sampled clients
             really downloaded, catch-up included; schema 5 and later,
             "-" before);
  virtual s  /rounds/virtual_clock_s (the modelled systems' clock; schema 5
             and later);
  wall s     the sum of /rounds/wall_s (this machine's time; not reproducible).
Then per algorithm, over its runs (seeds, learning rates, ...): how many
reached the target, and the mean and standard deviation of each figure over
those that did.

Seeds (--seeds): runs whose config_toml differs only in the seed (and in
where and how they ran: out, threads, device, ...) are one experiment; per
experiment, the seeds, the mean ± sample standard deviation and the 95%
t-interval half-width of the final test accuracy and loss, the mean MB up
and down, and "vs best": Welch's two-sided t-test at 5% against the
experiment with the best mean validation accuracy when every experiment
has a validation split (--validation-fraction; schema 8), else the best
mean test accuracy (loss where there is none), so a difference inside the
noise is marked as such and a choice need not look at the test set. Rows are labelled by the
file name without its seed suffix (lbgm-d0.2_seed3.h5: lbgm-d0.2) where
that tells the experiments apart, else by the algorithm and the config
keys that differ between experiments.

Downloads (--downloads): per run, what honest accounting (schema 5 and
later) changed: the clients' downloads as flbench counted them before
(every sampled client downloads the previous round's broadcast:
sum over rounds t >= 1 of bytes_down[t-1] x clients[t]) against what they
really downloaded (/clients/download_bytes: the broadcasts each missed, or
the dense state when smaller), their ratio, the catch-up share
(/clients/catch_up_bytes) and the run's virtual hours.

Needs h5py, numpy and (for --plots) matplotlib: on Debian, run it with
/usr/bin/python3 (apt-get install python3-h5py python3-numpy python3-matplotlib).
"""

import argparse
import json
import math
import os
import re
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:  # pragma: no cover - depends on the interpreter
    sys.exit(
        f"analyze.py: cannot import {e.name} with {sys.executable}.\n"
        "  Run it with Debian's python, which has h5py and numpy:\n"
        "    /usr/bin/python3 scripts/analyze.py ...\n"
        "  or install them: apt-get install python3-h5py python3-numpy python3-matplotlib\n"
        "  (or pip install h5py numpy matplotlib in your environment).")

try:
    import tomllib  # Python >= 3.11
except ImportError:  # pragma: no cover
    tomllib = None

SUPPORTED_SCHEMA_VERSIONS = {1, 2, 3, 4, 5, 6, 7, 8, 9}

# Columns renamed by a schema version: {version: {table: {old name: new name}}}
# for the files older than it (results/README.md lists the changes).
RENAMED_BEFORE = {2: {"rounds": {"bytes_up": "bytes_gathered"}, "clients": {"bytes_up": "upload_bytes"}}}


def current_names(table, columns, version):
    """A table's columns ({name: array}) under the newest schema's names."""
    out = dict(columns)
    for since, tables in RENAMED_BEFORE.items():
        if version < since:
            for old, new in tables.get(table, {}).items():
                if old in out and new not in out:
                    out[new] = out.pop(old)
    return out

# Per-phase columns of /rounds, in the order of a round (DESIGN.md).
PHASES = ["train_s", "encode_s", "gather_s", "aggregate_s",
          "bcast_s", "apply_s", "eval_s", "io_s"]

# Config keys that do not change what a run computes; ignored when grouping
# runs of one scaling series.
NON_EXPERIMENT_KEYS = {"out", "overwrite", "resume", "checkpoint-every", "config", "round-timeout", "skip-memory-check"}


# /clients columns read (the table holds one row per sampled client and round).
CLIENT_COLUMNS_READ = ("round", "download_bytes", "catch_up_bytes")


class NotAResult(Exception):
    """The file is not an flbench result this script can read."""


# --------------------------------------------------------------------------
# Reading


def parse_toml(text):
    """Parses the config_toml attribute (flat `key = value` TOML)."""
    if tomllib is not None:
        return tomllib.loads(text)
    # Fallback for Python < 3.11: flbench writes one scalar per line.
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        if value.startswith('"') and value.endswith('"'):
            out[key] = value[1:-1]
        elif value in ("true", "false"):
            out[key] = value == "true"
        else:
            try:
                out[key] = int(value)
            except ValueError:
                out[key] = float(value)
    return out


def _attr(f, name, default=None):
    """A root attribute as a plain Python value (bytes decoded)."""
    if name not in f.attrs:
        return default
    v = f.attrs[name]
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def load_run(path):
    """Reads one result file into a dict. Raises NotAResult with the reason."""
    if not os.path.isfile(path):
        raise NotAResult(f"{path}: no such file")
    if not h5py.is_hdf5(path):
        raise NotAResult(f"{path}: not an HDF5 file")
    with h5py.File(path, "r") as f:
        version = _attr(f, "schema_version")
        if version is None:
            raise NotAResult(
                f"{path}: not an flbench result file (no root attribute 'schema_version'; "
                "flbench --out writes it)")
        if version not in SUPPORTED_SCHEMA_VERSIONS:
            raise NotAResult(
                f"{path}: schema_version {version} is not one this analyze.py reads "
                f"({sorted(SUPPORTED_SCHEMA_VERSIONS)}); use the scripts/analyze.py of the "
                "flbench version that wrote the file (attribute flbench_version: "
                f"{_attr(f, 'flbench_version', 'unknown')})")
        if "rounds" not in f or "wall_s" not in f["rounds"]:
            raise NotAResult(f"{path}: flbench file without /rounds (schema_version {version})")
        attrs = {k: _attr(f, k) for k in f.attrs}
        rounds = current_names("rounds", {k: f["rounds"][k][()] for k in f["rounds"]}, version)
        evals = None
        if "eval" in f and isinstance(f["eval"], h5py.Group):
            g = f["eval"]
            evals = {k: g[k][()] for k in g if isinstance(g[k], h5py.Dataset)}
            names = g.attrs.get("domain_names")
            if names is not None:
                if isinstance(names, (str, bytes)):
                    names = (names.decode() if isinstance(names, bytes) else names).split(",")
                evals["_domain_names"] = [n.decode() if isinstance(n, bytes) else str(n)
                                          for n in names]
        clients = None
        if "clients" in f and isinstance(f["clients"], h5py.Group):
            g = f["clients"]
            clients = {k: g[k][()] for k in CLIENT_COLUMNS_READ if k in g}
    config = parse_toml(attrs.get("config_toml", "") or "")
    return {"path": path, "attrs": attrs, "config": config, "schema_version": version,
            "rounds": rounds, "eval": evals, "clients": clients}


def find_files(inputs):
    """Expands directories into their *.h5 files (recursively, sorted).

    Returns a list of (path, named) where named is True for files given
    explicitly on the command line."""
    out = []
    for item in inputs:
        if os.path.isdir(item):
            for root, dirs, files in os.walk(item):
                dirs.sort()
                for name in sorted(files):
                    if name.endswith(".h5"):
                        out.append((os.path.join(root, name), False))
        else:
            out.append((item, True))
    return out


# --------------------------------------------------------------------------
# Summary


def last_finite(a):
    """The last non-NaN value of a 1-D array, or NaN when there is none."""
    a = np.asarray(a, dtype=float)
    ok = np.flatnonzero(~np.isnan(a))
    return float(a[ok[-1]]) if ok.size else math.nan


def summarize(run):
    """The table row of one run, straight from the file."""
    r, a, c = run["rounds"], run["attrs"], run["config"]
    n_rows = int(len(r["wall_s"]))
    completed = a.get("completed_rounds")
    return {
        "file": run["path"],
        "algorithm": a.get("algorithm", c.get("algorithm")),
        "mpi_size": a.get("mpi_size"),
        "clients": c.get("clients"),
        "lr": c.get("lr"),
        # completed_rounds is written when the run ends; a killed run has only rows.
        "rounds": int(completed) if completed is not None else n_rows,
        "finished": completed is not None,
        "test_accuracy": last_finite(r.get("test_accuracy", [])),
        "test_loss": last_finite(r.get("test_loss", [])),
        # the validation split's (--validation-fraction; schema 8): what to tune on
        "val_accuracy": last_finite(r.get("val_accuracy", [])),
        # --personal-fraction (schema 9): the clients' own slices, under their
        # personalised models and under the global one (mean over clients)
        "personal_accuracy": last_finite(r.get("personal_accuracy", [])),
        "personal_global_accuracy": last_finite(r.get("personal_global_accuracy", [])),
        "mb_up": float(np.sum(r["bytes_gathered"])) / 1e6 if "bytes_gathered" in r else math.nan,
        "mb_down": float(np.sum(r["bytes_down"])) / 1e6 if "bytes_down" in r else math.nan,
        "s_per_round": float(np.mean(r["wall_s"])) if n_rows else math.nan,
        "schema_version": run["schema_version"],
    }


TABLE = [  # (header, key, format)
    ("file", "file", "{}"),
    ("algorithm", "algorithm", "{}"),
    ("mpi_size", "mpi_size", "{}"),
    ("clients", "clients", "{}"),
    ("rounds", "rounds", "{}"),
    ("test acc", "test_accuracy", "{:.4f}"),
    ("test loss", "test_loss", "{:.4f}"),
    ("MB up", "mb_up", "{:.3f}"),
    ("MB down", "mb_down", "{:.3f}"),
    ("s/round", "s_per_round", "{:.4f}"),
    ("schema", "schema_version", "{}"),
]


def fmt(value, spec):
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return spec.format(value)


def markdown_table(headers, rows, right=()):
    """A markdown table with padded columns; `right` = right-aligned column indices."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    def line(cells):
        return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2)
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep] + [line(r) for r in rows])


def summary_table(summaries):
    rows = []
    for s in summaries:
        cells = [fmt(s[key], spec) for _, key, spec in TABLE]
        if not s["finished"]:
            cells[4] += "*"
        rows.append(cells)
    text = markdown_table([h for h, _, _ in TABLE], rows, right=set(range(2, len(TABLE))))
    if any(not s["finished"] for s in summaries):
        text += "\n\n\\* did not finish (no completed_rounds attribute): rounds written so far"
    return text


# --------------------------------------------------------------------------
# Scaling


def _freeze(d):
    return tuple(sorted((k, repr(v)) for k, v in d.items()))


def scaling_series(runs, kind):
    """Groups runs into scaling series and computes speedup and efficiency.

    strong: identical config (clients included), only mpi_size differs.
    weak:   identical config except clients and clients-per-round, which
            grow with mpi_size so that clients/rank and clients-per-round/rank
            stay constant.
    Each series is measured against its smallest mpi_size p0 (time T0):
      strong: speedup = T0/T(p),        efficiency = speedup / (p/p0)
      weak:   efficiency = T0/T(p),     scaled speedup = efficiency * p/p0
    T is the mean of /rounds/wall_s (averaged over repeated runs of a point).
    Returns [(label, [(p, clients, T, speedup, efficiency), ...])] for series
    with at least two sizes."""
    groups = {}
    for run in runs:
        p = run["attrs"].get("mpi_size")
        if not p or not len(run["rounds"]["wall_s"]):
            continue
        cfg = {k: v for k, v in run["config"].items() if k not in NON_EXPERIMENT_KEYS}
        clients = cfg.get("clients")
        if kind == "weak":
            cpr = cfg.pop("clients-per-round", None)
            cfg.pop("clients", None)
            cfg["clients/rank"] = round(clients / p, 6) if clients else None
            cfg["clients-per-round/rank"] = round(cpr / p, 6) if cpr else None
        _, by_p = groups.setdefault(_freeze(cfg), (cfg, {}))
        by_p.setdefault(p, []).append((clients, float(np.mean(run["rounds"]["wall_s"]))))
    series = []
    for cfg, by_p in groups.values():
        if len(by_p) < 2:
            continue
        ps = sorted(by_p)
        p0 = ps[0]
        t0 = float(np.mean([t for _, t in by_p[p0]]))
        points = []
        for p in ps:
            t = float(np.mean([t for _, t in by_p[p]]))
            clients = by_p[p][0][0]
            if kind == "strong":
                speedup = t0 / t
                eff = speedup / (p / p0)
            else:
                eff = t0 / t
                speedup = eff * p / p0
            points.append((p, clients, t, speedup, eff))
        if kind == "strong":
            label = f"{cfg.get('algorithm', '?')} clients={cfg.get('clients')}"
        else:
            label = f"{cfg.get('algorithm', '?')} clients/rank={cfg.get('clients/rank'):g}"
        series.append((label, points))
    series.sort()
    return series


def scaling_table(series, kind):
    rows = []
    for label, points in series:
        for p, clients, t, s, e in points:
            rows.append([label, str(p), str(clients), f"{t:.4f}", f"{s:.3f}", f"{e:.3f}"])
    name = "speedup" if kind == "strong" else "scaled speedup"
    return markdown_table(["series", "mpi_size", "clients", "s/round", name, "efficiency"],
                          rows, right={1, 2, 3, 4, 5})


# --------------------------------------------------------------------------
# Time and bytes to a target

# Metric name on the command line -> (/rounds column, True when higher is better).
TARGET_METRICS = {"accuracy": ("test_accuracy", True), "loss": ("test_loss", False)}


def parse_target(text):
    """'accuracy=0.8' or 'loss=0.5' -> (metric, value). Raises ValueError."""
    name, sep, value = text.partition("=")
    if not sep or name not in TARGET_METRICS:
        raise ValueError(f"--target {text!r}: expected accuracy=VALUE or loss=VALUE "
                         f"(metrics: {', '.join(TARGET_METRICS)})")
    try:
        v = float(value)
    except ValueError:
        raise ValueError(f"--target {text!r}: {value!r} is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"--target {text!r}: the value must be finite")
    return name, v


def cumulative_downloads(run):
    """Per /rounds row, the clients' downloaded bytes summed over all rounds up
    to it (catch-up included), or None when the file has no download_bytes."""
    c = run["clients"]
    if not c or "download_bytes" not in c or "round" not in c:
        return None
    rounds = np.asarray(run["rounds"].get("round", np.arange(len(run["rounds"]["wall_s"]))))
    per_round = {}
    for rnd, b in zip(np.asarray(c["round"]).tolist(), np.asarray(c["download_bytes"]).tolist()):
        per_round[rnd] = per_round.get(rnd, 0) + b
    return np.cumsum([per_round.get(int(rnd), 0) for rnd in rounds]).astype(float)


def download_row(run, summary):
    """The --downloads row of one run (None without schema 5's /clients columns)."""
    c, r = run["clients"], run["rounds"]
    if not c or "download_bytes" not in c or "catch_up_bytes" not in c:
        return None
    down, clients = np.asarray(r["bytes_down"], dtype=float), np.asarray(r["clients"], dtype=float)
    old = float(np.sum(down[:-1] * clients[1:]))
    honest = float(np.sum(c["download_bytes"]))
    catch_up = float(np.sum(c["catch_up_bytes"]))
    clock = r.get("virtual_clock_s")
    return {"file": summary["file"], "algorithm": summary["algorithm"],
            "clients_per_round": float(np.mean(clients)) if clients.size else math.nan,
            "rounds": summary["rounds"], "mb_broadcast": float(np.sum(down)) / 1e6,
            "mb_down_old": old / 1e6, "mb_down": honest / 1e6,
            "ratio": honest / old if old > 0 else math.nan,
            "catch_up_share": catch_up / honest if honest > 0 else math.nan,
            "virtual_h": float(clock[-1]) / 3600 if clock is not None and len(clock) else math.nan}


DOWNLOAD_TABLE = [  # (header, key, format)
    ("file", "file", "{}"), ("algorithm", "algorithm", "{}"), ("clients/round", "clients_per_round", "{:.0f}"),
    ("rounds", "rounds", "{}"), ("MB broadcast", "mb_broadcast", "{:.3f}"),
    ("MB down, old count", "mb_down_old", "{:.3f}"), ("MB down, honest", "mb_down", "{:.3f}"),
    ("honest / old", "ratio", "{:.2f}x"), ("catch-up share", "catch_up_share", "{:.1%}"),
    ("virtual h", "virtual_h", "{:.2f}"),
]


def download_table(rows):
    cells = [[fmt(row[key], spec) for _, key, spec in DOWNLOAD_TABLE] for row in rows]
    return markdown_table([h for h, _, _ in DOWNLOAD_TABLE], cells, right=set(range(2, len(DOWNLOAD_TABLE))))


def reach_target(run, metric, target):
    """When a run first reached a target, and what it had spent by then.

    Returns a dict: round (1-based count of rounds run), mb_up, mb_down,
    virtual_s, wall_s, value (the metric there); every figure NaN and round
    None when the run never reached it."""
    r = run["rounds"]
    column, higher = TARGET_METRICS[metric]
    out = {"metric": metric, "target": target, "round": None, "value": math.nan,
           "mb_up": math.nan, "mb_down": math.nan, "virtual_s": math.nan, "wall_s": math.nan}
    y = np.asarray(r.get(column, []), dtype=float)
    with np.errstate(invalid="ignore"):  # NaN: rounds without an evaluation
        hit = np.flatnonzero(y >= target if higher else y <= target)
    if not hit.size:
        return out
    i = int(hit[0])
    rounds = r.get("round")
    out["round"] = int(rounds[i]) + 1 if rounds is not None else i + 1
    out["value"] = float(y[i])
    out["mb_up"] = float(np.sum(r["bytes_gathered"][: i + 1])) / 1e6 if "bytes_gathered" in r else math.nan
    down = cumulative_downloads(run)
    if down is not None:
        out["mb_down"] = float(down[i]) / 1e6
    if "virtual_clock_s" in r:
        out["virtual_s"] = float(r["virtual_clock_s"][i])
    out["wall_s"] = float(np.sum(r["wall_s"][: i + 1]))
    return out


TARGET_FIGURES = ("round", "mb_up", "mb_down", "virtual_s", "wall_s")


def target_rows(runs, summaries, targets):
    """Per run and target, reach_target's dict with the run's file and algorithm."""
    rows = []
    for run, s in zip(runs, summaries):
        for metric, value in targets:
            rows.append({"file": s["file"], "algorithm": s["algorithm"], **reach_target(run, metric, value)})
    return rows


def mean_sd(values):
    """Mean and sample standard deviation (NaN for fewer than two values)."""
    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], dtype=float)
    if not v.size:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else math.nan


def target_by_algorithm(rows):
    """Per algorithm and target: runs that reached it, and the mean and
    standard deviation of each figure over those runs."""
    groups = {}
    for row in rows:
        groups.setdefault((row["algorithm"], row["metric"], row["target"]), []).append(row)
    out = []
    for (algorithm, metric, target), group in sorted(groups.items(), key=lambda kv: tuple(map(str, kv[0]))):
        reached = [g for g in group if g["round"] is not None]
        entry = {"algorithm": algorithm, "metric": metric, "target": target,
                 "runs": len(group), "reached": len(reached)}
        for key in TARGET_FIGURES:
            entry[key], entry[key + "_sd"] = mean_sd([g[key] for g in reached])
        out.append(entry)
    return out


# --------------------------------------------------------------------------
# Seeds (--seeds): runs that differ only in their seed, as one row


# config_toml keys that do not define the experiment: its repetitions (the
# seed), and where and how it ran (results equal bitwise across ranks,
# threads and devices up to rounding).
NOT_THE_EXPERIMENT = {"seed", "out", "overwrite", "threads", "device", "checkpoint-every",
                      "skip-memory-check", "round-timeout", "data-dir", "corpus-dir", "token-dir", "transport"}

# Two-sided 95% quantiles of Student's t, t_{0.975, df}, df = 1..30.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df):
    """t_{0.975, df}; df is rounded down (conservative); 1.96 beyond 120."""
    df = int(math.floor(df))
    if df < 1:
        return math.nan
    if df <= 30:
        return T975[df - 1]
    return 2.000 if df <= 60 else 1.980 if df <= 120 else 1.960


def ci95(values):
    """Half-width of the 95% t-interval of the mean (NaN for fewer than two values)."""
    v = [x for x in values if not math.isnan(x)]
    if len(v) < 2:
        return math.nan
    return t975(len(v) - 1) * float(np.std(v, ddof=1)) / math.sqrt(len(v))


def welch_differs(a, b):
    """Whether the means of samples a and b differ at the 5% level (Welch's
    t-test, two-sided); None when either has fewer than two values."""
    a = [x for x in a if not math.isnan(x)]
    b = [x for x in b if not math.isnan(x)]
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    se = math.sqrt(va + vb)
    diff = abs(float(np.mean(a)) - float(np.mean(b)))
    if se == 0:
        return diff > 0
    df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1) if va else 0) + (vb ** 2 / (len(b) - 1) if vb else 0))
    return diff > t975(df) * se


def experiment_key(run):
    return _freeze({k: v for k, v in run["config"].items() if k not in NOT_THE_EXPERIMENT})


def seed_groups(runs, summaries):
    """Runs grouped by their experiment (config_toml without NOT_THE_EXPERIMENT),
    in first-seen order: a list of (label, [summary], [seed]). The label is
    the file name without its seed (lbgm-d0.2_seed3.h5: lbgm-d0.2) when that
    names each experiment's files alike and apart from the others; else the
    algorithm and the config keys that differ between experiments."""
    groups = {}
    for run, s in zip(runs, summaries):
        groups.setdefault(experiment_key(run), []).append((run, s))
    configs = [dict(members[0][0]["config"]) for members in groups.values()]
    varying = sorted({k for c in configs for k in c
                      if k not in NOT_THE_EXPERIMENT and k != "algorithm"
                      and len({repr(d.get(k)) for d in configs}) > 1})
    def stem(run):  # the file name without its seed: runs/lbgm-d0.2_seed3.h5 -> lbgm-d0.2
        return re.sub(r"[_-]?seed[0-9]+$", "", os.path.basename(run["path"])[:-3])

    stems = [{stem(m[0]) for m in members} for members in groups.values()]
    use_stems = all(len(s) == 1 for s in stems) and len({next(iter(s)) for s in stems}) == len(stems)
    out = []
    for config, members, names in zip(configs, groups.values(), stems):
        label = next(iter(names)) if use_stems else " ".join(
            [str(members[0][1]["algorithm"])] + [f"{k}={config.get(k)}" for k in varying])
        out.append((label, [m[1] for m in members], [m[0]["config"].get("seed") for m in members]))
    return out


def seed_rows(runs, summaries):
    """Per experiment: the seeds, mean, standard deviation and 95% interval
    of the final test accuracy and loss (and validation accuracy), the mean
    MB up and down, and how it compares with the best experiment (highest
    mean validation accuracy when every experiment has a validation split,
    else highest mean test accuracy; lowest mean loss where no run has an
    accuracy): 'best', 'inside noise' (Welch's t-test cannot tell it from
    the best at 5%), 'worse', or '?' (one seed)."""
    rows = []
    for label, members, seeds in seed_groups(runs, summaries):
        row = {"experiment": label, "algorithm": members[0]["algorithm"],
               "seeds": sorted(seeds, key=str), "files": [m["file"] for m in members],
               "lr": "/".join(sorted({str(m.get("lr")) for m in members}))}
        for key in ("test_accuracy", "test_loss", "val_accuracy", "personal_accuracy", "personal_global_accuracy",
                    "mb_up", "mb_down"):
            values = [m[key] for m in members]
            row[key], row[key + "_sd"] = mean_sd(values)
            row[key + "_ci95"] = ci95(values)
            row[key + "_values"] = values
        rows.append(row)
    by_validation = bool(rows) and all(not math.isnan(r["val_accuracy"]) for r in rows)
    by_accuracy = by_validation or any(not math.isnan(r["test_accuracy"]) for r in rows)
    key = "val_accuracy" if by_validation else "test_accuracy" if by_accuracy else "test_loss"
    ranked = [r for r in rows if not math.isnan(r[key])]
    if ranked:
        best = (max if by_accuracy else min)(ranked, key=lambda r: r[key])
        for r in rows:
            differs = welch_differs(r[key + "_values"], best[key + "_values"])
            r["vs_best"] = ("best" if r is best else "?" if differs is None
                            else "worse" if differs else "inside noise")
            r["ranked_by"] = key
    return rows


def seed_table(rows):
    """The --seeds markdown table, with its caption."""
    counts = sorted({len(r["seeds"]) for r in rows})
    lines = []
    for r in rows:
        lines.append([r["experiment"], ",".join(str(s) for s in r["seeds"]), r["lr"],
                      _pm(r["test_accuracy"], r["test_accuracy_sd"], "{:.4f}"),
                      fmt(r["test_accuracy_ci95"], "{:.4f}").replace("nan", "-"),
                      _pm(r["test_loss"], r["test_loss_sd"], "{:.4f}"),
                      fmt(r["test_loss_ci95"], "{:.4f}").replace("nan", "-"),
                      _pm(r["val_accuracy"], r["val_accuracy_sd"], "{:.4f}"),
                      fmt(r["mb_up"], "{:.3f}"), fmt(r["mb_down"], "{:.3f}"), r.get("vs_best", "-")])
    ranked_by = next((r["ranked_by"] for r in rows if "ranked_by" in r), "test_accuracy")
    caption = (f"Per experiment over its seeds ({'/'.join(map(str, counts))} seed(s) per row, at the learning rate "
               "lr): final test "
               "accuracy and loss as mean ± sample standard deviation, and the half-width of the 95% "
               "t-interval of the mean (± 95%). vs best: Welch's two-sided t-test at 5% against the row "
               f"with the best mean {ranked_by.replace('test_', 'test ').replace('val_', 'validation ')}"
               " (validation when every row has a --validation-fraction split: tune there, report test): "
               "'inside noise' rows cannot be told from it; '?': fewer than two seeds.")
    headers = ["experiment", "seeds", "lr", "test acc", "± 95%", "test loss", "± 95%", "val acc", "MB up", "MB down",
               "vs best"]
    if any(not math.isnan(r["personal_accuracy"]) for r in rows):  # --personal-fraction: two more columns
        caption += (" personal acc: each client's personalised model on its own held-out slice, mean over clients "
                    "(then ± sd over seeds); global on slices: the global model on the same slices.")
        headers[10:10] = ["personal acc", "global on slices"]
        for line, r in zip(lines, rows):
            line[10:10] = [_pm(r["personal_accuracy"], r["personal_accuracy_sd"], "{:.4f}"),
                         _pm(r["personal_global_accuracy"], r["personal_global_accuracy_sd"], "{:.4f}")]
    return caption + "\n\n" + markdown_table(headers, lines, right=set(range(3, len(headers) - 1)))


def _pm(mean, sd, spec):
    if math.isnan(mean):
        return "-"
    return spec.format(mean) + ("" if math.isnan(sd) else " ± " + spec.format(sd))


TARGET_SPECS = {"round": "{:.0f}", "mb_up": "{:.3f}", "mb_down": "{:.3f}",
                "virtual_s": "{:.2f}", "wall_s": "{:.2f}"}
TARGET_HEADERS = ["rounds", "MB up", "MB down", "virtual s", "wall s"]


def target_tables(rows, by_algorithm):
    """The per-run and per-algorithm markdown tables of --target."""
    run_rows = []
    for r in rows:
        goal = f"{r['metric']} {'>=' if TARGET_METRICS[r['metric']][1] else '<='} {r['target']:g}"
        if r["round"] is None:
            run_rows.append([r["file"], str(r["algorithm"]), goal, "not reached"] + ["-"] * 4)
            continue
        run_rows.append([r["file"], str(r["algorithm"]), goal, str(r["round"])] +
                        [fmt(r[k], TARGET_SPECS[k]).replace("nan", "-") for k in TARGET_FIGURES[1:]])
    alg_rows = []
    for a in by_algorithm:
        goal = f"{a['metric']} {'>=' if TARGET_METRICS[a['metric']][1] else '<='} {a['target']:g}"
        alg_rows.append([str(a["algorithm"]), goal, f"{a['reached']}/{a['runs']}"] +
                        [_pm(a[k], a[k + "_sd"], TARGET_SPECS[k]) for k in TARGET_FIGURES])
    return ("Time and bytes to target, per run:\n\n" +
            markdown_table(["file", "algorithm", "target"] + TARGET_HEADERS, run_rows,
                           right={3, 4, 5, 6, 7}) +
            "\n\nPer algorithm (mean ± standard deviation over the runs that reached the target):\n\n" +
            markdown_table(["algorithm", "target", "reached"] + TARGET_HEADERS, alg_rows,
                           right={2, 3, 4, 5, 6, 7}))


# --------------------------------------------------------------------------
# Plots


def run_labels(runs):
    """Short unique labels: the file stem, with parent folders added until unique."""
    parts = [os.path.normpath(r["path"])[:-3].split(os.sep) for r in runs]
    depth = 1
    while True:
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels) or depth >= max(len(p) for p in parts):
            return labels
        depth += 1


def safe_name(label):
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", label)


def make_plots(runs, outdir, scaling):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("analyze.py: --plots needs matplotlib: apt-get install python3-matplotlib "
                 "(or run with /usr/bin/python3)")
    os.makedirs(outdir, exist_ok=True)
    labels = run_labels(runs)
    written = []

    def save(fig, name):
        path = os.path.join(outdir, name)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    def x_axis(run, xname):
        """The x values of a run's /rounds rows, or None when the file lacks them."""
        r = run["rounds"]
        if xname == "round":
            return np.asarray(r.get("round", np.arange(len(r["wall_s"]))), dtype=float) + 1
        if xname == "bytes":
            return np.cumsum(np.asarray(r["bytes_gathered"], dtype=float)) / 1e6
        if xname == "virtual_time":
            return np.asarray(r["virtual_clock_s"], dtype=float) if "virtual_clock_s" in r else None
        down = cumulative_downloads(run)  # "download"
        return down / 1e6 if down is not None else None

    # Test accuracy / loss against rounds, cumulative upload, virtual time
    # and cumulative download (the last two for schema 5 and later).
    x_axes = (("round", "round"), ("bytes", "cumulative upload (MB)"),
             ("virtual_time", "virtual time (s, modelled systems)"),
             ("download", "cumulative download by the clients (MB)"))
    for metric, ylabel in (("test_accuracy", "test accuracy"), ("test_loss", "test loss")):
        for xname, xlabel in x_axes:
            drawn = [(run, label, x_axis(run, xname)) for run, label in zip(runs, labels)
                     if metric in run["rounds"]]
            drawn = [d for d in drawn if d[2] is not None]
            if xname in ("virtual_time", "download") and not drawn:
                continue
            fig, ax = plt.subplots(figsize=(7, 4.5))
            for run, label, x in drawn:
                y = np.asarray(run["rounds"][metric], dtype=float)
                ok = ~np.isnan(y)
                ax.plot(x[ok], y[ok], marker=".", label=label)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
            save(fig, f"{metric.split('_')[1]}_vs_{xname}.png")

    # Per-phase time breakdown, one figure per run.
    for run, label in zip(runs, labels):
        r = run["rounds"]
        x = np.asarray(r.get("round", np.arange(len(r["wall_s"]))), dtype=float) + 1
        fig, ax = plt.subplots(figsize=(8, 4.5))
        bottom = np.zeros(len(x))
        for phase in PHASES:
            if phase in r:
                y = np.asarray(r[phase], dtype=float)
                ax.bar(x, y, bottom=bottom, width=0.9, label=phase[:-2])
                bottom += y
        ax.plot(x, r["wall_s"], color="black", linewidth=1, label="wall")
        ax.set_xlabel("round")
        ax.set_ylabel("seconds")
        ax.set_title(f"time per round: {label}")
        ax.legend(fontsize="small", ncol=3)
        save(fig, f"phases_{safe_name(label)}.png")

    # Per-domain evaluation (tasks with domains only).
    for run, label in zip(runs, labels):
        ev = run["eval"]
        if not ev or "round" not in ev or "domain" not in ev:
            continue
        names = ev.get("_domain_names")
        metrics = [m for m in ("accuracy", "loss") if m in ev]
        if not metrics:
            continue
        fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4.5), squeeze=False)
        for ax, m in zip(axes[0], metrics):
            for d in np.unique(ev["domain"]):
                sel = ev["domain"] == d
                name = names[int(d)] if names and int(d) < len(names) else f"domain {int(d)}"
                ax.plot(np.asarray(ev["round"][sel]) + 1, ev[m][sel], marker=".", label=name)
            ax.set_xlabel("round")
            ax.set_ylabel(m)
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
        fig.suptitle(f"per-domain evaluation: {label}")
        save(fig, f"eval_domains_{safe_name(label)}.png")

    # Scaling.
    if scaling:
        for kind in ("strong", "weak"):
            series = scaling_series(runs, kind)
            if not series:
                continue
            fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
            pmax = 1
            for label, pts in series:
                p = [q[0] for q in pts]
                pmax = max(pmax, max(p) / p[0])
                a1.plot(p, [q[3] for q in pts], marker="o", label=label)
                a2.plot(p, [q[4] for q in pts], marker="o", label=label)
            p0 = min(q[0] for _, pts in series for q in pts)
            ideal = [p0, p0 * pmax]
            a1.plot(ideal, [1, pmax], "k--", linewidth=0.8, label="ideal")
            a2.axhline(1.0, color="k", linestyle="--", linewidth=0.8)
            a1.set_ylabel("speedup" if kind == "strong" else "scaled speedup")
            a2.set_ylabel("parallel efficiency")
            ticks = sorted({q[0] for _, pts in series for q in pts})
            for ax in (a1, a2):
                ax.set_xscale("log", base=2)
                ax.set_xticks(ticks, [str(t) for t in ticks])
                ax.minorticks_off()
                ax.set_xlabel("MPI ranks")
                ax.grid(alpha=0.3)
            a2.set_ylim(bottom=0)
            a1.legend(fontsize="small")
            fig.suptitle(f"{kind} scaling (mean wall time per round)")
            save(fig, f"scaling_{kind}.png")
    return written


# --------------------------------------------------------------------------


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Summarise and plot flbench HDF5 results.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run with /usr/bin/python3 on Debian (it has h5py, numpy, matplotlib).")
    ap.add_argument("inputs", nargs="+", metavar="FILE_OR_DIR",
                    help="result files, or directories searched recursively for *.h5")
    ap.add_argument("--plots", metavar="DIR", help="write PNG plots into DIR")
    ap.add_argument("--scaling", action="store_true",
                    help="also print (and with --plots draw) strong/weak scaling of the runs")
    ap.add_argument("--target", metavar="METRIC=VALUE", action="append", default=[],
                    help="accuracy=A or loss=L (repeatable): the rounds, MB up and down, "
                         "virtual and wall seconds each run needed to first reach it, "
                         "and per algorithm their mean and standard deviation")
    ap.add_argument("--downloads", action="store_true",
                    help="also print, per run, the clients' downloads under the old and the honest "
                         "accounting, the catch-up share and the virtual hours (schema 5 and later)")
    ap.add_argument("--seeds", action="store_true",
                    help="also print one row per experiment (runs whose config differs only in seed): "
                         "mean ± standard deviation and 95%% interval over the seeds, and whether each "
                         "row is inside the noise of the best (Welch's t-test)")
    ap.add_argument("--json", metavar="PATH", nargs="?", const="-",
                    help="write the summary as JSON to PATH ('-' or no PATH: stdout, "
                         "instead of the table)")
    args = ap.parse_args(argv)
    try:
        targets = [parse_target(t) for t in args.target]
    except ValueError as e:
        ap.error(str(e))

    runs, bad_named = [], 0
    for path, named in find_files(args.inputs):
        try:
            runs.append(load_run(path))
        except NotAResult as e:
            if named:
                print(f"analyze.py: error: {e}", file=sys.stderr)
                bad_named += 1
            else:
                print(f"analyze.py: skipping {e}", file=sys.stderr)
        except OSError as e:
            print(f"analyze.py: error: {path}: cannot read ({e})", file=sys.stderr)
            bad_named += 1
    if not runs:
        if not bad_named:
            print("analyze.py: no flbench result files (*.h5) found in: " + " ".join(args.inputs),
                  file=sys.stderr)
        return 1

    summaries = [summarize(r) for r in runs]
    versions = sorted({s["schema_version"] for s in summaries})
    print(f"analyze.py: read {len(runs)} file(s) of schema_version "
          + ", ".join(str(v) for v in versions), file=sys.stderr)
    report = {"runs": summaries}
    if args.scaling:
        report["scaling"] = {
            kind: [{"series": label,
                    "points": [dict(zip(("mpi_size", "clients", "s_per_round",
                                         "speedup", "efficiency"), p)) for p in pts]}
                   for label, pts in scaling_series(runs, kind)]
            for kind in ("strong", "weak")}

    if args.downloads:
        report["downloads"] = [row for row in (download_row(r, s) for r, s in zip(runs, summaries)) if row]

    if args.seeds:
        report["by_seed"] = [{k: v for k, v in r.items() if not k.endswith("_values")}
                             for r in seed_rows(runs, summaries)]

    if targets:
        rows = target_rows(runs, summaries, targets)
        report["to_target"] = rows
        report["to_target_by_algorithm"] = target_by_algorithm(rows)

    if args.json != "-":
        print(summary_table(summaries))
        if args.downloads:
            print("\nDownloads, old count against honest (schema 5 and later):\n\n"
                  + (download_table(report["downloads"]) if report["downloads"] else
                     "(no file has /clients/download_bytes: written before schema 5)"))
        if args.seeds:
            print("\n" + seed_table(seed_rows(runs, summaries)))
        if targets:
            print("\n" + target_tables(report["to_target"], report["to_target_by_algorithm"]))
        if args.scaling:
            for kind in ("strong", "weak"):
                series = scaling_series(runs, kind)
                print(f"\n{kind.capitalize()} scaling:\n")
                print(scaling_table(series, kind) if series else
                      f"(no {kind}-scaling series: need runs with identical settings at "
                      "two or more mpi_size)")
    if args.json:
        text = json.dumps(report, indent=2, default=str, allow_nan=True)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w") as f:
                f.write(text + "\n")
    if args.plots:
        written = make_plots(runs, args.plots, args.scaling)
        print(f"\nanalyze.py: wrote {len(written)} plot(s) to {args.plots}/", file=sys.stderr)
    return 1 if bad_named else 0


if __name__ == "__main__":
    sys.exit(main())
