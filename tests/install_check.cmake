# Run by the install_layout test: installs BUILD into PREFIX, then runs each binary with --help.
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${PREFIX}
  RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
foreach(tool fedrouter fedctl dnacheck)
  if(NOT EXISTS ${PREFIX}/bin/${tool})
    message(FATAL_ERROR "${tool} not installed in ${PREFIX}/bin")
  endif()
  execute_process(COMMAND ${PREFIX}/bin/${tool} --help RESULT_VARIABLE rc OUTPUT_VARIABLE out
    ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR NOT "${out}${err}" MATCHES "${tool}")
    message(FATAL_ERROR "${PREFIX}/bin/${tool} --help: exit ${rc}: ${out}${err}")
  endif()
endforeach()
file(REMOVE_RECURSE ${PREFIX})
