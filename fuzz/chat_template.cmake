# Chat-template parser and interpreter: arbitrary template text rendered
# against a fixed conversation.
evald_fuzzer(chat_template_fuzzer
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/chat_template_fuzzer.cc
  DEPS evald_chat_template)
