# Unit tests for the XML stream layer (router/xml_stream.c).
add_executable(unit_xml_stream ${CMAKE_CURRENT_LIST_DIR}/router/test_xml_stream.c)
target_include_directories(unit_xml_stream PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(unit_xml_stream PRIVATE router_xml)
add_test(NAME unit_xml_stream COMMAND unit_xml_stream)
set_tests_properties(unit_xml_stream PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
