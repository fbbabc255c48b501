// stats.h: per-worker counters and gauges generated from stats_list.h.
//
// Each worker owns one rt_stats_t and is its only writer: increments are a relaxed load and store
// (no locked instruction on the hot path). The metrics thread reads every worker's block with
// relaxed loads and sums them. Gauges are per-worker deltas that sum to the process value.
#ifndef RT_ROUTER_STATS_H
#define RT_ROUTER_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "router/core/bytes.h"

typedef enum rt_stat_id {
#define RT_STAT(id, kind, name, labels, help) RT_STAT_##id,
#include "router/stats_list.h"
#undef RT_STAT
    RT_STAT__COUNT
} rt_stat_id_t;

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

// rt_stats_sum adds every block in |blocks| into |out| (plain int64 array of RT_STAT__COUNT).
// Thread: any.
void rt_stats_sum(int64_t *out, rt_stats_t *const *blocks, size_t num_blocks);

// rt_stats_render appends the Prometheus text exposition (0.0.4) of |totals| to |b|, with
// HELP and TYPE lines once per metric name.
void rt_stats_render(core_bld_t *b, const int64_t *totals);

#endif
