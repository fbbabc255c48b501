// metrics.h: the HTTP endpoint serving /metrics (Prometheus text format) on libmicrohttpd.
//
// libmicrohttpd runs its own listener thread; a scrape sums every worker's rt_stats_t block
// (relaxed loads, no locks) and renders it. Any other path answers 404.
#ifndef RT_ROUTER_METRICS_H
#define RT_ROUTER_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "router/core/rc.h"
#include "router/stats.h"

typedef struct rt_metrics rt_metrics_t;

// rt_metrics_start listens on |sa| and serves the blocks in |blocks| (borrowed: they must outlive
// the server; block i is worker i). Its time of call is fedrouter_start_time_seconds. Returns an owned server (stop with rt_metrics_stop) or NULL with a logged reason.
rt_metrics_t *rt_metrics_start(const struct sockaddr *sa, socklen_t sa_len,
                               rt_stats_t *const *blocks, size_t num_blocks);
// rt_metrics_stop stops the listener thread and frees |m|. Accepts NULL. Thread: the starter.
void rt_metrics_stop(rt_metrics_t *m);
// rt_metrics_port returns the local port the server listens on (useful after binding port 0).
uint16_t rt_metrics_port(const rt_metrics_t *m);

#endif
