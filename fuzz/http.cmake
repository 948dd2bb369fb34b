# HTTP request parsing (base/http): the parser the server runs.
evald_fuzzer(http_request_fuzzer
  SRCS ${CMAKE_CURRENT_LIST_DIR}/http_request_fuzzer.cc
  DEPS evald_http_server)
