# unit_posh_fetch: router/posh_fetch.c against a real nginx (Debian nginx-light) on 127.0.0.1 with
# a test CA made by the openssl CLI; skips (exit 77) without nginx or openssl.
add_executable(test_posh_fetch unit/router/test_posh_fetch.c)
target_include_directories(test_posh_fetch PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(test_posh_fetch PRIVATE router_posh)
add_test(NAME unit_posh_fetch COMMAND test_posh_fetch)
set_tests_properties(unit_posh_fetch PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77)

# unit_posh_dns: the non-global address filter of the POSH fetcher's resolver (router/posh_dns.c).
add_executable(test_posh_dns unit/router/test_posh_dns.c)
target_include_directories(test_posh_dns PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(test_posh_dns PRIVATE router_posh_dns)
add_test(NAME unit_posh_dns COMMAND test_posh_dns)
set_tests_properties(unit_posh_dns PROPERTIES TIMEOUT 30)
