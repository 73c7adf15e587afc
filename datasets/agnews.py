#!/usr/bin/env python3
"""AG News (ag_news_csv) -> OUTDIR/train.tsv and/or OUTDIR/test.tsv for `tcdist prepare`.

Input: the ag_news_csv folder of the original release (Zhang, Zhao & LeCun 2015), holding
classes.txt and train.csv and/or test.csv, e.g. from
    https://github.com/mhjabreel/CharCnn_Keras/tree/master/data/ag_news_csv
(the address torchtext downloads from). Each CSV row is "class","title","description" with class
1..4 indexing the lines of classes.txt (World, Sports, Business, Sci/Tech).

Output: tab-separated, header "text<TAB>label", text = title + " " + description (tabs and
newlines replaced by spaces; backslashes and entities kept as in the source), label = the class
name. Whichever of train.csv / test.csv exist are converted. Standard library only."""
import argparse, csv, os, sys

URL = "https://github.com/mhjabreel/CharCnn_Keras/tree/master/data/ag_news_csv"


def clean(s):
    """One line of text: tabs and line breaks become spaces (nothing else is changed)."""
    return s.replace("\t", " ").replace("\r", " ").replace("\n", " ").strip(" ")


def convert(src, names, out_path):
    counts = {n: 0 for n in names}
    tmp = out_path + ".tmp"
    with open(src, encoding="utf-8", newline="") as f, open(tmp, "w", encoding="utf-8", newline="") as out:
        out.write("text\tlabel\n")
        r = csv.reader(f)
        for row in r:
            where = f"{src}:{r.line_num}"
            if len(row) != 3:
                sys.exit(f"agnews.py: {where}: expected 3 fields (class, title, description), found {len(row)}")
            if not row[0].isdigit() or not 1 <= int(row[0]) <= len(names):
                sys.exit(f"agnews.py: {where}: class must be 1..{len(names)}, found {row[0][:20]!r}")
            name = names[int(row[0]) - 1]
            text = clean(row[1] + " " + row[2])
            if not text:
                sys.exit(f"agnews.py: {where}: empty title and description")
            counts[name] += 1
            out.write(f"{text}\t{name}\n")
    os.replace(tmp, out_path)
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] + f"\n\nDownload: {URL}",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="folder with classes.txt and train.csv and/or test.csv")
    ap.add_argument("outdir", help="output folder (created)")
    a = ap.parse_args()
    cls = os.path.join(a.src, "classes.txt")
    if not os.path.isfile(cls):
        sys.exit(f"agnews.py: {cls}: not found (the ag_news_csv folder has it; see {URL})")
    names = [l.strip() for l in open(cls, encoding="utf-8") if l.strip()]
    if len(set(names)) != len(names) or any("\t" in n for n in names):
        sys.exit(f"agnews.py: {cls}: class names must be distinct and contain no tab")
    splits = [s for s in ("train", "test") if os.path.isfile(os.path.join(a.src, s + ".csv"))]
    if not splits:
        sys.exit(f"agnews.py: {a.src}: neither train.csv nor test.csv found")
    os.makedirs(a.outdir, exist_ok=True)
    for s in splits:
        out = os.path.join(a.outdir, s + ".tsv")
        c = convert(os.path.join(a.src, s + ".csv"), names, out)
        print(f"{out}: {sum(c.values())} documents (" + ", ".join(f"{k}: {v}" for k, v in c.items()) + ")")
    for s in ("train", "test"):
        if s not in splits:
            print(f"{s}.csv not found in {a.src}: skipped")
    o = a.outdir
    print("next:")
    if "train" in splits:
        print(f"  tcdist prepare --format tsv -o {o}/train.h5 {o}/train.tsv")
        if "test" in splits:
            print(f"  tcdist prepare --format tsv --vocab {o}/train.h5 -o {o}/test.h5 {o}/test.tsv")
    else:
        print(f"  tcdist prepare --format tsv -o {o}/test.h5 {o}/test.tsv")


if __name__ == "__main__":
    main()
