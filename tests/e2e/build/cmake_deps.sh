#!/usr/bin/env bash
# Configuration fails with a clear message, naming what to install, when a dependency is missing
# (simulated with CMAKE_DISABLE_FIND_PACKAGE_<X>). A serial HDF5 cannot be simulated here without
# installing one; CMakeLists.txt checks HDF5_IS_PARALLEL for that case.
set -euo pipefail
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for spec in "MPI:libopenmpi-dev" "OpenMP:OpenMP" "BLAS:libopenblas-dev" "HDF5:libhdf5-openmpi-dev"; do
  pkg=${spec%%:*}; want=${spec#*:}
  set +e
  cmake -S "$TCDIST_SRC" -B "$T/b-$pkg" -DCMAKE_DISABLE_FIND_PACKAGE_$pkg=TRUE -DTCDIST_BUILD_TESTS=OFF >"$T/out" 2>&1
  rc=$?
  set -e
  [ $rc -ne 0 ] || fail "configuration without $pkg succeeded"
  grep -q "$want" "$T/out" || { cat "$T/out"; fail "the message for a missing $pkg does not name $want"; }
  grep -q "install-deps.sh" "$T/out" || fail "the message for a missing $pkg does not point to the installer"
  echo "ok: without $pkg, configuration stops and names $want"
done
