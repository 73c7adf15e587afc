"""The Python examples of the documentation run as written: launch/demo.sh makes demo/ (the quick
tour, through the real binary) in a temporary folder, then every ```python block of README.md and
docs/*.md runs there with the tests' python3 (numpy, h5py) and must exit 0. The checker must first
report a planted failing example.

    python3 tests/e2e/docs/examples.py        (TCDIST: the binary; TCDIST_SRC: the source tree)"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdscan  # noqa: E402

ROOT = mdscan.src_root()
PYTHON = os.environ.get("PYTHON") or sys.executable


def run_examples(name, text, cwd):
    """Runs the python blocks of one Markdown text in cwd; returns (problems, count)."""
    problems, n = [], 0
    blocks, _ = mdscan.scan(text)
    for start, lang, body in blocks:
        if lang != "python":
            continue
        n += 1
        r = subprocess.run([PYTHON, "-c", "\n".join(body)], cwd=cwd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            problems.append(f"{name}:{start}: the example exits {r.returncode}:\n{r.stderr.strip()}")
    return problems, n


SAMPLE = """An example that fails:

```python
import h5py
h5py.File("demo/no-such-file.h5", "r")
```
"""


def main():
    with tempfile.TemporaryDirectory() as t:
        p, n = run_examples("sample.md", SAMPLE, t)
        if n != 1 or len(p) != 1 or "no-such-file" not in p[0]:
            sys.exit("FAIL: a failing example was not reported:\n" + "\n".join(p))
        env = dict(os.environ)
        env.setdefault("TCDIST", os.path.join(ROOT, "build", "tcdist"))
        r = subprocess.run(["bash", os.path.join(ROOT, "launch", "demo.sh"), "demo"], cwd=t, env=env,
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            sys.exit(f"FAIL: launch/demo.sh exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        problems, total = [], 0
        for name in mdscan.doc_files(ROOT):
            p, n = run_examples(name, open(os.path.join(ROOT, name), encoding="utf-8").read(), t)
            problems += p
            total += n
    if total < 4:
        problems.append(f"only {total} Python examples found: is the scan broken?")
    if problems:
        print("\n".join("FAIL: " + p for p in problems))
        sys.exit(1)
    print(f"ok: launch/demo.sh ran, and the {total} Python examples of the documentation run against its output")


if __name__ == "__main__":
    main()
