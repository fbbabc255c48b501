# Interop suite: fedrouter against a real Prosody 0.12 in a test "internet" of network namespaces
# with a DNSSEC-signed test. zone (knot + unbound), nginx for POSH, and a test CA
# (tests/interop/README.md). Needs root and the packages of tests/interop/setup-deps.sh; without
# them every test skips (77). The lab is a ctest fixture: interop_setup builds it, the scenarios
# use it, interop_teardown stops what setup started (by PID) and deletes the namespaces.
set(_interop_py /usr/bin/python3)
set(_interop_dir ${CMAKE_SOURCE_DIR}/tests/interop)

if(TARGET fedrouter)
  add_test(NAME interop_setup COMMAND ${_interop_py} ${_interop_dir}/netlab.py setup)
  set_tests_properties(interop_setup PROPERTIES TIMEOUT 90 SKIP_RETURN_CODE 77
    FIXTURES_SETUP interop_lab RESOURCE_LOCK interop LABELS interop)
  add_test(NAME interop_teardown COMMAND ${_interop_py} ${_interop_dir}/netlab.py teardown)
  set_tests_properties(interop_teardown PROPERTIES TIMEOUT 90
    FIXTURES_CLEANUP interop_lab RESOURCE_LOCK interop LABELS interop)

  function(_interop_add name script timeout)
    add_test(NAME interop_${name}
      COMMAND ${_interop_py} ${_interop_dir}/${script}.py $<TARGET_FILE:fedrouter>)
    set_tests_properties(interop_${name} PROPERTIES TIMEOUT ${timeout} SKIP_RETURN_CODE 77
      FIXTURES_REQUIRED interop_lab RESOURCE_LOCK interop LABELS interop)
  endfunction()
  _interop_add(certs certs 90)
  _interop_add(dialback dialback 90)
  _interop_add(many many 150)
  _interop_add(dane dane 90)
  _interop_add(posh posh 90)
  _interop_add(failure failure 150)
endif()
