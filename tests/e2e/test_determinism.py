"""A run is a function of its config and seed, not of the number of ranks:
1, 2 and 4 ranks give bitwise-identical /rounds metrics, /clients rows and
final model."""
import h5py
import numpy as np

from common import Checker, datasets, mpirun, parse_args

args = parse_args()
c = Checker()
flags = ["--clients", 20, "--clients-per-round", 7, "--rounds", 3, "--partition", "shards",
         "--local-steps", 4, "--batch-size", 16, "--seed", 11]
TIMING = {"wall_s", "train_s", "encode_s", "gather_s", "aggregate_s", "bcast_s", "apply_s", "eval_s", "io_s",
          "rss_max_bytes", "rank"}
runs = {}
for n in (1, 2, 4):
    out = f"{args.workdir}/np{n}.h5"
    mpirun(args, n, flags + ["--out", out])
    with h5py.File(out, "r") as f:
        c.check(int(f.attrs["mpi_size"]) == n, f"mpi_size attribute of np{n}")
        runs[n] = {k: v for k, v in datasets(f).items() if k.split("/")[-1] not in TIMING}

base = runs[1]
c.check(len(base["rounds/train_loss"]) == 3, "three rounds written")
c.check(np.all(np.isfinite(base["rounds/test_accuracy"])), "every round evaluated")
for n in (2, 4):
    c.check(set(runs[n]) == set(base), f"np{n} wrote the same datasets")
    for k, v in base.items():
        same = np.array_equal(v, runs[n][k]) if v.dtype.kind != "f" else v.tobytes() == runs[n][k].tobytes()
        c.check(same, f"np{n} {k} bitwise equal to np1")
# The final model really moved and is not trivially equal to the initial one.
c.check(any(np.abs(v).sum() > 0 for k, v in base.items() if k.startswith("final_model/")), "final model non-zero")
c.done()
