# Model tooling and benchmarks: the synthetic checkpoint writer CLI and the
# CPU forward benchmark (the only place that links OpenBLAS, as a yardstick).
add_executable(evald-make-checkpoint ${CMAKE_CURRENT_LIST_DIR}/make_checkpoint_main.cc)
target_link_libraries(evald-make-checkpoint PRIVATE evald_model evald_native_testing)
target_compile_options(evald-make-checkpoint PRIVATE -Wall -Wextra -Wno-unused-parameter)

# OpenBLAS only as the SGEMM yardstick of the benchmark; never in the forward path.
find_library(EVALD_OPENBLAS_LIBRARY NAMES openblas)
find_path(EVALD_CBLAS_INCLUDE NAMES cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-pthread)
if(EVALD_OPENBLAS_LIBRARY AND EVALD_CBLAS_INCLUDE)
  add_executable(evald-model-bench ${CMAKE_CURRENT_LIST_DIR}/model_bench.cc)
  target_include_directories(evald-model-bench PRIVATE ${EVALD_CBLAS_INCLUDE})
  target_link_libraries(evald-model-bench PRIVATE evald_model evald_native_testing
                        ${EVALD_OPENBLAS_LIBRARY})
  target_compile_options(evald-model-bench PRIVATE -Wall -Wextra -Wno-unused-parameter)
else()
  message(STATUS "evald: OpenBLAS not found; evald-model-bench is not built")
endif()

# The benchmark's smoke run: every section on a tiny model, so it cannot rot;
# no timing is asserted.
if(TARGET evald-model-bench AND EVALD_BUILD_TESTS)
  add_test(NAME ModelBench.Short COMMAND evald-model-bench --short --threads 2)
  set_tests_properties(ModelBench.Short PROPERTIES LABELS bench TIMEOUT 120)
endif()
