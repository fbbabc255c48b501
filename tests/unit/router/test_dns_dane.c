// test_dns_dane.c: the DNSSEC side of router/dns.c (DANE, RFC 7673) against a real validating
// resolver: tests/support/dnssec_lab.py runs knotd (signs test., bogus.test. with a DS that
// matches nothing, insecure.test. unsigned) behind unbound on 127.0.0.1. Asserts srv_secure on
// SRV results, the DNSSEC state and record counts of TLSA lookups (secure with records, secure
// NXDOMAIN/NODATA, insecure, bogus, resolver down/timeout), caching, cancel, rt_dns_free and
// rt_dns_resolve_host. Skips (77) without python3, knotd or unbound.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "router/core/log.h"
#include "router/dns.h"
#include "tests/support/t_dnsloop.h"
#include "tests/support/t.h"

#ifndef T_DNSSEC_LAB
#error "T_DNSSEC_LAB (path of tests/support/dnssec_lab.py) must be defined by the build"
#endif

#define PYTHON "/usr/bin/python3"
#define H64(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c // 64 hex digits

// Records for the lab (see dnssec_lab.py): sec.test is in the signed zone.
static const char records[] =
    "_xmpp-server._tcp.sec.test. 300 IN SRV 0 5 5269 host.sec.test.\n"
    "host.sec.test. A 127.0.0.1\n"
    // TLSA at the SRV target: two usable records, one malformed (SHA2-256 of 16 bytes), one of
    // unknown usage 4
    "_5269._tcp.host.sec.test. TLSA 3 1 1 " H64("01") "\n"
    "_5269._tcp.host.sec.test. TLSA 2 0 1 " H64("02") "\n"
    "_5269._tcp.host.sec.test. TLSA 3 1 1 " H64("3") "\n"
    "_5269._tcp.host.sec.test. TLSA 4 1 1 " H64("04") "\n"
    // 20 SHA2-512 records: with the RRSIG over 1232 bytes, so UDP answers TC=1 and c-ares asks
    // again over TCP
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("10") H64("10") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("11") H64("11") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("12") H64("12") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("13") H64("13") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("14") H64("14") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("15") H64("15") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("16") H64("16") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("17") H64("17") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("18") H64("18") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("19") H64("19") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("20") H64("20") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("21") H64("21") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("22") H64("22") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("23") H64("23") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("24") H64("24") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("25") H64("25") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("26") H64("26") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("27") H64("27") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("28") H64("28") "\n"
    "_5269._tcp.big.sec.test. TLSA 3 1 2 " H64("29") H64("29") "\n"
    // NODATA: the owner exists with another type
    "_25._tcp.host.sec.test. TXT \"no tlsa here\"\n"
    // no SRV: A/AAAA fallback in the signed zone
    "plain.sec.test. A 127.0.0.4\n"
    // rt_dns_resolve_host
    "www.sec.test. A 127.0.0.3\n"
    "www.sec.test. AAAA ::1\n"
    // unsigned zone
    "_xmpp-server._tcp.insecure.test. SRV 0 5 5269 host.insecure.test.\n"
    "host.insecure.test. A 127.0.0.2\n"
    "_5269._tcp.host.insecure.test. TLSA 3 1 1 " H64("05") "\n"
    // bogus zone
    "_xmpp-server._tcp.bogus.test. SRV 0 5 5269 host.bogus.test.\n"
    "host.bogus.test. A 127.0.0.5\n"
    "_5269._tcp.host.bogus.test. TLSA 3 1 1 " H64("06") "\n";

// --- the lab -----------------------------------------------------------------------------------

static char g_tmp_dir[64]; // ours: records.txt and lab/
static char g_lab_dir[96]; // the lab's directory
static bool g_lab_up;

static void lab_stop(void) {
    char cmd[512];
    if (!g_lab_up) {
        return;
    }
    g_lab_up = false;
    snprintf(cmd, sizeof(cmd), PYTHON " -B %s stop %s", T_DNSSEC_LAB, g_lab_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "dnssec_lab stop failed\n");
    }
}

static void lab_cleanup_at_exit(void) {
    char cmd[512];
    lab_stop();
    if (g_tmp_dir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", g_tmp_dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", g_tmp_dir);
        }
    }
}

// lab_start starts the lab and writes "127.0.0.1:PORT" into |out|. Returns 0, T_SKIP or 1.
static int lab_start(char *out, size_t out_cap) {
    char path[128], cmd[512], line[128];
    FILE *f = NULL;
    int status;
    if (access(PYTHON, X_OK) != 0) {
        fprintf(stderr, "SKIP: %s not installed\n", PYTHON);
        return T_SKIP;
    }
    snprintf(g_tmp_dir, sizeof(g_tmp_dir), "/tmp/t_dns_dane.XXXXXX");
    if (mkdtemp(g_tmp_dir) == NULL) {
        g_tmp_dir[0] = '\0';
        return 1;
    }
    atexit(lab_cleanup_at_exit);
    snprintf(g_lab_dir, sizeof(g_lab_dir), "%s/lab", g_tmp_dir);
    snprintf(path, sizeof(path), "%s/records.txt", g_tmp_dir);
    f = fopen(path, "w");
    T_ASSERT(f != NULL);
    T_ASSERT(fputs(records, f) >= 0);
    T_ASSERT(fclose(f) == 0);
    // TTLs up to 120 s (not the lab's default 5) so that test_cache finds every answer still
    // cached; a watcher stops the lab if this process dies
    snprintf(cmd, sizeof(cmd), PYTHON " -B %s start %s %s --max-ttl 120 --watch %d",
             T_DNSSEC_LAB, g_lab_dir, path, (int)getpid());
    f = popen(cmd, "r");
    T_ASSERT(f != NULL);
    g_lab_up = true; // from here on, stop it at exit whatever happens
    out[0] = '\0';
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        size_t n = strlen(line);
        if (n >= out_cap) {
            n = out_cap - 1; // "127.0.0.1:PORT" always fits; a longer line is not an address
        }
        memcpy(out, line, n);
        out[n] = '\0';
    }
    status = pclose(f);
    if (WIFEXITED(status) && WEXITSTATUS(status) == T_SKIP) {
        fprintf(stderr, "SKIP: dnssec_lab.py cannot run here (knotd/unbound missing)\n");
        return T_SKIP;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || strncmp(out, "127.0.0.1:", 10) != 0) {
        fprintf(stderr, "dnssec_lab.py start failed (status %d, output \"%s\")\n", status, out);
        return 1;
    }
    return 0;
}


typedef struct tres {
    int calls;
    dna_dnssec_t dnssec;
    bool has_set;
    size_t num_recs, num_unusable, num_malformed, num_dropped;
    uint8_t usage[DNA_TLSA_MAX_RECORDS], selector[DNA_TLSA_MAX_RECORDS];
    uint32_t ttl;
    char owner[DNA_TLSA_OWNER_MAX];
} tres_t;

static void on_tlsa(void *ctx, const rt_dns_tlsa_t *res) {
    tres_t *r = ctx;
    r->calls++;
    r->dnssec = res->dnssec;
    r->has_set = res->set != NULL;
    // the set is given exactly when the answer is secure
    T_ASSERT((res->set != NULL) == (res->dnssec == DNA_DNSSEC_SECURE));
    if (res->set != NULL) {
        r->num_recs = res->set->num_recs;
        r->num_unusable = res->set->num_unusable;
        r->num_malformed = res->set->num_malformed;
        r->num_dropped = res->set->num_dropped;
        for (size_t i = 0; i < res->set->num_recs; i++) {
            r->usage[i] = res->set->recs[i].usage;
            r->selector[i] = res->set->recs[i].selector;
            T_ASSERT_EQ(res->set->recs[i].data_len, res->set->recs[i].mtype == 1 ? 32 : 64);
        }
    }
    r->ttl = res->ttl;
    snprintf(r->owner, sizeof(r->owner), "%s", res->owner);
}

static void resolve(t_dnsres_t *r, rt_dns_t *dns, t_dnsloop_t *l, const char *domain) {
    memset(r, 0, sizeof(*r));
    T_ASSERT_EQ(rt_dns_resolve_s2s(dns, domain, t_dnsres_cb, r), RC_OK);
    T_ASSERT_EQ(r->calls, 0); // never synchronous
    t_dnsloop_run(dns, l, &r->calls, 1, 10000);
    T_ASSERT_EQ(r->calls, 1);
}

static void tlsa(tres_t *r, rt_dns_t *dns, t_dnsloop_t *l, const char *host, uint16_t port) {
    memset(r, 0, sizeof(*r));
    T_ASSERT_EQ(rt_dns_resolve_tlsa(dns, host, port, on_tlsa, r), RC_OK);
    T_ASSERT_EQ(r->calls, 0); // never synchronous, not even from the cache
    t_dnsloop_run(dns, l, &r->calls, 1, 10000);
    T_ASSERT_EQ(r->calls, 1);
}

static void addr_text(const rt_dns_addr_t *a, char *buf, size_t cap, uint16_t *out_port) {
    if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
        T_ASSERT(inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)cap) != NULL);
        *out_port = ntohs(s6->sin6_port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
        T_ASSERT_EQ(a->sa.ss_family, AF_INET);
        T_ASSERT(inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)cap) != NULL);
        *out_port = ntohs(s4->sin_port);
    }
}

static void check_addr(const t_dnsres_t *r, size_t i, const char *ip, uint16_t port, const char *host,
                       bool from_srv, bool srv_secure) {
    char buf[INET6_ADDRSTRLEN];
    uint16_t got_port = 0;
    T_ASSERT(i < r->num);
    addr_text(&r->addrs[i], buf, sizeof(buf), &got_port);
    T_ASSERT_STREQ(buf, ip);
    T_ASSERT_EQ(got_port, port);
    T_ASSERT_STREQ(r->addrs[i].host, host);
    T_ASSERT_EQ(r->addrs[i].from_srv, from_srv);
    T_ASSERT_EQ(r->addrs[i].srv_secure, srv_secure);
    T_ASSERT(!r->addrs[i].direct_tls);
}

// --- cases -------------------------------------------------------------------------------------

static void test_srv(rt_dns_t *dns, t_dnsloop_t *l) {
    t_dnsres_t r;
    resolve(&r, dns, l, "sec.test"); // signed zone: the SRV answer has AD
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 1);
    check_addr(&r, 0, "127.0.0.1", 5269, "host.sec.test", true, true);
    resolve(&r, dns, l, "insecure.test"); // unsigned zone: no AD
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 1);
    check_addr(&r, 0, "127.0.0.2", 5269, "host.insecure.test", true, false);
    resolve(&r, dns, l, "plain.sec.test"); // no SRV: fallback, never srv_secure
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 1);
    check_addr(&r, 0, "127.0.0.4", 5269, "plain.sec.test", false, false);
    resolve(&r, dns, l, "bogus.test"); // SERVFAIL on both SRV names: DNSSEC bogus
    T_ASSERT_EQ(r.rc, RC_DNS_BOGUS);
    resolve(&r, dns, l, "static.example"); // static route to an IP: no DNS, not secure
    T_ASSERT_EQ(r.rc, RC_OK);
    check_addr(&r, 0, "192.0.2.7", 5270, "192.0.2.7", false, false);
    resolve(&r, dns, l, "sec.test"); // cache hit keeps srv_secure
    check_addr(&r, 0, "127.0.0.1", 5269, "host.sec.test", true, true);
}

static void test_tlsa(rt_dns_t *dns, t_dnsloop_t *l) {
    tres_t r;
    // secure RRset: 3 1 1 and 2 0 1 usable, the short digest malformed, usage 4 unusable
    tlsa(&r, dns, l, "host.sec.test", 5269);
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_SECURE);
    T_ASSERT(r.has_set);
    T_ASSERT_EQ(r.num_recs, 2);
    T_ASSERT_EQ(r.num_malformed, 1);
    T_ASSERT_EQ(r.num_unusable, 1);
    T_ASSERT_EQ(r.num_dropped, 0);
    T_ASSERT((r.usage[0] == 3 && r.selector[0] == 1 && r.usage[1] == 2 && r.selector[1] == 0) ||
             (r.usage[1] == 3 && r.selector[1] == 1 && r.usage[0] == 2 && r.selector[0] == 0));
    T_ASSERT(r.ttl >= 60 && r.ttl <= 120); // zone TTL 300, capped by unbound's cache-max-ttl
    T_ASSERT_STREQ(r.owner, "_5269._tcp.host.sec.test");
    // an RRset too big for UDP (TC=1): c-ares retries over TCP; all 20 records arrive
    tlsa(&r, dns, l, "big.sec.test", 5269);
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_SECURE);
    T_ASSERT_EQ(r.num_recs, 20);
    T_ASSERT_EQ(r.num_malformed + r.num_unusable + r.num_dropped, 0);
    // NXDOMAIN in the signed zone: secure, empty set
    tlsa(&r, dns, l, "none.sec.test", 443);
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_SECURE);
    T_ASSERT(r.has_set);
    T_ASSERT_EQ(r.num_recs + r.num_malformed + r.num_unusable, 0);
    T_ASSERT_STREQ(r.owner, "_443._tcp.none.sec.test");
    // NODATA (the owner has a TXT record): secure, empty set
    tlsa(&r, dns, l, "host.sec.test", 25);
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_SECURE);
    T_ASSERT(r.has_set);
    T_ASSERT_EQ(r.num_recs + r.num_malformed + r.num_unusable, 0);
    // unsigned zone: insecure, the records are not handed out
    tlsa(&r, dns, l, "host.insecure.test", 5269);
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_INSECURE);
    T_ASSERT(!r.has_set);
    T_ASSERT(r.ttl >= 1);
    // broken chain of trust: bogus
    tlsa(&r, dns, l, "host.bogus.test", 5269);
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_BOGUS);
    T_ASSERT(!r.has_set);
    T_ASSERT_STREQ(r.owner, "_5269._tcp.host.bogus.test");
    // bad arguments: refused at once, no callback
    memset(&r, 0, sizeof(r));
    T_ASSERT_EQ(rt_dns_resolve_tlsa(dns, "host.sec.test", 0, on_tlsa, &r), RC_EINVAL);
    T_ASSERT_EQ(rt_dns_resolve_tlsa(dns, "bad name.test", 5269, on_tlsa, &r), RC_EINVAL);
    T_ASSERT_EQ(rt_dns_resolve_tlsa(dns, "", 5269, on_tlsa, &r), RC_EINVAL);
    T_ASSERT_EQ(rt_dns_resolve_tlsa(dns, NULL, 5269, on_tlsa, &r), RC_EINVAL);
    T_ASSERT_EQ(rt_dns_resolve_tlsa(dns, "host.sec.test", 5269, NULL, &r), RC_EINVAL);
    t_dnsloop_run(dns, l, &r.calls, 1, 200);
    T_ASSERT_EQ(r.calls, 0);
}

static void test_host(rt_dns_t *dns, t_dnsloop_t *l) {
    t_dnsres_t r;
    memset(&r, 0, sizeof(r));
    // www.sec.test has a static route (192.0.2.7): rt_dns_resolve_host ignores it
    T_ASSERT_EQ(rt_dns_resolve_host(dns, "WWW.sec.test.", 443, t_dnsres_cb, &r), RC_OK);
    T_ASSERT_EQ(r.calls, 0);
    t_dnsloop_run(dns, l, &r.calls, 1, 10000);
    T_ASSERT_EQ(r.calls, 1);
    T_ASSERT_EQ(r.rc, RC_OK);
    T_ASSERT_EQ(r.num, 2);
    check_addr(&r, 0, "::1", 443, "www.sec.test", false, false); // IPv6 first
    check_addr(&r, 1, "127.0.0.3", 443, "www.sec.test", false, false);
    // sec.test has SRV records but no address: not found (no SRV lookup)
    memset(&r, 0, sizeof(r));
    T_ASSERT_EQ(rt_dns_resolve_host(dns, "sec.test", 443, t_dnsres_cb, &r), RC_OK);
    t_dnsloop_run(dns, l, &r.calls, 1, 10000);
    T_ASSERT_EQ(r.calls, 1);
    T_ASSERT_EQ(r.rc, RC_DNS_NOT_FOUND);
    T_ASSERT_EQ(rt_dns_resolve_host(dns, "sec.test", 0, t_dnsres_cb, &r), RC_EINVAL);
    T_ASSERT_EQ(rt_dns_resolve_host(dns, "a..b", 443, t_dnsres_cb, &r), RC_EINVAL);
}

static void test_cancel(rt_dns_t *dns, t_dnsloop_t *l) {
    tres_t a, b;
    int done = 0;
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    // a query in flight, a cache hit (already on the ready queue) and an s2s resolution with the
    // same ctx: none of their callbacks runs; another ctx is not affected
    T_ASSERT_EQ(rt_dns_resolve_tlsa(dns, "other.sec.test", 5269, on_tlsa, &a), RC_OK);
    T_ASSERT_EQ(rt_dns_resolve_tlsa(dns, "host.insecure.test", 5269, on_tlsa, &a), RC_OK);
    T_ASSERT_EQ(rt_dns_resolve_host(dns, "www.sec.test", 443, t_dnsres_cb, &a), RC_OK);
    T_ASSERT_EQ(rt_dns_resolve_tlsa(dns, "host.sec.test", 443, on_tlsa, &b), RC_OK);
    rt_dns_cancel(dns, &a);
    t_dnsloop_run(dns, l, &b.calls, 1, 10000);
    T_ASSERT_EQ(b.calls, 1);
    T_ASSERT_EQ(b.dnssec, DNA_DNSSEC_SECURE);
    t_dnsloop_run(dns, l, &done, 1, 500); // let the cancelled query's answer arrive
    T_ASSERT_EQ(a.calls, 0);
}

// test_cache stops the lab and asks again: the answers come from rt_dns's own cache.
static void test_cache(rt_dns_t *dns, t_dnsloop_t *l) {
    tres_t r;
    t_dnsres_t s;
    uint64_t t0;
    lab_stop();
    t0 = t_mono_ms();
    tlsa(&r, dns, l, "HOST.sec.test.", 5269); // normalised to the cached owner name
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_SECURE);
    T_ASSERT_EQ(r.num_recs, 2);
    T_ASSERT_EQ(r.num_malformed, 1);
    T_ASSERT_EQ(r.num_unusable, 1);
    T_ASSERT_STREQ(r.owner, "_5269._tcp.host.sec.test");
    tlsa(&r, dns, l, "host.insecure.test", 5269);
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_INSECURE);
    T_ASSERT(!r.has_set);
    tlsa(&r, dns, l, "host.bogus.test", 5269); // bogus is cached (30 s)
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_BOGUS);
    tlsa(&r, dns, l, "none.sec.test", 443);
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_SECURE);
    T_ASSERT_EQ(r.num_recs, 0);
    T_ASSERT(t_mono_ms() - t0 < 1000); // no query went out
    resolve(&s, dns, l, "sec.test");
    T_ASSERT_EQ(s.rc, RC_OK);
    T_ASSERT(s.addrs[0].srv_secure);
    // a name never asked: the resolver is down now, so this is a temporary failure
    tlsa(&r, dns, l, "fresh.sec.test", 5269);
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_TEMPFAIL);
    T_ASSERT(!r.has_set);
    T_ASSERT_EQ(r.ttl, 0);
}

// test_tempfail: a resolver that refuses (closed port) and one that never answers.
static void test_tempfail(void) {
    int silent = -1;
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    char servers[64];
    t_dnsloop_t l;
    tres_t r, pending;
    rt_dns_t *dns;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    silent = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    T_ASSERT(silent >= 0);
    T_ASSERT(bind(silent, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    T_ASSERT(getsockname(silent, (struct sockaddr *)&sa, &len) == 0);
    // 1. nothing listens: the port of a socket we bound and closed
    {
        int closed = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in ca = sa;
        socklen_t clen = sizeof(ca);
        ca.sin_port = 0;
        T_ASSERT(closed >= 0);
        T_ASSERT(bind(closed, (struct sockaddr *)&ca, sizeof(ca)) == 0);
        T_ASSERT(getsockname(closed, (struct sockaddr *)&ca, &clen) == 0);
        snprintf(servers, sizeof(servers), "127.0.0.1:%u", (unsigned)ntohs(ca.sin_port));
        close(closed);
    }
    memset(&l, 0, sizeof(l));
    rt_dns_conf_t conf = {.servers = servers, .timeout_ms = 300, .tries = 1, .cache_max = 8};
    dns = rt_dns_new(&conf, t_dnsloop_watch, &l);
    T_ASSERT(dns != NULL);
    tlsa(&r, dns, &l, "host.sec.test", 5269);
    T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_TEMPFAIL);
    T_ASSERT(!r.has_set);
    rt_dns_free(dns);
    // 2. a server that never answers: a timeout, not cached (the second lookup waits again)
    snprintf(servers, sizeof(servers), "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    memset(&l, 0, sizeof(l));
    dns = rt_dns_new(&conf, t_dnsloop_watch, &l);
    T_ASSERT(dns != NULL);
    for (int i = 0; i < 2; i++) {
        uint64_t t0 = t_mono_ms();
        tlsa(&r, dns, &l, "host.sec.test", 5269);
        T_ASSERT_EQ(r.dnssec, DNA_DNSSEC_TEMPFAIL);
        T_ASSERT(t_mono_ms() - t0 >= 250); // waited for the timeout: no cached answer
    }
    // 3. rt_dns_free with a lookup in flight: TEMPFAIL before it returns
    memset(&pending, 0, sizeof(pending));
    T_ASSERT_EQ(rt_dns_resolve_tlsa(dns, "other.sec.test", 5269, on_tlsa, &pending), RC_OK);
    rt_dns_free(dns);
    T_ASSERT_EQ(pending.calls, 1);
    T_ASSERT_EQ(pending.dnssec, DNA_DNSSEC_TEMPFAIL);
    T_ASSERT(!pending.has_set);
    T_ASSERT_EQ(l.num, 0);
    close(silent);
}

static const rt_dns_route_t routes[] = {
    {.domain = (char *)"static.example", .host = (char *)"192.0.2.7", .port = 5270},
    {.domain = (char *)"www.sec.test", .host = (char *)"192.0.2.7", .port = 5270},
};

int main(void) {
    char servers[64];
    t_dnsloop_t l;
    rt_dns_t *dns;
    int rc;
    if (getenv("RT_TEST_VERBOSE") != NULL) {
        core_log_set_level(CORE_LOG_DEBUG);
    }
    test_tempfail(); // needs no lab
    rc = lab_start(servers, sizeof(servers));
    if (rc != 0) {
        return rc;
    }
    memset(&l, 0, sizeof(l));
    rt_dns_conf_t conf = {.servers = servers,
                          .routes = routes,
                          .num_routes = RT_ARRAY_LEN(routes),
                          .timeout_ms = 1000,
                          .tries = 2,
                          .cache_max = 64};
    dns = rt_dns_new(&conf, t_dnsloop_watch, &l);
    T_ASSERT(dns != NULL);
    test_srv(dns, &l);
    test_tlsa(dns, &l);
    test_host(dns, &l);
    test_cancel(dns, &l);
    test_cache(dns, &l);
    rt_dns_free(dns);
    T_ASSERT_EQ(l.num, 0);
    fprintf(stderr, "unit_dns_dane: ok\n");
    return 0;
}
