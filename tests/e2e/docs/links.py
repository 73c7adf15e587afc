"""Every relative link in README.md, docs/*.md, datasets/README.md and slurm/README.md resolves:
the file (or folder) exists, and an anchor (#section) names a heading of the target Markdown file,
as GitHub makes anchors. External links (http, https, mailto) are not fetched. The checker must
first find the broken links planted in a sample.

    python3 tests/e2e/docs/links.py        (TCDIST_SRC: the source tree)"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdscan  # noqa: E402

ROOT = mdscan.src_root()


def check_file(path, text, root, anchor_cache):
    """Problems with the links of one Markdown text whose file is root/path."""
    problems, n = [], 0
    _, paras = mdscan.scan(text)
    here = os.path.dirname(os.path.join(root, path))
    for line, para in paras:
        for target in mdscan.links(para):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            n += 1
            file_part, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(here, file_part)) if file_part else os.path.join(root, path)
            where = f"{path}:{line}: link '{target}'"
            if not os.path.exists(dest):
                problems.append(f"{where}: {os.path.relpath(dest, root)} does not exist")
                continue
            if not anchor:
                continue
            if not dest.endswith(".md"):
                problems.append(f"{where}: an anchor into a file that is not Markdown")
                continue
            if dest not in anchor_cache:
                anchor_cache[dest] = mdscan.anchors(open(dest, encoding="utf-8").read())
            if anchor not in anchor_cache[dest]:
                problems.append(f"{where}: {os.path.relpath(dest, root)} has no heading with anchor '#{anchor}'")
    return problems, n


SAMPLE = """# Sample

## A heading, with `code`

See [this](#a-heading-with-code), [that](#no-such-heading), [a file](missing.md),
[a section](sample.md#a-heading-with-code), and `[not a link](nowhere.md)` in code.
"""


def self_test():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "sample.md"), "w", encoding="utf-8") as f:
            f.write(SAMPLE)
        problems, n = check_file("sample.md", SAMPLE, d, {})
    if n != 4 or len(problems) != 2 or "no-such-heading" not in problems[0] or "missing.md" not in problems[1]:
        sys.exit("FAIL: the link checker did not report exactly the two planted broken links:\n" + "\n".join(problems))


def main():
    self_test()
    problems, total, cache = [], 0, {}
    files = mdscan.doc_files(ROOT)
    for name in files:
        p, n = check_file(name, open(os.path.join(ROOT, name), encoding="utf-8").read(), ROOT, cache)
        problems += p
        total += n
    if total < 20:
        problems.append(f"only {total} relative links found: is the scan broken?")
    if problems:
        print("\n".join("FAIL: " + p for p in problems))
        sys.exit(1)
    print(f"ok: {total} relative links in {len(files)} files resolve (files and anchors)")


if __name__ == "__main__":
    main()
