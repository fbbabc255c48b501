# router_posh: POSH (RFC 7711) retrieval over HTTPS driven by the event loop, and its bounded
# HTTP/1.x response-head parser (router/http_resp.c, fuzz target tests/fuzz/fuzz_http_resp.c).
add_library(router_posh STATIC posh_fetch.c http_resp.c)
target_include_directories(router_posh PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(router_posh PUBLIC router_core dna bssl)

# router_posh_dns: the fetcher's name resolution on rt_dns (A/AAAA, non-global addresses
# filtered), shared by the router (proof.c) and dnacheck.
add_library(router_posh_dns STATIC posh_dns.c)
target_include_directories(router_posh_dns PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(router_posh_dns PUBLIC router_posh router_dns router_core)
