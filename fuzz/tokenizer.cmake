# tokenizer.json loading and encoding (runners/native/tokenizer).
evald_fuzzer(tokenizer_json_fuzzer
  SRCS ${CMAKE_CURRENT_LIST_DIR}/tokenizer_json_fuzzer.cc
  DEPS evald_tokenizer)
