# Unit tests for dna/ prooftypes (TLSA/DANE, POSH, policy) and the tlsa_rdata / posh_json fuzz
# targets. Included from tests/CMakeLists.txt with OPTIONAL.
foreach(_dna2_test tlsa posh prooftype dnsmsg)
  add_executable(unit_dna_${_dna2_test} ${CMAKE_CURRENT_LIST_DIR}/dna/test_${_dna2_test}.c)
  target_include_directories(unit_dna_${_dna2_test} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(unit_dna_${_dna2_test} PRIVATE dna)
  add_test(NAME unit_dna_${_dna2_test} COMMAND unit_dna_${_dna2_test})
  set_tests_properties(unit_dna_${_dna2_test} PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
endforeach()

# tests/fuzz/fuzz.cmake (included after this file) defines rt_fuzz_target.
function(rt_dna2_register_fuzz)
  if(COMMAND rt_fuzz_target)
    rt_fuzz_target(tlsa_rdata tests/fuzz/fuzz_tlsa_rdata.c dna)
    rt_fuzz_target(posh_json tests/fuzz/fuzz_posh_json.c dna)
    rt_fuzz_target(dns_answer tests/fuzz/fuzz_dns_answer.c dna)
  endif()
endfunction()
if(COMMAND rt_fuzz_target)
  rt_dna2_register_fuzz()
else()
  cmake_language(DEFER CALL rt_dna2_register_fuzz)
endif()
