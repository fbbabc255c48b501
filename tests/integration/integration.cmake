# Integration tests: real fedrouter processes on loopback (127.0.0.1 and 127.0.0.2), driven by
# Python 3 scripts (standard library only) sharing tests/integration/harness.py. Each script exits
# 0 pass, 1 fail (after printing the router logs), 77 skip. They are serialised with one
# RESOURCE_LOCK: they pick free loopback ports at start and their timeouts assume a quiet CPU.
set(_integ_py /usr/bin/python3)
set(_integ_dir ${CMAKE_SOURCE_DIR}/tests/integration)

# The harness checks itself (openssl certificates, unbound, parser, clients vs fake servers).
add_test(NAME integ_harness COMMAND ${_integ_py} ${_integ_dir}/harness_selftest.py)
set_tests_properties(integ_harness PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77
  RESOURCE_LOCK fedrouter_integ LABELS integration)

if(TARGET fedrouter)
  function(_integ_add name timeout)
    add_test(NAME integ_${name}
      COMMAND ${_integ_py} ${_integ_dir}/${name}.py $<TARGET_FILE:fedrouter>)
    set_tests_properties(integ_${name} PROPERTIES TIMEOUT ${timeout} SKIP_RETURN_CODE 77
      RESOURCE_LOCK fedrouter_integ LABELS integration)
  endfunction()
  _integ_add(s2s_external 60)
  _integ_add(s2s_dialback 60)
  _integ_add(s2s_many 90)
  _integ_add(dns_srv 60)
  _integ_add(bounces 60)
  _integ_add(bad_input 120)
  _integ_add(shutdown 60)
  _integ_add(dialback_outcomes 60)
  _integ_add(multi_domain 60)
  _integ_add(restart 60)
  _integ_add(component_rules 60)
  # The pool (one stream per peer address, piggybacked pairs, verdicts, back-off).
  _integ_add(pool_fanout 60)
  _integ_add(pool_primary_certs 60)
  _integ_add(pool_no_errors_peer 60)
  _integ_add(pool_backoff 90)
  _integ_add(pool_security 60)
  _integ_add(pool_bidi 60)
  _integ_add(pool_sm 60)
  _integ_add(comp_backpressure 120)
  # A domain the peer refuses (host-unknown) backs off neither the address nor healthy domains.
  _integ_add(pool_ghost_domain 60)
  # A peer that authenticates and drops each stream is backed off; nothing it was sent vanishes.
  _integ_add(pool_flapping_peer 60)
  # A peer closing a congested stream: the queue behind it moves to a new stream.
  _integ_add(pool_peer_closes_congested 90)
  # Operations: systemd notification (READY/WATCHDOG/STOPPING) and a promtool-checked scrape.
  _integ_add(systemd_notify 60)
  _integ_add(metrics_promtool 60)
  # fedctl against the admin socket (needs the fedctl target: ../tools/fedctl next to fedrouter).
  _integ_add(fedctl 60)
  # fedctl verdicts, pairs (how verified), flush-peer, drain-peer under traffic, permissions.
  _integ_add(fedctl_peers 120)
  # Closing (RFC 6120 §4.4): after our </stream:stream> the peer's late acks and stanzas count.
  _integ_add(close_handshake 90)
  _integ_add(close_hostile 90)
  _integ_add(flush_deaf_peer 90)
  # fedrouter -t: a configuration check that says what a start would trip over.
  _integ_add(config_check 60)
  # Configuration reload under traffic and with bad input; graceful shutdown drain.
  _integ_add(reload_traffic 120)
  _integ_add(reload_bad 90)
  _integ_add(shutdown_drain 90)
  # RFC 7712 prooftypes end to end: DANE (DNSSEC lab: knotd + validating unbound) and POSH (nginx),
  # SRV only, one router pair per case (dnalab.py); skip (77) without knotd/unbound/nginx.
  _integ_add(dna_dane 60)
  _integ_add(dna_dane_pool 60)
  # Regression tests for 130dc4c: a bogus SRV answer refuses (not a temporary failure), and a
  # refusal without a prooftype is cached as such, not as "dialback decides".
  _integ_add(dna_dane_dnssec 60)
  _integ_add(dna_posh 60)
  _integ_add(dna_posh_hostile 60)
  # Regression tests for 8f02134: a hostile peer (and a hostile DNS responder, blackdns.py) vs the
  # domain checks: DNS job exhaustion, a check in flight across a reload, a busy POSH fetcher.
  _integ_add(dna_abuse 120)
endif()

# The pair storm of integ_pool_fanout against a ThreadSanitizer build of fedrouter (make tsan),
# when RT_TSAN_FEDROUTER names one; the script skips (77) while that binary does not exist yet.
if(RT_TSAN_FEDROUTER)
  add_test(NAME integ_pool_fanout_tsan
    COMMAND ${_integ_py} ${_integ_dir}/pool_fanout.py ${RT_TSAN_FEDROUTER})
  set_tests_properties(integ_pool_fanout_tsan PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77
    RESOURCE_LOCK fedrouter_integ LABELS integration)
endif()

# dnacheck (tools/dnacheck) against the DNSSEC lab, nginx (POSH) and TLS XMPP responders; skips
# (77) without knotd/unbound/nginx.
if(TARGET dnacheck)
  add_test(NAME integ_dnacheck
    COMMAND ${_integ_py} ${_integ_dir}/dnacheck.py $<TARGET_FILE:dnacheck>)
  set_tests_properties(integ_dnacheck PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77
    RESOURCE_LOCK fedrouter_integ LABELS integration)
endif()
