# democomp: the demo's XEP-0114 component load generator (tools/demo.sh runs two of them).
# It parses the component stream with router_xml; until that module exists the target is skipped.
if(TARGET router_xml)
  add_executable(democomp democomp.c)
  target_link_libraries(democomp PRIVATE router_xml router_core bssl)
else()
  message(STATUS "democomp: router_xml not available yet, not built")
endif()
