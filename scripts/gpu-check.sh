#!/usr/bin/env bash
# One prepared check of flbench on a machine with a GPU (issue 10, item 6),
# made to finish within 8 minutes on one H200:
#   a. unpacks the Debian 12 packages it was handed (scripts/gpu-debs.sh made
#      them: Open MPI, parallel HDF5, Eigen, CLI11, nlohmann-json, toml++,
#      PCRE2, GoogleTest, zlib, pkgconf) into a prefix with `dpkg -x`: the
#      machine has a CUDA PyTorch but none of these, and cannot download;
#   b. configures flbench against that machine's LibTorch
#      (torch.utils.cmake_prefix_path) and the prefix, builds with all cores;
#   c. a tiny FedSRD run on --device cpu and --device cuda whose training
#      losses must agree, and (last, when time is left) the unit and model
#      tests (ctest -L unit, -R model);
#   d. the golden comparison against transformers' LlamaForCausalLM
#      (tests/model/hf_golden.py; skipped with a message without transformers);
#   e. a 4-client FedSRD run (2 rounds: the first warms up) on a
#      random-initialised model of Llama-3.2-1B's shape (bf16 safetensors),
#      4 random token domains, --device cuda;
#   f. prints one table (scripts/gpu/throughput_table.py): tokens/s per
#      client, server seconds per round, peak memory per GPU, MFU;
#   g. the FedSRD server step for every adapted layer of Llama-3.2-3B
#      (r = 64, 4 clients) on the GPU (apps/bench/server_bench.cc; issue
#      10's target: under 1 s per round on one H200), checked against a
#      dense float64 reference first;
#   h. the NCCL transport (--transport nccl, issue 11 item 3): c.'s tiny run
#      on cuda again over NCCL (one rank: one GPU here) must give the same
#      bits as over MPI, and the NCCL tests of flb_mpi_tests pass;
#   i. multi-adapter batched clients (--client-batch, issue 11 item 5): FedIT
#      on c.'s tiny model, 16 clients per round, K = 1 against 8 on the GPU
#      (the CPU without one): clients per second and the speed-up, the
#      /eval losses agreeing to 1e-3.
# Without a GPU every CUDA part is skipped and says so, and e. runs a tiny
# model on the CPU so the table's path is exercised (not a measurement).
#
#   GPU_DEBS=deps/gpu-debs scripts/gpu-check.sh
# Environment (all optional):
#   GPU_DEBS       directory of .deb files to unpack (default deps/gpu-debs; none: use the system's packages)
#   PREFIX         where they are unpacked (default /tmp/flb-prefix)
#   BUILD          build directory (default build-gpu)
#   BUILD_TARGETS  targets to build (default "flbench flb_unit_tests flb_mpi_tests server_bench"; "none": configure only)
#   JOBS           build jobs (default nproc)
#   FLBENCH        an flbench binary to use instead of BUILD's
#   SKIP_BUILD     set: no configure, no build, no ctest (with FLBENCH: the CPU smoke test of ctest scripts.gpu_kit)
#   TORCH_PREFIX   LibTorch's CMake prefix (default: python3's torch.utils.cmake_prefix_path)
#   LLM_SHAPE      llama-3.2-1b (default with a GPU) or tiny (default without)
#   LLM_STEPS, LLM_BATCH, LLM_CONTEXT, LLM_RANK   local steps, batch, context, LoRA rank of e. (4, 8, 512, 16; without a GPU 2, 2, 64, 16)
#   AUTOCAST       e.'s --autocast (default bf16 with a GPU, off without)
#   SERVER_MODEL   g.'s model preset (default llama-3.2-3b with a GPU, llama-3.2-1b's shapes at r 8 on the CPU)
#   PYTHON         the Python with torch (and h5py, transformers) (default python3)
#   OUT            where the table and logs go (the device tool returns $OUT; default /tmp/flb-gpu-check)
# Exit status: 0 when every step that ran passed, 1 otherwise (each step's
# result is in the summary at the end).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GPU_DEBS=${GPU_DEBS:-deps/gpu-debs}
PREFIX=${PREFIX:-/tmp/flb-prefix}
BUILD=${BUILD:-build-gpu}
BUILD_TARGETS=${BUILD_TARGETS:-flbench flb_unit_tests flb_mpi_tests server_bench}
JOBS=${JOBS:-$(nproc)}
out=${OUT:-/tmp/flb-gpu-check}
work=$(mktemp -d /tmp/flb-gpu-check-XXXXXX)
mkdir -p "$out"
exec > >(tee "$out/gpu-check.log") 2>&1
t0=$(date +%s)
summary=()
failed=0
elapsed() { echo $(( $(date +%s) - t0 )); }
note() { echo "gpu-check [$(elapsed) s]: $*"; }
# record NAME STATUS: one line of the summary; STATUS ok, FAIL or SKIP (why).
record() { summary+=("$(printf '%-28s %s' "$1" "$2")"); case $2 in FAIL*) failed=1;; esac; }

# Plain python3 for our scripts, without the prefix's libraries on its path.
PYTHON=${PYTHON:-python3}
py() { env -u LD_LIBRARY_PATH "$PYTHON" "$@"; }

have_gpu=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 &&
   py -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  have_gpu=1
  note "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
else
  note "no GPU visible (nvidia-smi or torch.cuda): the CUDA steps are skipped"
fi

# --- a. unpack the Debian packages -------------------------------------------
L=$PREFIX/usr/lib/x86_64-linux-gnu
use_prefix=0
if [ "$GPU_DEBS" != none ] && compgen -G "$GPU_DEBS/*.deb" >/dev/null; then
  rm -rf "$PREFIX" && mkdir -p "$PREFIX/bin"
  for f in "$GPU_DEBS"/*.deb; do dpkg -x "$f" "$PREFIX"; done
  # Debian names its Open MPI programs *.openmpi and links mpicc & co. with
  # update-alternatives, which dpkg -x does not run. The wrappers set what a
  # relocated Open MPI needs (OPAL_PREFIX: its plugins, help and wrapper
  # data; the library path for orted and the ranks) for MPI programs only,
  # so the system's own programs (python3, nvcc) keep the system's libraries.
  # Debian puts some libraries under /lib, and libpsm_infinipath.so.1 is an
  # alternatives link that dpkg -x does not make: one extra directory holds it.
  mkdir -p "$PREFIX/lib-extra"
  for f in "$PREFIX"/usr/lib/libpsm1/libpsm_infinipath.so.1.*; do [ -e "$f" ] && ln -sf "$f" "$PREFIX/lib-extra/libpsm_infinipath.so.1"; done
  lib_path="$L:$PREFIX/lib/x86_64-linux-gnu:$L/openmpi/lib:$L/hdf5/openmpi:$PREFIX/lib-extra"
  # PMIx loads its plugins from its configured path (no relocation variable
  # worked in a test on Debian 12): on a machine without it, point that
  # path at the prefix (a bare, throw-away machine; nothing is overwritten).
  if [ ! -e /usr/lib/x86_64-linux-gnu/pmix2 ] && [ -w /usr/lib/x86_64-linux-gnu ]; then
    ln -s "$L/pmix2" /usr/lib/x86_64-linux-gnu/pmix2 && note "linked /usr/lib/x86_64-linux-gnu/pmix2 -> $L/pmix2"
  fi
  for p in mpicc mpicxx mpirun mpiexec orted ompi_info; do
    real=$PREFIX/usr/bin/$p.openmpi; [ -e "$real" ] || real=$PREFIX/usr/bin/$p
    printf '#!/bin/sh\nexport OPAL_PREFIX=%s/usr LD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\nexec %s "$@"\n' \
      "$PREFIX" "$lib_path" "$real" >"$PREFIX/bin/$p"
    chmod +x "$PREFIX/bin/$p"
  done
  # pkgconf from the prefix, reading only the prefix's .pc files, with the
  # prefix put in front of their /usr paths.
  printf '#!/bin/sh\nexport LD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} PKG_CONFIG_SYSROOT_DIR=%s\nexport PKG_CONFIG_LIBDIR=%s\nexec %s "$@"\n' \
    "$L" "$PREFIX" "$L/pkgconfig:$L/openmpi/lib/pkgconfig:$PREFIX/usr/share/pkgconfig" "$PREFIX/usr/bin/pkgconf" \
    >"$PREFIX/bin/pkg-config"
  chmod +x "$PREFIX/bin/pkg-config"
  export PATH=$PREFIX/bin:$PATH OPAL_PREFIX=$PREFIX/usr
  # Our binaries carry an RPATH to the prefix, but Debian's libmpi has a
  # RUNPATH of its own (/usr/...), so its dependencies and Open MPI's plugins
  # need the library path as well: flbench and ctest run under with_prefix.
  with_prefix() { LD_LIBRARY_PATH=$lib_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$@"; }
  use_prefix=1
  note "unpacked $(ls "$GPU_DEBS"/*.deb | wc -l) packages from $GPU_DEBS into $PREFIX ($(du -sh "$PREFIX" | cut -f1))"
  record "a. unpack debs" ok
else
  note "no .deb files in GPU_DEBS=$GPU_DEBS: using the system's packages (make them with scripts/gpu-debs.sh)"
  record "a. unpack debs" "SKIP (GPU_DEBS=$GPU_DEBS: no .deb files)"
fi
type with_prefix >/dev/null 2>&1 || with_prefix() { "$@"; }
# Without a daemon: a one-rank flbench started without mpirun stays a
# singleton instead of forking orted; root may run MPI programs.
export OMPI_MCA_ess_singleton_isolated=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# --- b. configure and build ----------------------------------------------------
TORCH_PREFIX=${TORCH_PREFIX:-$(py -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)}
if [ -z "$TORCH_PREFIX" ] || [ ! -d "$TORCH_PREFIX/Torch" ]; then
  # Debian's python3-torch names a directory it does not ship; its LibTorch's CMake files are here.
  [ -d /usr/lib/x86_64-linux-gnu/cmake/Torch ] && TORCH_PREFIX=/usr/lib/x86_64-linux-gnu/cmake
fi
note "LibTorch CMake prefix: ${TORCH_PREFIX:-none found}"
# Debian's C++ libraries use the CXX11 ABI; a LibTorch without it links to
# none of them (undefined std::__cxx11 symbols): say so before building.
abi=$(py -c 'import torch; print(torch._C._GLIBCXX_USE_CXX11_ABI)' 2>/dev/null || echo unknown)
[ "$abi" = False ] && note "warning: this PyTorch's LibTorch uses the old C++ ABI: linking against Debian's libraries will fail"
# The prefix first: Debian's LibTorch prefix (/usr/lib/x86_64-linux-gnu/cmake)
# also holds the system's GTest and toml++ files, which would win otherwise.
search=$TORCH_PREFIX; [ $use_prefix -eq 1 ] && search="$PREFIX/usr;$TORCH_PREFIX"
# CMAKE_POLICY_VERSION_MINIMUM: CMake 4 (pip's) refuses Debian's older
# package config files without it; older CMake ignores it.
cmake_args=(-S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=$search"
  -DCMAKE_POLICY_VERSION_MINIMUM=3.5 "-DFLB_H5PY_PYTHON=$(command -v "$PYTHON")")
# With a GPU the build must have CUDA (a CPU LibTorch is an error, not a
# silent CPU build); LibTorch's CMake files find the toolkit through CUDAToolkit_ROOT.
if [ $have_gpu -eq 1 ]; then
  cmake_args+=(-DFLB_WITH_CUDA=ON)
  [ -e /usr/local/cuda/bin/nvcc ] && cmake_args+=(-DCUDAToolkit_ROOT=/usr/local/cuda -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
if [ $use_prefix -eq 1 ]; then
  # DT_RPATH (not RUNPATH) on our binaries: it also serves libmpi's and
  # libhdf5's own dependencies, so flbench runs without LD_LIBRARY_PATH.
  cmake_args+=(-DMPI_C_COMPILER="$PREFIX/bin/mpicc" -DMPIEXEC_EXECUTABLE="$PREFIX/bin/mpirun"
    -DPKG_CONFIG_EXECUTABLE="$PREFIX/bin/pkg-config"
    "-DCMAKE_BUILD_RPATH=${lib_path//:/;}"
    "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--disable-new-dtags -Wl,-rpath-link,$lib_path")
fi
if command -v ccache >/dev/null; then cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
note "cmake ${cmake_args[*]}"
if [ -n "${SKIP_BUILD:-}" ]; then
  record "b. configure, build" "SKIP (SKIP_BUILD set)"
elif cmake "${cmake_args[@]}" >"$out/cmake.log" 2>&1; then
  grep -E 'flbench:|CUDA|Torch|MPI|HDF5' "$out/cmake.log" | grep -v '^--   ' | head -20
  record "b. configure" ok
  if [ "$BUILD_TARGETS" = none ]; then
    record "b. build" "SKIP (BUILD_TARGETS=none)"
  elif cmake --build "$BUILD" -j "$JOBS" --target $BUILD_TARGETS >"$out/build.log" 2>&1; then
    note "built $BUILD_TARGETS in $BUILD"
    record "b. build" ok
  else
    tail -40 "$out/build.log"; record "b. build" "FAIL (build.log)"
  fi
else
  tail -40 "$out/cmake.log"; record "b. configure" "FAIL (cmake.log)"
fi
FLBENCH=${FLBENCH:-$root/$BUILD/apps/flbench}
if [ ! -x "$FLBENCH" ]; then
  note "no flbench at $FLBENCH: the remaining steps need one"
  printf '  %s\n' "${summary[@]}"; exit 1
fi
if [ $use_prefix -eq 1 ]; then
  # Python scripts below run flbench through this wrapper: the prefix's
  # libraries for flbench alone, not for the Python that starts it.
  printf '#!/bin/sh\nexport LD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\nexec %s "$@"\n' \
    "$lib_path" "$FLBENCH" >"$PREFIX/bin/flbench"
  chmod +x "$PREFIX/bin/flbench"
  FLBENCH=$PREFIX/bin/flbench
fi
"$FLBENCH" --version || true
[ $use_prefix -eq 1 ] && { with_prefix ldd "$root/$BUILD/apps/flbench" 2>/dev/null | grep -E 'not found|libmpi|libhdf5|torch_cuda' || true; }

# --- c. tests (the ctest suites run last, below: the table matters more if time runs short) ---
# The same tiny FedSRD run on the CPU and on the GPU: per-round training
# losses agree to float32 rounding (cuBLAS sums in another order).
py scripts/gpu/make_llama.py --shape tiny --dtype f32 --out "$work/tiny" --tokens "$work/tiny-tokens" \
  --train-tokens 40000 --val-tokens 4000 >/dev/null
tiny=(--dataset tokens --token-dir "$work/tiny-tokens" --base "$work/tiny" --domains d0,d1,d2,d3 --ood-domains none
  --partition by-domain --clients 4 --clients-per-round 4 --algorithm fedsrd --rounds 3 --local-steps 2
  --batch-size 4 --context 64 --eval-sequences 4 --optimizer adamw --lr 1e-3 --lora-rank 8 --alpha 16 --seed 2)
devices="cpu"; [ $have_gpu -eq 1 ] && devices="cpu cuda"
ok=1
for d in $devices; do
  "$FLBENCH" "${tiny[@]}" --device "$d" --out "$work/tiny-$d.h5" >"$work/tiny-$d.log" 2>&1 ||
    { tail -5 "$work/tiny-$d.log"; ok=0; }
done
if [ $ok -eq 0 ]; then
  record "c. tiny fedsrd cpu/cuda" FAIL
elif [ $have_gpu -eq 0 ]; then
  record "c. tiny fedsrd cpu/cuda" "SKIP (no GPU; the cpu run passed)"
elif py - "$work/tiny-cpu.h5" "$work/tiny-cuda.h5" <<'EOF'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["rounds/train_loss"][:] for p in sys.argv[1:])
d = float(np.max(np.abs(a - b) / np.abs(a)))
print(f"tiny fedsrd: train_loss cpu {a.round(6).tolist()} cuda {b.round(6).tolist()}: max rel diff {d:.2e} (tolerance 1e-3)")
sys.exit(d > 1e-3)
EOF
then record "c. tiny fedsrd cpu/cuda" ok
else record "c. tiny fedsrd cpu/cuda" FAIL
fi

# --- h. the NCCL transport: the same bits as MPI -----------------------------------
if [ $have_gpu -eq 0 ]; then
  record "h. nccl transport" "SKIP (no GPU)"
elif ! "$FLBENCH" "${tiny[@]}" --device cuda --transport nccl --out "$work/tiny-nccl.h5" >"$work/tiny-nccl.log" 2>&1; then
  tail -5 "$work/tiny-nccl.log"; record "h. nccl transport" "FAIL (tiny run over NCCL)"
elif py - "$work/tiny-cuda.h5" "$work/tiny-nccl.h5" <<'EOF'
import sys, h5py
a, b = (h5py.File(p, "r") for p in sys.argv[1:])
same = all(a[k][()].tobytes() == b[k][()].tobytes() for k in ("rounds/train_loss", "eval/loss"))
print(f"tiny fedsrd on cuda, --transport nccl against mpi: train and eval losses {'the same bits' if same else 'DIFFER'}")
sys.exit(not same)
EOF
then
  mpi_tests=$root/$BUILD/tests/flb_mpi_tests
  if [ -x "$mpi_tests" ] && with_prefix "$mpi_tests" --gtest_filter='NcclTransport.*' >"$out/nccl-tests.log" 2>&1; then
    record "h. nccl transport" "ok (same bits; $(grep -c 'OK \]' "$out/nccl-tests.log") NCCL tests passed)"
  elif [ -x "$mpi_tests" ]; then
    tail -20 "$out/nccl-tests.log"; record "h. nccl transport" "FAIL (nccl-tests.log)"
  else
    record "h. nccl transport" "ok (same bits; flb_mpi_tests not built)"
  fi
else
  record "h. nccl transport" FAIL
fi

# --- i. multi-adapter batched clients: K = 1 against 8 ------------------------------
batch_dev=cpu; [ $have_gpu -eq 1 ] && batch_dev=cuda
batched=(--dataset tokens --token-dir "$work/tiny-tokens" --base "$work/tiny" --domains d0,d1,d2,d3 --ood-domains none
  --partition by-domain --clients 16 --clients-per-round 16 --algorithm fedit --rounds 3 --local-steps 4
  --batch-size 4 --context 64 --eval-sequences 4 --optimizer adamw --lr 1e-3 --lora-rank 8 --alpha 16 --seed 2
  --device "$batch_dev")
ok=1
for k in 1 8; do
  "$FLBENCH" "${batched[@]}" --client-batch $k --out "$work/batched-k$k.h5" >"$work/batched-k$k.log" 2>&1 ||
    { tail -5 "$work/batched-k$k.log"; ok=0; }
done
if [ $ok -eq 0 ]; then
  record "i. client-batch $batch_dev" FAIL
elif speedup=$(py - "$work/batched-k1.h5" "$work/batched-k8.h5" "$batch_dev" <<'EOF'
import sys, h5py, numpy as np
one, eight = (h5py.File(p, "r") for p in sys.argv[1:3])
rate = [f["clients/round"][:].size / f["rounds/train_s"][:].size / f["rounds/train_s"][1:].mean() for f in (one, eight)]
d = float(np.max(np.abs(eight["eval/loss"][:] - one["eval/loss"][:]) / np.abs(one["eval/loss"][:])))
print(f"multi-adapter fedit on {sys.argv[3]}: {rate[0]:.1f} clients/s at K = 1, {rate[1]:.1f} at K = 8 "
      f"({rate[1] / rate[0]:.2f}x); /eval loss max rel diff {d:.2e} (tolerance 1e-3)", file=sys.stderr)
print(f"{rate[1] / rate[0]:.2f}x")
sys.exit(d > 1e-3)
EOF
); then record "i. client-batch $batch_dev" "ok (K = 8: $speedup the clients/s of K = 1)"
else record "i. client-batch $batch_dev" FAIL
fi

# --- d. golden comparison against transformers ----------------------------------
set +e
py tests/model/hf_golden.py --flbench "$FLBENCH" --workdir "$work/golden" 2>&1 | tee "$out/golden.log"
rc=${PIPESTATUS[0]}
set -e
case $rc in
  0) record "d. transformers golden" ok;;
  77) record "d. transformers golden" "SKIP ($(grep -o 'SKIP: .*' "$out/golden.log" | head -1))";;
  *) record "d. transformers golden" "FAIL (golden.log)";;
esac

# --- e. 4-client FedSRD on a Llama-3.2-1B-shaped model ---------------------------
if [ $have_gpu -eq 1 ]; then shape=${LLM_SHAPE:-llama-3.2-1b}; device=cuda; else shape=${LLM_SHAPE:-tiny}; device=cpu; fi
# Without a GPU: a few small steps, so the CPU smoke run takes a minute, not ten.
if [ $have_gpu -eq 1 ]; then d_steps=4 d_batch=8 d_context=512; else d_steps=2 d_batch=2 d_context=64; fi
steps=${LLM_STEPS:-$d_steps} batch=${LLM_BATCH:-$d_batch} context=${LLM_CONTEXT:-$d_context} rank=${LLM_RANK:-16}
if [ $have_gpu -eq 1 ]; then autocast=${AUTOCAST:-bf16}; else autocast=${AUTOCAST:-off}; fi
[ $have_gpu -eq 1 ] || note "no GPU: e. runs the tiny shape on the CPU to exercise the table (not a measurement)"
need=$(( 4 * (2 * steps * batch * (context + 1) + 8 * (context + 1)) + 4096 ))
py scripts/gpu/make_llama.py --shape "$shape" --dtype bf16 --out "$work/llm" --tokens "$work/llm-tokens" \
  --train-tokens "$need" --val-tokens $(( 8 * (context + 1) ))
mem_log=$work/gpu-mem.csv
if [ $have_gpu -eq 1 ]; then
  nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits -lms 200 >"$mem_log" 2>/dev/null &
  smi=$!
fi
set +e
"$FLBENCH" --dataset tokens --token-dir "$work/llm-tokens" --base "$work/llm" --domains d0,d1,d2,d3 \
  --ood-domains none --partition by-domain --clients 4 --clients-per-round 4 --algorithm fedsrd --rounds 2 \
  --local-steps "$steps" --batch-size "$batch" --context "$context" --eval-sequences 4 --eval-every 2 \
  --optimizer adamw --lr 1e-4 --lora-rank "$rank" --alpha $((2 * rank)) --lora-targets all \
  --autocast "$autocast" --device "$device" --out "$work/llm.h5" 2>&1 | tee "$out/run.log"
rc=${PIPESTATUS[0]}
set -e
[ $have_gpu -eq 1 ] && kill "$smi" 2>/dev/null
if [ "$rc" -ne 0 ]; then
  record "e. fedsrd $shape" "FAIL (exit $rc, run.log)"
else
  record "e. fedsrd $shape" ok
  # --- f. the table ----------------------------------------------------------------
  label="flbench FedSRD, 4 clients, $shape on $device"
  [ $have_gpu -eq 1 ] || label="$label (CPU smoke run of gpu-check.sh: not a GPU measurement)"
  if py scripts/gpu/throughput_table.py --h5 "$work/llm.h5" --base "$work/llm" --gpu-mem-log "$mem_log" \
       --log "$out/run.log" --label "$label" --out "$out/throughput.md"; then
    record "f. table" "ok ($out/throughput.md)"
  else
    record "f. table" FAIL
  fi
fi

# --- g. the FedSRD server step at Llama-3.2-3B's shapes ---------------------------
# Next to the flbench used (FLBENCH's, or the build's when the prefix wraps it).
server_bench=$(dirname "$FLBENCH")/server_bench
[ $use_prefix -eq 1 ] && server_bench=$root/$BUILD/apps/server_bench
if [ ! -x "$server_bench" ]; then
  record "g. server step" "SKIP (no $server_bench)"
else
  if [ $have_gpu -eq 1 ]; then s_args=(--model "${SERVER_MODEL:-llama-3.2-3b}" --rank 64 --device cuda)
  else s_args=(--model "${SERVER_MODEL:-llama-3.2-1b}" --rank 8 --device cpu --reps 1); fi
  if with_prefix "$server_bench" "${s_args[@]}" --clients 4 2>&1 | tee "$out/server_step.log"; then
    record "g. server step" "ok ($(grep -o 'whole model: fedsrd [0-9.]* s' "$out/server_step.log"))"
  else
    record "g. server step" "FAIL (server_step.log)"
  fi
fi

# --- c. (continued) ctest, last: with time left ---------------------------------
# The check is sized for 8 minutes; past CTEST_AFTER_S (default 360 s) the
# suites are skipped, and say so, and they are stopped at DEADLINE_S
# (default 470 s from the start), rather than run past the limit.
if [ "$BUILD_TARGETS" = none ] || [ -n "${SKIP_BUILD:-}" ] || [ ! -d "$BUILD/tests" ]; then
  record "c. ctest unit, model" "SKIP (nothing built)"
elif [ "$(elapsed)" -gt "${CTEST_AFTER_S:-360}" ]; then
  record "c. ctest unit, model" "SKIP (at $(elapsed) s, past CTEST_AFTER_S=${CTEST_AFTER_S:-360})"
elif left=$(( ${DEADLINE_S:-470} - $(elapsed) )) &&
     (cd "$BUILD" && with_prefix timeout "$left" ctest -L unit -j "$JOBS" --output-on-failure >"$out/ctest.log" 2>&1 &&
      with_prefix timeout "$left" ctest -R '^model\.' --output-on-failure >>"$out/ctest.log" 2>&1); then
  grep -E 'tests passed|tests failed|Skipped' "$out/ctest.log" | head; record "c. ctest unit, model" ok
else
  grep -E 'tests passed|tests failed|\*\*\*Failed|Not Run' "$out/ctest.log" | head -20
  record "c. ctest unit, model" "FAIL (ctest.log)"
fi

echo
note "summary (total $(elapsed) s; the check is sized for 480 s on one H200):"
printf '  %s\n' "${summary[@]}"
rm -rf "$work"
exit $failed
