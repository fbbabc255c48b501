// test_dns.c: router/dns.c against a real unbound on 127.0.0.1, driven by a tiny poll() loop
// through the watch callback. No mocks: every answer comes from unbound's local-zone data.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "router/core/log.h"
#include "router/dns.h"
#include "tests/support/t_dnsloop.h"
#include "tests/support/t.h"
#include "tests/support/t_unbound.h"

// Zone data. "test." is a static local zone, so every other name under it is NXDOMAIN.
static const char zone[] =
    // two targets, priorities out of order in the zone; a has AAAA and A
    "local-data: \"_xmpp-server._tcp.two.test. 300 IN SRV 20 0 5269 b.two.test.\"\n"
    "local-data: \"_xmpp-server._tcp.two.test. 300 IN SRV 10 0 5270 a.two.test.\"\n"
    "local-data: \"a.two.test. 300 IN AAAA 2001:db8::a\"\n"
    "local-data: \"a.two.test. 300 IN A 192.0.2.10\"\n"
    "local-data: \"b.two.test. 300 IN A 192.0.2.11\"\n"
    // direct TLS preferred at equal priority
    "local-data: \"_xmpp-server._tcp.tls.test. 300 IN SRV 5 0 5269 s.tls.test.\"\n"
    "local-data: \"_xmpp-server._tcp.tls.test. 300 IN SRV 10 0 5269 late.tls.test.\"\n"
    "local-data: \"_xmpps-server._tcp.tls.test. 300 IN SRV 5 0 5223 d.tls.test.\"\n"
    "local-data: \"s.tls.test. 300 IN A 192.0.2.20\"\n"
    "local-data: \"d.tls.test. 300 IN A 192.0.2.21\"\n"
    "local-data: \"late.tls.test. 300 IN A 192.0.2.22\"\n"
    // both services on one host (one A/AAAA lookup shared)
    "local-data: \"_xmpp-server._tcp.same.test. 300 IN SRV 0 0 5269 host.same.test.\"\n"
    "local-data: \"_xmpps-server._tcp.same.test. 300 IN SRV 0 0 5223 host.same.test.\"\n"
    "local-data: \"host.same.test. 300 IN A 192.0.2.110\"\n"
    // "." on _xmpps-server, records on _xmpp-server
    "local-data: \"_xmpps-server._tcp.dtlsdot.test. 300 IN SRV 0 0 0 .\"\n"
    "local-data: \"_xmpp-server._tcp.dtlsdot.test. 300 IN SRV 0 0 5269 x.dtlsdot.test.\"\n"
    "local-data: \"x.dtlsdot.test. 300 IN A 192.0.2.30\"\n"
    // "." on _xmpp-server, nothing on _xmpps-server; the bare domain has an A record (unused)
    "local-data: \"_xmpp-server._tcp.dot.test. 300 IN SRV 0 0 0 .\"\n"
    "local-data: \"dot.test. 300 IN A 192.0.2.40\"\n"
    // "." on both
    "local-data: \"_xmpp-server._tcp.bothdot.test. 300 IN SRV 0 0 0 .\"\n"
    "local-data: \"_xmpps-server._tcp.bothdot.test. 300 IN SRV 0 0 0 .\"\n"
    // no SRV: A/AAAA fallback on 5269
    "local-data: \"plain.test. 300 IN A 192.0.2.50\"\n"
    "local-data: \"plain.test. 300 IN AAAA 2001:db8::50\"\n"
    // a target without address is skipped
    "local-data: \"_xmpp-server._tcp.skip.test. 300 IN SRV 10 0 5269 noaddr.skip.test.\"\n"
    "local-data: \"_xmpp-server._tcp.skip.test. 300 IN SRV 20 0 5271 ok.skip.test.\"\n"
    "local-data: \"ok.skip.test. 300 IN A 192.0.2.60\"\n"
    // SRV exists but no target resolves: no fallback to the bare domain (CORE-3)
    "local-data: \"_xmpp-server._tcp.srvonly.test. 300 IN SRV 10 0 5269 noaddr.srvonly.test.\"\n"
    "local-data: \"srvonly.test. 300 IN A 192.0.2.70\"\n"
    // static route target host
    "local-data: \"host.static.test. 300 IN A 192.0.2.80\"\n"
    // IDN A-label
    "local-data: \"_xmpp-server._tcp.xn--bcher-kva.test. 300 IN SRV 0 0 5269 "
    "xn--bcher-kva.test.\"\n"
    "local-data: \"xn--bcher-kva.test. 300 IN A 192.0.2.90\"\n"
    // weights
    "local-data: \"_xmpp-server._tcp.w.test. 300 IN SRV 10 90 5269 heavy.w.test.\"\n"
    "local-data: \"_xmpp-server._tcp.w.test. 300 IN SRV 10 10 5269 light.w.test.\"\n"
    "local-data: \"heavy.w.test. 300 IN A 192.0.2.100\"\n"
    "local-data: \"light.w.test. 300 IN A 192.0.2.101\"\n"
    // short SRV TTL: cached 1 s only
    "local-data: \"_xmpp-server._tcp.short.test. 1 IN SRV 0 0 5269 t.short.test.\"\n"
    "local-data: \"t.short.test. 300 IN A 192.0.2.120\"\n";



// on_cancel_other: a callback that cancels another pending resolution.
typedef struct cancel_ctx {
    t_dnsres_t r;
    rt_dns_t *dns;
    void *victim;
} cancel_ctx_t;
static void on_cancel_other(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num) {
    cancel_ctx_t *c = ctx;
    t_dnsres_cb(&c->r, rc, addrs, num);
    rt_dns_cancel(c->dns, c->victim);
}

static void resolve(t_dnsres_t *r, rt_dns_t *dns, t_dnsloop_t *l, const char *domain) {
    memset(r, 0, sizeof(*r));
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, domain, t_dnsres_cb, r), RC_OK);
    T_ASSERT_EQ(r->calls, 0); // never synchronous
    t_dnsloop_run(dns, l, &r->calls, 1, 10000);
    T_ASSERT_EQ(r->calls, 1);
}

static void check_addr(const t_dnsres_t *r, size_t i, const char *ip, uint16_t port, const char *host,
                       bool direct_tls, bool from_srv) {
    char buf[INET6_ADDRSTRLEN];
    const rt_dns_addr_t *a;
    uint16_t got_port;
    T_ASSERT(i < r->num);
    a = &r->addrs[i];
    if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
        T_ASSERT_EQ(a->sa_len, sizeof(*s6));
        T_ASSERT(inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf)) != NULL);
        got_port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
        T_ASSERT_EQ(a->sa.ss_family, AF_INET);
        T_ASSERT_EQ(a->sa_len, sizeof(*s4));
        T_ASSERT(inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf)) != NULL);
        got_port = ntohs(s4->sin_port);
    }
    T_ASSERT_STREQ(buf, ip);
    T_ASSERT_EQ(got_port, port);
    T_ASSERT_STREQ(a->host, host);
    T_ASSERT_EQ(a->direct_tls, direct_tls);
    T_ASSERT_EQ(a->from_srv, from_srv);
}

// --- cases -------------------------------------------------------------------------------------

static const rt_dns_route_t routes[] = {
    {.domain = (char *)"static-ip.example",
     .host = (char *)"192.0.2.7",
     .port = 5299,
     .direct_tls = true},
    {.domain = (char *)"static-v6.example",
     .host = (char *)"2001:db8::7",
     .port = 5270,
     .direct_tls = false},
    {.domain = (char *)"static-host.example",
     .host = (char *)"host.static.test",
     .port = 5275,
     .direct_tls = false},
    {.domain = (char *)"static-bad.example",
     .host = (char *)"nothere.static.test",
     .port = 5275,
     .direct_tls = false},
    // a static route wins over the SRV records of two.test
    {.domain = (char *)"two-routed.test",
     .host = (char *)"192.0.2.99",
     .port = 1,
     .direct_tls = false},
};

static void test_srv(rt_dns_t *dns, t_dnsloop_t *l) {
    t_dnsres_t r;
    resolve(&r, dns, l, "two.test");
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 3);
    check_addr(&r, 0, "2001:db8::a", 5270, "a.two.test", false, true); // IPv6 first per target
    check_addr(&r, 1, "192.0.2.10", 5270, "a.two.test", false, true);
    check_addr(&r, 2, "192.0.2.11", 5269, "b.two.test", false, true);
    T_ASSERT(l->num_watch_calls > 0);

    resolve(&r, dns, l, "tls.test");
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 3);
    check_addr(&r, 0, "192.0.2.21", 5223, "d.tls.test", true, true);
    check_addr(&r, 1, "192.0.2.20", 5269, "s.tls.test", false, true);
    check_addr(&r, 2, "192.0.2.22", 5269, "late.tls.test", false, true);

    resolve(&r, dns, l, "same.test");
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 2);
    check_addr(&r, 0, "192.0.2.110", 5223, "host.same.test", true, true);
    check_addr(&r, 1, "192.0.2.110", 5269, "host.same.test", false, true);

    resolve(&r, dns, l, "dtlsdot.test");
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 1);
    check_addr(&r, 0, "192.0.2.30", 5269, "x.dtlsdot.test", false, true);

    resolve(&r, dns, l, "skip.test");
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 1);
    check_addr(&r, 0, "192.0.2.60", 5271, "ok.skip.test", false, true);
}

static void test_not_found(rt_dns_t *dns, t_dnsloop_t *l) {
    t_dnsres_t r;
    resolve(&r, dns, l, "dot.test");
    T_ASSERT_EQ(r.rc, RC_DNS_NOT_FOUND);
    resolve(&r, dns, l, "bothdot.test");
    T_ASSERT_EQ(r.rc, RC_DNS_NOT_FOUND);
    resolve(&r, dns, l, "missing.test");
    T_ASSERT_EQ(r.rc, RC_DNS_NOT_FOUND);
    resolve(&r, dns, l, "srvonly.test");
    T_ASSERT_EQ(r.rc, RC_DNS_NOT_FOUND);
}

static void test_fallback(rt_dns_t *dns, t_dnsloop_t *l) {
    t_dnsres_t r;
    resolve(&r, dns, l, "plain.test");
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 2);
    check_addr(&r, 0, "2001:db8::50", 5269, "plain.test", false, false);
    check_addr(&r, 1, "192.0.2.50", 5269, "plain.test", false, false);
}

static void test_static(rt_dns_t *dns, t_dnsloop_t *l) {
    t_dnsres_t r;
    memset(&r, 0, sizeof(r));
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "static-ip.example", t_dnsres_cb, &r), RC_OK);
    T_ASSERT_EQ(r.calls, 0);
    T_ASSERT_EQ(rt_dns_next_timeout_ms(dns, 1000), 0); // a result is waiting
    rt_dns_tick(dns);
    T_ASSERT_EQ(r.calls, 1);
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 1);
    check_addr(&r, 0, "192.0.2.7", 5299, "192.0.2.7", true, false);

    resolve(&r, dns, l, "STATIC-V6.example");
    T_ASSERT_EQ(r.num, 1);
    check_addr(&r, 0, "2001:db8::7", 5270, "2001:db8::7", false, false);

    resolve(&r, dns, l, "static-host.example");
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 1);
    check_addr(&r, 0, "192.0.2.80", 5275, "host.static.test", false, false);

    resolve(&r, dns, l, "static-bad.example");
    T_ASSERT_EQ(r.rc, RC_DNS_NOT_FOUND);

    resolve(&r, dns, l, "two-routed.test");
    T_ASSERT_EQ(r.num, 1);
    check_addr(&r, 0, "192.0.2.99", 1, "192.0.2.99", false, false);
}

static void test_idn(rt_dns_t *dns, t_dnsloop_t *l) {
    t_dnsres_t r;
    resolve(&r, dns, l, "xn--bcher-kva.test");
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 1);
    check_addr(&r, 0, "192.0.2.90", 5269, "xn--bcher-kva.test", false, true);
    // upper case and a trailing dot are normalised (this one comes from the cache)
    resolve(&r, dns, l, "XN--BCHER-KVA.TEST.");
    T_ASSERT_EQ(r.rc, RC_OK);
    check_addr(&r, 0, "192.0.2.90", 5269, "xn--bcher-kva.test", false, true);
}

static void test_bad_names(rt_dns_t *dns) {
    char longname[300];
    t_dnsres_t r;
    memset(&r, 0, sizeof(r));
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "", t_dnsres_cb, &r), RC_EINVAL);
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "a..b", t_dnsres_cb, &r), RC_EINVAL);
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "a b.test", t_dnsres_cb, &r), RC_EINVAL);
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "\xc3\xbc.test", t_dnsres_cb, &r), RC_EINVAL); // U-label
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, longname, t_dnsres_cb, &r), RC_EINVAL);
    rt_dns_tick(dns);
    T_ASSERT_EQ(r.calls, 0);
}

// test_weights: RFC 2782 selection among equal priority (90:10), redone on each cache hit.
static void test_weights(rt_dns_t *dns, t_dnsloop_t *l) {
    t_dnsres_t r;
    int heavy = 0, light = 0;
    for (int i = 0; i < 200; i++) {
        resolve(&r, dns, l, "w.test");
        T_ASSERT_EQ(r.num, 2);
        if (strcmp(r.addrs[0].host, "heavy.w.test") == 0) {
            heavy++;
            T_ASSERT_STREQ(r.addrs[1].host, "light.w.test");
        } else {
            light++;
            T_ASSERT_STREQ(r.addrs[0].host, "light.w.test");
            T_ASSERT_STREQ(r.addrs[1].host, "heavy.w.test");
        }
    }
    fprintf(stderr, "weights 90:10 -> first %d:%d\n", heavy, light);
    T_ASSERT(heavy >= 150 && light >= 1); // expected 180:20
}

static int g_any_ok, g_any_fail;
static void on_any(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num) {
    (void)ctx;
    (void)addrs;
    (void)num;
    if (rc == RC_OK) {
        g_any_ok++;
    } else {
        g_any_fail++;
    }
}

// test_limit: at most 4096 resolutions with queries in flight per resolver; a static route to an
// IP (no query) is still served beyond the limit. Uses its own resolver whose queries are never
// processed, so they stay in flight.
static void test_limit(const rt_dns_conf_t *base) {
    t_dnsloop_t l2;
    memset(&l2, 0, sizeof(l2));
    rt_dns_t *d = rt_dns_new(base, t_dnsloop_watch, &l2);
    T_ASSERT(d != NULL);
    g_any_ok = g_any_fail = 0;
    for (int i = 0; i < 4096; i++) {
        T_ASSERT_EQ(rt_dns_resolve_s2s(d, "limit.test", on_any, NULL), RC_OK);
    }
    T_ASSERT_EQ(rt_dns_resolve_s2s(d, "limit.test", on_any, NULL), RC_ENOBUFS);
    T_ASSERT_EQ(rt_dns_resolve_s2s(d, "static-ip.example", on_any, NULL), RC_OK);
    rt_dns_tick(d);
    T_ASSERT_EQ(g_any_ok, 1); // the static route, at once
    T_ASSERT_EQ(g_any_fail, 0);
    rt_dns_free(d); // the 4096 pending ones are told RC_DNS_FAIL
    T_ASSERT_EQ(g_any_fail, 4096);
}

// test_cache: with unbound stopped, cached answers (positive and negative) are still served,
// and an expired short-TTL answer is not.
static void test_cache(rt_dns_t *dns, t_dnsloop_t *l, t_unbound_t *u) {
    t_dnsres_t r;
    resolve(&r, dns, l, "short.test");
    T_ASSERT_EQ(r.rc, RC_OK);
    check_addr(&r, 0, "192.0.2.120", 5269, "t.short.test", false, true);
    t_unbound_stop(u);
    usleep(1200 * 1000);

    resolve(&r, dns, l, "two.test"); // cached earlier (TTL 300)
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 3);
    check_addr(&r, 0, "2001:db8::a", 5270, "a.two.test", false, true);
    check_addr(&r, 2, "192.0.2.11", 5269, "b.two.test", false, true);
    resolve(&r, dns, l, "plain.test");
    T_ASSERT_EQ(r.rc, RC_OK);
    check_addr(&r, 0, "2001:db8::50", 5269, "plain.test", false, false);
    resolve(&r, dns, l, "missing.test"); // negative cache (30 s)
    T_ASSERT_EQ(r.rc, RC_DNS_NOT_FOUND);
    resolve(&r, dns, l, "short.test"); // TTL 1 expired; the server is gone
    T_ASSERT_EQ(r.rc, RC_DNS_FAIL);
}

// A UDP socket that never answers: queries to it time out.
static int silent_server(uint16_t *out_port) {
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    T_ASSERT(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    T_ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    T_ASSERT(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    *out_port = ntohs(sa.sin_port);
    return fd;
}

static void test_timeout_cancel_free(void) {
    uint16_t port;
    int sfd = silent_server(&port);
    char servers[64];
    t_dnsloop_t l;
    t_dnsres_t r, a, b, c;
    rt_dns_t *dns;
    memset(&l, 0, sizeof(l));
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", (unsigned)port);
    rt_dns_conf_t conf = {.servers = servers,
                          .routes = routes,
                          .num_routes = RT_ARRAY_LEN(routes),
                          .timeout_ms = 200,
                          .tries = 1};
    dns = rt_dns_new(&conf, t_dnsloop_watch, &l);
    T_ASSERT(dns != NULL);

    // timeout -> RC_DNS_FAIL, after about the configured timeout
    uint64_t t0 = t_mono_ms();
    resolve(&r, dns, &l, "two.test");
    uint64_t dt = t_mono_ms() - t0;
    T_ASSERT_EQ(r.rc, RC_DNS_FAIL);
    T_ASSERT(dt >= 150 && dt < 3000);
    // failures are not cached: the query goes out again (and times out again)
    t0 = t_mono_ms();
    resolve(&r, dns, &l, "two.test");
    T_ASSERT_EQ(r.rc, RC_DNS_FAIL);
    T_ASSERT(t_mono_ms() - t0 >= 150);

    // cancel while queries are in flight: |a| never runs, |b| does
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "one.test", t_dnsres_cb, &a), RC_OK);
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "other.test", t_dnsres_cb, &b), RC_OK);
    rt_dns_cancel(dns, &a);
    t_dnsloop_run(dns, &l, &b.calls, 1, 5000);
    T_ASSERT_EQ(b.calls, 1);
    T_ASSERT_EQ(b.rc, RC_DNS_FAIL);
    t_dnsloop_run(dns, &l, &a.calls, 1, 600); // give |a| every chance to (wrongly) run
    T_ASSERT_EQ(a.calls, 0);

    // cancel of a finished-but-undelivered result (static route) and after delivery
    memset(&a, 0, sizeof(a));
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "static-ip.example", t_dnsres_cb, &a), RC_OK);
    rt_dns_cancel(dns, &a);
    rt_dns_tick(dns);
    T_ASSERT_EQ(a.calls, 0);
    resolve(&a, dns, &l, "static-ip.example");
    rt_dns_cancel(dns, &a); // already ran: harmless
    T_ASSERT_EQ(a.calls, 1);

    // cancel from inside another callback: both results were ready in the same pass
    cancel_ctx_t cc = {.dns = dns, .victim = &b};
    memset(&b, 0, sizeof(b));
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "static-ip.example", on_cancel_other, &cc), RC_OK);
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "static-v6.example", t_dnsres_cb, &b), RC_OK);
    rt_dns_tick(dns);
    T_ASSERT_EQ(cc.r.calls, 1);
    T_ASSERT_EQ(b.calls, 0);

    // free: a pending resolution's callback runs with RC_DNS_FAIL before rt_dns_free returns;
    // a finished one gets its result
    memset(&c, 0, sizeof(c));
    memset(&a, 0, sizeof(a));
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "pending.test", t_dnsres_cb, &c), RC_OK);
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, "static-ip.example", t_dnsres_cb, &a), RC_OK);
    rt_dns_free(dns);
    T_ASSERT_EQ(c.calls, 1);
    T_ASSERT_EQ(c.rc, RC_DNS_FAIL);
    T_ASSERT_EQ(a.calls, 1);
    T_ASSERT_EQ(a.rc, RC_OK);
    T_ASSERT_EQ(l.num, 0); // every watched fd was released
    close(sfd);
}

static t_unbound_t *g_unbound; // stopped at exit, also when an assertion fails

static void stop_unbound_at_exit(void) {
    if (g_unbound != NULL) {
        t_unbound_cleanup(g_unbound);
    }
}

int main(void) {
    static t_unbound_t u;
    t_dnsloop_t l;
    char servers[64];
    rt_dns_t *dns;
    memset(&u, 0, sizeof(u));
    memset(&l, 0, sizeof(l));
    if (getenv("RT_TEST_VERBOSE") != NULL) {
        core_log_set_level(CORE_LOG_DEBUG);
    }
    if (t_unbound_path() == NULL) {
        fprintf(stderr, "SKIP: unbound not installed\n");
        return T_SKIP;
    }
    g_unbound = &u;
    atexit(stop_unbound_at_exit);
    T_ASSERT(t_unbound_start(&u, zone, 0) == 0);
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", (unsigned)u.port);
    rt_dns_conf_t conf = {.servers = servers,
                          .routes = routes,
                          .num_routes = RT_ARRAY_LEN(routes),
                          .timeout_ms = 500,
                          .tries = 2,
                          .cache_max = 64};
    dns = rt_dns_new(&conf, t_dnsloop_watch, &l);
    T_ASSERT(dns != NULL);

    test_srv(dns, &l);
    test_not_found(dns, &l);
    test_fallback(dns, &l);
    test_static(dns, &l);
    test_idn(dns, &l);
    test_bad_names(dns);
    test_weights(dns, &l);
    test_limit(&conf);
    test_cache(dns, &l, &u);
    rt_dns_free(dns);
    T_ASSERT_EQ(l.num, 0);
    t_unbound_cleanup(&u);

    test_timeout_cancel_free();
    fprintf(stderr, "unit_dns: ok\n");
    return 0;
}
