# Converters for the public corpora (datasets/*.py) -> tcdist prepare -> tcdist inspect, on the real
# files under TCDIST_DATA_DIR (skipped when absent).
tcd_script_test(datasets_sst2 datasets_sst2.sh 1)
tcd_script_test(datasets_imdb datasets_imdb.sh 1)
tcd_script_test(datasets_agnews datasets_agnews.sh 1)
