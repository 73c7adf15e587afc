# Sourced by tests/e2e/datasets/*.sh: a temporary folder, a skip when the real corpora are absent,
# and a checker for `tcdist inspect --json`.
set -euo pipefail
: "${TCDIST:?}" "${TCDIST_SRC:?}" "${PYTHON:=python3}"
need_data() { # need_data PATH...: skip (exit 77) unless every path exists under $TCDIST_DATA_DIR
    for p in "$@"; do
        if [ -z "${TCDIST_DATA_DIR:-}" ] || [ ! -e "$TCDIST_DATA_DIR/$p" ]; then
            echo "skipped: $p not found under TCDIST_DATA_DIR='${TCDIST_DATA_DIR:-}' (see datasets/README.md)"
            exit 77
        fi
    done
}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
# expect_corpus FILE.h5 N_DOCS N_CLASSES [name=count ...]
expect_corpus() {
    "$TCDIST" inspect "$1" --json > inspect.json
    "$PYTHON" - "$@" <<'PY'
import json, sys
path, n_docs, n_classes, *counts = sys.argv[1:]
j = json.load(open("inspect.json"))
assert j["n_docs"] == int(n_docs), f"{path}: n_docs {j['n_docs']}, want {n_docs}"
assert j["n_classes"] == int(n_classes), f"{path}: n_classes {j['n_classes']}, want {n_classes}"
got = {c["name"]: c["count"] for c in j["classes"]}
for kv in counts:
    k, v = kv.rsplit("=", 1)
    assert got.get(k) == int(v), f"{path}: class {k}: {got.get(k)}, want {v}"
assert sum(got.values()) == j["n_docs"] and j["n_tokens"] > j["n_docs"], path
print(f"{path}: {j['n_docs']} docs, {j['n_tokens']} tokens, vocab {j['vocab_size']}, classes {got}")
PY
}
