# SHA-256 of checkpoint files. The scalar SHA-256 evald used before OpenSSL
# lives on only here, as the yardstick of evald-hash-bench and for
# Sha256Test's equality check; nothing in evald links it.
evald_cc_library(evald_bench_scalar_sha256
  SRCS ${CMAKE_CURRENT_LIST_DIR}/scalar_sha256.cc
  DEPS absl::status absl::statusor absl::strings)

if(TARGET evald_fingerprint)
  add_executable(evald-hash-bench ${CMAKE_CURRENT_LIST_DIR}/hash_bench.cc)
  target_link_libraries(evald-hash-bench PRIVATE evald_fingerprint evald_bench_scalar_sha256)
  target_compile_options(evald-hash-bench PRIVATE -Wall -Wextra -Wno-unused-parameter)
endif()
