# tcdist synth and tcdist inspect (corpus files).
tcd_script_test(synth_basic synth_basic.sh 1)
tcd_script_test(inspect_corpus inspect_corpus.py 1)
tcd_script_test(synth_prepare_large synth_prepare_large.sh 2)
