# Checkpoints and resume through the real binary (the checkpoint file's unit tests are in ckpt.cmake).
tcd_script_test(ckpt_resume ckpt_resume.sh 2)
tcd_script_test(ckpt_faults ckpt_faults.sh 2)
tcd_script_test(ckpt_disk ckpt_disk.sh 1)
