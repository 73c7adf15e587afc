#!/usr/bin/env bash
# IMDB: the streamed tarball -> jsonl -> prepare -> inspect (25,000 + 25,000, neg/pos).
source "$(dirname "$0")/lib.sh"
need_data imdb/aclImdb_v1_nofeat.tar.gz
"$PYTHON" "$TCDIST_SRC/datasets/imdb.py" "$TCDIST_DATA_DIR/imdb/aclImdb_v1_nofeat.tar.gz" out > /dev/null
if grep -qi "<br" out/train.jsonl out/test.jsonl; then echo "FAIL: <br> left in the text"; exit 1; fi
"$TCDIST" prepare -o out/train.h5 out/train.jsonl > /dev/null
"$TCDIST" prepare --vocab out/train.h5 -o out/test.h5 out/test.jsonl > /dev/null
expect_corpus out/train.h5 25000 2 neg=12500 pos=12500
expect_corpus out/test.h5 25000 2 neg=12500 pos=12500
# the folder form and --format tsv, on a small tree made here: same order and cleaning
mkdir -p a/aclImdb/{train,test}/{neg,pos} a/aclImdb/train/unsup
printf 'Bad.<br /><br />Really\tbad.' > a/aclImdb/train/neg/1_1.txt
printf 'Good<br/>film' > a/aclImdb/train/pos/0_9.txt
printf 'Meh<BR>.' > a/aclImdb/test/neg/0_2.txt
printf 'Fine.' > a/aclImdb/test/pos/3_8.txt
printf 'unlabelled' > a/aclImdb/train/unsup/0_0.txt
"$PYTHON" "$TCDIST_SRC/datasets/imdb.py" --format tsv a/aclImdb o2 > /dev/null
printf 'text\tlabel\nBad.  Really bad.\tneg\nGood film\tpos\n' | cmp - o2/train.tsv
tar -C a -czf a.tar.gz aclImdb
"$PYTHON" "$TCDIST_SRC/datasets/imdb.py" --format tsv a.tar.gz o3 > /dev/null
cmp o2/train.tsv o3/train.tsv && cmp o2/test.tsv o3/test.tsv
echo "datasets_imdb: ok"
