#!/usr/bin/env bash
# Installs every Debian 12 package jobperf needs to build, test and run.
# Idempotent: packages already present are not touched and apt is not even
# updated. Works as root or through sudo. Quiet unless something fails.
#   share/install-deps.sh [--slurm]
# --slurm adds Slurm (slurm-wlm, munge) for the test that runs the batch
# scripts in workflows/ on a private two-node cluster (CI does); not by
# default, as on a machine with systemd the packages enable their daemons.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev hdf5-tools zlib1g-dev
  libpapi-dev papi-tools libpfm4-dev
  libeigen3-dev libboost-program-options-dev catch2
  # run and test
  time stress-ng linux-perf procps
  python3 python3-h5py python3-xarray python3-h5netcdf python3-numpy python3-psutil
)
case "${1:-}" in
  "") ;;
  --slurm) packages+=(slurm-wlm munge) ;;
  *) echo "usage: $0 [--slurm]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo[@]}" apt-get update -q && \
       "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-deps.sh: failed to install: ${missing[*]}" >&2
  exit 1
fi
