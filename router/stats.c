// stats.c: summing the per-worker blocks and rendering them as Prometheus text (STYLE.md §10).
// Everything here is generated from router/stats_list.h.
#include "router/stats.h"

#include <inttypes.h>
#include <string.h>

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

static const stat_desc_t stat_descs[RT_STAT__COUNT] = {
#define RT_STAT(id, kind, name, labels, help) [RT_STAT_##id] = {name, labels, help, RT_STAT_TYPE_##kind},
#include "router/stats_list.h"
#undef RT_STAT
};

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
    for (size_t i = 0; i < RT_STAT__COUNT; i++) {
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
    core_bld_add_str(b, "# HELP fedrouter_build_info fedrouter version\n"
                        "# TYPE fedrouter_build_info gauge\n"
                        "fedrouter_build_info{version=\"" RT_VERSION "\"} 1\n");
}
