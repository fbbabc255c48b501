# dnacheck: the operator's domain-ownership diagnostic (SRV/DNSSEC, TLSA, POSH, the peer's
# certificate, prooftype verdict). Reuses the router's resolver, POSH fetcher, config loader and
# XML framing; jansson for --json.
add_executable(dnacheck dnacheck.c)
target_link_libraries(dnacheck PRIVATE router_dns router_posh router_posh_dns router_conf router_xml dna
  PkgConfig::JANSSON bssl)
install(TARGETS dnacheck RUNTIME DESTINATION bin)
