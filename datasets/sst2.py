#!/usr/bin/env python3
"""GLUE SST-2 -> OUTDIR/train.tsv and OUTDIR/dev.tsv for `tcdist prepare`.

Input: SST-2.zip, as downloaded from the official GLUE address
    https://dl.fbaipublicfiles.com/glue/data/SST-2.zip
or the folder extracted from it (holding train.tsv and dev.tsv).

Output: tab-separated, header "sentence<TAB>label", one sentence per line, label 0 (negative) or
1 (positive); the sentences are copied unchanged. Every line is validated (exactly 2 fields, label
0/1): a malformed input is rejected with FILE:LINE. GLUE's test.tsv has no labels and is skipped.
Standard library only."""
import argparse, io, os, sys, zipfile

SPLITS = ("train", "dev")


def open_split(src, split):
    """(display name, text stream) of SPLIT.tsv inside the zip or the folder; None if absent."""
    if os.path.isdir(src):
        path = os.path.join(src, split + ".tsv")
        if not os.path.exists(path):
            return None
        return path, open(path, encoding="utf-8", newline="")
    z = zipfile.ZipFile(src)
    names = [n for n in z.namelist() if n.rstrip("/").split("/")[-1] == split + ".tsv"]
    if not names:
        return None
    return f"{src}:{names[0]}", io.TextIOWrapper(z.open(names[0]), encoding="utf-8", newline="")


def convert(name, stream, out_path):
    counts = {"0": 0, "1": 0}
    tmp = out_path + ".tmp"
    with stream, open(tmp, "w", encoding="utf-8", newline="") as out:
        out.write("sentence\tlabel\n")
        for lineno, line in enumerate(stream, 1):
            line = line.rstrip("\n").rstrip("\r")
            fields = line.split("\t")
            if lineno == 1:
                if fields != ["sentence", "label"]:
                    sys.exit(f"sst2.py: {name}:1: expected the header 'sentence<TAB>label', found {line[:80]!r}")
                continue
            if len(fields) != 2:
                sys.exit(f"sst2.py: {name}:{lineno}: expected 2 tab-separated fields, found {len(fields)}")
            if fields[1] not in counts:
                sys.exit(f"sst2.py: {name}:{lineno}: label must be 0 or 1, found {fields[1][:40]!r}")
            if not fields[0].strip():
                sys.exit(f"sst2.py: {name}:{lineno}: empty sentence")
            counts[fields[1]] += 1
            out.write(line + "\n")
    os.replace(tmp, out_path)
    return counts


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + "\n\nDownload: https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
        epilog="Then: tcdist prepare --format tsv --text-field sentence -o OUTDIR/train.h5 OUTDIR/train.tsv; "
               "tcdist prepare --format tsv --text-field sentence --vocab OUTDIR/train.h5 -o OUTDIR/dev.h5 OUTDIR/dev.tsv",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="SST-2.zip or the extracted SST-2 folder")
    ap.add_argument("outdir", help="output folder (created)")
    a = ap.parse_args()
    if not os.path.exists(a.src):
        sys.exit(f"sst2.py: {a.src}: no such file or folder (download https://dl.fbaipublicfiles.com/glue/data/SST-2.zip)")
    if not os.path.isdir(a.src) and not zipfile.is_zipfile(a.src):
        sys.exit(f"sst2.py: {a.src}: neither a folder nor a zip file")
    os.makedirs(a.outdir, exist_ok=True)
    for split in SPLITS:
        got = open_split(a.src, split)
        if got is None:
            sys.exit(f"sst2.py: {a.src}: has no {split}.tsv")
        c = convert(got[0], got[1], os.path.join(a.outdir, split + ".tsv"))
        print(f"{os.path.join(a.outdir, split + '.tsv')}: {c['0'] + c['1']} sentences (0: {c['0']}, 1: {c['1']})")
    print("test.tsv skipped: GLUE hides its labels (use dev.tsv for evaluation)")
    o = a.outdir
    print("next:")
    print(f"  tcdist prepare --format tsv --text-field sentence -o {o}/train.h5 {o}/train.tsv")
    print(f"  tcdist prepare --format tsv --text-field sentence --vocab {o}/train.h5 -o {o}/dev.h5 {o}/dev.tsv")


if __name__ == "__main__":
    main()
