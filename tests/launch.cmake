# launch/tcdist-launch through the real script: --dry-run against injected topologies, Slurm and
# hostfile modes, refusals; then real launches (local mode, 2 MPI ranks) through the real binary.
tcd_script_test(launch_dryrun launch_dryrun.sh 1)
tcd_script_test(launch_run launch_run.sh 2)
