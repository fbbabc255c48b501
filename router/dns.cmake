# router_dns: s2s address resolution (SRV/A/AAAA, XEP-0368) on c-ares, driven by the event loop.
add_library(router_dns STATIC dns.c)
target_include_directories(router_dns PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(router_dns PUBLIC router_core PkgConfig::CARES)
