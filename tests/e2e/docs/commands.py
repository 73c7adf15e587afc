"""The commands the documentation shows exist as shown.

For every `tcdist SUBCOMMAND ...` command line in README.md, docs/*.md, datasets/README.md and
slurm/README.md (code blocks and inline code, under mpirun/srun/timeout too), the subcommand must
exist and every flag it uses must be one of that subcommand's options in its --help; for
`tcdist-launch ... -- train ...`, the launcher's flags must be in its --help and the train part is
checked as a tcdist train command. Also README.md's first two commands must be the install + build
+ demo command and exactly the command .ci/run runs, and its quick tour exactly what
launch/demo.sh runs. Before all that, the checker must find the faults planted in a sample
(a wrong flag, an unknown subcommand, a wrong launcher flag): a check that cannot fail proves
nothing.

    python3 tests/e2e/docs/commands.py        (TCDIST: the binary; TCDIST_SRC: the source tree)"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdscan  # noqa: E402

ROOT = mdscan.src_root()
TCDIST = os.environ.get("TCDIST") or os.path.join(ROOT, "build", "tcdist")
LAUNCH = os.path.join(ROOT, "launch", "tcdist-launch")

SEPARATORS = {"|", "||", "&&", ";", ">", ">>", "2>", "<", "&"}
PREFIXES = {"mpirun", "mpiexec", "srun", "timeout", "env", "nice", "time", "exec", "flock", "sudo"}


def help_text(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{r.stderr}")
    return r.stdout


def option_flags(text):
    """The flags in the option column of a --help text ('  -o,--output FILE   description')."""
    flags = set()
    for line in text.split("\n"):
        m = re.match(r"^\s+(-\S.*?)(\s{2,}|$)", line)
        if m:
            flags.update(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", m.group(1)))
    return flags


class Helps:
    """--help of tcdist, each subcommand and tcdist-launch, asked once."""

    def __init__(self):
        top = help_text([TCDIST, "--help"])
        block = top.split("commands:", 1)[1]
        self.subcommands = set(re.findall(r"^  ([a-z]+)\s{2,}", block, re.M))
        if len(self.subcommands) < 5:
            sys.exit(f"FAIL: could not read the subcommands from tcdist --help:\n{top}")
        self.top = option_flags(top) | {"--version", "--help", "-h"}
        self.sub = {}
        self.launch = option_flags(help_text([LAUNCH, "--help"]))

    def flags(self, sub):
        if sub not in self.sub:
            self.sub[sub] = option_flags(help_text([TCDIST, sub, "--help"]))
        return self.sub[sub]


def words(text):
    """Shell-ish words of a command text: a trailing comment dropped, then split on blanks."""
    text = re.sub(r"(^|\s)#.*$", "", text)
    out = []
    for w in text.split():
        if w.endswith(";") and len(w) > 1:
            out += [w[:-1], ";"]
        else:
            out.append(w)
    return out


def segments(ws):
    """Commands split at shell separators; a '|' inside a synopsis' brackets ([--docs N | --bytes
    SIZE]) is an alternative, not a pipe."""
    seg, depth = [], 0
    for w in ws:
        if w in SEPARATORS and depth <= 0:
            if seg:
                yield seg
            seg, depth = [], 0
        else:
            seg.append(w)
            depth += w.count("[") - w.count("]")
    if seg:
        yield seg


def clean(w):
    return w.strip("[](),")


def is_tcdist(w):
    w = w.strip("\"'")
    return w == "tcdist" or (w.endswith("/tcdist") and not w.startswith("--"))


def is_launch(w):
    return w.strip("\"'") == "tcdist-launch" or w.endswith("/tcdist-launch")


def flags_of(ws):
    out = []
    for w in ws:
        w = clean(w)
        if re.match(r"^--?[A-Za-z][\w-]*(=.*)?$", w):
            out.append(w.split("=", 1)[0])
    return out


def check_tcdist(args, helps, where, problems):
    """args: the words after 'tcdist'."""
    if not args or args[0].startswith("-"):
        for f in flags_of(args):
            if f not in helps.top:
                problems.append(f"{where}: 'tcdist {f}': no such option in tcdist --help")
        return
    sub = clean(args[0])
    if re.match(r"^[A-Z_]+$", sub) or sub[:1].isdigit():  # a placeholder (COMMAND), a version (tcdist 0.1.0)
        return
    if sub not in helps.subcommands:
        problems.append(f"{where}: 'tcdist {sub}': no such subcommand (tcdist --help lists "
                        f"{', '.join(sorted(helps.subcommands))})")
        return
    known = helps.flags(sub)
    for f in flags_of(args[1:]):
        if f not in known:
            problems.append(f"{where}: 'tcdist {sub} {f}': no such option in tcdist {sub} --help")


def check_launch(args, helps, where, problems):
    """args: the words after 'tcdist-launch': its own flags, then [--] train ARGS."""
    own, rest = args, []
    for k, w in enumerate(args):
        if w == "--" or w == "train":
            own, rest = args[:k], args[k + 1:] if w == "--" else args[k:]
            break
    for f in flags_of(own):
        if f not in helps.launch:
            problems.append(f"{where}: 'tcdist-launch {f}': no such option in tcdist-launch --help")
    if rest:
        if clean(rest[0]) != "train":
            problems.append(f"{where}: tcdist-launch runs 'train', not '{rest[0]}'")
        else:
            check_tcdist(rest, helps, where, problems)


def check_command(text, helps, where, problems):
    n = 0
    for seg in segments(words(text)):
        starts = [0]
        if seg[0].strip("\"'") in PREFIXES or re.match(r"^\w+=", seg[0]):
            starts = range(len(seg))  # a launcher or an environment: the command comes later
        for k in starts:
            if is_tcdist(seg[k]):
                check_tcdist(seg[k + 1:], helps, where, problems)
                n += 1
                break
            if is_launch(seg[k]):
                check_launch(seg[k + 1:], helps, where, problems)
                n += 1
                break
    return n


def command_texts(block_lines):
    """The commands of a code block: backslash continuations joined, and a synopsis' following
    lines that start with '[' or '-' joined to it."""
    out, cur = [], None
    for line in block_lines:
        s = line.strip()
        if cur is not None and (cur.endswith("\\") or ((s.startswith("[") or s.startswith("-")) and s)):
            cur = cur.rstrip("\\") + " " + s
            continue
        if cur is not None:
            out.append(cur)
        cur = s if s else None
    if cur is not None:
        out.append(cur)
    return [c[2:] if c.startswith("$ ") else c for c in out]


def check_text(text, name, helps):
    problems, n = [], 0
    blocks, paras = mdscan.scan(text)
    for start, lang, body in blocks:
        if lang not in ("", "sh", "bash", "shell", "console", "text"):
            continue
        for cmd in command_texts(body):
            n += check_command(cmd, helps, f"{name}:{start}", problems)
    for line, para in paras:
        for span in mdscan.inline_spans(para):
            n += check_command(span, helps, f"{name}:{line}", problems)
    return problems, n


SAMPLE = """# planted faults

    tcdist train --data a.h5 --run-dir r --no-such-flag 3
    tcdist frobnicate --x

Inline: `mpirun -np 2 tcdist prepare --vocab v.h5 --colour red -o x.h5 in.tsv` and
`launch/tcdist-launch --bogus -- train --data a.h5 --also-bogus`.
"""


def self_test(helps):
    problems, _ = check_text(SAMPLE, "sample.md", helps)
    wanted = ["--no-such-flag", "frobnicate", "--colour", "--bogus", "--also-bogus"]
    missed = [w for w in wanted if not any(w in p for p in problems)]
    if missed or len(problems) != len(wanted):
        sys.exit("FAIL: the checker did not report exactly the planted faults " + str(missed) + "\n" +
                 "\n".join(problems))


def check_readme(problems):
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    blocks, _ = mdscan.scan(text)
    cmds = [" ".join(command_texts(b)) for _, _, b in blocks]
    first = ('bash launch/install-deps.sh && cmake -B build -DCMAKE_BUILD_TYPE=Release && '
             'cmake --build build -j"$(nproc)" && bash launch/demo.sh')
    ci = [ln.strip() for ln in open(os.path.join(ROOT, ".ci/run"), encoding="utf-8") if ln.strip()][-1]
    if len(cmds) < 2 or cmds[0] != first:
        problems.append(f"README.md: the first command must be\n    {first}")
    if len(cmds) < 2 or cmds[1] != ci:
        problems.append(f"README.md: the second command must be what .ci/run runs:\n    {ci}")
    # the quick tour: the first code block after '## Quick tour' is demo.sh's commands
    m = re.search(r"^## Quick tour\n(.*?)(?=^## )", text, re.M | re.S)
    tour = []
    if m:
        b, _ = mdscan.scan(m.group(1))
        tour = [ln.strip() for ln in b[0][2] if ln.strip()] if b else []
    demo = []
    for ln in open(os.path.join(ROOT, "launch", "demo.sh"), encoding="utf-8"):
        if '"$tcdist"' in ln and not ln.lstrip().startswith(("#", "if", "tcdist=")):
            demo.append(ln.strip().replace('"$tcdist"', "tcdist").replace('"$out', "demo").replace('"', ""))
    if tour != demo:
        problems.append("README.md: the quick tour is not what launch/demo.sh runs:\n  README:  " +
                        "\n           ".join(tour) + "\n  demo.sh: " + "\n           ".join(demo))


def main():
    helps = Helps()
    self_test(helps)
    problems, total = [], 0
    for name in mdscan.doc_files(ROOT):
        text = open(os.path.join(ROOT, name), encoding="utf-8").read()
        p, n = check_text(text, name, helps)
        problems += p
        total += n
    check_readme(problems)
    if total < 30:
        problems.append(f"only {total} tcdist command lines found in the documentation: is the scan broken?")
    if problems:
        print("\n".join("FAIL: " + p for p in problems))
        sys.exit(1)
    print(f"ok: {total} tcdist command lines in {len(mdscan.doc_files(ROOT))} files use existing subcommands and "
          "flags; README's two commands and quick tour are .ci/run's and demo.sh's")


if __name__ == "__main__":
    main()
