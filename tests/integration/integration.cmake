# Integration tests: real fedrouter processes on loopback (127.0.0.1 and 127.0.0.2), driven by
# Python 3 scripts (standard library only) sharing tests/integration/harness.py. Each script exits
# 0 pass, 1 fail (after printing the router logs), 77 skip. They are serialised with one
# RESOURCE_LOCK: they bind fixed-at-start loopback ports and their timeouts assume an idle CPU.
set(_integ_py /usr/bin/python3)
set(_integ_dir ${CMAKE_SOURCE_DIR}/tests/integration)

# The harness checks itself (openssl certificates, unbound, parser, clients vs fake servers).
add_test(NAME integ_harness COMMAND ${_integ_py} ${_integ_dir}/harness_selftest.py)
set_tests_properties(integ_harness PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77
  RESOURCE_LOCK fedrouter_integ LABELS integration)

if(TARGET fedrouter)
  foreach(_t IN ITEMS
      "s2s_external\;60"
      "s2s_dialback\;60"
      "s2s_many\;90"
      "dns_srv\;60"
      "bounces\;60"
      "bad_input\;120"
      "shutdown\;60")
    list(GET _t 0 _name)
    list(GET _t 1 _timeout)
    add_test(NAME integ_${_name}
      COMMAND ${_integ_py} ${_integ_dir}/${_name}.py $<TARGET_FILE:fedrouter>)
    set_tests_properties(integ_${_name} PROPERTIES TIMEOUT ${_timeout} SKIP_RETURN_CODE 77
      RESOURCE_LOCK fedrouter_integ LABELS integration)
  endforeach()
endif()
