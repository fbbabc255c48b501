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
#include <stddef.h>
#include <stdint.h>
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
} rt_stats_t;

// rt_stat_add adds |delta| to stat |id|. Thread: the owning worker only.
static inline void rt_stat_add(rt_stats_t *s, rt_stat_id_t id, int64_t delta) {
    int64_t cur = atomic_load_explicit(&s->v[id], memory_order_relaxed);
    atomic_store_explicit(&s->v[id], cur + delta, memory_order_relaxed);
}
static inline void rt_stat_inc(rt_stats_t *s, rt_stat_id_t id) {
    rt_stat_add(s, id, 1);
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

#endif
