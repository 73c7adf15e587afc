tcd_c_test(test_hash64)
