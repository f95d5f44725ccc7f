"""--aggregation hierarchical against central through the real MPI path:
the same clients, bytes and records, and a final model and test losses
equal to a tolerance (float64 per-rank sums reduced in rank order against
rank 0's float32 weighted sum in client order); the bytes that moved
(/rounds/bytes_moved) are the ranks' sums; algorithms whose server step is
not a weighted mean are refused."""
import h5py
import numpy as np

from common import ALGORITHMS, Checker, datasets, mpirun, parse_args

TOLERANCE = 1e-5  # relative to the largest entry (model) or the value (losses)
RUN = ["--clients", 12, "--clients-per-round", 6, "--rounds", 3, "--local-steps", 2, "--eval-every", 1]

args = parse_args()
c = Checker()


def run(name, algorithm, np_, aggregation):
    out = f"{args.workdir}/{name}.h5"
    mpirun(args, np_, RUN + ["--algorithm", algorithm] + ALGORITHMS[algorithm] + ["--aggregation", aggregation, "--out", out])
    return out


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


for algorithm in ("fedavg", "topk", "fedit", "fed-dare", "ffa-lora"):
    central = run(f"{algorithm}-central", algorithm, 2, "central")
    for np_ in (1, 2, 3):
        hier = run(f"{algorithm}-hier-np{np_}", algorithm, np_, "hierarchical")
        with h5py.File(central, "r") as fc, h5py.File(hier, "r") as fh:
            who = f"{algorithm}, hierarchical on {np_} ranks vs central on 2"
            mc, mh = datasets(fc["final_model"]), datasets(fh["final_model"])
            worst = max(rel(mh[k], mc[k]) for k in mc)
            c.check(mc.keys() == mh.keys() and worst <= TOLERANCE,
                    f"{who}: final model max relative difference {worst:.2e} (tolerance {TOLERANCE:.0e})")
            print(f"{who}: final model differs by {worst:.2e} of its largest entry")
            loss = rel(fh["eval"]["loss"][:], fc["eval"]["loss"][:])
            c.check(loss <= TOLERANCE, f"{who}: /eval loss max relative difference {loss:.2e}")
            for col in ("client", "samples", "upload_bytes", "nonzeros"):
                c.check(np.array_equal(fc["clients"][col][:], fh["clients"][col][:]), f"{who}: /clients/{col} equal")
            rc, rh = fc["rounds"], fh["rounds"]
            c.check(np.array_equal(rc["bytes_gathered"][:], rh["bytes_gathered"][:]),
                    f"{who}: /rounds/bytes_gathered (the clients' uploads) equal")
            c.check(np.array_equal(rc["bytes_moved"][:], rc["bytes_gathered"][:]), f"{who}: central moves what it gathers")
            values = sum(v.size for v in mc.values()) if algorithm in ("fedavg", "topk") else None
            moved = rh["bytes_moved"][:]
            c.check(np.all(moved == moved[0]) and moved[0] % (8 * np_) == 0,
                    f"{who}: hierarchical moves the same {moved[0]} bytes every round, 8 per value per rank")
            if values is not None:
                per_rank = moved[0] // np_ // 8
                c.check(per_rank >= values, f"{who}: each rank's sum covers the {values} trained values ({per_rank})")
            c.check(np.array_equal(rc["bytes_down"][:], rh["bytes_down"][:]), f"{who}: the broadcast has the same size")

for algorithm in ("fedsrd", "flexlora", "lbgm"):
    p = mpirun(args, 2, RUN + ["--algorithm", algorithm] + ALGORITHMS[algorithm] +
               ["--aggregation", "hierarchical", "--out", f"{args.workdir}/{algorithm}-refused.h5"], check=False)
    lines = [l for l in p.stderr.splitlines() if "--aggregation hierarchical" in l]
    c.check(p.returncode != 0 and len(lines) == 1 and "central" in lines[0],
            f"{algorithm}: --aggregation hierarchical is refused with one message ({lines})")
c.done()
