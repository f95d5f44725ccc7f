#!/usr/bin/python3
"""The FedSRD server step as a bare PyTorch loop, the peer of
apps/bench/server_bench.cc (scripts/bench/server_step.sh runs both).

Per LoRA layer, with the global A (r, d_in), B (d_out, r) and m clients'
updated factors, the factored path anyone would write from the paper:
stack the clients' factors, float32 QR of both stacks, the R x R core
and its SVD in float64, the rank-r truncation mapped back, projected
through torch.linalg.pinv; FedSRD-e projects the untruncated average.
The same path in float64 from the stacks to the difference is timed too
(the accuracy flbench keeps; see server_step.sh's table).
Timed as server_bench times flbench: per distinct shape, the median over
REPS (after one warm-up) of the mean of an A-round and a B-round. Before
that, its error against a dense float64 reference on server_bench's
accuracy shape, at the same update scales.

    bare_pytorch_server.py --shapes JSON --clients M --rank R --reps N [--threads N] --out FILE.json
"""
import argparse
import json
import time

import torch


def stacks(Bs, As, w):
    Bst = torch.cat(Bs, 1)                       # (d_out, R)
    Ast = torch.cat([a.t() for a in As], 1)      # (d_in, R)
    wr = torch.cat([torch.full((b.shape[1],), wi) for b, wi in zip(Bs, w)])
    return Bst, Ast, wr


def truncated(Bst, Ast, wr, k):
    Qb, Rb = torch.linalg.qr(Bst)
    Qa, Ra = torch.linalg.qr(Ast)
    core = (Rb.double() * wr.double()) @ Ra.double().t()
    Uc, S, Vch = torch.linalg.svd(core, full_matrices=False)
    return Qb @ Uc[:, :k].float(), S[:k].float(), Qa @ Vch[:k].t().float()


def solve(A, B, Bs, As, w, factor, truncate):
    Bst, Ast, wr = stacks(Bs, As, w)
    k = A.shape[0]
    if factor == "A":
        Bp = torch.linalg.pinv(B)
        base = Bp @ B @ A
        if not truncate:
            return ((Bp @ Bst) * wr) @ Ast.t() - base
        U, S, V = truncated(Bst, Ast, wr, k)
        return ((Bp @ U) * S) @ V.t() - base
    Ap = torch.linalg.pinv(A)
    base = B @ (A @ Ap)
    if not truncate:
        return Bst @ (wr.unsqueeze(1) * (Ast.t() @ Ap)) - base
    U, S, V = truncated(Bst, Ast, wr, k)
    return (U * S) @ (V.t() @ Ap) - base


def layer(d_out, d_in, m, r, scale):
    """Global factors and m clients' updates; the clients' factors as float32 sums."""
    A = torch.randn(r, d_in) * 0.02
    B = torch.randn(d_out, r) * 0.02
    dA = [torch.randn(r, d_in) * (0.02 * scale) for _ in range(m)]
    dB = [torch.randn(d_out, r) * (0.02 * scale) for _ in range(m)]
    return (A, B, [B + d for d in dB], [A + d for d in dA], [1.0 / m] * m), (dA, dB)


def reference(A, B, w, dA, dB, factor, truncate=True):
    """Dense float64 from the updates: W_avg formed, full SVD, truncated (FedSRD), projected."""
    W = sum(wi * (B.double() + b.double()) @ (A.double() + a.double()) for b, a, wi in zip(dB, dA, w))
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    k = A.shape[0]
    dW = ((U[:, :k] * S[:k]) @ Vh[:k] if truncate else W) - B.double() @ A.double()
    return torch.linalg.pinv(B.double()) @ dW if factor == "A" else dW @ torch.linalg.pinv(A.double())


def rel_diff(got, want):
    return ((got.double() - want).abs().max() / want.abs().max()).item()


def solve_float64(A, B, Bs, As, w, factor):
    """The same factored path in float64 from the stacks to the difference:
    what the float32 path above needs to keep its digits once B A is trained."""
    Bst, Ast, wr = (t.double() for t in stacks(Bs, As, w))
    A64, B64, k = A.double(), B.double(), A.shape[0]
    Qb, Rb = torch.linalg.qr(Bst)
    Qa, Ra = torch.linalg.qr(Ast)
    Uc, S, Vch = torch.linalg.svd((Rb * wr) @ Ra.t(), full_matrices=False)
    Ck = (Uc[:, :k] * S[:k]) @ Vch[:k]
    if factor == "A":
        Bp = torch.linalg.pinv(B64)
        return (((Bp @ Qb) @ Ck) @ Qa.t() - Bp @ B64 @ A64).float()
    Ap = torch.linalg.pinv(A64)
    return (Qb @ (Ck @ (Qa.t() @ Ap)) - B64 @ (A64 @ Ap)).float()


def median_round(reps, step):
    times = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        step("A")
        t1 = time.perf_counter()
        step("B")
        t2 = time.perf_counter()
        if i > 0:
            times.append((t2 - t0) / 2)
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", required=True, help="server_bench's --json output (its shapes are timed here)")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rank", type=int, default=64)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: PyTorch's default)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    spec = json.load(open(a.shapes))
    shapes = spec["shapes"]
    accuracy = []
    acc_shape = next(s for s in shapes if s["name"] == spec["accuracy_shape"])
    for entry in spec["accuracy"]:
        torch.manual_seed(1)
        L, (dA, dB) = layer(acc_shape["d_out"], acc_shape["d_in"], a.clients, a.rank, entry["scale"])
        ref = lambda f, t=True: reference(L[0], L[1], L[4], dA, dB, f, t)
        d = max(rel_diff(solve(*L, f, True), ref(f)) for f in ("A", "B"))
        d64 = max(rel_diff(solve_float64(*L, f), ref(f)) for f in ("A", "B"))
        de = max(rel_diff(solve(*L, f, False), ref(f, False)) for f in ("A", "B"))
        accuracy.append({"scale": entry["scale"], "bare": d, "bare_float64": d64, "bare_e": de})
        print(f"  bare {acc_shape['name']}, updates {entry['scale']:.0e}: max rel diff from the dense float64 "
              f"reference {d:.2e} (float32 stacks), {d64:.2e} (float64), fedsrd-e {de:.2e}")
    out = []
    for i, s in enumerate(shapes):
        torch.manual_seed(100 + i)
        L, _ = layer(s["d_out"], s["d_in"], a.clients, a.rank, 0.1)
        t = median_round(a.reps, lambda f: solve(*L, f, True))
        te = median_round(a.reps, lambda f: solve(*L, f, False))
        t64 = median_round(a.reps, lambda f: solve_float64(*L, f))
        out.append({"name": s["name"], "fedsrd_s": t, "fedsrd_float64_s": t64, "fedsrd_e_s": te})
        print(f"  bare {s['name']:9s} fedsrd {1e3 * t:10.2f} ms  float64 {1e3 * t64:10.2f} ms  fedsrd-e {1e3 * te:10.2f} ms",
              flush=True)
    json.dump({"threads": torch.get_num_threads(), "torch": torch.__version__, "shapes": out, "accuracy": accuracy},
              open(a.out, "w"))


if __name__ == "__main__":
    main()
