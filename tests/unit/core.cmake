# Unit tests for router/core.
add_executable(unit_core_bytes ${CMAKE_CURRENT_LIST_DIR}/core/test_bytes.c)
target_include_directories(unit_core_bytes PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(unit_core_bytes PRIVATE router_core)
add_test(NAME unit_core_bytes COMMAND unit_core_bytes)
set_tests_properties(unit_core_bytes PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
