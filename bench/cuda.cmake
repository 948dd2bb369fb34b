# The CUDA backend's benchmark (built with the backend; runs on a GPU).
if(TARGET evald_cuda AND TARGET evald_native_runner)
  add_executable(evald-cuda-bench ${CMAKE_CURRENT_LIST_DIR}/cuda_bench.cc)
  target_link_libraries(evald-cuda-bench PRIVATE evald_native_runner CUDA::cudart_static)
  target_compile_options(evald-cuda-bench PRIVATE -Wall -Wextra -Wno-unused-parameter)
endif()

# The INT4 dequantising GEMV against the device-to-device copy bandwidth.
if(TARGET evald_cuda_kernels)
  add_executable(evald-int4-gemv-bench ${CMAKE_CURRENT_LIST_DIR}/int4_gemv_bench.cu)
  target_link_libraries(evald-int4-gemv-bench PRIVATE evald_cuda_kernels CUDA::cudart_static)
endif()
