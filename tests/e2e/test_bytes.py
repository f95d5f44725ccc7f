"""The bytes flbench reports are the bytes that crossed MPI, and FedAvg's
upload has the size the wire format's definition gives."""
import h5py
import numpy as np

from common import Checker, datasets, mpirun, parse_args

args = parse_args()
c = Checker()
for n in (1, 3):
    out = f"{args.workdir}/np{n}.h5"
    mpirun(args, n, ["--clients", 12, "--clients-per-round", 5, "--rounds", 3, "--local-steps", 2, "--out", out])
    with h5py.File(out, "r") as f:
        r, cl = f["rounds"], f["clients"]
        up = int(r["bytes_gathered"][:].sum())
        c.check(up == int(f.attrs["mpi_gatherv_bytes_sent_all_ranks"]),
                f"np{n}: sum of rounds/bytes_gathered ({up}) == bytes all ranks passed to MPI_Gatherv "
                f"({int(f.attrs['mpi_gatherv_bytes_sent_all_ranks'])})")
        c.check(up == int(cl["upload_bytes"][:].sum()),
                f"np{n}: bytes_gathered == the client payloads (wire version 2: no frames)")
        c.check(int(r["bytes_down"][:].sum()) == int(f.attrs["mpi_bcast_bytes"]),
                f"np{n}: sum of rounds/bytes_down == bytes of MPI_Bcast")
        # FedAvg: header 24 + per tensor (24-byte part header + 4 bytes per parameter).
        model = datasets(f["final_model"])
        params = sum(v.size for v in model.values())
        expected = 24 + 24 * len(model) + 4 * params
        c.check(np.all(cl["upload_bytes"][:] == expected), f"np{n}: every FedAvg upload is {expected} bytes")
        c.check(np.all(r["bytes_down"][:] == expected), f"np{n}: the broadcast is {expected} bytes")
        c.check(np.all(cl["nonzeros"][:] == params), f"np{n}: nonzeros == parameter count")
        c.check(len(cl["client"]) == 15, f"np{n}: 5 client rows per round")
c.done()
