// posh_dns.c: the POSH fetcher's name resolution on rt_dns (see posh_dns.h).
#include "router/posh_dns.h"

#include <netinet/in.h>
#include <stdlib.h>

#include "router/core/log.h"
#include "router/core/mem.h"

#define POSH_DNS_ADDRS_MAX 16

// One resolution in flight: the fetcher's callback and context.
typedef struct posh_dns_wait {
    struct posh_dns_wait *next;
    rt_posh_dns_t *pd;
    rt_posh_resolved_cb cb;
    void *cbctx;
} posh_dns_wait_t;

struct rt_posh_dns {
    rt_dns_t *dns;
    bool allow_private;
    posh_dns_wait_t *waits;
};

// v4_global: the IPv4 address |a| is global unicast (not private, loopback, link-local,
// shared, multicast, reserved or documentation).
static bool v4_global(const uint8_t a[4]) {
    return !(a[0] == 0 || a[0] == 10 || a[0] == 127 || a[0] >= 224 ||
             (a[0] == 100 && (a[1] & 0xc0) == 64) || (a[0] == 169 && a[1] == 254) ||
             (a[0] == 172 && (a[1] & 0xf0) == 16) || (a[0] == 192 && a[1] == 168) ||
             (a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2)) ||
             (a[0] == 198 && (a[1] & 0xfe) == 18) || (a[0] == 198 && a[1] == 51 && a[2] == 100) ||
             (a[0] == 203 && a[1] == 0 && a[2] == 113));
}

bool rt_posh_dns_global_addr(const struct sockaddr_storage *sa) {
    if (sa->ss_family == AF_INET) {
        return v4_global((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
    }
    if (sa->ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        const uint8_t *a = a6->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            return v4_global(a + 12);
        }
        if (a[0] == 0x20 && a[1] == 0x02) { // 2002::/16, 6to4: judged by the IPv4 it embeds
            return v4_global(a + 2);
        }
        return (a[0] & 0xe0) == 0x20 && // 2000::/3, global unicast
               !(a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) && // 2001:db8::/32
               !(a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x00 && a[3] == 0x00);   // Teredo
    }
    return false;
}

static void wait_unlink(rt_posh_dns_t *pd, posh_dns_wait_t *pw) {
    for (posh_dns_wait_t **pp = &pd->waits; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == pw) {
            *pp = pw->next;
            return;
        }
    }
}

static void resolved(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num) {
    posh_dns_wait_t *pw = ctx;
    rt_posh_dns_t *pd = pw->pd;
    struct sockaddr_storage sas[POSH_DNS_ADDRS_MAX];
    socklen_t lens[POSH_DNS_ADDRS_MAX];
    size_t n = 0;
    size_t skipped = 0;
    for (size_t i = 0; rc == RC_OK && i < num && n < POSH_DNS_ADDRS_MAX; i++) {
        if (!pd->allow_private && !rt_posh_dns_global_addr(&addrs[i].sa)) {
            skipped++; // a peer picks the domain: never connect into the operator's network
            continue;
        }
        sas[n] = addrs[i].sa;
        lens[n] = addrs[i].sa_len;
        n++;
    }
    if (skipped > 0) {
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_DNA,
                 "posh: %zu non-global address(es) of a POSH host skipped "
                 "(s2s.posh_private_addresses = false)",
                 skipped);
    }
    wait_unlink(pd, pw);
    rt_posh_resolved_cb cb = pw->cb;
    void *cbctx = pw->cbctx;
    free(pw);
    cb(cbctx, n > 0 ? RC_OK : (rc == RC_OK ? RC_DNS_NOT_FOUND : rc), sas, lens, n);
}

static rc_t resolve(void *rctx, const char *host, uint16_t port, rt_posh_resolved_cb cb,
                    void *cbctx) {
    rt_posh_dns_t *pd = rctx;
    posh_dns_wait_t *pw = core_xcalloc(1, sizeof(*pw));
    pw->pd = pd;
    pw->cb = cb;
    pw->cbctx = cbctx;
    rc_t rc = rt_dns_resolve_host(pd->dns, host, port, resolved, pw);
    if (rc != RC_OK) {
        free(pw);
        return rc;
    }
    pw->next = pd->waits;
    pd->waits = pw;
    return RC_OK;
}

static void cancel(void *rctx, void *cbctx) {
    rt_posh_dns_t *pd = rctx;
    posh_dns_wait_t *pw = pd->waits;
    while (pw != NULL && pw->cbctx != cbctx) {
        pw = pw->next;
    }
    if (pw != NULL) {
        rt_dns_cancel(pd->dns, pw);
        wait_unlink(pd, pw);
        free(pw);
    }
}

rt_posh_dns_t *rt_posh_dns_new(rt_dns_t *dns, bool allow_private) {
    rt_posh_dns_t *pd = core_xcalloc(1, sizeof(*pd));
    pd->dns = dns;
    pd->allow_private = allow_private;
    return pd;
}

void rt_posh_dns_free(rt_posh_dns_t *pd) {
    if (pd == NULL) {
        return;
    }
    while (pd->waits != NULL) {
        posh_dns_wait_t *pw = pd->waits;
        pd->waits = pw->next;
        rt_dns_cancel(pd->dns, pw);
        free(pw);
    }
    free(pd);
}

void rt_posh_dns_set_allow_private(rt_posh_dns_t *pd, bool allow_private) {
    pd->allow_private = allow_private;
}

rt_posh_resolver_t rt_posh_dns_resolver(rt_posh_dns_t *pd) {
    return (rt_posh_resolver_t){resolve, cancel, pd};
}
