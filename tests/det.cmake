# Deterministic training: exact fixed-point gradients (model.c, fixedpoint.c).
tcd_c_test(test_deterministic)
