// stats.c: summing the per-worker blocks and rendering them as Prometheus text (STYLE.md §10).
// Everything here is generated from router/stats_list.h and router/hist_list.h.
#include "router/stats.h"

#include <inttypes.h>
#include <stdio.h>
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
