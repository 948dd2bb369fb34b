# evald's run files read by `evalctl import` (daemon/run_file.h).
evald_fuzzer(run_file_fuzzer
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/run_file_fuzzer.cc
  DEPS evald_run_file)
