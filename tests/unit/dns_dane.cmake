# unit_dns_dane: the DNSSEC side of router/dns.c (srv_secure, TLSA lookups, rt_dns_resolve_host)
# against tests/support/dnssec_lab.py (knotd signing + validating unbound on 127.0.0.1). Skips
# (exit 77) without python3, knotd or unbound.
add_executable(test_dns_dane unit/router/test_dns_dane.c support/t_dnsloop.c)
target_include_directories(test_dns_dane PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(test_dns_dane PRIVATE router_dns)
target_compile_definitions(test_dns_dane PRIVATE
  T_DNSSEC_LAB="${PROJECT_SOURCE_DIR}/tests/support/dnssec_lab.py")
add_test(NAME unit_dns_dane COMMAND test_dns_dane)
set_tests_properties(unit_dns_dane PROPERTIES TIMEOUT 90 SKIP_RETURN_CODE 77)
