# Unit tests for the configuration loader and the metrics endpoint; the config fuzz target.
add_executable(unit_conf unit/router/test_conf.c)
target_link_libraries(unit_conf PRIVATE router_conf)
target_compile_definitions(unit_conf PRIVATE RT_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_test(NAME unit_conf COMMAND unit_conf)
set_tests_properties(unit_conf PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)

add_executable(unit_metrics unit/router/test_metrics.c)
target_link_libraries(unit_metrics PRIVATE router_stats)
add_test(NAME unit_metrics COMMAND unit_metrics)
set_tests_properties(unit_metrics PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)

# tests/fuzz/fuzz.cmake (included after this file) defines rt_fuzz_target; register the config
# target once it exists.
function(rt_conf_register_fuzz)
  if(COMMAND rt_fuzz_target)
    rt_fuzz_target(config tests/fuzz/fuzz_config.c router_conf)
  endif()
endfunction()
if(COMMAND rt_fuzz_target)
  rt_conf_register_fuzz()
else()
  cmake_language(DEFER CALL rt_conf_register_fuzz)
endif()
