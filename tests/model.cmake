# Training maths: layers, model, optimizer.
tcd_c_test(test_gradcheck)
tcd_c_test(test_linear)
tcd_c_test(test_adam)
tcd_c_test(test_threads)
# Speed print (not a test): tokens/s of forward+backward+Adam.
add_executable(bench_model ${CMAKE_CURRENT_SOURCE_DIR}/bench/bench_model.c)
target_link_libraries(bench_model PRIVATE tcdist_core)
target_compile_options(bench_model PRIVATE ${TCDIST_WARN})
