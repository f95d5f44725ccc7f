"""The algorithm list agrees everywhere: `flbench --list-algorithms` (the
registry: names and wire ids, each unique), the choices `flbench --help`
shows for --algorithm, and the e2e list in common.py (names, the wire ids
published in every payload header, and the flags the e2e runs use)."""
import re

from common import ALGORITHMS, WIRE_IDS, Checker, mpirun, parse_args

args = parse_args()
c = Checker()

listed = mpirun(args, 1, ["--list-algorithms"]).stdout.split("\n")
registry = [tuple(line.split()) for line in listed if line.strip()]
print("registry:", " ".join(f"{n}={w}" for n, w in registry))
names = [n for n, _ in registry]
ids = [int(w) for _, w in registry]
c.check(len(set(names)) == len(names), f"registry names unique: {names}")
c.check(len(set(ids)) == len(ids), f"registry wire ids unique: {ids}")
c.check(dict(zip(names, ids)) == WIRE_IDS, f"registry wire ids {dict(zip(names, ids))} == common.WIRE_IDS {WIRE_IDS}")
c.check(names == list(ALGORITHMS), f"registry names (in order) {names} == common.ALGORITHMS {list(ALGORITHMS)}")

help_text = mpirun(args, 1, ["--help"]).stdout
m = re.search(r"--algorithm\s+TEXT:\{([^}]*)\}", help_text)
c.check(m is not None, "--help lists the --algorithm choices")
if m:
    shown = m.group(1).split(",")
    print("--help --algorithm:", shown)
    c.check(shown == names, f"--help choices {shown} == registry {names}")

# Every flag the e2e list gives an algorithm is an option of --help.
options = set(re.findall(r"(--[a-z][a-z0-9-]*)", help_text))
for name, flags in ALGORITHMS.items():
    for f in flags:
        if isinstance(f, str) and f.startswith("--"):
            c.check(f in options, f"{name}: e2e flag {f} is in --help")
c.done()
