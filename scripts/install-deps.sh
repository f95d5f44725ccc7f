#!/usr/bin/env bash
# Installs the Debian packages flbench needs to build, test and run.
# Idempotent: packages already present are skipped, and nothing is fetched
# when all are there. Needs root (or sudo) and apt-get.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libtorch-dev libopenblas0-openmp
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools
  libeigen3-dev libcli11-dev libtomlplusplus-dev libgtest-dev zlib1g-dev
  libpcre2-dev nlohmann-json3-dev nodejs npm
  clang
  dataset-fashion-mnist
  fortunes fortunes-de fortunes-es fortunes-it
  python3-h5py python3-matplotlib python3-numpy python3-torch
  slurm-wlm munge
)

# A package whose command is already there counts as present: a Node.js
# from elsewhere (NodeSource's nodejs bundles npm, and conflicts with
# Debian's npm package) serves the tokenizer's reference test as well.
declare -A PROVIDED_BY=([nodejs]=node [npm]=npm)

missing=()
for p in "${PACKAGES[@]}"; do
  cmd=${PROVIDED_BY[$p]:-}
  [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1 && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get not found. This script targets Debian 12; install these packages" >&2
  echo "  with your system's package manager (or load the matching modules): ${missing[*]}" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install-deps: not root and no password-less sudo. Ask an administrator to run:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
