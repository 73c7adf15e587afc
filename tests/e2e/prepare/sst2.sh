# The real GLUE SST-2 files: train gives 67,349 documents, dev with --vocab gives 872.
source "$(dirname "$0")/lib.sh"
D=${TCDIST_DATA_DIR:-}/sst2
if [ -z "${TCDIST_DATA_DIR:-}" ] || [ ! -f "$D/train.tsv" ] || [ ! -f "$D/dev.tsv" ]; then
  echo "SST-2 not found under TCDIST_DATA_DIR (${TCDIST_DATA_DIR:-unset}); skipping"; exit 77
fi
run_ok "sst2 train" --text-field sentence --threads 2 -o train.h5 "$D/train.tsv"
expect_eq "train docs" "$(q train.h5 'f.attrs["n_docs"]')" 67349
expect_eq "train classes" "$(q train.h5 'L()')" "0 1"
expect_eq "train label counts" "$(q train.h5 'list(__import__("numpy").bincount(f["labels"][:]))')" "29780 37569"
run_ok "sst2 dev" --text-field sentence --vocab train.h5 -o dev.h5 "$D/dev.tsv"
expect_eq "dev docs" "$(q dev.h5 'f.attrs["n_docs"]')" 872
expect_eq "dev skipped" "$(q dev.h5 'f.attrs["n_skipped"]')" 0
expect_eq "dev ids in range" "$(q dev.h5 'int(f["tokens"][:].max()) < f.attrs["vocab_size"] and int(f["tokens"][:].min()) >= 1')" True
finish
