# tcdist prepare: raw text -> corpus, through the real binary (scripts share tests/prepare_lib.sh).
tcd_script_test(prepare_formats prepare_formats.sh 1)
tcd_script_test(prepare_errors prepare_errors.sh 1)
tcd_script_test(prepare_vocab prepare_vocab.sh 1)
tcd_script_test(prepare_determinism prepare_determinism.sh 2)
tcd_script_test(prepare_sst2 prepare_sst2.sh 2)
