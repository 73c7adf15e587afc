# Shared by the MPI tests (sourced): a temporary folder, mpirun as root and oversubscribed on 2 cores
# (the environment comes from tests/CMakeLists.txt), and helpers to compare runs.
set -euo pipefail
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
MPIRUN=${MPIEXEC:-mpirun}
# mpi N ARGS...: tcdist train under N ranks
mpi() { local n=$1; shift; timeout 300 "$MPIRUN" -n "$n" "$TCDIST" train "$@"; }
sha() { "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]+"/summary.json"))["params_sha256"])' "$1"; }
# close A B [TOL]: parameters of run dirs A and B agree to TOL relative to the largest parameter
close() {
  "$PYTHON" - "$1" "$2" "${3:-1e-5}" <<'PY'
import h5py, numpy as np, sys
def P(d):
    with h5py.File(d + "/model.h5") as f:
        return np.concatenate([np.ravel(f["params"][k]) for k in sorted(f["params"])])
a, b, tol = P(sys.argv[1]), P(sys.argv[2]), float(sys.argv[3])
rel = np.max(np.abs(a - b)) / np.max(np.abs(b))
if not rel <= tol:
    sys.exit(f"FAIL: {sys.argv[1]} vs {sys.argv[2]}: max |diff| / max |param| = {rel:.3g} > {tol}")
PY
}
