# Unit tests for pool/ (verdict table, back-off, per-address counts, pair sets). unit_pool_verdict_threads is the concurrency
# test; run it in a -DRT_SANITIZE=thread build too.
foreach(_pool_test verdict verdict_threads backoff addrcount pairset)
  add_executable(unit_pool_${_pool_test} ${CMAKE_CURRENT_LIST_DIR}/pool/test_${_pool_test}.c)
  target_include_directories(unit_pool_${_pool_test} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(unit_pool_${_pool_test} PRIVATE pool)
  add_test(NAME unit_pool_${_pool_test} COMMAND unit_pool_${_pool_test})
  set_tests_properties(unit_pool_${_pool_test} PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)
endforeach()
