# Vocabulary and ids: OOV via --vocab, --min-count / --max-vocab (sizes and order), n-gram ids
# (range and count), --max-len truncation (offsets), label orders.
source "$(dirname "$0")/lib.sh"

# counts: a=5 b=4 c=3 d=2 e=2 f=1 ; ties by byte order
printf 'text\tlabel\na a a b b\t1\na a b c c\t0\nb c d d e\t1\ne f\t0\n' > tr.tsv
run_ok "train" -o tr.h5 tr.tsv
expect_eq "vocab order: count desc, ties by bytes" "$(q tr.h5 'w()')" "<pad> <unk> a b c d e f"
expect_eq "vocab counts" "$(q tr.h5 'list(f["vocab/counts"][:])')" "0 0 5 4 3 2 2 1"
expect_eq "tokens doc0" "$(q tr.h5 'doc(0)')" "2 2 2 3 3"
expect_eq "offsets" "$(q tr.h5 'list(f["offsets"][:])')" "0 5 10 15 17"
expect_eq "sizes" "$(q tr.h5 '(f.attrs["vocab_size"], f.attrs["n_embeddings"], f.attrs["n_buckets"], f.attrs["n_tokens"])')" "8 8 0 17"

run_ok "min-count 2" --min-count 2 -o mc.h5 tr.tsv
expect_eq "min-count vocab" "$(q mc.h5 'w()')" "<pad> <unk> a b c d e"
expect_eq "min-count: f -> unk" "$(q mc.h5 'doc(3)')" "6 1"
expect_eq "min-count unk count" "$(q mc.h5 'int(f["vocab/counts"][1])')" 1
run_ok "max-vocab 3" --max-vocab 3 -o mv.h5 tr.tsv
expect_eq "max-vocab vocab" "$(q mv.h5 'w()')" "<pad> <unk> a b c"
expect_eq "max-vocab attrs" "$(q mv.h5 '(f.attrs["vocab_size"], f.attrs["max_vocab"], f.attrs["min_count"])')" "5 3 1"
expect_eq "max-vocab doc2" "$(q mv.h5 'doc(2)')" "3 4 1 1 1"

# ---- OOV through --vocab: unknown words get <unk> (1); same vocabulary and hashes of it
printf 'text\tlabel\na zzz b\t0\nqqq\t1\n' > dv.tsv
run_ok "dev with --vocab" --vocab tr.h5 -o dv.h5 dv.tsv
expect_eq "dev OOV ids" "$(q dv.h5 'doc(0)')" "2 1 3"
expect_eq "dev all-OOV doc kept" "$(q dv.h5 'doc(1)')" "1"
expect_eq "dev vocab = train vocab" "$(q dv.h5 'f.attrs["vocab_sha256"]')" "$(q tr.h5 'f.attrs["vocab_sha256"]')"
expect_eq "dev labels = train labels" "$(q dv.h5 'L()')" "0 1"
expect_eq "dev counts = train counts" "$(q dv.h5 'list(f["vocab/counts"][:])')" "0 0 5 4 3 2 2 1"

# ---- n-grams: ids in [vocab_size, vocab_size + buckets); count per doc = words + (n-1) + (n-2)
run_ok "trigrams" --ngrams 3 --buckets 1000 -o ng.h5 tr.tsv
expect_eq "ngram attrs" "$(q ng.h5 '(f.attrs["ngrams"], f.attrs["n_buckets"], f.attrs["n_embeddings"])')" "3 1000 1008"
expect_eq "ngram token count" "$(q ng.h5 'f.attrs["n_tokens"]')" $((17 + 4+3 + 4+3 + 4+3 + 1+0))
expect_eq "ngram doc0 words first" "$(q ng.h5 'doc(0)[:5]')" "2 2 2 3 3"
expect_eq "ngram ids in range" "$(q ng.h5 'all(8 <= t < 1008 for i, nw in enumerate([5, 5, 5, 2]) for t in doc(i)[nw:]) and all(t < 8 for i, nw in enumerate([5, 5, 5, 2]) for t in doc(i)[:nw])')" True
expect_eq "same bigram same id" "$(q ng.h5 'doc(0)[5] == doc(0)[6] and doc(0)[5] == doc(1)[5]')" True
run_ok "dev trigrams via --vocab" --vocab ng.h5 -o ngd.h5 dv.tsv
expect_eq "dev ngram ids from train settings" "$(q ngd.h5 '(len(doc(0)), all(8 <= t < 1008 for t in doc(0)[3:]))')" "6 True"
run_ok "default buckets" --ngrams 2 -o nb.h5 tr.tsv
expect_eq "default buckets 200000" "$(q nb.h5 'f.attrs["n_buckets"]')" 200000

# ---- --max-len truncates words (offsets), n-grams over the kept words
run_ok "max-len 2" --max-len 2 -o ml.h5 tr.tsv
expect_eq "max-len offsets" "$(q ml.h5 'list(f["offsets"][:])')" "0 2 4 6 8"
expect_eq "max-len attr" "$(q ml.h5 'f.attrs["max_len"]')" 2
run_ok "max-len 2 with bigrams" --max-len 2 --ngrams 2 --buckets 50 -o mlb.h5 tr.tsv
expect_eq "max-len bigram offsets" "$(q mlb.h5 'list(f["offsets"][:])')" "0 3 6 9 12"
run_ok "dev max-len may differ" --vocab tr.h5 --max-len 1 -o dml.h5 dv.tsv
expect_eq "dev max-len" "$(q dml.h5 'list(f["offsets"][:])')" "0 1 2"

# ---- labels: numeric order, byte order, --labels order
printf 'text\tlabel\nx\t10\ny\t9\nz\t-1\n' > num.tsv
run_ok "numeric labels" -o num.h5 num.tsv
expect_eq "numeric label order" "$(q num.h5 'L()')" "-1 9 10"
expect_eq "numeric label ids" "$(q num.h5 'list(f["labels"][:])')" "2 1 0"
printf 'text\tlabel\nx\tb\ny\tB\nz\ta\n' > str.tsv
run_ok "string labels" -o str.h5 str.tsv
expect_eq "byte label order" "$(q str.h5 'L()')" "B a b"
run_ok "--labels order" --labels b,a,B -o lab.h5 str.tsv
expect_eq "--labels names" "$(q lab.h5 'L()')" "b a B"
expect_eq "--labels ids" "$(q lab.h5 'list(f["labels"][:])')" "0 2 1"
finish
