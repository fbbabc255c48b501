// t_dnsloop.c: see t_dnsloop.h.
#include "tests/support/t_dnsloop.h"

#include <string.h>
#include <time.h>

#include "router/core/mem.h"
#include "tests/support/t.h"

void t_dnsloop_watch(void *loop_ctx, int fd, bool r, bool w) {
    t_dnsloop_t *l = loop_ctx;
    size_t i = 0;
    l->num_watch_calls++;
    while (i < l->num && l->fds[i].fd != fd) {
        i++;
    }
    if (!r && !w) {
        if (i < l->num) {
            l->fds[i] = l->fds[--l->num];
        }
        return;
    }
    if (i == l->num) {
        T_ASSERT(l->num < RT_ARRAY_LEN(l->fds));
        l->num++;
    }
    l->fds[i].fd = fd;
    l->fds[i].events = (short)((r ? POLLIN : 0) | (w ? POLLOUT : 0));
    l->fds[i].revents = 0;
}

uint64_t t_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void t_dnsloop_run(rt_dns_t *dns, t_dnsloop_t *l, const int *count, int want, uint32_t max_ms) {
    uint64_t end = t_mono_ms() + max_ms;
    while (*count < want && t_mono_ms() < end) {
        struct pollfd fds[RT_ARRAY_LEN(l->fds)];
        size_t n = l->num;
        memcpy(fds, l->fds, n * sizeof(fds[0]));
        int rc = poll(fds, n, (int)rt_dns_next_timeout_ms(dns, 100));
        T_ASSERT(rc >= 0);
        for (size_t i = 0; i < n; i++) {
            if (fds[i].revents != 0) {
                rt_dns_process(dns, fds[i].fd, (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0,
                               (fds[i].revents & POLLOUT) != 0);
            }
        }
        rt_dns_tick(dns);
    }
}

void t_dnsres_cb(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num) {
    t_dnsres_t *r = ctx;
    r->calls++;
    r->rc = rc;
    r->num = num;
    T_ASSERT(num <= RT_ARRAY_LEN(r->addrs));
    T_ASSERT((num == 0) == (rc != RC_OK));
    if (num > 0) {
        memcpy(r->addrs, addrs, num * sizeof(*addrs));
    }
}
