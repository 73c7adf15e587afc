# Shared helpers for the prepare_*.sh tests (sourced, not a test itself).
set -u
: "${TCDIST:?TCDIST must point to the tcdist binary}"
PYTHON=${PYTHON:-/usr/bin/python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
N_FAIL=0

fail() { echo "FAIL: $*" >&2; N_FAIL=$((N_FAIL + 1)); }
ok() { echo "ok: $*"; }
finish() {
  if [ -s q_errors.txt ]; then fail "checks that could not be evaluated:"; cat q_errors.txt >&2; fi
  if [ "$N_FAIL" -ne 0 ]; then echo "$N_FAIL check(s) failed" >&2; exit 1; fi
  echo "all checks passed"; exit 0
}

# q FILE EXPR: evaluate a Python expression with f = h5py.File(FILE); prints the result.
# Helper w() gives the vocabulary as str list, L() the label names.
q() {
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py
try:
    f = h5py.File(sys.argv[1], "r")
except Exception as e:
    open("q_errors.txt", "a").write("cannot open %s: %s\n" % (sys.argv[1], e))
    print("(cannot open %s: %s)" % (sys.argv[1], e)); sys.exit(0)
def dec(x): return x.decode() if isinstance(x, bytes) else x
def table(name):  # a string table (version 2): NAME/bytes + NAME/offsets
    b, o = f[name + "/bytes"][()].tobytes(), f[name + "/offsets"][()]
    return [b[o[i]:o[i + 1]].decode() for i in range(len(o) - 1)]
def w(): return table("vocab/words")
def L(): return table("label_names")
def doc(i):
    o = f["offsets"]; return [int(x) for x in f["tokens"][o[i]:o[i + 1]]]
def words(i):
    v = w(); return [v[t] if t < len(v) else "#%d" % t for t in doc(i)]
try:
    r = eval(sys.argv[2])
except Exception as e:
    # a broken check must not pass by comparing two empty outputs: finish() fails on this file
    open("q_errors.txt", "a").write("%s: %r: %s\n" % (sys.argv[1], sys.argv[2], e))
    r = "(error: %s)" % e
print(dec(r) if not isinstance(r, (list, tuple)) else " ".join(str(dec(x)) for x in r))
PY
}

# expect_eq DESC ACTUAL EXPECTED
expect_eq() { if [ "$2" == "$3" ]; then ok "$1"; else fail "$1: got [$2], expected [$3]"; fi; }

# run_ok DESC ARGS...: prepare must succeed
run_ok() {
  local desc=$1; shift
  if "$TCDIST" prepare "$@" > out.txt 2> err.txt; then ok "$desc"; else fail "$desc: exit $? ($(cat err.txt))"; fi
}
# run_fail DESC CODE PATTERN ARGS...: prepare must exit CODE with PATTERN (grep -E) on stderr
run_fail() {
  local desc=$1 code=$2 pat=$3; shift 3
  "$TCDIST" prepare "$@" > out.txt 2> err.txt
  local rc=$?
  if [ "$rc" -ne "$code" ]; then fail "$desc: exit $rc, expected $code ($(cat err.txt))"; return; fi
  if ! grep -Eq -- "$pat" err.txt; then fail "$desc: stderr lacks /$pat/: $(cat err.txt)"; return; fi
  ok "$desc"
}
