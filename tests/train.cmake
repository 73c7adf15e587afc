# Training core, eval and predict, through the real binary.
tcd_script_test(train_reference train_reference.py 2)
tcd_script_test(train_threads train_threads.sh 2)
tcd_script_test(train_cli train_cli.sh 1)
tcd_script_test(eval_predict eval_predict.sh 2)
tcd_script_test(train_sst2 train_sst2.sh 2)
tcd_script_test(stream stream.sh 2)
