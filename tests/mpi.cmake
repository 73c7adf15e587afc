# Data-parallel training through ${MPIEXEC_EXECUTABLE} (Open MPI as root, oversubscribed on 2 cores).
tcd_script_test(mpi_equivalence mpi_equivalence.sh 2)
tcd_script_test(mpi_exchange mpi_exchange.sh 2)
tcd_script_test(mpi_faults mpi_faults.sh 2)
tcd_script_test(mpi_shared mpi_shared.sh 2)
