// stats_list.h: every metric, listed once (STYLE.md §10). The stats struct, the /metrics text and
// the README table come from this list.
//
// RT_STAT(id, kind, name, labels, help): |kind| is COUNTER or GAUGE; series of one metric name are
// consecutive and share |help|; |labels| is the label set as Prometheus text ("" for none).
// No X-macro guard: include it after defining RT_STAT.
//
// Rendered by stats.c outside this list (label sets known only at run time):
// fedrouter_workers, fedrouter_worker_busy_seconds_total{worker} (rt_stats_t.busy_ns),
// fedrouter_start_time_seconds, fedrouter_local_certificate_expiry_seconds{certificate} and
// fedrouter_build_info.
//
// Label values drawn from fixed sets come from the lists below (guarded: defined once), so that
// the series and the code mapping a value to its series (stats.c) cannot disagree.
#ifndef RT_STATS_LIST_SETS
#define RT_STATS_LIST_SETS
// RT_STREAM_ERROR_CONDITIONS(X): X(ID, "condition") for every RFC 6120 §4.9.3 stream error
// condition; anything else counts as condition="other".
#define RT_STREAM_ERROR_CONDITIONS(X)                                                              \
    X(BAD_FORMAT, "bad-format")                                                                    \
    X(BAD_NAMESPACE_PREFIX, "bad-namespace-prefix")                                                \
    X(CONFLICT, "conflict")                                                                        \
    X(CONNECTION_TIMEOUT, "connection-timeout")                                                    \
    X(HOST_GONE, "host-gone")                                                                      \
    X(HOST_UNKNOWN, "host-unknown")                                                                \
    X(IMPROPER_ADDRESSING, "improper-addressing")                                                  \
    X(INTERNAL_SERVER_ERROR, "internal-server-error")                                              \
    X(INVALID_FROM, "invalid-from")                                                                \
    X(INVALID_NAMESPACE, "invalid-namespace")                                                      \
    X(INVALID_XML, "invalid-xml")                                                                  \
    X(NOT_AUTHORIZED, "not-authorized")                                                            \
    X(NOT_WELL_FORMED, "not-well-formed")                                                          \
    X(POLICY_VIOLATION, "policy-violation")                                                        \
    X(REMOTE_CONNECTION_FAILED, "remote-connection-failed")                                        \
    X(RESET, "reset")                                                                              \
    X(RESOURCE_CONSTRAINT, "resource-constraint")                                                  \
    X(RESTRICTED_XML, "restricted-xml")                                                            \
    X(SEE_OTHER_HOST, "see-other-host")                                                            \
    X(SYSTEM_SHUTDOWN, "system-shutdown")                                                          \
    X(UNDEFINED_CONDITION, "undefined-condition")                                                  \
    X(UNSUPPORTED_ENCODING, "unsupported-encoding")                                                \
    X(UNSUPPORTED_FEATURE, "unsupported-feature")                                                  \
    X(UNSUPPORTED_STANZA_TYPE, "unsupported-stanza-type")                                          \
    X(UNSUPPORTED_VERSION, "unsupported-version")                                                  \
    X(OTHER, "other")
// RT_TLS_SUITES(X): X(ID, "protocol", "cipher") for every (protocol, cipher) series of
// fedrouter_tls_sessions_total: the AEAD suites BoringSSL negotiates (names as
// SSL_CIPHER_get_name gives them), "other" per protocol, and other/other.
#define RT_TLS_SUITES(X)                                                                           \
    X(V13_AES128, "TLSv1.3", "TLS_AES_128_GCM_SHA256")                                             \
    X(V13_AES256, "TLSv1.3", "TLS_AES_256_GCM_SHA384")                                             \
    X(V13_CHACHA, "TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")                                       \
    X(V13_OTHER, "TLSv1.3", "other")                                                               \
    X(V12_ECDSA_AES128, "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256")                                \
    X(V12_RSA_AES128, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")                                    \
    X(V12_ECDSA_AES256, "TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")                                \
    X(V12_RSA_AES256, "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384")                                    \
    X(V12_ECDSA_CHACHA, "TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305")                                \
    X(V12_RSA_CHACHA, "TLSv1.2", "ECDHE-RSA-CHACHA20-POLY1305")                                    \
    X(V12_OTHER, "TLSv1.2", "other")                                                               \
    X(OTHER, "other", "other")
#endif

RT_STAT(TCP_CONNECTS_IN_V4, COUNTER, "fedrouter_tcp_connects_total", "direction=\"in\",family=\"ipv4\"", "TCP connections accepted (in) or made (out) for s2s, by IP family")
RT_STAT(TCP_CONNECTS_IN_V6, COUNTER, "fedrouter_tcp_connects_total", "direction=\"in\",family=\"ipv6\"", "")
RT_STAT(TCP_CONNECTS_OUT_V4, COUNTER, "fedrouter_tcp_connects_total", "direction=\"out\",family=\"ipv4\"", "")
RT_STAT(TCP_CONNECTS_OUT_V6, COUNTER, "fedrouter_tcp_connects_total", "direction=\"out\",family=\"ipv6\"", "")
RT_STAT(TLS_HANDSHAKES_IN, COUNTER, "fedrouter_tls_handshakes_total", "direction=\"in\"", "TLS handshakes completed on s2s streams")
RT_STAT(TLS_HANDSHAKES_OUT, COUNTER, "fedrouter_tls_handshakes_total", "direction=\"out\"", "")
#define RT_STAT_TLS_IN(id, proto, cipher) RT_STAT(TLS_IN_##id, COUNTER, "fedrouter_tls_sessions_total", "direction=\"in\",protocol=\"" proto "\",cipher=\"" cipher "\"", "TLS sessions established on s2s streams, by direction, protocol version and cipher suite")
#define RT_STAT_TLS_OUT(id, proto, cipher) RT_STAT(TLS_OUT_##id, COUNTER, "fedrouter_tls_sessions_total", "direction=\"out\",protocol=\"" proto "\",cipher=\"" cipher "\"", "")
RT_TLS_SUITES(RT_STAT_TLS_IN)
RT_TLS_SUITES(RT_STAT_TLS_OUT)
#undef RT_STAT_TLS_IN
#undef RT_STAT_TLS_OUT
RT_STAT(STREAMS_IN, GAUGE, "fedrouter_streams", "direction=\"in\"", "Open s2s streams")
RT_STAT(STREAMS_OUT, GAUGE, "fedrouter_streams", "direction=\"out\"", "")
RT_STAT(STREAMS_COMPONENT, GAUGE, "fedrouter_streams", "direction=\"component\"", "")
RT_STAT(STANZAS_ROUTED, COUNTER, "fedrouter_stanzas_routed_total", "", "Stanzas delivered to a component or written to an s2s stream")
RT_STAT(BOUNCE_NOT_FOUND, COUNTER, "fedrouter_bounces_total", "condition=\"remote-server-not-found\"", "Stanzas bounced to their sender, by error condition")
RT_STAT(BOUNCE_TIMEOUT, COUNTER, "fedrouter_bounces_total", "condition=\"remote-server-timeout\"", "")
RT_STAT(BOUNCE_INTERNAL, COUNTER, "fedrouter_bounces_total", "condition=\"internal-server-error\"", "")
RT_STAT(BOUNCE_SERVICE_UNAVAILABLE, COUNTER, "fedrouter_bounces_total", "condition=\"service-unavailable\"", "")
RT_STAT(BOUNCE_RESOURCE, COUNTER, "fedrouter_bounces_total", "condition=\"resource-constraint\"", "")
RT_STAT(BOUNCE_POLICY, COUNTER, "fedrouter_bounces_total", "condition=\"policy-violation\"", "")
RT_STAT(STANZAS_DROPPED, COUNTER, "fedrouter_stanzas_dropped_total", "", "Undeliverable stanzas that are not bounced: errors and IQ results (RFC 6120 §8.3.1)")
RT_STAT(AUTH_EXTERNAL_IN, COUNTER, "fedrouter_s2s_auth_total", "direction=\"in\",mechanism=\"external\"", "Domain pairs authenticated, by direction and mechanism")
RT_STAT(AUTH_EXTERNAL_OUT, COUNTER, "fedrouter_s2s_auth_total", "direction=\"out\",mechanism=\"external\"", "")
RT_STAT(AUTH_DIALBACK_IN, COUNTER, "fedrouter_s2s_auth_total", "direction=\"in\",mechanism=\"dialback\"", "")
RT_STAT(AUTH_DIALBACK_OUT, COUNTER, "fedrouter_s2s_auth_total", "direction=\"out\",mechanism=\"dialback\"", "")
RT_STAT(AUTH_DIALBACK_OPTIMIZED_IN, COUNTER, "fedrouter_s2s_auth_total", "direction=\"in\",mechanism=\"dialback_optimized\"", "")
RT_STAT(DIALBACK_VERIFY_ANSWERED, COUNTER, "fedrouter_dialback_verify_answered_total", "", "db:verify requests answered as authoritative server")
RT_STAT(STREAM_ERRORS_SENT, COUNTER, "fedrouter_stream_errors_sent_total", "", "Streams closed by fedrouter with a stream error")
#define RT_STAT_SE_SENT(id, cond) RT_STAT(STREAM_ERR_SENT_##id, COUNTER, "fedrouter_stream_errors_total", "direction=\"sent\",condition=\"" cond "\"", "Streams closed by a stream error, sent by fedrouter or received from the peer, by RFC 6120 condition")
#define RT_STAT_SE_RECEIVED(id, cond) RT_STAT(STREAM_ERR_RECEIVED_##id, COUNTER, "fedrouter_stream_errors_total", "direction=\"received\",condition=\"" cond "\"", "")
RT_STREAM_ERROR_CONDITIONS(RT_STAT_SE_SENT)
RT_STREAM_ERROR_CONDITIONS(RT_STAT_SE_RECEIVED)
#undef RT_STAT_SE_SENT
#undef RT_STAT_SE_RECEIVED
RT_STAT(UNAUTH_REFUSED, COUNTER, "fedrouter_unauth_connections_refused_total", "", "Inbound connections refused over the per-address unauthenticated limit")
RT_STAT(UNAUTH_PARKED, COUNTER, "fedrouter_unauth_connections_parked_total", "", "Inbound connections accepted over the per-address unauthenticated limit that waited, unread, for a slot")
RT_STAT(COMPONENTS_AUTH_FAILED, COUNTER, "fedrouter_component_auth_failures_total", "", "Component handshakes refused")
RT_STAT(TCP_CONNECT_ATTEMPTS, COUNTER, "fedrouter_tcp_connect_attempts_total", "", "Outbound TCP connection attempts, successful or not")
RT_STAT(POOL_STREAMS, GAUGE, "fedrouter_pool_streams", "", "Pooled outbound s2s streams (verification connections excluded)")
RT_STAT(POOL_PEERS, GAUGE, "fedrouter_pool_peers", "", "Peer addresses known to the pool")
RT_STAT(PAIRS_OUT_WAITING, GAUGE, "fedrouter_pairs", "direction=\"out\",state=\"waiting\"", "Domain pairs by direction and state")
RT_STAT(PAIRS_OUT_PENDING, GAUGE, "fedrouter_pairs", "direction=\"out\",state=\"pending\"", "")
RT_STAT(PAIRS_OUT_VALID, GAUGE, "fedrouter_pairs", "direction=\"out\",state=\"valid\"", "")
RT_STAT(PAIRS_IN_PENDING, GAUGE, "fedrouter_pairs", "direction=\"in\",state=\"pending\"", "")
RT_STAT(PAIRS_IN_VALID, GAUGE, "fedrouter_pairs", "direction=\"in\",state=\"valid\"", "")
RT_STAT(PAIRS_PIGGYBACKED_OUT, COUNTER, "fedrouter_pairs_piggybacked_total", "direction=\"out\"", "Domain pairs added to an existing stream with dialback instead of a new connection")
RT_STAT(PAIRS_PIGGYBACKED_IN, COUNTER, "fedrouter_pairs_piggybacked_total", "direction=\"in\"", "")
RT_STAT(DIALBACK_OPTIMIZED, COUNTER, "fedrouter_dialback_optimized_total", "", "db:result answered from the stream's certificate without db:verify (XEP-0344)")
RT_STAT(VERDICT_HIT, COUNTER, "fedrouter_verdict_cache_total", "result=\"hit\"", "Verdict table lookups by result")
RT_STAT(VERDICT_MISS, COUNTER, "fedrouter_verdict_cache_total", "result=\"miss\"", "")
RT_STAT(VERDICT_NEGATIVE, COUNTER, "fedrouter_verdict_cache_total", "result=\"negative\"", "")
RT_STAT(VERIFICATION_CONNECTIONS, COUNTER, "fedrouter_verification_connections_total", "", "Short-lived connections opened to verify a peer or carry db:verify")
RT_STAT(BIDI_STREAMS, COUNTER, "fedrouter_bidi_streams_total", "", "Outbound streams on which bidirectional use (XEP-0288) was enabled")
RT_STAT(HANDSHAKES_AVOIDED, COUNTER, "fedrouter_handshakes_avoided_total", "", "Pairs that rode an existing stream instead of a new TCP connection and TLS handshake")
RT_STAT(CONFIG_RELOADS_OK, COUNTER, "fedrouter_config_reloads_total", "result=\"ok\"", "Configuration reloads (SIGHUP, fedctl reload), by result")
RT_STAT(CONFIG_RELOADS_FAILED, COUNTER, "fedrouter_config_reloads_total", "result=\"failed\"", "")
RT_STAT(CONFIG_RELOAD_SUCCESS_TS, GAUGE, "fedrouter_config_last_reload_success_timestamp_seconds", "", "Unix time the running configuration was loaded (start or last successful reload)")
RT_STAT(DNA_PROVEN_PKIX, COUNTER, "fedrouter_domain_checks_total", "result=\"proven\",prooftype=\"pkix\"", "Remote domain ownership checks (RFC 7712 prooftypes) by result and deciding prooftype")
RT_STAT(DNA_PROVEN_DANE, COUNTER, "fedrouter_domain_checks_total", "result=\"proven\",prooftype=\"dane\"", "")
RT_STAT(DNA_PROVEN_POSH, COUNTER, "fedrouter_domain_checks_total", "result=\"proven\",prooftype=\"posh\"", "")
RT_STAT(DNA_DIALBACK, COUNTER, "fedrouter_domain_checks_total", "result=\"dialback\",prooftype=\"none\"", "")
RT_STAT(DNA_REFUSED_PKIX, COUNTER, "fedrouter_domain_checks_total", "result=\"refused\",prooftype=\"pkix\"", "")
RT_STAT(DNA_REFUSED_DANE, COUNTER, "fedrouter_domain_checks_total", "result=\"refused\",prooftype=\"dane\"", "")
RT_STAT(DNA_REFUSED_POSH, COUNTER, "fedrouter_domain_checks_total", "result=\"refused\",prooftype=\"posh\"", "")
RT_STAT(DNA_REFUSED_NONE, COUNTER, "fedrouter_domain_checks_total", "result=\"refused\",prooftype=\"none\"", "")
RT_STAT(DNA_TEMPFAIL, COUNTER, "fedrouter_domain_checks_total", "result=\"tempfail\",prooftype=\"none\"", "")
RT_STAT(QUEUED_STANZAS, GAUGE, "fedrouter_queued_stanzas", "", "Stanzas waiting in outbound domain pairs for a valid stream (sampled every 0.5 s)")
RT_STAT(QUEUED_BYTES, GAUGE, "fedrouter_queued_bytes", "", "Bytes of the stanzas waiting in outbound domain pairs (sampled every 0.5 s)")
RT_STAT(OUTPUT_BUFFERED_BYTES, GAUGE, "fedrouter_output_buffered_bytes", "", "Bytes written to streams and not yet sent to the kernel, TLS included (sampled every 0.5 s)")
RT_STAT(VERDICT_ENTRIES, GAUGE, "fedrouter_verdict_table_entries", "", "Entries in the verdict table (sampled every 0.5 s)")
RT_STAT(VERDICT_EVICTIONS, COUNTER, "fedrouter_verdict_table_evictions_total", "", "Verdict table entries evicted to make room (sampled every 0.5 s)")
