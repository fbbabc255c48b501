// stats.c: summing the per-worker blocks and rendering them as Prometheus text (STYLE.md §10).
// Everything here is generated from router/stats_list.h and router/hist_list.h.
#include "router/stats.h"

#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/core/mem.h"

#ifndef RT_VERSION
#define RT_VERSION "0.1.0"
#endif

typedef struct stat_desc {
    const char *name;
    const char *labels;
    const char *help;
    const char *type;
} stat_desc_t;

#define RT_STAT_TYPE_COUNTER "counter"
#define RT_STAT_TYPE_GAUGE "gauge"

static const stat_desc_t stat_descs[RT_STAT__SCALARS] = {
#define RT_STAT(id, kind, name, labels, help) [RT_STAT_##id] = {name, labels, help, RT_STAT_TYPE_##kind},
#include "router/stats_list.h"
#undef RT_STAT
};

typedef struct hist_desc {
    const char *name;
    const char *labels;
    const char *help;
    const int64_t *bounds_us;
    size_t num_bounds;
    size_t first; // first slot in rt_stats_t.v
} hist_desc_t;

#define RT_HIST(id, name, labels, help, ...)                                                       \
    static const int64_t hist_bounds_##id[] = {__VA_ARGS__};                                       \
    _Static_assert((size_t)(RT_STAT_H_##id##_SUM - RT_STAT_H_##id) ==                              \
                       RT_ARRAY_LEN(hist_bounds_##id) + 1,                                        \
                   "histogram slots");
#include "router/hist_list.h"
#undef RT_HIST

static const hist_desc_t hist_descs[RT_HIST__COUNT] = {
#define RT_HIST(id, name, labels, help, ...)                                                       \
    [RT_HIST_##id] = {name,  labels, help, hist_bounds_##id, RT_ARRAY_LEN(hist_bounds_##id),      \
                      RT_STAT_H_##id},
#include "router/hist_list.h"
#undef RT_HIST
};

void rt_hist_observe(rt_stats_t *s, rt_hist_id_t id, uint64_t us) {
    const hist_desc_t *h = &hist_descs[id];
    size_t i = 0;
    while (i < h->num_bounds && us > (uint64_t)h->bounds_us[i]) {
        i++;
    }
    // i == num_bounds is the overflow slot; the sum slot follows it.
    rt_stat_add(s, (rt_stat_id_t)(h->first + i), 1);
    rt_stat_add(s, (rt_stat_id_t)(h->first + h->num_bounds + 1), (int64_t)us);
}

// fmt_seconds writes |us| microseconds as decimal seconds without trailing zeros ("0.00025",
// "10") into |buf|.
static void fmt_seconds(char *buf, size_t cap, uint64_t us) {
    int n = snprintf(buf, cap, "%" PRIu64 ".%06" PRIu64, us / 1000000u, us % 1000000u);
    size_t len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    while (len > 0 && buf[len - 1] == '0') {
        len--;
    }
    if (len > 0 && buf[len - 1] == '.') {
        len--;
    }
    buf[len] = '\0';
}

// render_hist appends one histogram family from its summed slots |v|.
static void render_hist(core_bld_t *b, const hist_desc_t *h, const int64_t *v) {
    const char *sep = h->labels[0] != '\0' ? "," : "";
    char num[32];
    core_bld_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
    uint64_t cum = 0;
    for (size_t i = 0; i < h->num_bounds; i++) {
        cum += (uint64_t)v[i];
        fmt_seconds(num, sizeof(num), (uint64_t)h->bounds_us[i]);
        core_bld_printf(b, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", h->name, h->labels, sep, num,
                        cum);
    }
    cum += (uint64_t)v[h->num_bounds];
    core_bld_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", h->name, h->labels, sep, cum);
    fmt_seconds(num, sizeof(num), (uint64_t)v[h->num_bounds + 1]);
    if (h->labels[0] == '\0') {
        core_bld_printf(b, "%s_sum %s\n%s_count %" PRIu64 "\n", h->name, num, h->name, cum);
    } else {
        core_bld_printf(b, "%s_sum{%s} %s\n%s_count{%s} %" PRIu64 "\n", h->name, h->labels, num,
                        h->name, h->labels, cum);
    }
}

void rt_stats_sum(int64_t *out, rt_stats_t *const *blocks, size_t num_blocks) {
    for (size_t b = 0; b < num_blocks; b++) {
        for (size_t i = 0; i < RT_STAT__COUNT; i++) {
            // Unsigned addition: a wrapped counter must not be undefined behaviour.
            int64_t v = atomic_load_explicit(&blocks[b]->v[i], memory_order_relaxed);
            out[i] = (int64_t)((uint64_t)out[i] + (uint64_t)v);
        }
    }
}

void rt_stats_render(core_bld_t *b, const int64_t *totals) {
    const char *prev = NULL;
    for (size_t i = 0; i < RT_STAT__SCALARS; i++) {
        const stat_desc_t *d = &stat_descs[i];
        if (prev == NULL || strcmp(prev, d->name) != 0) {
            core_bld_printf(b, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name, d->type);
            prev = d->name;
        }
        if (d->labels[0] == '\0') {
            core_bld_printf(b, "%s %" PRId64 "\n", d->name, totals[i]);
        } else {
            core_bld_printf(b, "%s{%s} %" PRId64 "\n", d->name, d->labels, totals[i]);
        }
    }
    for (size_t i = 0; i < RT_HIST__COUNT; i++) {
        render_hist(b, &hist_descs[i], &totals[hist_descs[i].first]);
    }
    core_bld_add_str(b, "# HELP fedrouter_build_info fedrouter version\n"
                        "# TYPE fedrouter_build_info gauge\n"
                        "fedrouter_build_info{version=\"" RT_VERSION "\"} 1\n");
}

void rt_stats_tcp_connect(rt_stats_t *s, bool inbound, const struct sockaddr *sa) {
    bool v6 = false;
    if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        v6 = !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr);
    }
    if (inbound) {
        rt_stat_inc(s, v6 ? RT_STAT_TCP_CONNECTS_IN_V6 : RT_STAT_TCP_CONNECTS_IN_V4);
    } else {
        rt_stat_inc(s, v6 ? RT_STAT_TCP_CONNECTS_OUT_V6 : RT_STAT_TCP_CONNECTS_OUT_V4);
    }
}

// One stream error condition and its two series. The last entry is "other".
typedef struct stream_error_desc {
    const char *cond;
    rt_stat_id_t sent;
    rt_stat_id_t received;
} stream_error_desc_t;

static const stream_error_desc_t stream_errors[] = {
#define RT_SE_DESC(id, cond) {cond, RT_STAT_STREAM_ERR_SENT_##id, RT_STAT_STREAM_ERR_RECEIVED_##id},
    RT_STREAM_ERROR_CONDITIONS(RT_SE_DESC)
#undef RT_SE_DESC
};

void rt_stats_stream_error(rt_stats_t *s, bool sent, const char *cond) {
    size_t last = RT_ARRAY_LEN(stream_errors) - 1; // "other"
    size_t i = 0;
    // Error path only: a linear scan of 25 names. "other" itself is not matched by name.
    while (cond != NULL && i < last && strcmp(stream_errors[i].cond, cond) != 0) {
        i++;
    }
    if (cond == NULL) {
        i = last;
    }
    rt_stat_inc(s, sent ? stream_errors[i].sent : stream_errors[i].received);
}

// One (protocol, cipher) pair and its two series. "other" entries match any cipher of their
// protocol; the last entry (other, other) matches everything.
typedef struct tls_suite_desc {
    const char *protocol;
    const char *cipher;
    rt_stat_id_t in;
    rt_stat_id_t out;
} tls_suite_desc_t;

static const tls_suite_desc_t tls_suites[] = {
#define RT_TLS_DESC(id, proto, cipher) {proto, cipher, RT_STAT_TLS_IN_##id, RT_STAT_TLS_OUT_##id},
    RT_TLS_SUITES(RT_TLS_DESC)
#undef RT_TLS_DESC
};

void rt_stats_tls_session(rt_stats_t *s, bool inbound, const char *protocol, const char *cipher) {
    size_t last = RT_ARRAY_LEN(tls_suites) - 1; // (other, other)
    size_t i = 0;
    for (; i < last; i++) {
        const tls_suite_desc_t *d = &tls_suites[i];
        if (protocol == NULL || strcmp(d->protocol, protocol) != 0) {
            continue;
        }
        if (strcmp(d->cipher, "other") == 0 || (cipher != NULL && strcmp(d->cipher, cipher) == 0)) {
            break;
        }
    }
    rt_stat_inc(s, inbound ? tls_suites[i].in : tls_suites[i].out);
}

void rt_stats_render_workers(core_bld_t *b, rt_stats_t *const *blocks, size_t num_blocks) {
    core_bld_printf(b, "# HELP fedrouter_workers Worker threads (event loops)\n"
                       "# TYPE fedrouter_workers gauge\nfedrouter_workers %zu\n",
                    num_blocks);
    core_bld_add_str(b, "# HELP fedrouter_worker_busy_seconds_total Time each worker spent "
                        "processing events (not waiting for them)\n"
                        "# TYPE fedrouter_worker_busy_seconds_total counter\n");
    for (size_t i = 0; i < num_blocks; i++) {
        int64_t ns = atomic_load_explicit(&blocks[i]->busy_ns, memory_order_relaxed);
        uint64_t u = ns > 0 ? (uint64_t)ns : 0;
        core_bld_printf(b, "fedrouter_worker_busy_seconds_total{worker=\"%zu\"} %" PRIu64
                           ".%09" PRIu64 "\n",
                        i, u / 1000000000u, u % 1000000000u);
    }
}

// The local certificates last published (rt_stats_publish_certs), for scrapes.
static pthread_mutex_t certs_lock = PTHREAD_MUTEX_INITIALIZER;
static char **cert_names;     // label values, escaped and unique
static int64_t *cert_expiry;  // notAfter, Unix seconds
static size_t num_certs;

// label_escape returns an owned copy of |s| escaped as a Prometheus label value (backslash,
// double quote and newline), with "#<index>" appended when |dup|.
static char *label_escape(const char *s, bool dup, size_t index) {
    core_bld_t b;
    core_bld_init(&b, 4096);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"') {
            core_bld_add_u8(&b, '\\');
            core_bld_add_u8(&b, (uint8_t)*p);
        } else if (*p == '\n') {
            core_bld_add_str(&b, "\\n");
        } else {
            core_bld_add_u8(&b, (uint8_t)*p);
        }
    }
    if (dup) {
        core_bld_printf(&b, "#%zu", index);
    }
    char *out = NULL;
    if (core_bld_finish(&b) == RC_OK) {
        out = core_xstrndup((const char *)b.data, b.len);
    } else {
        out = core_xstrdup("?");
    }
    core_bld_cleanup(&b);
    return out;
}

void rt_stats_publish_certs(const char *const *names, const int64_t *not_after, size_t num) {
    char **n = core_xcalloc(num ? num : 1, sizeof(*n));
    int64_t *e = core_xcalloc(num ? num : 1, sizeof(*e));
    for (size_t i = 0; i < num; i++) {
        bool dup = false;
        for (size_t j = 0; j < num && !dup; j++) {
            dup = j != i && strcmp(names[i], names[j]) == 0;
        }
        n[i] = label_escape(names[i], dup, i);
        e[i] = not_after[i];
    }
    pthread_mutex_lock(&certs_lock);
    char **old = cert_names;
    size_t old_num = num_certs;
    free(cert_expiry);
    cert_names = n;
    cert_expiry = e;
    num_certs = num;
    pthread_mutex_unlock(&certs_lock);
    for (size_t i = 0; i < old_num; i++) {
        free(old[i]);
    }
    free(old);
}

void rt_stats_render_process(core_bld_t *b, int64_t start_time) {
    core_bld_printf(b, "# HELP fedrouter_start_time_seconds Unix time fedrouter started\n"
                       "# TYPE fedrouter_start_time_seconds gauge\n"
                       "fedrouter_start_time_seconds %" PRId64 "\n",
                    start_time);
    int64_t now = (int64_t)time(NULL);
    pthread_mutex_lock(&certs_lock);
    if (num_certs > 0) {
        core_bld_add_str(b, "# HELP fedrouter_local_certificate_expiry_seconds Seconds until a "
                            "configured local certificate's notAfter (negative: expired)\n"
                            "# TYPE fedrouter_local_certificate_expiry_seconds gauge\n");
    }
    for (size_t i = 0; i < num_certs; i++) {
        core_bld_printf(b, "fedrouter_local_certificate_expiry_seconds{certificate=\"%s\"} %" PRId64
                           "\n",
                        cert_names[i], cert_expiry[i] - now);
    }
    pthread_mutex_unlock(&certs_lock);
}
