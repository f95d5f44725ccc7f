#!/usr/bin/python3
"""An independent safetensors reference for tests/unit/hf_safetensors_test.cc.

    hf_safetensors_ref.py write DIR        # needs torch (Debian's python3-torch)
    hf_safetensors_ref.py check FILE EXPECTED   # pure Python (struct + json)

`write` lays files out by hand (struct + json; the `safetensors` package is
not used) with tensors from torch, and writes DIR/expected.txt: one line per
tensor, `FILE NAME DTYPE d0,d1,... v0 v1 ...`, the values as Python floats
(repr, which strtod reads back exactly). Files:

  f32.safetensors bf16.safetensors f16.safetensors   random normals and
      edge values (inf, -0.0, largest finite, subnormals) of that dtype,
      2-D / 1-D / scalar / empty tensors, __metadata__ {"format": "pt"}
  ints.safetensors      F64 I64 I32 I16 I8 U8 BOOL
  unaligned.safetensors header length not a multiple of 8 and an odd offset
  sharded/              two shards + model.safetensors.index.json
  single/model.safetensors   a directory holding one file, no index

`check` reads FILE with struct + json only (its own parser: u64 length,
header, data_offsets, F64/F32/F16/BF16/I*/U8/BOOL decoded by struct), and
compares every tensor with EXPECTED (same line format, written by the C++
side). It prints the max |difference| per tensor and overall, and exits 1
if any value, name, dtype or shape differs (tolerance 0), or the layout is
not valid safetensors (overlaps, holes, a data start not 8-aligned).
"""
import json
import math
import os
import struct
import sys

FORMATS = {"F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "I64": ("q", 8), "I32": ("i", 4),
           "I16": ("h", 2), "I8": ("b", 1), "U8": ("B", 1), "BOOL": ("?", 1), "BF16": (None, 2)}


def raw_bytes(t):
    import torch
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def write_file(path, tensors, metadata=None, pad_to=8, gap_first=0):
    """tensors: list of (name, dtype name, torch tensor)."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, t in tensors:
        b = raw_bytes(t)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    text = json.dumps(header).encode()
    if pad_to:
        text += b" " * ((-len(text)) % pad_to)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)


def expected_line(file, name, dtype, t):
    import torch
    vals = t.to(torch.float64).flatten().tolist()
    shape = ",".join(str(d) for d in t.shape) or "-"
    return f"{file} {name} {dtype} {shape} " + " ".join(repr(float(v)) for v in vals)


def write(out):
    import torch
    torch.manual_seed(20240520)
    os.makedirs(os.path.join(out, "sharded"), exist_ok=True)
    os.makedirs(os.path.join(out, "single"), exist_ok=True)
    lines = []
    edge = {
        torch.float32: [float("inf"), float("-inf"), -0.0, 3.4028234663852886e38, 1.401298464324817e-45, 1.1754943508222875e-38],
        torch.bfloat16: [float("inf"), -0.0, 3.3895313892515355e38, 9.183549615799121e-41],
        torch.float16: [float("inf"), -0.0, 65504.0, 5.960464477539063e-08, 6.103515625e-05],
    }
    for dtype_name, dtype in (("F32", torch.float32), ("BF16", torch.bfloat16), ("F16", torch.float16)):
        file = f"{dtype_name.lower()}.safetensors"
        tensors = [
            ("model.embed_tokens.weight", dtype_name, (torch.randn(7, 5) * 3).to(dtype)),
            ("model.norm.weight", dtype_name, (torch.rand(5) + 0.5).to(dtype)),
            ("edge", dtype_name, torch.tensor(edge[dtype], dtype=torch.float64).to(dtype)),
            ("scalar", dtype_name, torch.tensor(-1.25, dtype=dtype)),
            ("empty", dtype_name, torch.zeros(0, 3, dtype=dtype)),
        ]
        write_file(os.path.join(out, file), tensors, metadata={"format": "pt"})
        lines += [expected_line(file, n, d, t) for n, d, t in tensors]

    ints = [
        ("f64", "F64", torch.randn(3, 2, dtype=torch.float64)),
        ("i64", "I64", torch.tensor([-(2**62), 0, 2**53 - 1], dtype=torch.int64)),
        ("i32", "I32", torch.tensor([-(2**31), 7, 2**31 - 1], dtype=torch.int32)),
        ("i16", "I16", torch.tensor([-32768, 32767], dtype=torch.int16)),
        ("i8", "I8", torch.tensor([-128, 127, 3], dtype=torch.int8)),
        ("u8", "U8", torch.tensor([0, 255, 9], dtype=torch.uint8)),
        ("mask", "BOOL", torch.tensor([True, False, True, True])),
    ]
    write_file(os.path.join(out, "ints.safetensors"), ints)
    lines += [expected_line("ints.safetensors", n, d, t) for n, d, t in ints]

    # Data start not 8-aligned and an F32 at an odd offset: valid, unusual.
    unaligned = [("byte", "U8", torch.tensor([1, 2, 3], dtype=torch.uint8)),
                 ("w", "F32", torch.randn(4))]
    write_file(os.path.join(out, "unaligned.safetensors"), unaligned, pad_to=0)
    lines += [expected_line("unaligned.safetensors", n, d, t) for n, d, t in unaligned]

    shard_tensors = {
        "model-00001-of-00002.safetensors": [
            ("model.embed_tokens.weight", "BF16", torch.randn(6, 4).to(torch.bfloat16)),
            ("model.layers.0.self_attn.q_proj.weight", "BF16", torch.randn(4, 4).to(torch.bfloat16))],
        "model-00002-of-00002.safetensors": [
            ("model.layers.0.mlp.down_proj.weight", "BF16", torch.randn(4, 8).to(torch.bfloat16)),
            ("model.norm.weight", "F32", torch.rand(4))],
    }
    weight_map = {}
    for shard, tensors in shard_tensors.items():
        write_file(os.path.join(out, "sharded", shard), tensors, metadata={"format": "pt"})
        lines += [expected_line("sharded/" + shard, n, d, t) for n, d, t in tensors]
        weight_map.update({n: shard for n, _, _ in tensors})
    with open(os.path.join(out, "sharded", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 184}, "weight_map": weight_map}, f, indent=2)

    single = [("lm_head.weight", "F16", torch.randn(3, 4).to(torch.float16))]
    write_file(os.path.join(out, "single", "model.safetensors"), single)
    lines += [expected_line("single/model.safetensors", n, d, t) for n, d, t in single]

    with open(os.path.join(out, "expected.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} tensors under {out}")


def bf16_to_float(bits):
    return struct.unpack("<f", struct.pack("<I", bits << 16))[0]


def read(path):
    """{name: (dtype, shape, [values])} with struct + json only; validates the layout."""
    blob = open(path, "rb").read()
    (n,) = struct.unpack_from("<Q", blob, 0)
    if 8 + n > len(blob):
        raise ValueError(f"header length {n} past the end")
    if (8 + n) % 8:
        raise ValueError(f"data starts at {8 + n}, not 8-aligned")
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out, ranges = {}, []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, (b, end) = e["dtype"], e["shape"], e["data_offsets"]
        fmt, size = FORMATS[dtype]
        count = math.prod(shape)
        if count * size != end - b or end > len(data):
            raise ValueError(f"{name}: bad data_offsets {b, end}")
        ranges.append((b, end, name))
        chunk = data[b:end]
        if dtype == "BF16":
            vals = [bf16_to_float(v) for v in struct.unpack(f"<{count}H", chunk)]
        else:
            vals = [float(v) for v in struct.unpack(f"<{count}{fmt}", chunk)]
        out[name] = (dtype, shape, vals)
    pos = 0
    for b, end, name in sorted(ranges):
        if b != pos:
            raise ValueError(f"{name}: data at {b}, expected {pos} (overlap or hole)")
        pos = end
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} trailing bytes")
    return out


def check(path, expected_path):
    got = read(path)
    expected = {}
    for line in open(expected_path):
        parts = line.split()
        if not parts:
            continue
        name, dtype, shape = parts[1], parts[2], [] if parts[3] == "-" else [int(d) for d in parts[3].split(",")]
        expected[name] = (dtype, shape, [float(v) for v in parts[4:]])
    ok = sorted(got) == sorted(expected)
    if not ok:
        print(f"names differ: file {sorted(got)} expected {sorted(expected)}")
    worst, mismatched = 0.0, 0
    for name in sorted(set(got) & set(expected)):
        (gd, gs, gv), (ed, es, ev) = got[name], expected[name]
        if gd != ed or gs != es or len(gv) != len(ev):
            print(f"{name}: file {gd} {gs}, expected {ed} {es}")
            ok = False
            continue
        diff = 0.0
        for a, b in zip(gv, ev):
            same = a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
            if not same:
                mismatched += 1
                diff = max(diff, abs(a - b) if math.isfinite(a - b) else math.inf)
        print(f"{name} {gd} {gs}: max |python - flbench| = {diff:g}")
        worst = max(worst, diff)
    ok = ok and mismatched == 0
    print(f"python reader: {len(got)} tensors, {mismatched} values differ (sign of zero included), "
          f"max |difference| = {worst:g} (tolerance 0): {'OK' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    else:
        sys.exit(__doc__)
