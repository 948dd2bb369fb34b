# Per-token log-probabilities through one backend (cross-backend and
# transformers comparisons; see bench/gpu/).
add_executable(evald-logprobs ${CMAKE_CURRENT_LIST_DIR}/logprobs_main.cc)
target_link_libraries(evald-logprobs PRIVATE evald_model)
target_compile_options(evald-logprobs PRIVATE -Wall -Wextra -Wno-unused-parameter)
