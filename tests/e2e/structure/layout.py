"""The source keeps its shape (docs/hacking.md, "Layout"):
  - HDF5 is included only in src/io/, MPI only in src/train/dist.c, BLAS only in src/layers/,
    libmicrohttpd only in src/serve/http.c, jansson only in src/models/config.c and
    src/serve/request.c, and not even through a header: no file elsewhere includes a header that
    brings them in;
  - the includes between files form no cycle;
  - no function in src/ is longer than 120 lines.
A failure names the file and line."""
import os, re, sys

SRC = os.path.join(os.environ.get("TCDIST_SRC", os.path.join(os.path.dirname(__file__), "../../..")), "src")
MAX_LINES = 120
problems = []

files = []
for root, _, names in os.walk(SRC):
    for n in names:
        if n.endswith((".c", ".h")):
            files.append(os.path.relpath(os.path.join(root, n), SRC))
files.sort()
if len(files) < 20:
    sys.exit(f"FAIL: only {len(files)} source files under {SRC}")

# 1. where the heavy libraries may be included
where = {"hdf5.h": "src/io/", "mpi.h": "src/train/dist.c", "cblas.h": "src/layers/",
         "microhttpd.h": "src/serve/http.c", "jansson.h": "src/models/config.c and src/serve/request.c"}
allowed = {"hdf5.h": lambda f: f.startswith("io/"),
           "mpi.h": lambda f: f == "train/dist.c",
           "cblas.h": lambda f: f.startswith("layers/"),
           "microhttpd.h": lambda f: f == "serve/http.c",
           "jansson.h": lambda f: f in ("models/config.c", "serve/request.c")}
includes = {}
system = {}
for f in files:
    text = open(os.path.join(SRC, f), encoding="utf-8").read()
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r'\s*#\s*include\s*[<"]([^>"]+)[>"]', line)
        if not m:
            continue
        inc = m.group(1)
        if inc in allowed and not allowed[inc](f):
            problems.append(f"src/{f}:{i}: includes <{inc}> (only {where[inc]} may)")
        if line.lstrip().startswith('#include "'):
            includes.setdefault(f, []).append(inc)
        else:
            system.setdefault(f, set()).add(inc)

# ... and not through the project's headers either
def closure(f, seen):
    for inc in includes.get(f, []):
        if inc in set(files) and inc not in seen:
            seen.add(inc)
            closure(inc, seen)
    return seen
for f in files:
    for h in sorted(closure(f, set())):
        for lib in system.get(h, ()):
            if lib in allowed and not allowed[lib](f):
                problems.append(f"src/{f}: includes <{lib}> through src/{h}")

# 2. no include cycles (a header including, through others, itself)
known = set(files)
state = {}
def visit(f, stack):
    state[f] = 1
    for inc in includes.get(f, []):
        if inc not in known:
            continue
        if state.get(inc) == 1:
            cyc = stack[stack.index(inc):] + [inc] if inc in stack else stack + [inc]
            problems.append("include cycle: " + " -> ".join("src/" + x for x in cyc))
        elif not state.get(inc):
            visit(inc, stack + [inc])
    state[f] = 2
for f in files:
    if not state.get(f):
        visit(f, [f])

# 3. function length: comments and literals blanked, then every body that opens at brace depth 0
#    after a header with a parenthesis (a function, however its signature is wrapped) is measured
#    to its matching brace
def blank(m):
    return re.sub(r"[^\n]", " ", m.group(0))
longest = (0, "")
for f in files:
    if not f.endswith(".c"):
        continue
    t = open(os.path.join(SRC, f), encoding="utf-8").read()
    t = re.sub(r"/\*.*?\*/", blank, t, flags=re.S)
    t = re.sub(r"//[^\n]*", blank, t)
    t = re.sub(r'"(\\.|[^"\\\n])*"', blank, t)
    t = re.sub(r"'(\\.|[^'\\\n])+'", blank, t)
    t = re.sub(r"^\s*#[^\n]*", blank, t, flags=re.M)
    depth, head_from, start, fname = 0, 0, None, "?"
    for i, ch in enumerate(t):
        if ch == "{":
            if depth == 0:
                head = t[head_from:i]
                words = re.findall(r"(\w+)\s*\(", head)
                is_fn = bool(words) and "=" not in head.split("(")[0] and not re.match(r"\s*(typedef|struct|enum|union)\b", head)
                start, fname = (i, words[0]) if is_fn else (None, "?")
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                if start is not None:
                    l0, l1 = t.count("\n", 0, start), t.count("\n", 0, i)
                    n = l1 - l0 - 1
                    if n > longest[0]:
                        longest = (n, f"src/{f}:{l0 + 1} {fname}")
                    if n > MAX_LINES:
                        problems.append(f"src/{f}:{l0 + 1}: {fname}() has {n} lines (at most {MAX_LINES})")
                start, head_from = None, i + 1
        elif ch == ";" and depth == 0:
            head_from = i + 1

if problems:
    print("\n".join("FAIL: " + p for p in problems))
    sys.exit(1)
print(f"ok: {len(files)} files; HDF5, MPI, BLAS, libmicrohttpd and jansson only in their places; no include cycle; "
      f"longest function {longest[0]} lines ({longest[1]})")
