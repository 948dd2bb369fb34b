# JSON parsing and checked reads (base/json.h).
evald_fuzzer(json_reader_fuzzer
  SRCS ${CMAKE_CURRENT_LIST_DIR}/json_reader_fuzzer.cc
  DEPS evald_base)
