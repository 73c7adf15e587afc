tcd_script_test(cmake_deps cmake_deps.sh 1)
