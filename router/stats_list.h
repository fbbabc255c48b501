// stats_list.h: every metric, listed once (STYLE.md §10). The stats struct, the /metrics text and
// the README table come from this list.
//
// RT_STAT(id, kind, name, labels, help): |kind| is COUNTER or GAUGE; series of one metric name are
// consecutive and share |help|; |labels| is the label set as Prometheus text ("" for none).
// No X-macro guard: include it after defining RT_STAT.
RT_STAT(TCP_CONNECTS_IN, COUNTER, "fedrouter_tcp_connects_total", "direction=\"in\"", "TCP connections accepted (in) or made (out) for s2s")
RT_STAT(TCP_CONNECTS_OUT, COUNTER, "fedrouter_tcp_connects_total", "direction=\"out\"", "")
RT_STAT(TLS_HANDSHAKES_IN, COUNTER, "fedrouter_tls_handshakes_total", "direction=\"in\"", "TLS handshakes completed on s2s streams")
RT_STAT(TLS_HANDSHAKES_OUT, COUNTER, "fedrouter_tls_handshakes_total", "direction=\"out\"", "")
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
RT_STAT(AUTH_EXTERNAL_IN, COUNTER, "fedrouter_s2s_auth_total", "direction=\"in\",mechanism=\"external\"", "Domain pairs authenticated, by direction and mechanism")
RT_STAT(AUTH_EXTERNAL_OUT, COUNTER, "fedrouter_s2s_auth_total", "direction=\"out\",mechanism=\"external\"", "")
RT_STAT(AUTH_DIALBACK_IN, COUNTER, "fedrouter_s2s_auth_total", "direction=\"in\",mechanism=\"dialback\"", "")
RT_STAT(AUTH_DIALBACK_OUT, COUNTER, "fedrouter_s2s_auth_total", "direction=\"out\",mechanism=\"dialback\"", "")
RT_STAT(DIALBACK_VERIFY_ANSWERED, COUNTER, "fedrouter_dialback_verify_answered_total", "", "db:verify requests answered as authoritative server")
RT_STAT(STREAM_ERRORS_SENT, COUNTER, "fedrouter_stream_errors_sent_total", "", "Streams closed by fedrouter with a stream error")
RT_STAT(UNAUTH_REFUSED, COUNTER, "fedrouter_unauth_connections_refused_total", "", "Inbound connections refused over the per-address unauthenticated limit")
RT_STAT(COMPONENTS_AUTH_FAILED, COUNTER, "fedrouter_component_auth_failures_total", "", "Component handshakes refused")
