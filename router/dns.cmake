# router_dns: s2s address resolution (SRV/A/AAAA, XEP-0368) and DNSSEC-aware TLSA lookups (DANE,
# RFC 7673) on c-ares, driven by the event loop. dna: the DNS message builder/parser and TLSA sets.
add_library(router_dns STATIC dns.c)
target_include_directories(router_dns PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(router_dns PUBLIC router_core dna PkgConfig::CARES)
