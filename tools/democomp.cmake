# democomp: the demo's XEP-0114 component load generator (tools/demo.sh runs two of them).
add_executable(democomp democomp.c)
target_link_libraries(democomp PRIVATE router_xml dna router_core bssl)

# The demo end to end, small: two routers, 3 domains each, 5 messages per pair; fails unless every
# stanza arrives once and the routers' /metrics agree with what the democomps counted.
add_test(NAME demo_small
  COMMAND ${PROJECT_SOURCE_DIR}/tools/demo.sh ${CMAKE_BINARY_DIR} --domains 3 --messages 5
          --deadline 60)
set_tests_properties(demo_small PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77)
