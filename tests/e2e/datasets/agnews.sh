#!/usr/bin/env bash
# AG News: test.csv (train.csv where present) -> tsv -> prepare -> inspect (7,600 in 4 classes).
source "$(dirname "$0")/lib.sh"
need_data agnews/test.csv agnews/classes.txt
mkdir src && cp "$TCDIST_DATA_DIR"/agnews/{test.csv,classes.txt} src/
"$PYTHON" "$TCDIST_SRC/datasets/agnews.py" src out > conv.txt
grep -q "train.csv not found" conv.txt
[ "$(head -n 1 out/test.tsv)" = "$(printf 'text\tlabel')" ]
"$TCDIST" prepare -o out/test.h5 out/test.tsv > /dev/null
expect_corpus out/test.h5 7600 4 World=1900 Sports=1900 Business=1900 Sci/Tech=1900
# a bad class index is reported with file:line
printf '"3","t","d"\n"9","t","d"\n' > src/test.csv
if "$PYTHON" "$TCDIST_SRC/datasets/agnews.py" src outb 2> err.txt; then echo "FAIL: class 9 accepted"; exit 1; fi
grep -q "src/test.csv:2" err.txt || { echo "FAIL: no file:line in: $(cat err.txt)"; exit 1; }
echo "datasets_agnews: ok"
