# Slurm batch scripts (slurm/) against a real, private Slurm started by tests/slurm_harness.sh:
# munged, slurmctld and slurmd under a temporary folder. They need root (and install Slurm with
# launch/install-deps.sh --slurm if it is missing); elsewhere they are skipped (exit 77).
# Run only these: ctest -L slurm
tcd_script_test(slurm_train slurm_train.sh 2)
tcd_script_test(slurm_preempt slurm_preempt.sh 2)
tcd_script_test(slurm_sweep slurm_sweep.sh 2)
set_tests_properties(slurm_train slurm_preempt slurm_sweep PROPERTIES LABELS slurm TIMEOUT 600 RESOURCE_LOCK slurm_cluster)
