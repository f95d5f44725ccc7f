#!/usr/bin/python3
"""Every script the README names runs, as committed, in a quick mode.

    test_readme_scripts.py SOURCE_DIR BUILD_DIR

Each script is started from a directory other than the repository (they
must run from anywhere) with its outputs redirected into a temporary
directory, so nothing committed or already written is touched. The README
is scanned for `scripts/...` and `slurm/...` names; one that no check below
covers (nor another ctest test, listed in COVERED_ELSEWHERE) fails the test,
so a new script cannot be documented without being exercised.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

import h5py

SRC, BUILD = (os.path.abspath(p) for p in sys.argv[1:3])
FLBENCH = os.path.join(BUILD, "apps", "flbench")

# Scripts exercised by other ctest tests (name -> test).
COVERED_ELSEWHERE = {
    "scripts/test.sh": "CI itself (.ci/run runs it)",
    "scripts/fuzz.sh": "CI (.ci/run runs scripts/test.sh --fuzz, which is scripts/fuzz.sh -t 20)",
    "scripts/install-deps.sh": "scripts/test.sh and scripts/quickstart.sh (below)",
    "scripts/build.sh": "scripts/test.sh and scripts/quickstart.sh (below)",
    "scripts/make-corpora.sh": "corpora.make, and run-lm.sh below",
    "scripts/analyze.py": "scripts.analyze",
    "scripts/sweep": "scripts.sweep",
    "scripts/local-slurm.sh": "scripts.slurm",
    "scripts/lm_table.py": "run-lm.sh below",
    "scripts/issue3.py": "run-issue3.sh below",
    "scripts/bench/bare_pytorch_round.py": "round_cost.sh below",
    "scripts/bench/bare_pytorch_llama.py": "llama_train.sh below",
    "scripts/bench/bare_pytorch_server.py": "server_step.sh below",
    "slurm/README.md": "a document",
    "scripts/gpu-check.sh": "scripts.gpu_kit (its CPU path; the GPU path needs a GPU)",
    "scripts/gpu-debs.sh": "scripts.gpu_kit (bash -n; it downloads from Debian's mirror, run by hand)",
    "scripts/gpu/make_llama.py": "scripts.gpu_kit",
    "scripts/gpu/throughput_table.py": "scripts.gpu_kit (through gpu-check.sh)",
}
for t in ("single", "array", "scaling-strong", "scaling-weak", "gpu"):
    COVERED_ELSEWHERE[f"slurm/{t}.sbatch"] = "scripts.slurm"

failures = []


def run(name, cmd, env=None, timeout=900):
    """Runs cmd from a scratch directory; returns its output, records a failure."""
    t0 = time.time()
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout)
    took = time.time() - t0
    ok = proc.returncode == 0
    print(f"{'ok  ' if ok else 'FAIL'} {name}: exit {proc.returncode} in {took:.0f} s: {' '.join(cmd)}")
    if not ok:
        failures.append(name)
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
    return proc.stdout


def expect(name, cond, what):
    print(f"{'ok  ' if cond else 'FAIL'} {name}: {what}")
    if not cond:
        failures.append(name)


def complete(path):
    return os.path.exists(path) and "completed_rounds" in h5py.File(path, "r").attrs


def check_round_cost(tmp):
    out = os.path.join(tmp, "round_cost.md")
    run("round_cost.sh", [os.path.join(SRC, "scripts/bench/round_cost.sh"), "2"],
        env={"FLBENCH": FLBENCH, "OUT": out, "MODELS": "mlp cnn-lbgm"})
    rows = [l for l in open(out)] if os.path.exists(out) else []
    expect("round_cost.sh", sum(bool(re.match(r"^\| (mlp|cnn-lbgm) \| [12] \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$", l))
                                for l in rows) == 4, f"{out} has a row for 1 and 2 threads of each model")


def check_wire_codec(tmp):
    out = os.path.join(tmp, "wire_codec.md")
    run("wire_codec.sh", [os.path.join(SRC, "scripts/bench/wire_codec.sh"), "20"],
        env={"FLB_BUILD_DIR": BUILD, "OUT": out})
    rows = [l for l in open(out) if l.startswith("| dense") or l.startswith("| sparse")] if os.path.exists(out) else []
    expect("wire_codec.sh", len(rows) == 3 and all(l.rstrip().endswith("| 0 |") for l in rows),
           f"{out}: 3 rows, #wrong 0 in each")


def check_overhead(tmp):
    out = os.path.join(tmp, "overhead.md")
    run("overhead.sh", [os.path.join(SRC, "scripts/bench/overhead.sh"), "3"],
        env={"FLBENCH": FLBENCH, "OUT": out, "NP_LIST": "1"})
    rows = [l for l in open(out) if l.startswith("| new |")] if os.path.exists(out) else []
    expect("overhead.sh", len(rows) == 1, f"{out}: one row for 1 rank")


def check_llama_train(tmp):
    out = os.path.join(tmp, "llama_train.md")
    run("llama_train.sh", [os.path.join(SRC, "scripts/bench/llama_train.sh"), "1"],
        env={"FLBENCH": FLBENCH, "OUT": out, "THREADS": "1", "STEPS": "2", "ROUNDS": "2"})
    rows = [l for l in open(out) if l.startswith("| 1 |")] if os.path.exists(out) else []
    expect("llama_train.sh", len(rows) == 1, f"{out}: one row for 1 thread")


def check_server_step(tmp):
    out = os.path.join(tmp, "server_step.md")
    run("server_step.sh", [os.path.join(SRC, "scripts/bench/server_step.sh"), "1"],
        env={"FLB_BUILD_DIR": BUILD, "OUT": out, "MODEL": "llama-3.2-1b", "CLIENTS": "2", "RANK": "4"})
    text = open(out).read() if os.path.exists(out) else ""
    rows = [l for l in text.splitlines() if l.startswith("| ") and "_proj" in l]
    expect("server_step.sh", len(rows) == 7 and "#wrong 0" in text and "**whole model**" in text,
           f"{out}: 7 projection rows, a whole-model row, #wrong 0")


def check_flcomm(tmp):
    out = os.path.join(tmp, "flcomm")
    run("flcomm.sh", [os.path.join(SRC, "scripts/bench/flcomm.sh"), "--quick"],
        env={"FLB_BUILD_DIR": BUILD, "OUT": out, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
    text = open(os.path.join(out, "quick.txt")).read() if os.path.exists(os.path.join(out, "quick.txt")) else ""
    expect("flcomm.sh", text.startswith("# command:") and "# #wrong total: 0 OK" in text
           and os.path.exists(os.path.join(out, "quick.json")), f"{out}/quick.txt: the command, the table, #wrong 0")


def check_scaling(tmp):
    out = os.path.join(tmp, "scaling.md")
    run("scaling.sh", [os.path.join(SRC, "scripts/bench/scaling.sh"), "3"],
        env={"FLBENCH": FLBENCH, "OUT": out, "NP_LIST": "1 2", "KINDS": "strong"})
    rows = [l for l in open(out) if l.startswith("| strong |")] if os.path.exists(out) else []
    expect("scaling.sh", len(rows) == 4 and sum("hierarchical" in l for l in rows) == 2,
           f"{out}: central and hierarchical rows on 1 and 2 ranks")


def check_fold(tmp):
    out = os.path.join(tmp, "fold.md")
    run("fold.sh", [os.path.join(SRC, "scripts/bench/fold.sh"), "2"], env={"FLBENCH": FLBENCH, "OUT": out})
    rows = [l for l in open(out) if l.startswith("| flexlora |") or l.startswith("| fedsrd |")] if os.path.exists(out) else []
    expect("fold.sh", len(rows) == 8 and sum("| hierarchical |" in l for l in rows) == 4,
           f"{out}: flexlora and fedsrd, central and hierarchical, at 20 and 200 clients per round")


def check_client_batch(tmp):
    out = os.path.join(tmp, "client_batch.md")
    run("client_batch.sh", [os.path.join(SRC, "scripts/bench/client_batch.sh"), "2"],
        env={"FLBENCH": FLBENCH, "OUT": out, "MODELS": "mlp", "KS": "1 5"})
    rows = [l for l in open(out) if l.startswith("| mlp |")] if os.path.exists(out) else []
    expect("client_batch.sh", len(rows) == 2 and all(re.match(r"^\| mlp \| [15] \|( [0-9.]+ \|){5}$", l) for l in rows),
           f"{out}: a row of numbers for K = 1 and 5")
    run("client_batch.sh (lora)", [os.path.join(SRC, "scripts/bench/client_batch.sh"), "2"],
        env={"FLBENCH": FLBENCH, "OUT": out, "MODELS": "lora", "LORA_KS": "1 2"})
    rows = [l for l in open(out) if l.startswith("| lora |")] if os.path.exists(out) else []
    expect("client_batch.sh (lora)", len(rows) == 2 and all(re.match(r"^\| lora \| [12] \|( [0-9.]+ \|){5}$", l) for l in rows),
           f"{out}: a row of numbers for multi-adapter K = 1 and 2")


def check_run_issue3(tmp):
    out = os.path.join(tmp, "issue3")
    env = {"FLBENCH": FLBENCH, "OUT": out, "SETTINGS": "A", "ALGS": "fedavg lbgm-d0.2", "EXTRA_A": "",
           "RUN_FLAGS": "--rounds 2 --eval-every 1"}
    for stage in ("runs", "report"):
        run(f"run-issue3.sh {stage}", [os.path.join(SRC, "scripts/run-issue3.sh"), stage], env=env)
    expect("run-issue3.sh", all(complete(os.path.join(out, "A", a + ".h5")) for a in ("fedavg", "lbgm-d0.2")),
           "both runs complete")
    # A paper's model, its lr tuned on a validation split, then over seeds: two
    # 1-round tuning runs, two 1-round runs at the chosen lr, the --seeds table.
    seeds = os.path.join(tmp, "issue3-seeds")
    env = {"FLBENCH": FLBENCH, "OUT": seeds, "SETTINGS": "A", "ALGS": "fedavg", "EXTRA_A": "",
           "RUN_FLAGS": "--rounds 1 --eval-every 1", "MODEL": "cnn-lbgm", "SEEDS": "1 2",
           "LRS": "0.02 0.01", "TUNE_ROUNDS": "1"}
    for stage in ("tune-lr", "runs", "report"):
        run(f"run-issue3.sh {stage} (MODEL, SEEDS, LRS)", [os.path.join(SRC, "scripts/run-issue3.sh"), stage], env=env)
    table = os.path.join(seeds, "A_seeds.md")
    text = open(table).read() if os.path.exists(table) else ""
    expect("run-issue3.sh MODEL SEEDS", all(complete(os.path.join(seeds, "A", f"fedavg_seed{n}.h5")) for n in (1, 2))
           and re.search(r"^\| fedavg +\| 1,2 +\|", text, re.M) is not None, f"fedavg_seed1/2 complete and {table} has their row:\n{text}")
    tuned = os.path.join(seeds, "A", "tuned-lr.txt")
    chosen = open(tuned).read().split() if os.path.exists(tuned) else []
    used = None
    if len(chosen) == 3 and complete(os.path.join(seeds, "A", "fedavg_seed1.h5")):
        with h5py.File(os.path.join(seeds, "A", "fedavg_seed1.h5"), "r") as f:
            toml = f.attrs["config_toml"]
            used = re.search(r"^lr=(\S+)", toml.decode() if isinstance(toml, bytes) else toml, re.M)
    expect("run-issue3.sh tune-lr", len(chosen) == 3 and chosen[0] == "fedavg" and chosen[1] in ("0.02", "0.01")
           and used is not None and float(used.group(1)) == float(chosen[1]),
           f"tuned-lr.txt names fedavg's lr chosen on validation ({chosen}) and the runs use it ({used and used.group(1)})")


def check_run_lm(tmp):
    out, corpora = os.path.join(tmp, "lm"), os.path.join(tmp, "corpora")
    env = {"FLBENCH": FLBENCH, "OUT": out, "CORPORA": corpora, "PRETRAIN_STEPS": "3",
           "RUN_FLAGS": "--rounds 2 --local-steps 2 --eval-sequences 4"}
    run("run-lm.sh a", [os.path.join(SRC, "scripts/run-lm.sh"), "a"], env=env, timeout=1200)
    runs = [f for f in os.listdir(os.path.join(out, "a"))] if os.path.isdir(os.path.join(out, "a")) else []
    done = [f for f in runs if f.endswith(".h5") and complete(os.path.join(out, "a", f))]
    expect("run-lm.sh", len(done) >= 10 and os.path.exists(os.path.join(out, "a", "table.md")),
           f"{len(done)} complete runs (expected 10) and a table")
    # issue 13: tune on the validation split, then the seeds at the tuned
    # rates, then the ablation at fedsrd-no-l1's rate (ONLY: two methods and
    # one ablation row, two rates, two seeds).
    env.update({"ONLY": "fedit fedsrd-no-l1 fedsrd-reconstruction", "LRS": "0.002 0.001", "SEEDS": "1 2",
                "TUNE_ROUNDS": "2"})
    for stage in (["tune", "a"], ["seeds", "a"], ["ablation"]):
        run(f"run-lm.sh {' '.join(stage)}", [os.path.join(SRC, "scripts/run-lm.sh")] + stage, env=env, timeout=1200)
    tuned = os.path.join(out, "a", "tuned-lr.txt")
    chosen = dict(line.split()[:2] for line in open(tuned)) if os.path.exists(tuned) else {}
    seeded = [f"{m}_seed{n}.h5" for m in ("fedit", "fedsrd-no-l1") for n in (1, 2)]
    lrs = {}
    for name in seeded:
        path = os.path.join(out, "a", name)
        if complete(path):
            with h5py.File(path, "r") as f:
                toml = f.attrs["config_toml"]
                lrs[name] = re.search(r"^lr=(\S+)", toml.decode() if isinstance(toml, bytes) else toml, re.M).group(1)
    table = open(os.path.join(out, "a", "table.md")).read()
    expect("run-lm.sh tune/seeds", set(chosen) == {"fedit", "fedsrd-no-l1"} and len(lrs) == 4 and
           all(float(lrs[n]) == float(chosen[n.split("_")[0]]) for n in lrs) and
           re.search(r"^\| fedit +\| 1,2 \|", table, re.M) is not None,
           f"tuned-lr.txt {chosen}, the seeds' lrs {lrs}, and the seeds' table row:\n{table[:1500]}")
    expect("run-lm.sh tune.md", re.search(r"^\| fedit \| .*\*\*[0-9.]+\*\*", open(os.path.join(out, "a", "tune.md")).read()
                                          if os.path.exists(os.path.join(out, "a", "tune.md")) else "", re.M) is not None,
           "tune.md has fedit's row with the chosen rate in bold")
    expect("run-lm.sh ablation", all(complete(os.path.join(out, "c", f"fedsrd-reconstruction_seed{n}.h5")) for n in (1, 2)),
           "the ablation's reconstruction row over two seeds")


def check_run_availability(tmp):
    out = os.path.join(tmp, "availability")
    text = run("run-availability.sh", [os.path.join(SRC, "scripts/run-availability.sh")],
               env={"FLBENCH": FLBENCH, "OUT": out, "RUN_FLAGS": "--rounds 3", "SEEDS": "1 2"})
    expect("run-availability.sh", all(complete(os.path.join(out, f"{n}_seed{k}.h5")) for n in ("windows", "always")
                                      for k in (1, 2))
           and "windows: virtual" in text and "always: virtual" in text and "(seeds 1 2)" in text,
           "both runs on both seeds complete, and their summary over the seeds")


def check_run_downloads(tmp):
    out = os.path.join(tmp, "downloads")
    env = {"FLBENCH": FLBENCH, "OUT": out, "SETTINGS": "A", "ALGS": "fedavg topk", "EXTRA_A": "",
           "CORPORA": os.path.join(tmp, "corpora-downloads"), "RUN_FLAGS": "--rounds 3 --eval-every 3"}
    run("run-downloads.sh", [os.path.join(SRC, "scripts/run-downloads.sh")], env=env, timeout=1200)
    tables = [os.path.join(out, p + ".md") for p in ("issue3", "lm")]
    rows = [sum(l.startswith("| ") for l in open(t)) - 1 if os.path.exists(t) else 0 for t in tables]
    expect("run-downloads.sh", rows == [2, 5], f"{tables}: 2 and 5 rows under the header (got {rows})")


def check_quickstart(tmp):
    if os.path.realpath(BUILD) != os.path.realpath(os.path.join(SRC, "build")):
        print(f"skip quickstart.sh: it builds into {SRC}/build, and this test's build is {BUILD}")
        return
    out = os.path.join(tmp, "quickstart.h5")
    run("quickstart.sh", [os.path.join(SRC, "scripts/quickstart.sh"), "--rounds", "2"], env={"OUT": out})
    expect("quickstart.sh", complete(out), f"{out} complete")


def readme_names():
    text = open(os.path.join(SRC, "README.md")).read()
    return sorted(set(re.findall(r"\b((?:scripts|slurm)/[\w./-]+\w)", text)))


def main():
    checked = {"scripts/bench/round_cost.sh": check_round_cost, "scripts/bench/wire_codec.sh": check_wire_codec,
               "scripts/bench/overhead.sh": check_overhead, "scripts/bench/llama_train.sh": check_llama_train,
               "scripts/bench/server_step.sh": check_server_step, "scripts/bench/flcomm.sh": check_flcomm,
               "scripts/bench/scaling.sh": check_scaling,
               "scripts/bench/fold.sh": check_fold, "scripts/bench/client_batch.sh": check_client_batch,
               "scripts/run-issue3.sh": check_run_issue3,
               "scripts/run-lm.sh": check_run_lm, "scripts/quickstart.sh": check_quickstart,
               "scripts/run-availability.sh": check_run_availability, "scripts/run-downloads.sh": check_run_downloads}
    unknown = [n for n in readme_names() if n not in checked and n not in COVERED_ELSEWHERE
               and not os.path.isdir(os.path.join(SRC, n))]
    expect("README", not unknown, "every script the README names is exercised"
           + (f"; not covered: {', '.join(unknown)}" if unknown else ""))
    only = sys.argv[3:]  # optional: names of the checks to run
    with tempfile.TemporaryDirectory() as tmp:
        for name, check in checked.items():
            if not only or any(o in name for o in only):
                check(tmp)
    print(f"{len(failures)} failed" + (f": {', '.join(failures)}" if failures else ""))
    sys.exit(1 if failures else 0)


main()
