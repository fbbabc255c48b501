// test_metrics: Prometheus rendering from stats_list.h, summing worker blocks, and the real
// /metrics endpoint on libmicrohttpd fetched over a loopback socket.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "router/core/log.h"
#include "router/metrics.h"
#include "router/stats.h"
#include "tests/support/t.h"

static size_t count_occurrences(const char *hay, const char *needle) {
    size_t n = 0;
    size_t len = strlen(needle);
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + len, needle)) {
        n++;
    }
    return n;
}

// render returns the rendered text of |totals| (owned, NUL-terminated).
static char *render(const int64_t *totals) {
    core_bld_t b;
    core_bld_init(&b, 1 << 20);
    rt_stats_render(&b, totals);
    T_ASSERT_EQ(core_bld_finish(&b), RC_OK);
    char *s = malloc(b.len + 1);
    T_ASSERT(s != NULL);
    memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    core_bld_cleanup(&b);
    return s;
}

static void test_sum(void) {
    static rt_stats_t w0;
    static rt_stats_t w1;
    rt_stats_t *const blocks[] = {&w0, &w1};
    rt_stat_add(&w0, RT_STAT_TCP_CONNECTS_IN_V4, 5);
    rt_stat_inc(&w1, RT_STAT_TCP_CONNECTS_IN_V4);
    rt_stat_add(&w1, RT_STAT_TCP_CONNECTS_IN_V4, 2);
    rt_stat_add(&w0, RT_STAT_STREAMS_IN, 3);
    rt_stat_add(&w1, RT_STAT_STREAMS_IN, -1); // gauges are per-worker deltas
    rt_stat_add(&w1, RT_STAT_STANZAS_ROUTED, 42);
    int64_t totals[RT_STAT__COUNT] = {0};
    rt_stats_sum(totals, blocks, 2);
    T_ASSERT_EQ(totals[RT_STAT_TCP_CONNECTS_IN_V4], 8);
    T_ASSERT_EQ(totals[RT_STAT_STREAMS_IN], 2);
    T_ASSERT_EQ(totals[RT_STAT_STANZAS_ROUTED], 42);
    T_ASSERT_EQ(totals[RT_STAT_TCP_CONNECTS_OUT_V4], 0);
    rt_stats_sum(totals, blocks, 1); // adds into |out|
    T_ASSERT_EQ(totals[RT_STAT_TCP_CONNECTS_IN_V4], 13);

    int64_t fresh[RT_STAT__COUNT] = {0};
    rt_stats_sum(fresh, blocks, 2);
    char *text = render(fresh);
    T_ASSERT(strstr(text, "\nfedrouter_tcp_connects_total{direction=\"in\",family=\"ipv4\"} 8\n"));
    T_ASSERT(strstr(text, "\nfedrouter_tcp_connects_total{direction=\"out\",family=\"ipv4\"} "
                          "0\n"));
    T_ASSERT(strstr(text, "\nfedrouter_streams{direction=\"in\"} 2\n") != NULL);
    T_ASSERT(strstr(text, "\nfedrouter_stanzas_routed_total 42\n") != NULL);
    free(text);
}

static void test_render(void) {
    int64_t totals[RT_STAT__COUNT] = {0};
    totals[RT_STAT_BOUNCE_TIMEOUT] = 7;
    totals[RT_STAT_AUTH_DIALBACK_OUT] = 9;
    totals[RT_STAT_STREAMS_COMPONENT] = -2;
    totals[RT_STAT_UNAUTH_REFUSED] = INT64_C(1) << 40;
    char *text = render(totals);

    // Exact lines for a few series.
    static const char head[] =
        "# HELP fedrouter_tcp_connects_total TCP connections accepted (in) or made (out) for "
        "s2s, by IP family\n# TYPE fedrouter_tcp_connects_total counter\n"
        "fedrouter_tcp_connects_total{direction=\"in\",family=\"ipv4\"} 0\n"
        "fedrouter_tcp_connects_total{direction=\"in\",family=\"ipv6\"} 0\n"
        "fedrouter_tcp_connects_total{direction=\"out\",family=\"ipv4\"} 0\n"
        "fedrouter_tcp_connects_total{direction=\"out\",family=\"ipv6\"} 0\n";
    T_ASSERT(strncmp(text, head, sizeof(head) - 1) == 0);
    T_ASSERT(strstr(text, "\nfedrouter_bounces_total{condition=\"remote-server-timeout\"} 7\n"));
    T_ASSERT(strstr(text, "\nfedrouter_s2s_auth_total{direction=\"out\",mechanism=\"dialback\"} 9\n"));
    T_ASSERT(strstr(text, "\nfedrouter_streams{direction=\"component\"} -2\n"));
    T_ASSERT(strstr(text, "\nfedrouter_unauth_connections_refused_total 1099511627776\n"));
    T_ASSERT(strstr(text, "\n# TYPE fedrouter_streams gauge\n"));
    T_ASSERT(strstr(text, "\n# TYPE fedrouter_bounces_total counter\n"));
    T_ASSERT(strstr(text, "\nfedrouter_build_info{version=\"0.1.0\"} 1\n"));
    T_ASSERT(strstr(text, "\n# TYPE fedrouter_build_info gauge\n"));

    // HELP and TYPE once per metric name, before its first series; one line per series.
    static const char *const names[] = {
#define RT_STAT(id, kind, name, labels, help) name,
#include "router/stats_list.h"
#undef RT_STAT
    };
    size_t distinct = 0;
    for (size_t i = 0; i < RT_STAT__SCALARS; i++) {
        char help[128];
        char type[128];
        snprintf(help, sizeof(help), "# HELP %s ", names[i]);
        snprintf(type, sizeof(type), "# TYPE %s ", names[i]);
        T_ASSERT_EQ(count_occurrences(text, help), 1);
        T_ASSERT_EQ(count_occurrences(text, type), 1);
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0) {
            distinct++;
        }
    }
    T_ASSERT_EQ(count_occurrences(text, "# HELP "), distinct + RT_HIST__COUNT + 1); // + build_info
    T_ASSERT_EQ(count_occurrences(text, "# TYPE "), distinct + RT_HIST__COUNT + 1);
    // Histograms: HELP, TYPE, one line per bound, +Inf, _sum, _count.
    static const size_t hist_bounds[] = {
#define RT_HIST(id, name, labels, help, ...) RT_HIST_NUM_BOUNDS(__VA_ARGS__),
#include "router/hist_list.h"
#undef RT_HIST
    };
    size_t hist_lines = 0;
    for (size_t i = 0; i < RT_HIST__COUNT; i++) {
        hist_lines += 2 + hist_bounds[i] + 3;
    }
    T_ASSERT_EQ(count_occurrences(text, " histogram\n"), RT_HIST__COUNT);
    size_t lines = count_occurrences(text, "\n");
    T_ASSERT_EQ(lines, 2 * (distinct + 1) + RT_STAT__SCALARS + hist_lines + 1);
    T_ASSERT(strstr(text, "# HELP fedrouter_streams Open s2s streams\n# TYPE fedrouter_streams "
                          "gauge\nfedrouter_streams{direction=\"in\"} 0\n"));
    T_ASSERT(strstr(text, "{}") == NULL);
    free(text);

    // A builder too small for the text fails, and says so at finish.
    core_bld_t b;
    core_bld_init(&b, 64);
    rt_stats_render(&b, totals);
    T_ASSERT(core_bld_finish(&b) != RC_OK);
    core_bld_cleanup(&b);
}

// test_hist: observations land in the right buckets, buckets render cumulative with le in
// seconds, and two workers' blocks add up.
static void test_hist(void) {
    static rt_stats_t w0;
    static rt_stats_t w1;
    rt_stats_t *const blocks[] = {&w0, &w1};
    rt_hist_observe(&w0, RT_HIST_STANZA_ROUTING, 50);       // <= 0.0001
    rt_hist_observe(&w0, RT_HIST_STANZA_ROUTING, 100);      // <= 0.0001 (bound is inclusive)
    rt_hist_observe(&w1, RT_HIST_STANZA_ROUTING, 101);      // <= 0.00025
    rt_hist_observe(&w1, RT_HIST_STANZA_ROUTING, 3000000);  // <= 5
    rt_hist_observe(&w0, RT_HIST_STANZA_ROUTING, 20000000); // > 10: +Inf only
    rt_hist_observe(&w1, RT_HIST_PAIR_SETUP, 1234567);      // <= 2.5
    // A start time is observed once, then cleared; 0 observes nothing.
    uint64_t start = rt_stats_now_us();
    T_ASSERT(start != 0);
    rt_hist_observe_since(&w1, RT_HIST_PAIR_SETUP, &start);
    T_ASSERT_EQ(start, 0);
    rt_hist_observe_since(&w1, RT_HIST_PAIR_SETUP, &start);

    int64_t totals[RT_STAT__COUNT] = {0};
    rt_stats_sum(totals, blocks, 2);
    char *text = render(totals);
    static const char routing[] =
        "\n# HELP fedrouter_stanza_routing_seconds Time from reading a stanza to writing it to its "
        "outgoing stream or component\n"
        "# TYPE fedrouter_stanza_routing_seconds histogram\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.0001\"} 2\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.00025\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.0005\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.001\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.0025\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.005\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.01\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.025\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.05\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.1\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.25\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"0.5\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"1\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"2.5\"} 3\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"5\"} 4\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"10\"} 4\n"
        "fedrouter_stanza_routing_seconds_bucket{le=\"+Inf\"} 5\n"
        "fedrouter_stanza_routing_seconds_sum 23.000251\n"
        "fedrouter_stanza_routing_seconds_count 5\n"
        "# HELP fedrouter_pair_setup_seconds ";
    T_ASSERT(strstr(text, routing) != NULL);
    T_ASSERT(strstr(text, "\n# TYPE fedrouter_pair_setup_seconds histogram\n"
                          "fedrouter_pair_setup_seconds_bucket{le=\"0.001\"} 1\n") != NULL);
    T_ASSERT(strstr(text, "\nfedrouter_pair_setup_seconds_bucket{le=\"1\"} 1\n"
                          "fedrouter_pair_setup_seconds_bucket{le=\"2.5\"} 2\n") != NULL);
    T_ASSERT(strstr(text, "\nfedrouter_pair_setup_seconds_bucket{le=\"60\"} 2\n"
                          "fedrouter_pair_setup_seconds_bucket{le=\"+Inf\"} 2\n"
                          "fedrouter_pair_setup_seconds_sum 1.23") != NULL);
    T_ASSERT(strstr(text, "\nfedrouter_pair_setup_seconds_count 2\n# HELP fedrouter_build_info ") !=
             NULL);
    free(text);

    // Each block alone: the sum across blocks above is not one block's view.
    int64_t only0[RT_STAT__COUNT] = {0};
    rt_stats_sum(only0, blocks, 1);
    text = render(only0);
    T_ASSERT(strstr(text, "\nfedrouter_stanza_routing_seconds_bucket{le=\"0.00025\"} 2\n"));
    T_ASSERT(strstr(text, "\nfedrouter_stanza_routing_seconds_bucket{le=\"+Inf\"} 3\n"
                          "fedrouter_stanza_routing_seconds_sum 20.00015\n"
                          "fedrouter_stanza_routing_seconds_count 3\n"));
    T_ASSERT(strstr(text, "\nfedrouter_pair_setup_seconds_sum 0\n"
                          "fedrouter_pair_setup_seconds_count 0\n"));
    free(text);
}

// test_helpers: the mapping helpers pick the right fixed-set series, and the per-worker and
// process series render.
static void test_helpers(void) {
    static rt_stats_t w0;
    static rt_stats_t w1;
    rt_stats_t *const blocks[] = {&w0, &w1};
    struct sockaddr_in s4 = {.sin_family = AF_INET};
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    s6.sin6_addr.s6_addr[15] = 1; // ::1
    struct sockaddr_in6 mapped = {.sin6_family = AF_INET6};
    T_ASSERT(inet_pton(AF_INET6, "::ffff:127.0.0.1", &mapped.sin6_addr) == 1);
    rt_stats_tcp_connect(&w0, true, (struct sockaddr *)&s4);
    rt_stats_tcp_connect(&w0, true, (struct sockaddr *)&s6);
    rt_stats_tcp_connect(&w0, true, (struct sockaddr *)&s6);
    rt_stats_tcp_connect(&w0, false, (struct sockaddr *)&mapped);
    rt_stats_tcp_connect(&w0, false, NULL);
    rt_stats_stream_error(&w0, true, "not-well-formed");
    rt_stats_stream_error(&w0, false, "host-unknown");
    rt_stats_stream_error(&w0, false, "unsupported-version"); // the last listed condition
    rt_stats_stream_error(&w0, false, "made-up");
    rt_stats_stream_error(&w0, false, NULL);
    rt_stats_stream_error(&w0, true, "other");
    rt_stats_tls_session(&w0, true, "TLSv1.3", "TLS_AES_128_GCM_SHA256");
    rt_stats_tls_session(&w0, false, "TLSv1.3", "TLS_SM4_GCM_SM3");
    rt_stats_tls_session(&w0, false, "TLSv1.2", "ECDHE-RSA-CHACHA20-POLY1305");
    rt_stats_tls_session(&w0, false, "TLSv1.2", NULL);
    rt_stats_tls_session(&w0, false, "TLSv1.1", "ECDHE-RSA-AES128-GCM-SHA256");
    rt_stats_tls_session(&w0, false, NULL, NULL);
    int64_t t[RT_STAT__COUNT] = {0};
    rt_stats_sum(t, blocks, 1);
    T_ASSERT_EQ(t[RT_STAT_TCP_CONNECTS_IN_V4], 1);
    T_ASSERT_EQ(t[RT_STAT_TCP_CONNECTS_IN_V6], 2);
    T_ASSERT_EQ(t[RT_STAT_TCP_CONNECTS_OUT_V4], 2);
    T_ASSERT_EQ(t[RT_STAT_TCP_CONNECTS_OUT_V6], 0);
    T_ASSERT_EQ(t[RT_STAT_STREAM_ERR_SENT_NOT_WELL_FORMED], 1);
    T_ASSERT_EQ(t[RT_STAT_STREAM_ERR_RECEIVED_HOST_UNKNOWN], 1);
    T_ASSERT_EQ(t[RT_STAT_STREAM_ERR_RECEIVED_UNSUPPORTED_VERSION], 1);
    T_ASSERT_EQ(t[RT_STAT_STREAM_ERR_RECEIVED_OTHER], 2);
    T_ASSERT_EQ(t[RT_STAT_STREAM_ERR_SENT_OTHER], 1);
    T_ASSERT_EQ(t[RT_STAT_TLS_IN_V13_AES128], 1);
    T_ASSERT_EQ(t[RT_STAT_TLS_OUT_V13_AES128], 0);
    T_ASSERT_EQ(t[RT_STAT_TLS_OUT_V13_OTHER], 1);
    T_ASSERT_EQ(t[RT_STAT_TLS_OUT_V12_RSA_CHACHA], 1);
    T_ASSERT_EQ(t[RT_STAT_TLS_OUT_V12_OTHER], 1);
    T_ASSERT_EQ(t[RT_STAT_TLS_OUT_OTHER], 2);
    char *text = render(t);
    T_ASSERT(strstr(text, "\nfedrouter_stream_errors_total{direction=\"sent\",condition=\"not-well-"
                          "formed\"} 1\n"));
    T_ASSERT(strstr(text, "\nfedrouter_tls_sessions_total{direction=\"in\",protocol=\"TLSv1.3\","
                          "cipher=\"TLS_AES_128_GCM_SHA256\"} 1\n"));
    T_ASSERT(strstr(text, "\nfedrouter_tls_sessions_total{direction=\"out\",protocol=\"other\","
                          "cipher=\"other\"} 2\n"));
    free(text);

    rt_stats_set_busy(&w0, INT64_C(1500000000));
    rt_stats_set_busy(&w1, 42);
    core_bld_t b;
    core_bld_init(&b, 1 << 16);
    rt_stats_render_workers(&b, blocks, 2);
    static const char *const names[] = {"a.pem", "dir\"x\\y", "a.pem"};
    int64_t now = (int64_t)time(NULL);
    const int64_t exp[] = {now + 1000, now - 5, now + 86400};
    rt_stats_publish_certs(names, exp, 3);
    rt_stats_render_process(&b, 1234);
    T_ASSERT_EQ(core_bld_finish(&b), RC_OK);
    text = strndup((const char *)b.data, b.len);
    T_ASSERT(text != NULL);
    core_bld_cleanup(&b);
    T_ASSERT(strstr(text, "# TYPE fedrouter_workers gauge\nfedrouter_workers 2\n"));
    T_ASSERT(strstr(text, "# TYPE fedrouter_worker_busy_seconds_total counter\n"
                          "fedrouter_worker_busy_seconds_total{worker=\"0\"} 1.500000000\n"
                          "fedrouter_worker_busy_seconds_total{worker=\"1\"} 0.000000042\n"));
    T_ASSERT(strstr(text, "\nfedrouter_start_time_seconds 1234\n"));
    // Escaped label values; a duplicate base name gets its index; a few seconds of slack.
    long v0 = 0;
    long v1 = 0;
    long v2 = 0;
    const char *p0 =
        strstr(text, "\nfedrouter_local_certificate_expiry_seconds{certificate=\"a.pem#0\"} ");
    const char *p1 = strstr(text, "{certificate=\"dir\\\"x\\\\y\"} ");
    const char *p2 = strstr(text, "{certificate=\"a.pem#2\"} ");
    T_ASSERT(p0 != NULL && p1 != NULL && p2 != NULL);
    T_ASSERT(sscanf(strchr(p0, '}') + 2, "%ld", &v0) == 1);
    T_ASSERT(sscanf(strchr(p1, '}') + 2, "%ld", &v1) == 1);
    T_ASSERT(sscanf(strchr(p2, '}') + 2, "%ld", &v2) == 1);
    T_ASSERT(v0 <= 1000 && v0 >= 995);
    T_ASSERT(v1 <= -5 && v1 >= -10);
    T_ASSERT(v2 <= 86400 && v2 >= 86395);
    T_ASSERT_EQ(
        count_occurrences(text, "# TYPE fedrouter_local_certificate_expiry_seconds gauge\n"), 1);
    free(text);
    // A new set replaces the old one; an empty set renders no expiry family.
    rt_stats_publish_certs(NULL, NULL, 0);
    core_bld_init(&b, 1 << 16);
    rt_stats_render_process(&b, 1);
    T_ASSERT_EQ(core_bld_finish(&b), RC_OK);
    T_ASSERT(memmem(b.data, b.len, "certificate_expiry", 18) == NULL);
    core_bld_cleanup(&b);
}

// http_get sends "|method| |path| HTTP/1.1" to 127.0.0.1:|port| and returns the whole response
// (owned, NUL-terminated) after the server closes.
static char *http_req(uint16_t port, const char *method, const char *path) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    T_ASSERT(fd >= 0);
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    T_ASSERT(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    T_ASSERT(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Length: 0\r\n\r\n",
                     method, path);
    T_ASSERT(n > 0 && (size_t)n < sizeof(req));
    T_ASSERT(write(fd, req, (size_t)n) == n);
    size_t cap = 1 << 16;
    size_t len = 0;
    char *resp = malloc(cap + 1);
    T_ASSERT(resp != NULL);
    for (;;) {
        ssize_t r = read(fd, resp + len, cap - len);
        T_ASSERT(r >= 0); // a timeout fails the test
        if (r == 0) {
            break;
        }
        len += (size_t)r;
        T_ASSERT(len < cap);
    }
    resp[len] = '\0';
    close(fd);
    return resp;
}

static void test_endpoint(void) {
    static rt_stats_t w0;
    static rt_stats_t w1;
    rt_stats_t *const blocks[] = {&w0, &w1};
    rt_stat_add(&w0, RT_STAT_STANZAS_ROUTED, 40);
    rt_stat_add(&w1, RT_STAT_STANZAS_ROUTED, 2);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rt_metrics_t *m = rt_metrics_start((struct sockaddr *)&sin, sizeof(sin), blocks, 2);
    T_ASSERT(m != NULL);
    uint16_t port = rt_metrics_port(m);
    T_ASSERT(port != 0);

    char *resp = http_req(port, "GET", "/metrics");
    T_ASSERT(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0);
    T_ASSERT(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4\r\n") != NULL);
    char *body = strstr(resp, "\r\n\r\n");
    T_ASSERT(body != NULL);
    body += 4;
    T_ASSERT(strncmp(body, "# HELP fedrouter_tcp_connects_total ", 36) == 0);
    T_ASSERT(strstr(body, "\nfedrouter_stanzas_routed_total 42\n") != NULL);
    T_ASSERT(strstr(body, "\nfedrouter_build_info{version=\"0.1.0\"} 1\n") != NULL);
    T_ASSERT(strstr(body, "\nfedrouter_workers 2\n") != NULL);
    T_ASSERT(strstr(body, "\nfedrouter_worker_busy_seconds_total{worker=\"1\"} ") != NULL);
    T_ASSERT(strstr(body, "\nfedrouter_start_time_seconds ") != NULL);
    free(resp);

    // A later scrape sees the workers' new values.
    rt_stat_inc(&w1, RT_STAT_STANZAS_ROUTED);
    resp = http_req(port, "GET", "/metrics?x=1");
    T_ASSERT(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0);
    T_ASSERT(strstr(resp, "\nfedrouter_stanzas_routed_total 43\n") != NULL);
    free(resp);

    resp = http_req(port, "GET", "/");
    T_ASSERT(strncmp(resp, "HTTP/1.1 404 ", 13) == 0);
    T_ASSERT(strstr(resp, "fedrouter_") == NULL);
    free(resp);
    resp = http_req(port, "GET", "/metrics/extra");
    T_ASSERT(strncmp(resp, "HTTP/1.1 404 ", 13) == 0);
    free(resp);
    resp = http_req(port, "POST", "/metrics");
    T_ASSERT(strncmp(resp, "HTTP/1.1 405 ", 13) == 0);
    T_ASSERT(strstr(resp, "\r\nAllow: GET, HEAD\r\n") != NULL);
    free(resp);

    // A second server on the same port fails cleanly.
    struct sockaddr_in taken = sin;
    taken.sin_port = htons(port);
    T_ASSERT(rt_metrics_start((struct sockaddr *)&taken, sizeof(taken), blocks, 2) == NULL);

    rt_metrics_stop(m);
    rt_metrics_stop(NULL);
}

int main(void) {
    core_log_set_level(CORE_LOG_ERROR);
    test_sum();
    test_render();
    test_hist();
    test_helpers();
    test_endpoint();
    return 0;
}
