# lm-eval task YAML: the loader (tasks/lm_eval/config.h) and the data files
# it reads.
evald_fuzzer(lm_eval_task_fuzzer
  SRCS ${CMAKE_CURRENT_SOURCE_DIR}/lm_eval_task_fuzzer.cc
  DEPS evald_tasks_lm_eval_config)
