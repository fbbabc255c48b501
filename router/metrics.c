// metrics.c: the /metrics HTTP endpoint on libmicrohttpd (0.9.75, Debian 12).
//
// libmicrohttpd runs one internal polling thread. A scrape sums every worker's block with relaxed
// loads (rt_stats_sum) and renders the Prometheus text (rt_stats_render, then the per-worker and
// process series); no worker is blocked.
#include "router/metrics.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "router/core/bytes.h"
#include "router/core/log.h"

#define METRICS_BODY_MAX (1024 * 1024)
#define METRICS_CONN_LIMIT 16u
#define METRICS_TIMEOUT_S 10u
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4"

struct rt_metrics {
    struct MHD_Daemon *daemon;
    rt_stats_t *const *blocks; // borrowed
    size_t num_blocks;
    uint16_t port;
    int64_t start_time; // Unix seconds at rt_metrics_start (the daemon starts it at boot)
};

// metrics_log routes libmicrohttpd's messages into the stats log source.
static void metrics_log(void *cls, const char *fmt, va_list ap) RT_PRINTF(2, 0);
static void metrics_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[256];
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n < 0) {
        return;
    }
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
        line[--len] = '\0';
    }
    CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_STATS, "metrics http: %s", line);
}

// reply queues a response with |body| (copied) and |status|.
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const void *body,
                             size_t body_len, const char *content_type, bool allow_hdr) {
    enum MHD_Result ret = MHD_NO;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(body_len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (resp == NULL) {
        return MHD_NO;
    }
    if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES) {
        goto out;
    }
    if (allow_hdr && MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES) {
        goto out;
    }
    ret = MHD_queue_response(conn, status, resp);
out:
    MHD_destroy_response(resp);
    return ret;
}

// handle answers one request. Runs on libmicrohttpd's thread.
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls) {
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    const rt_metrics_t *m = cls;
    static const char not_found[] = "not found\n";
    static const char not_allowed[] = "method not allowed\n";
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, sizeof(not_allowed) - 1,
                     "text/plain", true);
    }
    if (strcmp(url, "/metrics") != 0) {
        return reply(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1, "text/plain",
                     false);
    }
    int64_t totals[RT_STAT__COUNT] = {0};
    core_bld_t b;
    core_bld_init(&b, METRICS_BODY_MAX);
    rt_stats_sum(totals, m->blocks, m->num_blocks);
    rt_stats_render(&b, totals);
    rt_stats_render_workers(&b, m->blocks, m->num_blocks);
    rt_stats_render_process(&b, m->start_time);
    enum MHD_Result ret;
    if (core_bld_finish(&b) != RC_OK) {
        static const char too_big[] = "metrics too large\n";
        ret = reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, too_big, sizeof(too_big) - 1,
                    "text/plain", false);
    } else {
        ret = reply(conn, MHD_HTTP_OK, b.data, b.len, METRICS_CONTENT_TYPE, false);
    }
    core_bld_cleanup(&b);
    return ret;
}

rt_metrics_t *rt_metrics_start(const struct sockaddr *sa, socklen_t sa_len,
                               rt_stats_t *const *blocks, size_t num_blocks) {
    rt_metrics_t *m = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (sa->sa_family == AF_INET6) {
        if (sa_len < sizeof(struct sockaddr_in6)) {
            CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_STATS, "metrics: bad IPv6 address length");
            return NULL;
        }
        flags |= MHD_USE_IPv6;
    } else if (sa->sa_family != AF_INET || sa_len < sizeof(struct sockaddr_in)) {
        CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_STATS, "metrics: listen address is not IPv4/IPv6");
        return NULL;
    }
    m = core_xcalloc(1, sizeof(*m));
    m->blocks = blocks;
    m->num_blocks = num_blocks;
    m->start_time = (int64_t)time(NULL);
    // The port argument is ignored when MHD_OPTION_SOCK_ADDR is given. No
    // MHD_OPTION_LISTENING_ADDRESS_REUSE: its SO_REUSEPORT would let a second process share the
    // port silently (the default SO_REUSEADDR is kept).
    // MHD_OPTION_EXTERNAL_LOGGER goes first so that MHD logs nothing through its own logger.
    m->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, m, MHD_OPTION_EXTERNAL_LOGGER,
                                 metrics_log, NULL, MHD_OPTION_SOCK_ADDR, sa,
                                 MHD_OPTION_CONNECTION_LIMIT, METRICS_CONN_LIMIT,
                                 MHD_OPTION_CONNECTION_TIMEOUT, METRICS_TIMEOUT_S, MHD_OPTION_END);
    if (m->daemon == NULL) {
        CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_STATS, "metrics: cannot listen (see above)");
        free(m);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info != NULL ? info->port : 0;
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_STATS, "metrics: serving /metrics on port %u",
             (unsigned)m->port);
    return m;
}

void rt_metrics_stop(rt_metrics_t *m) {
    if (m == NULL) {
        return;
    }
    MHD_stop_daemon(m->daemon);
    free(m);
}

uint16_t rt_metrics_port(const rt_metrics_t *m) {
    return m->port;
}
