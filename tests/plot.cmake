tcd_script_test(plot plot.sh 1)
