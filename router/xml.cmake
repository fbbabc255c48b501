# router_xml: XMPP stream framing on expat (xml_stream.h).
add_library(router_xml STATIC xml_stream.c)
target_include_directories(router_xml PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(router_xml PUBLIC router_core PkgConfig::EXPAT)
