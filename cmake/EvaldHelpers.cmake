# evald_cc_library(NAME SRCS a.cc ... DEPS t1 t2 ...)
# A library target whose public include root is the repository root.
function(evald_cc_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;COPTS" ${ARGN})
  if(ARG_SRCS)
    add_library(${name} STATIC ${ARG_SRCS})
    target_link_libraries(${name} PUBLIC ${ARG_DEPS})
    target_compile_options(${name} PRIVATE -Wall -Wextra -Wno-unused-parameter ${ARG_COPTS})
  else()
    add_library(${name} INTERFACE)
    target_link_libraries(${name} INTERFACE ${ARG_DEPS})
  endif()
endfunction()

# evald_cc_test(NAME SRCS a_test.cc DEPS ... LABELS unit|integration|cuda [TIMEOUT s]
#               [RESOURCE_LOCK name])
# A GoogleTest binary registered with ctest through gtest_discover_tests.
# RESOURCE_LOCK keeps its tests from running concurrently with other tests
# holding the same lock (e.g. tests sharing an npm install directory).
function(evald_cc_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT;RESOURCE_LOCK" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT EVALD_BUILD_TESTS)
    return()
  endif()
  add_executable(${name} ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_options(${name} PRIVATE -Wall -Wno-unused-parameter)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set(lock_props "")
  if(ARG_RESOURCE_LOCK)
    set(lock_props RESOURCE_LOCK ${ARG_RESOURCE_LOCK})
  endif()
  gtest_discover_tests(${name}
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT} ${lock_props}
               ENVIRONMENT "EVALD_BIN_DIR=${CMAKE_BINARY_DIR}/bin;EVALD_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    DISCOVERY_TIMEOUT 60)
endfunction()
