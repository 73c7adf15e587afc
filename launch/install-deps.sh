#!/usr/bin/env bash
# Installs the Debian packages tcdist needs, and only those that are missing.
#   bash launch/install-deps.sh            build + run: compiler, CMake, Open MPI, OpenBLAS, parallel HDF5, jansson, libmicrohttpd
#   bash launch/install-deps.sh --tests    also what the test suite uses (python3-numpy, python3-h5py, curl)
#   bash launch/install-deps.sh --bench    also the benchmark peers (fasttext, python3-torch)
#   bash launch/install-deps.sh --slurm    also a local Slurm + munge (Slurm tests)
#   bash launch/install-deps.sh --check    only report what is missing (exit 1 if anything is)
# Running it twice does nothing the second time. Without apt-get it prints what to install.
set -euo pipefail

core=(gcc make cmake pkg-config libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools libopenblas-dev libjansson-dev libmicrohttpd-dev)
tests=(python3 python3-numpy python3-h5py curl)
bench=(fasttext python3-numpy python3-h5py python3-torch time)
slurm=(slurmctld slurmd slurm-client munge)

want=("${core[@]}")
check_only=0
for arg in "$@"; do
  case "$arg" in
    --tests) want+=("${tests[@]}") ;;
    --bench) want+=("${bench[@]}") ;;
    --slurm) want+=("${slurm[@]}") ;;
    --all) want+=("${tests[@]}" "${bench[@]}" "${slurm[@]}") ;;
    --check) check_only=1 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps.sh: this is not a Debian/Ubuntu system (no apt-get)." >&2
  echo "Install the equivalents of: ${want[*]}" >&2
  echo "(a C11 compiler, CMake >= 3.20, Open MPI, OpenBLAS, HDF5 built with MPI (parallel), h5dump;" >&2
  echo " for tests: python3 with numpy and h5py)" >&2
  exit 1
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    case " ${missing[*]-} " in *" $p "*) ;; *) missing+=("$p") ;; esac
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all ${#want[@]} packages present"
  exit 0
fi
if [ "$check_only" = 1 ]; then
  echo "install-deps.sh: missing: ${missing[*]}"
  exit 1
fi

sudo=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo=(sudo); else
    echo "install-deps.sh: not root and no sudo; as root run: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
