# Engine benchmarks: prefix cache on vs off on an MMLU-shaped workload.
if(TARGET evald_native_runner)
  add_executable(evald-engine-prefix-bench ${CMAKE_CURRENT_LIST_DIR}/engine_prefix_bench.cc)
  target_link_libraries(evald-engine-prefix-bench PRIVATE evald_native_runner evald_model
                        evald_native_testing)
  target_compile_options(evald-engine-prefix-bench PRIVATE -Wall -Wextra -Wno-unused-parameter)
endif()
