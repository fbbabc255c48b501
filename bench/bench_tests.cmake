# Smoke runs of every bench scenario (tiny sizes, fedrouter only, no Prosody): fedbench must
# finish, and its counts must be consistent (sent = delivered + bounced, no duplicates or
# misrouted stanzas, peer connects and handshakes = the router's outbound counters, bounces = the
# router's bounces, the scenario's RSS bound). Speed is not asserted.
find_package(Python3 COMPONENTS Interpreter)
if(RT_TESTS AND Python3_Interpreter_FOUND)
  foreach(_sc pooled_stream many_pairs churn large_stanzas slow_peer storm)
    add_test(NAME bench_smoke_${_sc}
      COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_SOURCE_DIR}/run.py --build ${CMAKE_BINARY_DIR}
              --smoke --quiet --targets fedrouter --scenarios ${_sc})
    set_tests_properties(bench_smoke_${_sc} PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
  endforeach()
endif()
