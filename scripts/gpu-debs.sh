#!/usr/bin/env bash
# Downloads the Debian 12 (bookworm, amd64) packages that flbench needs and
# that a GPU machine with only a CUDA PyTorch lacks (Open MPI, parallel HDF5,
# Eigen, CLI11, nlohmann-json, toml++, PCRE2, GoogleTest, zlib), for
# scripts/gpu-check.sh to unpack there with `dpkg -x`: that machine cannot
# reach a mirror, so the .deb files travel with the checkout.
#   scripts/gpu-debs.sh [DIR]     (default deps/gpu-debs; run on a Debian 12 machine)
# Nothing is installed: `apt-get download` only fetches the files (no root).
# Exits 1 when a download fails or the files exceed MAX_MIB (default 64, what
# the device tool carries with the working tree, the checkout included).
set -euo pipefail

dir=${1:-deps/gpu-debs}
MAX_MIB=${MAX_MIB:-64}

# Development packages: headers, CMake/pkg-config files, .so links, and
# pkgconf (CMake reads HDF5 and PCRE2 through pkg-config, which a PyTorch
# image need not have).
# libopenmpi-dev's and libhdf5-openmpi-dev's own dependencies (-dev packages
# of hwloc, libevent, curl, ...) are left out: flbench links dynamically and
# includes none of their headers.
DEV="libopenmpi-dev openmpi-common openmpi-bin libhdf5-openmpi-dev libeigen3-dev libcli11-dev
  nlohmann-json3-dev libtomlplusplus-dev libpcre2-dev libgtest-dev googletest zlib1g-dev
  pkgconf pkgconf-bin libpkgconf3"
# Run-time libraries: the closure of what libmpi, libhdf5_openmpi, orted,
# mpirun and Open MPI's, PMIx's and UCX's plugins load (ldd on Debian 12),
# without libc6, libgcc-s1 and libstdc++6 (every machine has them; a newer
# libstdc++ there runs these) and without libhwloc-plugins (optional hwloc
# plugins for X11/OpenCL topology; pulling them in costs X and OpenCL).
LIBS="libopenmpi3 libpmix2 libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libfabric1 libucx0
  libibverbs1 librdmacm1 libnl-3-200 libnl-route-3-200 libpsm-infinipath1 libpsm2-2 libnuma1 libmunge2
  libhdf5-openmpi-103-1 libhdf5-openmpi-hl-100 libhdf5-openmpi-cpp-103-1 libhdf5-openmpi-hl-cpp-100
  libhdf5-openmpi-fortran-102 libhdf5-openmpi-hl-fortran-100 libgfortran5 libquadmath0
  libsz2 libaec0 libcurl4 libssl3 libnghttp2-14 libpsl5 librtmp1 libssh2-1 libbrotli1 libzstd1
  libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2 libldap-2.5-0 libsasl2-2
  libgnutls30 libhogweed6 libnettle8 libgmp10 libp11-kit0 libtasn1-6 libidn2-0 libunistring2 libffi8
  libxml2 libicu72 liblzma5 libpciaccess0 libudev1 libbsd0 libmd0 libatomic1
  libtomlplusplus3 libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 zlib1g"

command -v apt-get >/dev/null || { echo "gpu-debs: needs apt-get (run on Debian 12)" >&2; exit 1; }
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] ||
  echo "gpu-debs: warning: this is ${PRETTY_NAME:-an unknown system}, not Debian 12 (bookworm): the packages are this system's" >&2
[ "$(dpkg --print-architecture)" = amd64 ] || { echo "gpu-debs: the GPU machine is amd64; run this on an amd64 Debian" >&2; exit 1; }

mkdir -p "$dir"
# apt-get download writes into the current directory; an existing file of
# the same version is kept (re-running fetches only what is missing).
(cd "$dir" && apt-get download $DEV $LIBS) || {
  echo "gpu-debs: apt-get download failed: is the mirror reachable, and are the lists current (apt-get update)?" >&2
  exit 1
}
# One version per package: an older file left from an earlier run goes.
(cd "$dir" && ls *.deb | sed 's/_.*//' | sort | uniq -d | while read -r p; do
   ls -t "${p}"_*.deb | tail -n +2 | xargs rm -f; done)

n=$(ls "$dir"/*.deb | wc -l)
bytes=$(cat "$dir"/*.deb | wc -c)
mib=$(( (bytes + 1048575) / 1048576 ))
echo "gpu-debs: $n packages, $bytes bytes ($mib MiB) in $dir"
if [ "$mib" -gt "$MAX_MIB" ]; then
  echo "gpu-debs: $mib MiB exceeds MAX_MIB=$MAX_MIB" >&2
  exit 1
fi
