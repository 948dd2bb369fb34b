# The cluster benchmark: one workload locally and sharded over a real
# single-node Slurm cluster (tests/testing/slurm_cluster.h), with real evald
# daemons and workers. It links the test helpers for the cluster and the
# processes, so it is built with the tests.
if(EVALD_BUILD_TESTS AND TARGET evald AND TARGET evalctl AND TARGET evald_native_testing)
  add_executable(evald-cluster-bench ${CMAKE_CURRENT_LIST_DIR}/cluster_bench.cc)
  target_link_libraries(evald-cluster-bench PRIVATE evald_daemon_test_process evald_testing_slurm
                        evald_testing evald_native_testing evald_grpc evald_proto evald_base
                        absl::strings)
  target_compile_options(evald-cluster-bench PRIVATE -Wall -Wextra -Wno-unused-parameter)
  add_dependencies(evald-cluster-bench evald evalctl)
endif()
