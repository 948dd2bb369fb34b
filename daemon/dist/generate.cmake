# Run at build time (`cmake -P`, see daemon/CMakeLists.txt): the man pages
# and shell completion scripts, printed by the binaries from their own flag
# declarations so they cannot drift from the parser.
#
# In: EVALCTL, EVALD (the built binaries), OUT (a build folder).
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN}: exit ${rc}: ${err}")
  endif()
endfunction()

file(REMOVE_RECURSE "${OUT}/man" "${OUT}/completions")
file(MAKE_DIRECTORY "${OUT}/completions")
run("${EVALCTL}" help-man "${OUT}/man/man1")
run("${EVALD}" --help-man "${OUT}/man/man8")
foreach(pair "bash;evalctl" "zsh;_evalctl" "fish;evalctl.fish")
  list(GET pair 0 shell)
  list(GET pair 1 name)
  execute_process(COMMAND "${EVALCTL}" completion ${shell} OUTPUT_FILE "${OUT}/completions/${name}"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "evalctl completion ${shell}: exit ${rc}")
  endif()
endforeach()
file(TOUCH "${OUT}/dist.stamp")
