"""flcomm end to end under mpirun: the table's columns, #wrong 0 on a clean
run and non-zero (exit 1) when the --corrupt hook flips a byte, the JSON and
HDF5 copies of the rows, the -b/-e/-f sweep, and bad input (exit 2, nothing
overwritten)."""
import argparse
import json
import os
import shutil
import subprocess
import sys

import h5py

COLUMNS = ["algorithm", "rank", "clients", "phase", "bytes", "avg_ms", "min_ms", "max_ms", "GB/s", "GFLOP/s",
           "bound_ms", "ratio", "#wrong"]
PHASES = ["encode", "gather", "decode", "aggregate", "encode-bcast", "bcast", "apply"]
ALGORITHMS = ["fedit", "fedsrd", "fedsrd-e", "flexlora", "fed-dare", "topk", "lbgm"]


def run(args, np_, *flags):
    cmd = [args.mpiexec, "--oversubscribe", "-np", str(np_), args.flcomm, *map(str, flags)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)
    print("ok:", what)


def table_rows(stdout):
    header = [l for l in stdout.splitlines() if l.startswith("# algorithm") and l.rstrip().endswith("#wrong")]
    rows = [l.split() for l in stdout.splitlines() if l and not l.startswith("#")]
    return header, rows


def clean_quick_run(args, w):
    j, h5 = os.path.join(w, "quick.json"), os.path.join(w, "quick.h5")
    rc, out, err = run(args, 2, "--quick", "--json", j, "--out", h5)
    check(rc == 0, f"flcomm --quick exits 0 (rc {rc}; {err.strip()[-300:]})")
    header, rows = table_rows(out)
    check(len(header) == 1 and header[0][1:].split() == COLUMNS, "the table has the documented columns")
    check(len(rows) == len(ALGORITHMS) * len(PHASES) and all(len(r) == len(COLUMNS) for r in rows),
          f"one row per algorithm and phase ({len(rows)})")
    check([r[0] for r in rows[::len(PHASES)]] == ALGORITHMS and [r[3] for r in rows[:len(PHASES)]] == PHASES,
          "rows in algorithm and phase order")
    check(all(r[-1] in ("0", "-") for r in rows), "#wrong is 0 (or '-' where nothing is checked) everywhere")
    checked = [r for r in rows if r[3] == "aggregate"]
    check(all(r[-1] == "0" for r in checked), "every algorithm's aggregation is checked against its reference")
    check("# #wrong total: 0 OK" in out, "the summary line says OK")
    data = json.load(open(j))
    check(len(data["rows"]) == len(rows) and data["ranks"] == 2, "the JSON holds every row")
    check(all(x["avg_s"] > 0 and x["bound_s"] >= 0 for x in data["rows"] if x["phase"] != "encode-bcast"),
          "every phase was timed")
    with h5py.File(h5, "r") as f:
        t = f["flcomm"]
        check(t["avg_s"].shape[0] == len(rows), "the HDF5 table /flcomm holds every row")
        phases = t.attrs["phases"]
        phases = phases.decode() if isinstance(phases, bytes) else phases
        check(phases.split(",") == PHASES, "its 'phases' attribute names the phase codes")
        check(list(t["wrong"][:]).count(-1) == len(ALGORITHMS), "-1 in /flcomm/wrong only where nothing is checked")
    # An existing output is refused, untouched.
    before = open(j).read()
    rc, out, err = run(args, 2, "--quick", "--json", j)
    check(rc == 2 and "exists" in err and "--overwrite" in err, f"an existing --json is refused (rc {rc})")
    check(open(j).read() == before, "and left as it was")


def corrupted_runs(args, w):
    for phase in ("gather", "bcast"):
        j = os.path.join(w, f"corrupt-{phase}.json")
        rc, out, err = run(args, 2, "--quick", "--algorithms", "fedit,fedsrd", "--corrupt", phase, "--json", j)
        check(rc == 1 and "FAILED" in out, f"--corrupt {phase}: exit 1 and FAILED (rc {rc})")
        wrong = {(x["algorithm"], x["phase"]): x["wrong"] for x in json.load(open(j))["rows"]}
        check(all(wrong[(a, phase)] >= 1 for a in ("fedit", "fedsrd")), f"--corrupt {phase}: #wrong counts it")


def sweep(args, w):
    j = os.path.join(w, "sweep.json")
    # one 64x64 layer: 512 bytes of dense factors per unit of rank
    rc, out, err = run(args, 1, "--layers", 1, "--dims", "64x64", "-b", "4K", "-e", "16K", "-f", 2, "-n", 1, "-w", 0,
                       "--algorithms", "fedit", "--json", j)
    check(rc == 0, f"a -b/-e/-f sweep runs (rc {rc}; {err.strip()[-200:]})")
    ranks = sorted({x["rank"] for x in json.load(open(j))["rows"]})
    check(ranks == [8, 16, 32], f"-b 4K -e 16K -f 2 sweeps the rank 8, 16, 32 ({ranks})")
    encode = [x["bytes"] for x in json.load(open(j))["rows"] if x["phase"] == "encode"]
    check(all(b >= 2 * 4096 * f for b, f in zip(encode, (1, 2, 4))), "and the uploads grow with it")


def bad_input(args):
    rc, out, err = run(args, 2, "--help")
    check(rc == 0 and "-b,--minbytes" in out and out.count("Usage: flcomm") == 1 and not err.strip(),
          "--help prints the options once and exits 0")
    for flags, words in ((["--quick", "--no-such-flag"], "no-such-flag"), (["--model", "llama-0"], "llama-3.2-1b"),
                         (["--quick", "--algorithms", "fedit,nope"], "nope"), (["--quick", "--lora-rank", "4"], "-r"),
                         (["--quick", "-n", "0"], "iters")):
        rc, out, err = run(args, 2, *flags)
        lines = [l for l in err.splitlines() if l.startswith("flcomm:")]
        check(rc == 2 and len(lines) == 1 and words in lines[0] and "Traceback" not in err,
              f"{' '.join(flags)}: exit 2 with one message naming {words!r} (rc {rc}: {lines})")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--flcomm", required=True)
    p.add_argument("--mpiexec", default="mpirun")
    p.add_argument("--workdir", required=True)
    args = p.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    clean_quick_run(args, args.workdir)
    corrupted_runs(args, args.workdir)
    sweep(args, args.workdir)
    bad_input(args)
    print("PASS")


if __name__ == "__main__":
    main()
