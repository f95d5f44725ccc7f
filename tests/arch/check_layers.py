#!/usr/bin/python3
"""The build's layering, checked: every #include in src/flb/<folder>/ against
the arrows of docs/architecture.md, and src/CMakeLists.txt's targets against
the same arrows.

    check_layers.py ROOT            # exit 1 and one line per violation
    check_layers.py --self-test     # proves the checker catches violations

The arrows are the table under "## Layers" in docs/architecture.md:

    | folder | may include | external |
    |---|---|---|
    | `core` | - | - |
    | `algo` | core, model, compress, linalg | LibTorch, CLI11 |

"external" names which of the guarded libraries (MPI, HDF5, LibTorch, CLI11,
nlohmann-json) a folder may include.
"""
import os
import re
import sys
import tempfile

# Headers that betray a dependency on a guarded external library.
EXTERNAL = {
    "MPI": re.compile(r"^(mpi\.h|mpi_.*\.h)$"),
    "HDF5": re.compile(r"^(hdf5\.h|H5.*\.h|hdf5_hl\.h)$"),
    "LibTorch": re.compile(r"^(torch|ATen|c10)/"),
    "CLI11": re.compile(r"^CLI/"),
    "nlohmann-json": re.compile(r"^nlohmann/"),
}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
# CMake names of the external libraries, for the target check.
CMAKE_EXTERNAL = {"MPI": "MPI::MPI_C", "HDF5": "flb_hdf5", "LibTorch": "${TORCH_LIBRARIES}", "CLI11": "CLI11::CLI11",
                  "nlohmann-json": "nlohmann_json::nlohmann_json"}


def read_arrows(doc):
    """{folder: (set of folders it may include, set of externals)} from the doc's table."""
    arrows, in_section = {}, False
    for line in open(doc, encoding="utf-8"):
        if line.startswith("## "):
            in_section = line.strip() == "## Layers"
            continue
        m = re.match(r"^\|\s*`(\w+)`\s*\|([^|]*)\|([^|]*)\|", line) if in_section else None
        if m:
            names = lambda s: {w.strip() for w in s.split(",") if w.strip() not in ("", "-", "—")}
            arrows[m.group(1)] = (names(m.group(2)), names(m.group(3)))
    if not arrows:
        sys.exit(f"check_layers: no '## Layers' table in {doc}")
    return arrows


def include_violations(src, arrows):
    out = []
    for folder in sorted(os.listdir(src)):
        path = os.path.join(src, folder)
        if not os.path.isdir(path):
            continue
        if folder not in arrows:
            out.append(f"src/flb/{folder}/: folder missing from the Layers table of docs/architecture.md")
            continue
        allowed, external = arrows[folder]
        for name in sorted(os.listdir(path)):
            for lineno, line in enumerate(open(os.path.join(path, name), encoding="utf-8"), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                header = m.group(2)
                where = f"src/flb/{folder}/{name}:{lineno}"
                dep = re.match(r"^flb/(\w+)/", header)
                if dep and dep.group(1) != folder and dep.group(1) not in allowed:
                    out.append(f"{where}: {folder} includes {header}, but {folder} may include only "
                               f"{', '.join(sorted(allowed)) or 'nothing'}")
                for lib, pattern in EXTERNAL.items():
                    if pattern.match(header) and lib not in external:
                        out.append(f"{where}: {folder} includes {header} ({lib}), which only "
                                   f"{', '.join(f for f, (_, e) in sorted(arrows.items()) if lib in e)} may see")
    return out


def cmake_violations(cmake, arrows):
    """Each flb_folder(name deps...) must link exactly the allowed folders and externals."""
    out, seen = [], set()
    text = open(cmake, encoding="utf-8").read()
    for m in re.finditer(r"^flb_folder\((\w+)([^)]*)\)", text, re.M):
        folder, deps = m.group(1), m.group(2).split()
        seen.add(folder)
        if folder not in arrows:
            out.append(f"src/CMakeLists.txt: target flb_{folder} has no row in docs/architecture.md")
            continue
        allowed, external = arrows[folder]
        linked = {d[len("flb_"):] for d in deps if d.startswith("flb_") and d != "flb_hdf5"}
        if linked != allowed:
            out.append(f"src/CMakeLists.txt: flb_{folder} links {sorted(linked)}, the arrows say {sorted(allowed)}")
        for lib, name in CMAKE_EXTERNAL.items():
            if name in deps and lib not in external:
                out.append(f"src/CMakeLists.txt: flb_{folder} links {lib}, which the table does not allow it")
    for folder in sorted(set(arrows) - seen):
        out.append(f"src/CMakeLists.txt: no flb_folder({folder} ...) target")
    return out


def check(root):
    arrows = read_arrows(os.path.join(root, "docs", "architecture.md"))
    return (include_violations(os.path.join(root, "src", "flb"), arrows) +
            cmake_violations(os.path.join(root, "src", "CMakeLists.txt"), arrows))


def self_test():
    """A tree with two violations must give exactly those two; a clean one none."""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs"))
        for f in ("core", "algo"):
            os.makedirs(os.path.join(root, "src", "flb", f))
        open(os.path.join(root, "docs", "architecture.md"), "w").write(
            "## Layers\n\n| folder | may include | external |\n|---|---|---|\n"
            "| `core` | - | - |\n| `algo` | core | LibTorch |\n")
        open(os.path.join(root, "src", "CMakeLists.txt"), "w").write(
            "flb_folder(core Threads::Threads)\nflb_folder(algo flb_core ${TORCH_LIBRARIES})\n")
        open(os.path.join(root, "src", "flb", "algo", "a.cc"), "w").write(
            '#include "flb/core/error.h"\n#include <torch/types.h>\n')
        clean = check(root)
        open(os.path.join(root, "src", "flb", "core", "b.h"), "w").write(
            '#include <mpi.h>\n#include "flb/algo/a.h"\n')
        dirty = check(root)
    ok = clean == [] and len(dirty) == 2 and "b.h:1" in dirty[0] and "b.h:2" in dirty[1]
    print(f"self-test: clean tree {len(clean)} violation(s) (expected 0), "
          f"tree with 2 planted violations {len(dirty)} found (expected 2): {'ok' if ok else 'FAILED'}")
    for v in clean + dirty:
        print("  " + v)
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(self_test())
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    violations = check(sys.argv[1])
    for v in violations:
        print(v)
    print(f"check_layers: {len(violations)} violation(s)")
    sys.exit(1 if violations else 0)
