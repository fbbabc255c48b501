# dnacheck: the operator's domain-ownership diagnostic (SRV/DNSSEC, TLSA, POSH, the peer's
# certificate, prooftype verdict). Reuses the router's resolver, POSH fetcher, config loader and
# XML framing; jansson for --json (Debian libjansson-dev; dna/ finds it privately).
pkg_check_modules(DNACHECK_JANSSON REQUIRED IMPORTED_TARGET jansson)
add_executable(dnacheck dnacheck.c)
target_link_libraries(dnacheck PRIVATE router_dns router_posh router_posh_dns router_conf router_xml dna
  PkgConfig::DNACHECK_JANSSON bssl)
