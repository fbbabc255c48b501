// test_verdict.c: pool_verdicts_*: exact keys (a verdict for one certificate, port, domain or
// family is never used for another), expiry, the negative-verdict rules (RTR-8), the size bound
// with eviction, flush by address, IPv6 keys, domain length limits and the bounded dump.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "pool/verdict.h"
#include "tests/support/t.h"

#define NOW 1000000u

typedef struct tkey {
    pool_verdict_key_t k;
    char domain[300];
} tkey_t;

static void key4(tkey_t *t, const char *ip, uint16_t port, uint8_t fp_byte, const char *domain) {
    memset(t, 0, sizeof(*t));
    struct sockaddr_in *sin = (struct sockaddr_in *)&t->k.addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    T_ASSERT(inet_pton(AF_INET, ip, &sin->sin_addr) == 1);
    memset(t->k.fp, fp_byte, sizeof(t->k.fp));
    T_ASSERT(strlen(domain) < sizeof(t->domain));
    strcpy(t->domain, domain);
    t->k.domain = t->domain;
}

static void key6(tkey_t *t, const char *ip, uint16_t port, uint8_t fp_byte, const char *domain) {
    memset(t, 0, sizeof(*t));
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->k.addr;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    T_ASSERT(inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1);
    memset(t->k.fp, fp_byte, sizeof(t->k.fp));
    strcpy(t->domain, domain);
    t->k.domain = t->domain;
}

static pool_verdict_t pos(uint64_t expires) {
    return (pool_verdict_t){.positive = true, .proof = POOL_PROOF_PKIX, .expires_ms = expires};
}
static pool_verdict_t neg(uint64_t expires) {
    return (pool_verdict_t){.positive = false, .proof = POOL_PROOF_DIALBACK, .expires_ms = expires};
}

static void put_ok(pool_verdicts_t *vt, const tkey_t *t, pool_verdict_t v, uint64_t now) {
    T_ASSERT_EQ(pool_verdicts_put(vt, &t->k, &v, now), RC_OK);
}

static pool_verdict_lookup_t look(pool_verdicts_t *vt, const tkey_t *t, uint64_t now,
                                  pool_verdict_t *out) {
    return pool_verdicts_lookup(vt, &t->k, now, out);
}

static void test_new_limits(void) {
    T_ASSERT(pool_verdicts_new(63) == NULL);
    pool_verdicts_t *vt = pool_verdicts_new(64);
    T_ASSERT(vt != NULL);
    pool_verdicts_free(vt);
    pool_verdicts_free(NULL);
}

static void test_hit_and_exact_keys(void) {
    pool_verdicts_t *vt = pool_verdicts_new(1024);
    tkey_t k, other;
    key4(&k, "192.0.2.1", 5269, 0xaa, "example.org");
    pool_verdict_t out = {0};
    T_ASSERT_EQ(look(vt, &k, NOW, &out), POOL_VERDICT_MISS);
    put_ok(vt, &k, pos(NOW + 5000), NOW);
    T_ASSERT_EQ(look(vt, &k, NOW, &out), POOL_VERDICT_HIT);
    T_ASSERT(out.positive);
    T_ASSERT_EQ(out.proof, POOL_PROOF_PKIX);
    T_ASSERT_EQ(out.expires_ms, NOW + 5000);
    T_ASSERT_EQ(look(vt, &k, NOW, NULL), POOL_VERDICT_HIT);

    // Another certificate at the same address: never the first certificate's verdict (RTR-6).
    key4(&other, "192.0.2.1", 5269, 0xab, "example.org");
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);
    other.k.fp[0] = 0xaa; // still differs in bytes 1..31
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);
    memset(other.k.fp, 0xaa, sizeof(other.k.fp));
    other.k.fp[31] = 0xa9; // differs only in the last byte
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);
    // An all-zero fingerprint (no certificate) is its own key too.
    memset(other.k.fp, 0, sizeof(other.k.fp));
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);
    // Another port.
    key4(&other, "192.0.2.1", 5270, 0xaa, "example.org");
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);
    key4(&other, "192.0.2.1", 0, 0xaa, "example.org");
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);
    // Another address.
    key4(&other, "192.0.2.2", 5269, 0xaa, "example.org");
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);
    // Another domain, a prefix of it, or a different case (keys compare exactly).
    key4(&other, "192.0.2.1", 5269, 0xaa, "example.net");
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);
    key4(&other, "192.0.2.1", 5269, 0xaa, "example.or");
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);
    key4(&other, "192.0.2.1", 5269, 0xaa, "Example.org");
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);
    // Another family with the same leading bytes (::ffff:192.0.2.1 and ::c000:201).
    key6(&other, "::ffff:192.0.2.1", 5269, 0xaa, "example.org");
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);
    key6(&other, "c000:201::", 5269, 0xaa, "example.org");
    T_ASSERT_EQ(look(vt, &other, NOW, &out), POOL_VERDICT_MISS);

    // Replacing with a new positive updates the value; expiry turns it into a MISS and removes it.
    put_ok(vt, &k,
           (pool_verdict_t){.positive = true, .proof = POOL_PROOF_DANE, .expires_ms = NOW + 9000},
           NOW);
    T_ASSERT_EQ(look(vt, &k, NOW + 8999, &out), POOL_VERDICT_HIT);
    T_ASSERT_EQ(out.proof, POOL_PROOF_DANE);
    pool_verdict_stats_t st;
    pool_verdicts_stats(vt, &st);
    T_ASSERT_EQ(st.entries, 1);
    T_ASSERT_EQ(st.inserts, 2);
    T_ASSERT_EQ(look(vt, &k, NOW + 9000, &out), POOL_VERDICT_MISS);
    pool_verdicts_stats(vt, &st);
    T_ASSERT_EQ(st.entries, 0);
    pool_verdicts_free(vt);
}

static void test_negative(void) {
    pool_verdicts_t *vt = pool_verdicts_new(1024);
    tkey_t k;
    pool_verdict_t out = {0};
    key4(&k, "198.51.100.7", 5269, 0x11, "bad.example");
    put_ok(vt, &k, neg(NOW + 30000), NOW);
    T_ASSERT_EQ(look(vt, &k, NOW + 29999, &out), POOL_VERDICT_NEGATIVE);
    T_ASSERT(!out.positive);
    T_ASSERT_EQ(out.proof, POOL_PROOF_DIALBACK);
    T_ASSERT_EQ(look(vt, &k, NOW + 30000, &out), POOL_VERDICT_MISS);

    // A negative does not overwrite an unexpired positive for the same key...
    put_ok(vt, &k, pos(NOW + 60000), NOW);
    put_ok(vt, &k, neg(NOW + 90000), NOW + 1000);
    T_ASSERT_EQ(look(vt, &k, NOW + 1000, &out), POOL_VERDICT_HIT);
    T_ASSERT_EQ(out.expires_ms, NOW + 60000);
    // ...but does replace an expired one, and a positive replaces a negative.
    put_ok(vt, &k, neg(NOW + 90000), NOW + 60000);
    T_ASSERT_EQ(look(vt, &k, NOW + 60000, &out), POOL_VERDICT_NEGATIVE);
    put_ok(vt, &k, pos(NOW + 120000), NOW + 61000);
    T_ASSERT_EQ(look(vt, &k, NOW + 61000, &out), POOL_VERDICT_HIT);
    // A verdict that is already expired is not stored (and removes what it replaces).
    put_ok(vt, &k, pos(NOW + 1), NOW + 62000);
    T_ASSERT_EQ(look(vt, &k, NOW + 62000, &out), POOL_VERDICT_MISS);
    pool_verdicts_free(vt);
}

// RTR-8: a negative for certificate B never outlives a positive for certificate A at the same
// (address, domain).
static void test_negative_capped(void) {
    pool_verdicts_t *vt = pool_verdicts_new(1024);
    tkey_t a, b, c, other_dom;
    pool_verdict_t out = {0};
    key4(&a, "203.0.113.5", 5269, 0xa0, "example.com");
    key4(&b, "203.0.113.5", 5269, 0xb0, "example.com");
    key4(&c, "203.0.113.5", 5269, 0xc0, "example.com");
    key4(&other_dom, "203.0.113.5", 5269, 0xb0, "example.net");
    put_ok(vt, &a, pos(NOW + 10000), NOW);
    put_ok(vt, &b, neg(NOW + 50000), NOW);
    T_ASSERT_EQ(look(vt, &b, NOW, &out), POOL_VERDICT_NEGATIVE);
    T_ASSERT_EQ(out.expires_ms, NOW + 10000);
    T_ASSERT_EQ(look(vt, &b, NOW + 10000, &out), POOL_VERDICT_MISS);
    // A shorter negative stays as it is; another domain is not capped.
    put_ok(vt, &c, neg(NOW + 4000), NOW);
    T_ASSERT_EQ(look(vt, &c, NOW, &out), POOL_VERDICT_NEGATIVE);
    T_ASSERT_EQ(out.expires_ms, NOW + 4000);
    put_ok(vt, &other_dom, neg(NOW + 50000), NOW);
    T_ASSERT_EQ(look(vt, &other_dom, NOW, &out), POOL_VERDICT_NEGATIVE);
    T_ASSERT_EQ(out.expires_ms, NOW + 50000);
    // The other direction: a positive arriving later shortens existing negatives for other
    // certificates of the same (address, domain).
    put_ok(vt, &b, neg(NOW + 50000), NOW + 20000); // a expired: no cap now
    T_ASSERT_EQ(look(vt, &b, NOW + 20000, &out), POOL_VERDICT_NEGATIVE);
    T_ASSERT_EQ(out.expires_ms, NOW + 50000);
    put_ok(vt, &a, pos(NOW + 30000), NOW + 20000);
    T_ASSERT_EQ(look(vt, &b, NOW + 20000, &out), POOL_VERDICT_NEGATIVE);
    T_ASSERT_EQ(out.expires_ms, NOW + 30000);
    T_ASSERT_EQ(look(vt, &other_dom, NOW + 20000, &out), POOL_VERDICT_NEGATIVE);
    T_ASSERT_EQ(out.expires_ms, NOW + 50000);
    pool_verdicts_free(vt);
}

static void test_eviction_bound(void) {
    const size_t max = 256;
    pool_verdicts_t *vt = pool_verdicts_new(max);
    tkey_t k;
    key4(&k, "10.0.0.1", 5269, 0, "example.org");
    struct sockaddr_in *sin = (struct sockaddr_in *)&k.k.addr;
    for (uint32_t i = 0; i < 10 * max; i++) {
        sin->sin_addr.s_addr = htonl(0x0a000000u + i);
        put_ok(vt, &k, pos(NOW + 1000 + i), NOW);
        pool_verdict_stats_t st;
        pool_verdicts_stats(vt, &st);
        T_ASSERT(st.entries <= max);
    }
    pool_verdict_stats_t st;
    pool_verdicts_stats(vt, &st);
    T_ASSERT(st.entries <= max);
    T_ASSERT(st.entries >= max / 2); // shards fill up before they evict
    T_ASSERT_EQ(st.inserts, 10 * max);
    T_ASSERT_EQ(st.evictions, 10 * max - st.entries);
    // The earliest expiries were evicted: the newest key (latest expiry) is still there, the
    // first one is gone.
    T_ASSERT_EQ(look(vt, &k, NOW, NULL), POOL_VERDICT_HIT);
    sin->sin_addr.s_addr = htonl(0x0a000000u);
    T_ASSERT_EQ(look(vt, &k, NOW, NULL), POOL_VERDICT_MISS);
    // Count what is really there: every hit is a live entry, and the count matches the stat.
    uint64_t hits = 0;
    for (uint32_t i = 0; i < 10 * max; i++) {
        sin->sin_addr.s_addr = htonl(0x0a000000u + i);
        hits += look(vt, &k, NOW, NULL) == POOL_VERDICT_HIT;
    }
    T_ASSERT_EQ(hits, st.entries);
    pool_verdicts_free(vt);
}

static void test_flush_addr(void) {
    pool_verdicts_t *vt = pool_verdicts_new(4096);
    tkey_t k, keep;
    char dom[32];
    for (uint8_t i = 0; i < 40; i++) {
        snprintf(dom, sizeof(dom), "d%u.example", (unsigned)i);
        key4(&k, "192.0.2.9", 5269, i, dom);
        put_ok(vt, &k, i % 2 ? pos(NOW + 5000) : neg(NOW + 5000), NOW);
    }
    key4(&keep, "192.0.2.9", 5270, 1, "d1.example");
    put_ok(vt, &keep, pos(NOW + 5000), NOW);
    key6(&k, "2001:db8::9", 5269, 1, "d1.example");
    put_ok(vt, &k, pos(NOW + 5000), NOW);
    pool_verdict_stats_t st;
    pool_verdicts_stats(vt, &st);
    T_ASSERT_EQ(st.entries, 42);

    tkey_t f;
    key4(&f, "192.0.2.9", 5269, 0, "x");
    T_ASSERT_EQ(pool_verdicts_flush_addr(vt, &f.k.addr), 40);
    key4(&k, "192.0.2.9", 5269, 1, "d1.example");
    T_ASSERT_EQ(look(vt, &k, NOW, NULL), POOL_VERDICT_MISS);
    T_ASSERT_EQ(look(vt, &keep, NOW, NULL), POOL_VERDICT_HIT);
    key6(&k, "2001:db8::9", 5269, 1, "d1.example");
    T_ASSERT_EQ(look(vt, &k, NOW, NULL), POOL_VERDICT_HIT);
    pool_verdicts_stats(vt, &st);
    T_ASSERT_EQ(st.entries, 2);
    T_ASSERT_EQ(pool_verdicts_flush_addr(vt, &f.k.addr), 0);
    T_ASSERT_EQ(pool_verdicts_flush_addr(vt, &k.k.addr), 1);
    T_ASSERT_EQ(look(vt, &k, NOW, NULL), POOL_VERDICT_MISS);
    struct sockaddr_storage unix_addr = {.ss_family = AF_UNIX};
    T_ASSERT_EQ(pool_verdicts_flush_addr(vt, &unix_addr), 0);
    // Flushing everything (a reload) leaves an empty table that still works.
    T_ASSERT_EQ(pool_verdicts_flush_all(vt), 1);
    T_ASSERT_EQ(look(vt, &keep, NOW, NULL), POOL_VERDICT_MISS);
    pool_verdicts_stats(vt, &st);
    T_ASSERT_EQ(st.entries, 0);
    T_ASSERT_EQ(pool_verdicts_flush_all(vt), 0);
    put_ok(vt, &keep, pos(NOW + 5000), NOW);
    T_ASSERT_EQ(look(vt, &keep, NOW, NULL), POOL_VERDICT_HIT);
    T_ASSERT_EQ(pool_verdicts_flush_all(NULL), 0);
    pool_verdicts_free(vt);
}

static void test_ipv6(void) {
    pool_verdicts_t *vt = pool_verdicts_new(1024);
    tkey_t k, other;
    key6(&k, "2001:db8::1", 5269, 0x42, "example.org");
    put_ok(vt, &k, pos(NOW + 5000), NOW);
    T_ASSERT_EQ(look(vt, &k, NOW, NULL), POOL_VERDICT_HIT);
    key6(&other, "2001:db8::2", 5269, 0x42, "example.org");
    T_ASSERT_EQ(look(vt, &other, NOW, NULL), POOL_VERDICT_MISS);
    key6(&other, "2001:db8::1", 5268, 0x42, "example.org");
    T_ASSERT_EQ(look(vt, &other, NOW, NULL), POOL_VERDICT_MISS);
    // Only family, address and port count: flow info and scope do not split the key.
    other = k;
    other.k.domain = other.domain;
    ((struct sockaddr_in6 *)&other.k.addr)->sin6_flowinfo = 7;
    T_ASSERT_EQ(look(vt, &other, NOW, NULL), POOL_VERDICT_HIT);
    pool_verdicts_free(vt);
}

static void test_domain_limits(void) {
    pool_verdicts_t *vt = pool_verdicts_new(1024);
    tkey_t k;
    char dom[256];
    memset(dom, 'a', 253);
    dom[253] = '\0';
    key4(&k, "192.0.2.1", 5269, 1, dom);
    put_ok(vt, &k, pos(NOW + 5000), NOW);
    T_ASSERT_EQ(look(vt, &k, NOW, NULL), POOL_VERDICT_HIT);
    k.domain[252] = 'b'; // same length, last byte differs
    T_ASSERT_EQ(look(vt, &k, NOW, NULL), POOL_VERDICT_MISS);

    pool_verdict_t v = pos(NOW + 5000);
    memset(dom, 'a', 254);
    dom[254] = '\0';
    key4(&k, "192.0.2.1", 5269, 1, dom);
    T_ASSERT_EQ(pool_verdicts_put(vt, &k.k, &v, NOW), RC_EINVAL);
    T_ASSERT_EQ(look(vt, &k, NOW, NULL), POOL_VERDICT_MISS);
    key4(&k, "192.0.2.1", 5269, 1, "");
    T_ASSERT_EQ(pool_verdicts_put(vt, &k.k, &v, NOW), RC_EINVAL);
    k.k.domain = NULL;
    T_ASSERT_EQ(pool_verdicts_put(vt, &k.k, &v, NOW), RC_EINVAL);
    // Only IPv4 and IPv6 keys.
    key4(&k, "192.0.2.1", 5269, 1, "example.org");
    k.k.addr.ss_family = AF_UNIX;
    T_ASSERT_EQ(pool_verdicts_put(vt, &k.k, &v, NOW), RC_EINVAL);
    pool_verdict_stats_t st;
    pool_verdicts_stats(vt, &st);
    T_ASSERT_EQ(st.entries, 1);
    pool_verdicts_free(vt);
}

// find_dumped returns the dumped entry for (fp byte, domain), or NULL.
static const pool_verdict_entry_t *find_dumped(const pool_verdict_entry_t *e, size_t n,
                                               uint8_t fp_byte, const char *domain) {
    for (size_t i = 0; i < n; i++) {
        if (e[i].fp[0] == fp_byte && strcmp(e[i].domain, domain) == 0) {
            return &e[i];
        }
    }
    return NULL;
}

static void test_dump(void) {
    pool_verdicts_t *vt = pool_verdicts_new(4096);
    pool_verdict_entry_t out[64];
    T_ASSERT_EQ(pool_verdicts_dump(vt, NULL, NOW, out, 64), 0);
    tkey_t k;
    char dom[32];
    for (uint8_t i = 0; i < 10; i++) { // 10 domains at one outbound address
        snprintf(dom, sizeof(dom), "d%u.example", (unsigned)i);
        key4(&k, "192.0.2.9", 5269, i, dom);
        put_ok(vt, &k, i == 3 ? neg(NOW + 3000) : pos(NOW + 5000 + i), NOW);
    }
    key4(&k, "192.0.2.9", 0, 0xaa, "d1.example"); // the same peer inbound (port 0)
    put_ok(vt, &k, pos(NOW + 9000), NOW);
    key4(&k, "192.0.2.10", 5269, 0xbb, "d1.example"); // another address
    put_ok(vt, &k, pos(NOW + 9000), NOW);
    key6(&k, "2001:db8::9", 5269, 0xcc, "d2.example");
    put_ok(vt, &k, pos(NOW + 9000), NOW);
    key4(&k, "192.0.2.9", 5269, 0xdd, "old.example"); // expired by the time of the dump
    put_ok(vt, &k, pos(NOW + 10), NOW);

    // Everything unexpired, each entry copied exactly.
    size_t n = pool_verdicts_dump(vt, NULL, NOW + 100, out, 64);
    T_ASSERT_EQ(n, 13);
    T_ASSERT(find_dumped(out, n, 0xdd, "old.example") == NULL);
    const pool_verdict_entry_t *e = find_dumped(out, n, 3, "d3.example");
    T_ASSERT(e != NULL);
    T_ASSERT(!e->v.positive);
    T_ASSERT_EQ(e->v.proof, POOL_PROOF_DIALBACK);
    T_ASSERT_EQ(e->v.expires_ms, NOW + 3000);
    e = find_dumped(out, n, 7, "d7.example");
    T_ASSERT(e != NULL && e->v.positive && e->v.proof == POOL_PROOF_PKIX);
    T_ASSERT_EQ(e->v.expires_ms, NOW + 5007);
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&e->addr;
    T_ASSERT_EQ(sin->sin_family, AF_INET);
    T_ASSERT_EQ(ntohs(sin->sin_port), 5269);
    char ip[INET6_ADDRSTRLEN];
    T_ASSERT(inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip)) != NULL);
    T_ASSERT(strcmp(ip, "192.0.2.9") == 0);
    for (size_t i = 1; i < POOL_FP_LEN; i++) {
        T_ASSERT_EQ(e->fp[i], 7);
    }
    e = find_dumped(out, n, 0xcc, "d2.example");
    T_ASSERT(e != NULL && e->addr.ss_family == AF_INET6);
    T_ASSERT_EQ(ntohs(((const struct sockaddr_in6 *)&e->addr)->sin6_port), 5269);

    // Bounded: a short buffer gets |max| entries, the return value still counts them all.
    pool_verdict_entry_t few[4];
    memset(few, 0x5a, sizeof(few));
    T_ASSERT_EQ(pool_verdicts_dump(vt, NULL, NOW + 100, few, 3), 13);
    for (size_t i = 0; i < 3; i++) {
        T_ASSERT(few[i].domain[0] != 0x5a && strlen(few[i].domain) > 0);
    }
    T_ASSERT_EQ(few[3].domain[0], 0x5a); // nothing written past max
    T_ASSERT_EQ(pool_verdicts_dump(vt, NULL, NOW + 100, NULL, 0), 13);

    // By address with its port: only the outbound entries of 192.0.2.9:5269.
    tkey_t f;
    key4(&f, "192.0.2.9", 5269, 0, "x");
    pool_verdict_filter_t filt = {.addr = &f.k.addr};
    n = pool_verdicts_dump(vt, &filt, NOW + 100, out, 64);
    T_ASSERT_EQ(n, 10);
    T_ASSERT(find_dumped(out, n, 0xaa, "d1.example") == NULL);
    // By address with port 0: every port of that address (outbound and inbound).
    key4(&f, "192.0.2.9", 0, 0, "x");
    n = pool_verdicts_dump(vt, &filt, NOW + 100, out, 64);
    T_ASSERT_EQ(n, 11);
    T_ASSERT(find_dumped(out, n, 0xaa, "d1.example") != NULL);
    // By domain, and by both.
    filt = (pool_verdict_filter_t){.domain = "d1.example"};
    n = pool_verdicts_dump(vt, &filt, NOW + 100, out, 64);
    T_ASSERT_EQ(n, 3);
    key4(&f, "192.0.2.10", 0, 0, "x");
    filt.addr = &f.k.addr;
    n = pool_verdicts_dump(vt, &filt, NOW + 100, out, 64);
    T_ASSERT_EQ(n, 1);
    T_ASSERT(find_dumped(out, n, 0xbb, "d1.example") != NULL);
    filt.domain = "d1.exampl"; // a prefix is not the domain
    T_ASSERT_EQ(pool_verdicts_dump(vt, &filt, NOW + 100, out, 64), 0);
    // An address of another family matches nothing; a bad filter address lists nothing.
    key6(&f, "::ffff:192.0.2.10", 0, 0, "x");
    filt.domain = NULL;
    T_ASSERT_EQ(pool_verdicts_dump(vt, &filt, NOW + 100, out, 64), 0);
    struct sockaddr_storage unix_addr = {.ss_family = AF_UNIX};
    filt.addr = &unix_addr;
    T_ASSERT_EQ(pool_verdicts_dump(vt, &filt, NOW + 100, out, 64), 0);
    // Listing neither removes nor changes anything; later, expiry hides entries.
    pool_verdict_stats_t st;
    pool_verdicts_stats(vt, &st);
    T_ASSERT_EQ(st.entries, 14);
    // d6..d9 and the three at +9000 are left.
    T_ASSERT_EQ(pool_verdicts_dump(vt, NULL, NOW + 5005, out, 64), 7);
    T_ASSERT_EQ(pool_verdicts_dump(NULL, NULL, NOW, out, 64), 0);
    pool_verdicts_free(vt);
}

int main(void) {
    test_new_limits();
    test_hit_and_exact_keys();
    test_negative();
    test_negative_capped();
    test_eviction_bound();
    test_flush_addr();
    test_ipv6();
    test_domain_limits();
    test_dump();
    return 0;
}
