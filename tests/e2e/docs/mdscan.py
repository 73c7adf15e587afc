"""Reading the project's Markdown for the documentation tests (commands.py, links.py, examples.py):
which files, their code (fenced blocks, indented blocks, inline spans), their links and their
headings' anchors. Standard library only."""
import os
import re

# The documents users read. README.md and docs/*.md are the manual; the two folder READMEs are
# linked from it.
EXTRA = ["datasets/README.md", "slurm/README.md"]


def src_root():
    return os.environ.get("TCDIST_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../../.."))


def doc_files(root):
    files = ["README.md"]
    docs = os.path.join(root, "docs")
    if os.path.isdir(docs):
        files += sorted("docs/" + n for n in os.listdir(docs) if n.endswith(".md"))
    files += [p for p in EXTRA if os.path.exists(os.path.join(root, p))]
    return files


FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")


def scan(text):
    """Splits a Markdown text into code and prose.

    Returns (blocks, paragraphs): blocks are (first line number, language, [lines]) for fenced
    blocks ('' language for indented blocks); paragraphs are (first line number, text) of the
    prose, consecutive lines joined with a space (an inline code span may wrap)."""
    blocks, paras = [], []
    lines = text.split("\n")
    i, prev_blank = 0, True
    para, para_line = [], 0

    def end_para():
        nonlocal para
        if para:
            paras.append((para_line, " ".join(para)))
        para = []

    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m:
            end_para()
            fence, lang, start, body = m.group(1), m.group(2), i + 1, []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(fence):
                body.append(lines[i])
                i += 1
            blocks.append((start + 1, lang, body))
            i += 1
            prev_blank = False
            continue
        if prev_blank and line.startswith("    ") and line.strip():
            end_para()
            start, body = i, []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                if not lines[i].strip() and (i + 1 >= len(lines) or not lines[i + 1].startswith("    ")):
                    break
                body.append(lines[i][4:])
                i += 1
            blocks.append((start + 1, "", body))
            prev_blank = False
            continue
        if not line.strip():
            end_para()
            prev_blank = True
        else:
            if not para:
                para_line = i + 1
            para.append(line.strip())
            prev_blank = False
        i += 1
    end_para()
    return blocks, paras


INLINE = re.compile(r"(`+)(.+?)\1")


def inline_spans(paragraph):
    return [m.group(2).strip() for m in INLINE.finditer(paragraph)]


def strip_inline(paragraph):
    """The prose without its inline code (links inside code are not links)."""
    return INLINE.sub("", paragraph)


LINK = re.compile(r"!?\[([^\]]*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def links(paragraph):
    return [m.group(2) for m in LINK.finditer(strip_inline(paragraph))]


HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def slug(heading):
    """GitHub's anchor for a heading: markup dropped, lowercase, only letters, digits, spaces,
    '-' and '_' kept, spaces become '-'."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(text):
    blocks, _ = scan(text)
    in_code = set()
    for start, _, body in blocks:
        in_code.update(range(start - 1, start + len(body) + 1))
    seen, out = {}, set()
    for n, line in enumerate(text.split("\n"), 1):
        if n in in_code:
            continue
        m = HEADING.match(line)
        if not m:
            continue
        s = slug(m.group(2))
        k = seen.get(s, 0)
        seen[s] = k + 1
        out.add(s if k == 0 else f"{s}-{k}")
    return out
