"""A run is a function of its config and seed, not of the number of ranks:
1, 2 and 4 ranks give bitwise-identical /rounds metrics, /clients rows and
final model, for every algorithm (with its per-client state). And LBGM
with delta = 0 sends everything in full, so it equals FedAvg bitwise."""
import numpy as np

from common import ALGORITHMS, Checker, mpirun, parse_args, reproducible_datasets, same_bits

args = parse_args()
c = Checker()
base_flags = ["--clients", 12, "--clients-per-round", 6, "--rounds", 3, "--partition", "shards",
              "--local-steps", 3, "--batch-size", 16, "--seed", 11, "--lr", 0.02]
load, same = reproducible_datasets, same_bits


for algo, extra in ALGORITHMS.items():
    flags = base_flags + ["--algorithm", algo] + extra
    runs = {}
    for n in (1, 2, 4):
        out = f"{args.workdir}/{algo}-np{n}.h5"
        mpirun(args, n, flags + ["--out", out])
        runs[n] = load(out)
    base = runs[1]
    c.check(len(base["rounds/train_loss"]) == 3 and np.all(np.isfinite(base["rounds/test_accuracy"])),
            f"{algo}: three evaluated rounds")
    for n in (2, 4):
        c.check(set(runs[n]) == set(base), f"{algo} np{n}: same datasets")
        bad = [k for k, v in base.items() if k in runs[n] and not same(v, runs[n][k])]
        c.check(not bad, f"{algo} np{n}: bitwise equal to np1 (differs: {bad})")
    if algo == "lbgm":
        c.check(base["rounds/scalar_parts"].sum() > 0, "lbgm took the look-back path at least once")

# --dataset synthetic: clients drawn from (seed, client) alone, so 1, 2 and
# 4 ranks give the same run bit for bit, for FedAvg and for LBGM (whose
# per-client look-back state must not depend on the ranks either).
for algo in ("fedavg", "lbgm"):
    flags = ["--dataset", "synthetic", "--model", "logreg", "--clients", 1000, "--clients-per-round", 10,
             "--rounds", 3, "--local-steps", 5, "--batch-size", 10, "--lr", 0.01, "--seed", 4, "--algorithm", algo]
    runs = {}
    for n in (1, 2, 4):
        out = f"{args.workdir}/synthetic-{algo}-np{n}.h5"
        mpirun(args, n, flags + ["--out", out])
        runs[n] = load(out)
    c.check(np.all(np.isfinite(runs[1]["rounds/test_accuracy"])) and runs[1]["rounds/test_accuracy"][-1] > 0.1,
            f"synthetic {algo}: evaluated, above chance ({runs[1]['rounds/test_accuracy'][-1]:.3f})")
    for n in (2, 4):
        bad = [k for k, v in runs[1].items() if k in runs[n] and not same(v, runs[n][k])]
        c.check(set(runs[n]) == set(runs[1]) and not bad, f"synthetic {algo} np{n}: bitwise equal to np1 (differs: {bad})")

# LBGM with delta = 0 is FedAvg: same losses, accuracy and final model, bit for bit.
fedavg = f"{args.workdir}/fedavg-np1.h5"
mpirun(args, 2, base_flags + ["--algorithm", "lbgm", "--lbgm-delta", 0, "--out", f"{args.workdir}/lbgm0.h5"])
a, b = load(fedavg), load(f"{args.workdir}/lbgm0.h5")
for k in ["rounds/train_loss", "rounds/test_loss", "rounds/test_accuracy", "clients/loss"] + \
         [k for k in a if k.startswith("final_model/")]:
    c.check(same(a[k], b[k]), f"lbgm delta=0 equals fedavg: {k}")
c.check(b["rounds/scalar_parts"].sum() == 0, "lbgm delta=0 sent no scalar")
c.done()
