# Fuzzes the safetensors header parser (runners/native/model/safetensors.h).
evald_fuzzer(safetensors_fuzzer
  SRCS ${CMAKE_CURRENT_LIST_DIR}/safetensors_fuzzer.cc
  DEPS evald_model)
