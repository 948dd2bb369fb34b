# evalctl's offline task commands: `prompt`, `score`, `datasets` and `judge`
# (no daemon, no model, no gRPC). Included by daemon/CMakeLists.txt, which
# links every library in EVALD_CLI_COMMAND_LIBS whole into evalctl.
if(TARGET evald_tasks AND TARGET evald_cli)
  find_package(CURL REQUIRED)
  find_package(LibArchive REQUIRED)
  evald_cc_library(evald_task_commands
    SRCS ${CMAKE_CURRENT_LIST_DIR}/offline_task.cc
         ${CMAKE_CURRENT_LIST_DIR}/prompt_cmd.cc
         ${CMAKE_CURRENT_LIST_DIR}/score_cmd.cc
         ${CMAKE_CURRENT_LIST_DIR}/datasets_cmd.cc
         ${CMAKE_CURRENT_LIST_DIR}/judge_cmd.cc
    # Tasks self-register, so they are linked whole (as everywhere else).
    DEPS "$<LINK_LIBRARY:WHOLE_ARCHIVE,evald_tasks>" evald_judge evald_cli evald_base
         CURL::libcurl LibArchive::LibArchive absl::status absl::statusor absl::strings
         absl::str_format)
  list(APPEND EVALD_CLI_COMMAND_LIBS evald_task_commands)
endif()
