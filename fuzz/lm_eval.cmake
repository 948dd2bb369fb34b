# lm-eval output files read by `evalctl import` (results and samples files).
evald_fuzzer(lm_eval_import_fuzzer
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/lm_eval_import_fuzzer.cc
  DEPS evald_lm_eval_files)
