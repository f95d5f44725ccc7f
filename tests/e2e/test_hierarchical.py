"""--aggregation hierarchical against central through the real MPI path:
the same clients, bytes and records, and a final model and test losses
equal to a tolerance (float64 per-rank sums reduced in rank order against
rank 0's float32 weighted sum in client order; for FedSRD, FedSRD-e and
FlexLoRA the ranks' folds, algo/rank_fold.h); the bytes that moved
(/rounds/bytes_moved) are the ranks' sums, or their folds, whose size is
computed here from the layer shapes and each rank's arrived clients;
algorithms whose server step is neither are refused."""
import h5py
import numpy as np

from common import ALGORITHMS, Checker, datasets, mpirun, parse_args

TOLERANCE = 1e-5  # relative to the largest entry (model) or the value (losses)
FOLD_TOLERANCE = 1e-4  # the folds' QRs and float32 sums, through FedSRD's pinv and FlexLoRA's SVD for 3 rounds
RUN = ["--clients", 12, "--clients-per-round", 6, "--rounds", 3, "--local-steps", 2, "--eval-every", 1]

args = parse_args()
c = Checker()


def run(name, algorithm, np_, aggregation):
    out = f"{args.workdir}/{name}.h5"
    mpirun(args, np_, RUN + ["--algorithm", algorithm] + ALGORITHMS[algorithm] + ["--aggregation", aggregation, "--out", out])
    return out


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def fold_bytes(model, clients, np_, n_clients):
    """Bytes of every rank's fold per round (sim/hierarchical.cc pack_fold): a header of 10 eight-byte words
    plus 8 per trained tensor, and per LoRA layer (D0 (r, d_in), U0 (d_out, r)) 40 bytes, a and b, and
    k = min(r n, d_out, d_in) columns of L and R for the rank's n arrived clients."""
    pairs = [(model[k].shape, model[k[:-2] + "U0"].shape) for k in model if k.endswith("D0")]
    per_round = {}
    for rnd, client, status in zip(clients["round"][:], clients["client"][:], clients["status"][:]):
        if status == 0:  # arrived
            rank = next(r for r in range(np_) if r * n_clients // np_ <= client < (r + 1) * n_clients // np_)
            per_round.setdefault(rnd, [0] * np_)[rank] += 1
    out = []
    for rnd in sorted(per_round):
        total = 0
        for n in per_round[rnd]:
            total += 8 * 10 + 8 * 2 * len(pairs)
            for (r, d_in), (d_out, _) in pairs:
                k = min(r * n, d_out, d_in)
                total += 40 + 4 * (r * d_in + d_out * r + k * (d_out + d_in))
        out.append(total)
    return np.array(out)


for algorithm in ("fedavg", "topk", "fedit", "fed-dare", "ffa-lora", "fedsrd", "fedsrd-e", "flexlora"):
    folding = algorithm in ("fedsrd", "fedsrd-e", "flexlora")
    tolerance = FOLD_TOLERANCE if folding else TOLERANCE
    central = run(f"{algorithm}-central", algorithm, 2, "central")
    for np_ in (1, 2, 3):
        hier = run(f"{algorithm}-hier-np{np_}", algorithm, np_, "hierarchical")
        with h5py.File(central, "r") as fc, h5py.File(hier, "r") as fh:
            who = f"{algorithm}, hierarchical on {np_} ranks vs central on 2"
            mc, mh = datasets(fc["final_model"]), datasets(fh["final_model"])
            if algorithm == "flexlora":  # a singular pair's sign may differ: compare the products B A
                mc = {k: mc[k[:-2] + "U0"] @ mc[k] for k in mc if k.endswith("D0")}
                mh = {k: mh[k[:-2] + "U0"] @ mh[k] for k in mh if k.endswith("D0")}
            worst = max(rel(mh[k], mc[k]) for k in mc)
            c.check(mc.keys() == mh.keys() and worst <= tolerance,
                    f"{who}: final model max relative difference {worst:.2e} (tolerance {tolerance:.0e})")
            print(f"{who}: final model differs by {worst:.2e} of its largest entry")
            loss = rel(fh["eval"]["loss"][:], fc["eval"]["loss"][:])
            c.check(loss <= tolerance, f"{who}: /eval loss max relative difference {loss:.2e}")
            for col in ("client", "samples", "upload_bytes", "nonzeros"):
                c.check(np.array_equal(fc["clients"][col][:], fh["clients"][col][:]), f"{who}: /clients/{col} equal")
            rc, rh = fc["rounds"], fh["rounds"]
            c.check(np.array_equal(rc["bytes_gathered"][:], rh["bytes_gathered"][:]),
                    f"{who}: /rounds/bytes_gathered (the clients' uploads) equal")
            c.check(np.array_equal(rc["bytes_moved"][:], rc["bytes_gathered"][:]), f"{who}: central moves what it gathers")
            moved = rh["bytes_moved"][:]
            if folding:
                want = fold_bytes(datasets(fh["final_model"]), fh["clients"], np_, 12)
                c.check(np.array_equal(moved, want), f"{who}: the folds moved {list(moved)} bytes, as computed {list(want)}")
                print(f"{who}: folds moved {moved[0]} bytes in round 1 against {rh['bytes_gathered'][0]} of uploads")
            else:
                values = sum(v.size for v in mc.values()) if algorithm in ("fedavg", "topk") else None
                c.check(np.all(moved == moved[0]) and moved[0] % (8 * np_) == 0,
                        f"{who}: hierarchical moves the same {moved[0]} bytes every round, 8 per value per rank")
                if values is not None:
                    per_rank = moved[0] // np_ // 8
                    c.check(per_rank >= values, f"{who}: each rank's sum covers the {values} trained values ({per_rank})")
            c.check(np.array_equal(rc["bytes_down"][:], rh["bytes_down"][:]), f"{who}: the broadcast has the same size")

for algorithm in ("lbgm", "fedloru"):
    p = mpirun(args, 2, RUN + ["--algorithm", algorithm] + ALGORITHMS[algorithm] +
               ["--aggregation", "hierarchical", "--out", f"{args.workdir}/{algorithm}-refused.h5"], check=False)
    lines = [l for l in p.stderr.splitlines() if "--aggregation hierarchical" in l]
    c.check(p.returncode != 0 and len(lines) == 1 and "central" in lines[0],
            f"{algorithm}: --aggregation hierarchical is refused with one message ({lines})")
c.done()
