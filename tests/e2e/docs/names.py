"""The code the documentation names exists: every tcd_*/TCD_* identifier in the code of README.md
and docs/*.md (code blocks and inline code) is defined or used somewhere in src/, include/ or
tests/, and every path it shows under src/, include/, tests/, launch/, slurm/, datasets/ or docs/
exists. Names of the walk-through's example model (cnn) and placeholders (NAME, <area>, *) are
not looked up. The checker must first report the names planted in a sample.

    python3 tests/e2e/docs/names.py        (TCDIST_SRC: the source tree)"""
import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdscan  # noqa: E402

ROOT = mdscan.src_root()
IDENT = re.compile(r"\b((?:tcd|TCD)_\w+)")
PATH = re.compile(r"(?<![\w./-])((?:src|include|tests|launch|slurm|datasets|docs)/[\w./-]*)")


def code_texts(text):
    blocks, paras = mdscan.scan(text)
    for start, _, body in blocks:
        for k, line in enumerate(body):
            yield start + k, line
    for line, para in paras:
        for span in mdscan.inline_spans(para):
            yield line, span


def source_words(root):
    words = set()
    for pattern in ("src/**/*.[ch]", "include/*.h", "tests/**/*.[ch]", "tests/**/*.py", "tests/**/*.sh",
                    "tests/**/CMakeLists.txt", "tests/CMakeLists.txt"):
        for p in glob.glob(os.path.join(root, pattern), recursive=True):
            if os.sep + os.path.join("e2e", "docs") + os.sep in p:  # these checkers, with their samples
                continue
            with open(p, encoding="utf-8", errors="replace") as f:
                words.update(IDENT.findall(f.read()))
    return words


def hypothetical(name):
    return "cnn" in name or re.search(r"(^|[/_.-])(NAME|DATE|vN|KIND|X)([/_.-]|$)", name) is not None


def check_text(name, text, root, words):
    problems, n_ids, n_paths = [], 0, 0
    for line, code in code_texts(text):
        for ident in IDENT.findall(code):
            if hypothetical(ident):
                continue
            n_ids += 1
            if ident not in words:
                problems.append(f"{name}:{line}: '{ident}' is not in src/, include/ or tests/")
        for path in PATH.findall(code):
            path = path.rstrip(".,")
            if hypothetical(path) or "<" in path or "*" in path:
                continue
            n_paths += 1
            if not os.path.exists(os.path.join(root, path)):
                problems.append(f"{name}:{line}: '{path}' does not exist")
    return problems, n_ids, n_paths


SAMPLE = """Call `tcd_model_frobnicate(m)` after `tcd_model_build`, see `src/models/nowhere.c` and
`src/models/model.h`; the example `tcd_model_cnn` and `tests/unit/test_NAME.c` are not looked up.
"""


def main():
    words = source_words(ROOT)
    if "tcd_model_build" not in words:
        sys.exit(f"FAIL: could not read the source under {ROOT}")
    p, n_ids, n_paths = check_text("sample.md", SAMPLE, ROOT, words)
    if len(p) != 2 or "tcd_model_frobnicate" not in p[0] or "nowhere.c" not in p[1] or n_ids != 2 or n_paths != 2:
        sys.exit("FAIL: the checker did not report exactly the two planted names:\n" + "\n".join(p))
    problems, ids, paths = [], 0, 0
    for name in mdscan.doc_files(ROOT):
        p, a, b = check_text(name, open(os.path.join(ROOT, name), encoding="utf-8").read(), ROOT, words)
        problems += p
        ids += a
        paths += b
    if ids < 40 or paths < 40:
        problems.append(f"only {ids} identifiers and {paths} paths found: is the scan broken?")
    if problems:
        print("\n".join("FAIL: " + p for p in problems))
        sys.exit(1)
    print(f"ok: the {ids} tcd_/TCD_ identifiers and {paths} paths the documentation names exist")


if __name__ == "__main__":
    main()
