#!/usr/bin/env bash
# GLUE SST-2: converter (from the folder, and from a zip made here) -> prepare -> inspect.
source "$(dirname "$0")/lib.sh"
need_data sst2/train.tsv sst2/dev.tsv
"$PYTHON" "$TCDIST_SRC/datasets/sst2.py" "$TCDIST_DATA_DIR/sst2" out > conv.txt
grep -q "test.tsv skipped" conv.txt
cmp out/train.tsv "$TCDIST_DATA_DIR/sst2/train.tsv"   # copied unchanged after validation
"$TCDIST" prepare --format tsv --text-field sentence -o out/train.h5 out/train.tsv > /dev/null
"$TCDIST" prepare --format tsv --text-field sentence --vocab out/train.h5 -o out/dev.h5 out/dev.tsv > /dev/null
expect_corpus out/train.h5 67349 2 0=29780 1=37569
expect_corpus out/dev.h5 872 2 0=428 1=444
# the zip layout of the official download
mkdir -p z/SST-2 && cp "$TCDIST_DATA_DIR"/sst2/{train,dev}.tsv z/SST-2/
(cd z && "$PYTHON" -c "import zipfile; z=zipfile.ZipFile('SST-2.zip','w'); [z.write(f) for f in ('SST-2/train.tsv','SST-2/dev.tsv')]")
"$PYTHON" "$TCDIST_SRC/datasets/sst2.py" z/SST-2.zip outz > /dev/null
cmp out/dev.tsv outz/dev.tsv
# a malformed file is rejected with file:line
mkdir bad && printf 'sentence\tlabel\ngood \t1\nbad \t2\n' > bad/train.tsv && cp bad/train.tsv bad/dev.tsv
if "$PYTHON" "$TCDIST_SRC/datasets/sst2.py" bad outb 2> err.txt; then echo "FAIL: bad label accepted"; exit 1; fi
grep -q "bad/train.tsv:3" err.txt || { echo "FAIL: no file:line in: $(cat err.txt)"; exit 1; }
echo "datasets_sst2: ok"
