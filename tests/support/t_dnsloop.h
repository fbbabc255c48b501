// t_dnsloop.h: a tiny poll() loop that drives an rt_dns_t in unit tests (t_ prefix), and a
// result collector for rt_dns_cb. Thread: the test's main thread.
#ifndef RT_TESTS_SUPPORT_T_DNSLOOP_H
#define RT_TESTS_SUPPORT_T_DNSLOOP_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "router/dns.h"

typedef struct t_dnsloop {
    struct pollfd fds[32];
    size_t num;
    size_t num_watch_calls; // how often rt_dns asked to (un)watch an fd
} t_dnsloop_t;

// t_dnsloop_watch is the rt_dns_watch_cb; pass the t_dnsloop_t as |loop_ctx| to rt_dns_new.
void t_dnsloop_watch(void *loop_ctx, int fd, bool r, bool w);

// t_dnsloop_run polls and feeds |dns| until *|count| reaches |want| or |max_ms| passed.
void t_dnsloop_run(rt_dns_t *dns, t_dnsloop_t *l, const int *count, int want, uint32_t max_ms);

// t_mono_ms returns CLOCK_MONOTONIC in milliseconds.
uint64_t t_mono_ms(void);

// t_dnsres_t collects one rt_dns_cb result (t_dnsres_cb; |ctx| is the t_dnsres_t).
typedef struct t_dnsres {
    int calls;
    rc_t rc;
    size_t num;
    rt_dns_addr_t addrs[16];
} t_dnsres_t;

// t_dnsres_cb records the result and asserts that addresses come with RC_OK only.
void t_dnsres_cb(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num);

#endif
