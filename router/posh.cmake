# router_posh: POSH (RFC 7711) retrieval over HTTPS driven by the event loop, and its bounded
# HTTP/1.x response-head parser (router/http_resp.c, fuzz target tests/fuzz/fuzz_http_resp.c).
add_library(router_posh STATIC posh_fetch.c http_resp.c)
target_include_directories(router_posh PUBLIC ${PROJECT_SOURCE_DIR})
target_link_libraries(router_posh PUBLIC router_core dna bssl)
