# Unit tests for dna/ (domain names, RFC 6125 matching, dialback keys) and the jid fuzz target.
foreach(_dna_test domain dbkey pkix)
  add_executable(unit_dna_${_dna_test} ${CMAKE_CURRENT_LIST_DIR}/dna/test_${_dna_test}.c)
  target_include_directories(unit_dna_${_dna_test} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(unit_dna_${_dna_test} PRIVATE dna)
  add_test(NAME unit_dna_${_dna_test} COMMAND unit_dna_${_dna_test})
  set_tests_properties(unit_dna_${_dna_test} PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
endforeach()

# tests/fuzz/fuzz.cmake (included after this file) defines rt_fuzz_target; register the jid target
# (dna_jid_domain + dna_domain_normalize, corpus tests/fuzz/corpus/jid/) once it exists.
function(rt_dna_register_fuzz)
  if(COMMAND rt_fuzz_target)
    rt_fuzz_target(jid tests/fuzz/fuzz_jid.c dna)
  endif()
endfunction()
if(COMMAND rt_fuzz_target)
  rt_dna_register_fuzz()
else()
  cmake_language(DEFER CALL rt_dna_register_fuzz)
endif()
