// stats.h: per-worker counters, gauges and histograms generated from stats_list.h and
// hist_list.h.
//
// Each worker owns one rt_stats_t and is its only writer: increments are a relaxed load and store
// (no locked instruction on the hot path). The metrics thread reads every worker's block with
// relaxed loads and sums them. Gauges are per-worker deltas that sum to the process value.
//
// Histograms live in the same array, after the scalar stats: each takes one slot per bucket
// (observations in (previous bound, bound], not cumulative), one for the overflow (> last bound)
// and one for the sum in microseconds. The cumulative buckets, +Inf and _count are computed at
// render time from the bucket slots, so that one scrape's +Inf always equals its _count.
#ifndef RT_ROUTER_STATS_H
#define RT_ROUTER_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "router/core/bytes.h"

// RT_HIST_NUM_BOUNDS counts the bucket bounds of a histogram (an integer constant expression).
#define RT_HIST_NUM_BOUNDS(...) (sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

typedef enum rt_stat_id {
#define RT_STAT(id, kind, name, labels, help) RT_STAT_##id,
#include "router/stats_list.h"
#undef RT_STAT
    RT_STAT__SCALARS, // number of counters and gauges; histogram slots follow
    RT_STAT__HIST_BEFORE = RT_STAT__SCALARS - 1,
// Per histogram: RT_STAT_H_<id> is its first bucket slot, RT_STAT_H_<id>_SUM its last slot.
#define RT_HIST(id, name, labels, help, ...)                                                       \
    RT_STAT_H_##id, RT_STAT_H_##id##_SUM = RT_STAT_H_##id + RT_HIST_NUM_BOUNDS(__VA_ARGS__) + 1,
#include "router/hist_list.h"
#undef RT_HIST
    RT_STAT__COUNT
} rt_stat_id_t;

typedef enum rt_hist_id {
#define RT_HIST(id, name, labels, help, ...) RT_HIST_##id,
#include "router/hist_list.h"
#undef RT_HIST
    RT_HIST__COUNT
} rt_hist_id_t;

typedef struct rt_stats {
    _Atomic int64_t v[RT_STAT__COUNT];
    // Per-worker values rendered with a worker="<index>" label instead of summed: nanoseconds
    // the worker's loop spent processing (everything but waiting for completions).
    _Atomic int64_t busy_ns;
} rt_stats_t;

// rt_stat_add adds |delta| to stat |id|. Thread: the owning worker only.
static inline void rt_stat_add(rt_stats_t *s, rt_stat_id_t id, int64_t delta) {
    int64_t cur = atomic_load_explicit(&s->v[id], memory_order_relaxed);
    atomic_store_explicit(&s->v[id], cur + delta, memory_order_relaxed);
}
static inline void rt_stat_inc(rt_stats_t *s, rt_stat_id_t id) {
    rt_stat_add(s, id, 1);
}
// rt_stat_set sets stat |id| of this block to |value| (a gauge sampled by its only writer, or a
// counter mirrored from a monotonic source). Thread: the owning worker only.
static inline void rt_stat_set(rt_stats_t *s, rt_stat_id_t id, int64_t value) {
    atomic_store_explicit(&s->v[id], value, memory_order_relaxed);
}

// rt_stats_tcp_connect counts one s2s TCP connection accepted (|inbound|) or made, by the IP
// family of |sa| (IPv4-mapped IPv6 addresses count as ipv4; so does an unknown family).
// Thread: the owning worker only.
void rt_stats_tcp_connect(rt_stats_t *s, bool inbound, const struct sockaddr *sa);

// rt_stats_stream_error counts one stream closed by a stream error with condition |cond| (an
// RFC 6120 element name, NUL-terminated; NULL or unknown counts as "other"), |sent| by us or
// received from the peer. Thread: the owning worker only.
void rt_stats_stream_error(rt_stats_t *s, bool sent, const char *cond);

// rt_stats_tls_session counts one completed TLS handshake by direction, |protocol| (as
// SSL_get_version names it: "TLSv1.3", "TLSv1.2") and |cipher| (SSL_CIPHER_get_name). NULL or
// unlisted values count as "other". Thread: the owning worker only.
void rt_stats_tls_session(rt_stats_t *s, bool inbound, const char *protocol, const char *cipher);

// rt_stats_set_busy publishes the worker's total busy time in nanoseconds. Thread: the owning
// worker only.
static inline void rt_stats_set_busy(rt_stats_t *s, int64_t busy_ns) {
    atomic_store_explicit(&s->busy_ns, busy_ns, memory_order_relaxed);
}

// rt_hist_observe records one observation of |us| microseconds in histogram |id|: its bucket
// and its sum. Thread: the owning worker only.
void rt_hist_observe(rt_stats_t *s, rt_hist_id_t id, uint64_t us);

// rt_stats_now_us returns CLOCK_MONOTONIC in microseconds (never 0: 0 means "no start time" for
// rt_hist_observe_since). Thread: any.
static inline uint64_t rt_stats_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u + 1u;
}

// rt_hist_observe_since observes the time elapsed since *|start_us| (a rt_stats_now_us value) in
// histogram |id|, then clears *|start_us| so that one start is observed once. Does nothing when
// *|start_us| is 0. Thread: the owning worker of |s|.
static inline void rt_hist_observe_since(rt_stats_t *s, rt_hist_id_t id, uint64_t *start_us) {
    if (*start_us == 0) {
        return;
    }
    uint64_t now = rt_stats_now_us();
    rt_hist_observe(s, id, now > *start_us ? now - *start_us : 0);
    *start_us = 0;
}

// rt_stats_sum adds every block in |blocks| into |out| (plain int64 array of RT_STAT__COUNT).
// Thread: any.
void rt_stats_sum(int64_t *out, rt_stats_t *const *blocks, size_t num_blocks);

// rt_stats_render appends the Prometheus text exposition (0.0.4) of |totals| to |b|, with
// HELP and TYPE lines once per metric name: counters and gauges, then histograms (cumulative
// _bucket series with le in seconds, +Inf, _sum in seconds, _count), then fedrouter_build_info.
void rt_stats_render(core_bld_t *b, const int64_t *totals);

// rt_stats_render_workers appends fedrouter_workers (|num_blocks|) and
// fedrouter_worker_busy_seconds_total{worker="<index>"} for each block. Thread: any.
void rt_stats_render_workers(core_bld_t *b, rt_stats_t *const *blocks, size_t num_blocks);

// rt_stats_render_process appends fedrouter_start_time_seconds (|start_time|, Unix seconds) and
// fedrouter_local_certificate_expiry_seconds{certificate} for the certificates last published
// with rt_stats_publish_certs, relative to the current time (negative once expired). Thread: any.
void rt_stats_render_process(core_bld_t *b, int64_t start_time);

// rt_stats_publish_certs replaces the process's set of local certificates: |names[i]| (copied;
// label values, e.g. file base names; duplicates are made unique) expires at |not_after[i]|
// (Unix seconds). Thread: any (a mutex guards the set; scrapes read it under the same mutex).
void rt_stats_publish_certs(const char *const *names, const int64_t *not_after, size_t num);

#endif
