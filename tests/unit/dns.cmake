# unit_dns: router/dns.c against a real unbound on 127.0.0.1 (skips, exit 77, without unbound).
add_executable(test_dns unit/router/test_dns.c support/t_unbound.c support/t_dnsloop.c)
target_include_directories(test_dns PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(test_dns PRIVATE router_dns)
add_test(NAME unit_dns COMMAND test_dns)
set_tests_properties(unit_dns PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)

# unit_dns_order: pure ordering / TTL-walk / name logic of dns.c (includes dns.c; no server).
add_executable(test_dns_order unit/router/test_dns_order.c)
target_include_directories(test_dns_order PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(test_dns_order PRIVATE router_core dna PkgConfig::CARES)
add_test(NAME unit_dns_order COMMAND test_dns_order)
set_tests_properties(unit_dns_order PROPERTIES TIMEOUT 30 SKIP_RETURN_CODE 77)
