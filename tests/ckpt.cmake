# Checkpoints: round trip, damage detection, keep/find/fallback, failed and killed writes.
tcd_c_test(test_checkpoint)
