# Judge templates, verdict parsers and judged-task datasets.
evald_fuzzer(judge_fuzzer
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/judge_fuzzer.cc
  DEPS evald_judge "$<LINK_LIBRARY:WHOLE_ARCHIVE,evald_tasks>")
