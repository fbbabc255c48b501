// test_dns_order.c: the pure logic of router/dns.c (RFC 2782 ordering with the XEP-0368
// preference, address flattening and its cap, SRV and TLSA answer handling, name
// normalisation). It includes dns.c to reach these static functions (STYLE.md §12: pure static
// logic only); the resolution paths are tested against a real unbound in test_dns.c and
// test_dns_dane.c.
#include "router/dns.c"

#include "tests/support/t.h"

static dns_target_t target(const char *host, uint16_t prio, uint16_t weight, bool direct_tls) {
    dns_target_t t;
    memset(&t, 0, sizeof(t));
    snprintf(t.host, sizeof(t.host), "%s", host);
    t.prio = prio;
    t.weight = weight;
    t.direct_tls = direct_tls;
    t.port = direct_tls ? 5223 : 5269;
    t.from_srv = true;
    t.alias = -1;
    return t;
}

static void test_priority_and_tls(rt_dns_t *dns) {
    // zone order deliberately unhelpful: STARTTLS before direct TLS, high priority first
    dns_target_t t[4] = {target("late", 10, 0, false), target("s", 5, 0, false),
                         target("late-tls", 10, 0, true), target("d", 5, 0, true)};
    size_t idx[4];
    for (int round = 0; round < 50; round++) {
        order_targets(dns, idx, t, 4);
        T_ASSERT_STREQ(t[idx[0]].host, "d");
        T_ASSERT_STREQ(t[idx[1]].host, "s");
        T_ASSERT_STREQ(t[idx[2]].host, "late-tls");
        T_ASSERT_STREQ(t[idx[3]].host, "late");
    }
}

static void test_weights(rt_dns_t *dns) {
    dns_target_t t[2] = {target("light", 1, 10, false), target("heavy", 1, 90, false)};
    dns_target_t z[2] = {target("zero", 1, 0, false), target("hundred", 1, 100, false)};
    dns_target_t e[3] = {target("a", 1, 0, false), target("b", 1, 0, false),
                         target("c", 1, 0, false)};
    size_t idx[3];
    int heavy = 0, zero = 0, first[3] = {0, 0, 0};
    for (int i = 0; i < 1000; i++) {
        order_targets(dns, idx, t, 2);
        T_ASSERT(idx[0] != idx[1]);
        heavy += idx[0] == 1;
        order_targets(dns, idx, z, 2);
        zero += idx[0] == 0;
        order_targets(dns, idx, e, 3);
        T_ASSERT(idx[0] != idx[1] && idx[1] != idx[2] && idx[0] != idx[2]);
        first[idx[0]]++;
    }
    fprintf(stderr, "90:10 -> %d heavy first; 0:100 -> %d zero first; 0:0:0 -> %d/%d/%d\n", heavy,
            zero, first[0], first[1], first[2]);
    T_ASSERT(heavy >= 850 && heavy <= 950); // expected 900, sd ~9.5
    T_ASSERT(zero < 40);                    // expected 1000/101
    for (int k = 0; k < 3; k++) {
        T_ASSERT(first[k] >= 250 && first[k] <= 420); // expected 333
    }
}

static void test_flatten(rt_dns_t *dns) {
    rt_dns_job_t *job = core_xcalloc(1, sizeof(*job));
    dns_target_t t[3] = {target("two", 20, 0, false), target("one", 10, 0, true),
                         target("three", 30, 0, false)};
    job->dns = dns;
    for (size_t i = 0; i < 3; i++) {
        for (uint8_t k = 0; k < DNS_TARGET_ADDRS; k++) {
            t[i].v6[k][0] = 0x20;
            t[i].v6[k][15] = (uint8_t)(i * 16 + k);
            t[i].v4[k][0] = 192;
            t[i].v4[k][3] = (uint8_t)(i * 16 + k);
        }
        t[i].num_v6 = t[i].num_v4 = DNS_TARGET_ADDRS;
    }
    build_result(job, t, 3);
    T_ASSERT_EQ(job->num_addrs, DNS_MAX_ADDRS); // capped: "three" is cut off
    for (size_t i = 0; i < DNS_MAX_ADDRS; i++) {
        const rt_dns_addr_t *a = &job->addrs[i];
        const char *host = i < 2 * DNS_TARGET_ADDRS ? "one" : "two";
        T_ASSERT_STREQ(a->host, host);
        if (i < DNS_TARGET_ADDRS) {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
            T_ASSERT_EQ(a->sa.ss_family, AF_INET6);
            T_ASSERT_EQ(s6->sin6_addr.s6_addr[15], 16 + i);
            T_ASSERT_EQ(ntohs(s6->sin6_port), 5223);
        } else {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
            T_ASSERT_EQ(a->sa.ss_family, AF_INET);
            T_ASSERT_EQ(((const uint8_t *)&s4->sin_addr)[3], 16 + i - DNS_TARGET_ADDRS);
        }
        T_ASSERT(a->direct_tls);
        T_ASSERT(a->from_srv);
    }
    free(job);
}

// srv_answer on a crafted answer: header (1 question, 3 answers, AD set), question
// _xmpp-server._tcp.a. SRV, a usable SRV (TTL 300 via a compression pointer), a "." SRV (TTL
// 60, ignored next to a usable one) and an A record for the same name (TTL 5, not counted).
static const uint8_t srv_msg[] = {
    0x00, 0x01, 0x81, 0xa0, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
    // question at offset 12
    12, '_', 'x', 'm', 'p', 'p', '-', 's', 'e', 'r', 'v', 'e', 'r', 4, '_', 't', 'c', 'p', 1, 'a',
    0, 0x00, 0x21, 0x00, 0x01,
    // answer 1: pointer to 12, SRV IN 300, rdlength 11: 0 5 5269 "T.a" (upper case on the wire)
    0xc0, 0x0c, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x0b, 0, 0, 0, 5, 0x14, 0x95,
    1, 'T', 1, 'a', 0,
    // answer 2: SRV IN 60, 10 0 0 "."
    0xc0, 0x0c, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x07, 0, 10, 0, 0, 0, 0, 0,
    // answer 3: A record, TTL 5
    0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x04, 1, 2, 3, 4};

static rt_dns_job_t *srv_job(rt_dns_t *dns, const char *domain) {
    rt_dns_job_t *job = calloc(1, sizeof(*job));
    T_ASSERT(job != NULL);
    job->dns = dns;
    job->ttl_s = DNS_TTL_MAX_S;
    snprintf(job->domain, sizeof(job->domain), "%s", domain);
    return job;
}

static void test_srv_answer(rt_dns_t *dns) {
    uint8_t msg[sizeof(srv_msg)];
    const char *why = NULL;
    rt_dns_job_t *job = srv_job(dns, "a");
    // secure answer: one target, srv_secure, TTL of the SRV RRset (60 < 300), A TTL ignored
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_SUCCESS, srv_msg, sizeof(srv_msg), &why),
                DNS_SRV_RECORDS);
    T_ASSERT_EQ(job->num_targets, 1);
    T_ASSERT_STREQ(job->targets[0].host, "t.a");
    T_ASSERT_EQ(job->targets[0].port, 5269);
    T_ASSERT_EQ(job->targets[0].weight, 5);
    T_ASSERT(job->targets[0].srv_secure);
    T_ASSERT(job->targets[0].from_srv);
    T_ASSERT(!job->targets[0].direct_tls);
    T_ASSERT_EQ(job->ttl_s, 60);
    free(job);
    // the same without AD: insecure
    memcpy(msg, srv_msg, sizeof(msg));
    msg[3] = 0x80;
    job = srv_job(dns, "a");
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_SUCCESS, msg, sizeof(msg), &why),
                DNS_SRV_RECORDS);
    T_ASSERT_EQ(job->num_targets, 1);
    T_ASSERT(!job->targets[0].srv_secure);
    free(job);
    // every truncation is refused without a target, no overread (ASan)
    for (size_t cut = 0; cut < sizeof(srv_msg); cut++) {
        job = srv_job(dns, "a");
        T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_SUCCESS, srv_msg, cut, &why), DNS_SRV_FAIL);
        T_ASSERT_EQ(job->num_targets, 0);
        free(job);
    }
    // the question must be ours: an answer for _xmpp-server._tcp.a given to the job of "b", or
    // to the _xmpps-server query, is refused
    job = srv_job(dns, "b");
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_SUCCESS, srv_msg, sizeof(srv_msg), &why),
                DNS_SRV_FAIL);
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPPS, ARES_SUCCESS, srv_msg, sizeof(srv_msg), &why),
                DNS_SRV_FAIL);
    T_ASSERT_EQ(job->num_targets, 0);
    free(job);
    // TC=1: a failure (c-ares retries over TCP before we see it)
    memcpy(msg, srv_msg, sizeof(msg));
    msg[2] |= 0x02;
    job = srv_job(dns, "a");
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_SUCCESS, msg, sizeof(msg), &why), DNS_SRV_FAIL);
    // NXDOMAIN: none; SERVFAIL rcode: the validator's "bogus"; REFUSED rcode: failure
    memcpy(msg, srv_msg, sizeof(msg));
    msg[3] = 0xa3;
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_SUCCESS, msg, sizeof(msg), &why), DNS_SRV_NONE);
    msg[3] = 0xa2;
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_SUCCESS, msg, sizeof(msg), &why), DNS_SRV_BOGUS);
    msg[3] = 0xa5;
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_SUCCESS, msg, sizeof(msg), &why), DNS_SRV_FAIL);
    // c-ares statuses
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_ETIMEOUT, NULL, 0, &why), DNS_SRV_FAIL);
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_ESERVFAIL, NULL, 0, &why), DNS_SRV_FAIL);
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_ENOTFOUND, NULL, 0, &why), DNS_SRV_NONE);
    T_ASSERT_EQ(job->num_targets, 0);
    // answer 1's target (offset 55) made the root with 4 bytes left in its RDATA: malformed and
    // ignored; what is left is the "." record: service not offered
    memcpy(msg, srv_msg, sizeof(msg));
    msg[55] = 0;
    T_ASSERT_EQ(srv_answer(job, DNS_SVC_XMPP, ARES_SUCCESS, msg, sizeof(msg), &why), DNS_SRV_DOT);
    T_ASSERT_EQ(job->num_targets, 0);
    free(job);
}

// tlsa_answer on a crafted answer: AD set, question _443._tcp.a. TLSA, a good 3 1 1 record and a
// malformed one (2-byte SHA2-256 digest), both TTL 7200 (capped to 3600).
static const uint8_t tlsa_msg[] = {
    0x00, 0x01, 0x81, 0xa0, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
    // question at offset 12, ends at 29
    4, '_', '4', '4', '3', 4, '_', 't', 'c', 'p', 1, 'a', 0, 0x00, 0x34, 0x00, 0x01,
    // answer 1: TLSA IN 7200, rdlength 35: 3 1 1 + 32 bytes
    0xc0, 0x0c, 0x00, 0x34, 0x00, 0x01, 0x00, 0x00, 0x1c, 0x20, 0x00, 0x23, 3, 1, 1, 1, 2, 3, 4, 5,
    6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
    31, 32,
    // answer 2: TLSA IN 7200, rdlength 5: 3 1 1 + 2 bytes (malformed)
    0xc0, 0x0c, 0x00, 0x34, 0x00, 0x01, 0x00, 0x00, 0x1c, 0x20, 0x00, 0x05, 3, 1, 1, 0xab, 0xcd};

static void tlsa_job_reset(rt_dns_job_t *job) {
    dna_tlsa_set_cleanup(&job->set);
    job->dnssec = DNA_DNSSEC_UNKNOWN;
    job->tlsa_ttl = 12345;
}

static void test_tlsa_answer(rt_dns_t *dns) {
    uint8_t msg[sizeof(tlsa_msg)];
    rt_dns_job_t *job = srv_job(dns, "_443._tcp.a");
    // secure: the good record kept, the malformed one counted; TTL capped at 1 h
    (void)tlsa_answer(job, ARES_SUCCESS, tlsa_msg, sizeof(tlsa_msg));
    T_ASSERT_EQ(job->dnssec, DNA_DNSSEC_SECURE);
    T_ASSERT_EQ(job->set.num_recs, 1);
    T_ASSERT_EQ(job->set.num_malformed, 1);
    T_ASSERT_EQ(job->set.recs[0].usage, 3);
    T_ASSERT_EQ(job->set.recs[0].data_len, 32);
    T_ASSERT_EQ(job->tlsa_ttl, DNS_TTL_MAX_S);
    // a copy (as the cache hands out) has the same records and counts
    {
        dna_tlsa_set_t copy;
        memset(&copy, 0, sizeof(copy));
        tlsa_set_copy(&copy, &job->set);
        T_ASSERT_EQ(copy.num_recs, 1);
        T_ASSERT_EQ(copy.num_malformed, 1);
        T_ASSERT(memcmp(copy.recs[0].data, job->set.recs[0].data, 32) == 0);
        T_ASSERT(copy.recs[0].data != job->set.recs[0].data);
        dna_tlsa_set_cleanup(&copy);
    }
    // without AD: insecure, and the records are not even parsed
    memcpy(msg, tlsa_msg, sizeof(msg));
    msg[3] = 0x80;
    tlsa_job_reset(job);
    (void)tlsa_answer(job, ARES_SUCCESS, msg, sizeof(msg));
    T_ASSERT_EQ(job->dnssec, DNA_DNSSEC_INSECURE);
    T_ASSERT_EQ(job->set.num_recs + job->set.num_malformed, 0);
    T_ASSERT_EQ(job->tlsa_ttl, DNS_TTL_MAX_S);
    // TC=1 (c-ares did not get a full answer over TCP either): temporary failure
    memcpy(msg, tlsa_msg, sizeof(msg));
    msg[2] |= 0x02;
    tlsa_job_reset(job);
    (void)tlsa_answer(job, ARES_SUCCESS, msg, sizeof(msg));
    T_ASSERT_EQ(job->dnssec, DNA_DNSSEC_TEMPFAIL);
    T_ASSERT_EQ(job->set.num_recs, 0);
    T_ASSERT_EQ(job->tlsa_ttl, 0);
    // SERVFAIL from the validator (as an answer or as c-ares' status): bogus, 30 s
    memcpy(msg, tlsa_msg, sizeof(msg));
    msg[3] = 0x82;
    tlsa_job_reset(job);
    (void)tlsa_answer(job, ARES_SUCCESS, msg, sizeof(msg));
    T_ASSERT_EQ(job->dnssec, DNA_DNSSEC_BOGUS);
    T_ASSERT_EQ(job->set.num_recs, 0);
    T_ASSERT_EQ(job->tlsa_ttl, DNS_NEG_TTL_S);
    tlsa_job_reset(job);
    (void)tlsa_answer(job, ARES_ESERVFAIL, NULL, 0);
    T_ASSERT_EQ(job->dnssec, DNA_DNSSEC_BOGUS);
    // REFUSED: temporary failure
    msg[3] = 0x85;
    tlsa_job_reset(job);
    (void)tlsa_answer(job, ARES_SUCCESS, msg, sizeof(msg));
    T_ASSERT_EQ(job->dnssec, DNA_DNSSEC_TEMPFAIL);
    // secure NXDOMAIN without records: an empty set, cached 30 s
    memcpy(msg, tlsa_msg, sizeof(msg));
    msg[3] = 0xa3;
    msg[7] = 0; // ANCOUNT 0, message cut after the question
    tlsa_job_reset(job);
    (void)tlsa_answer(job, ARES_SUCCESS, msg, 29);
    T_ASSERT_EQ(job->dnssec, DNA_DNSSEC_SECURE);
    T_ASSERT_EQ(job->set.num_recs + job->set.num_malformed, 0);
    T_ASSERT_EQ(job->tlsa_ttl, DNS_NEG_TTL_S);
    // c-ares failures
    tlsa_job_reset(job);
    (void)tlsa_answer(job, ARES_ETIMEOUT, NULL, 0);
    T_ASSERT_EQ(job->dnssec, DNA_DNSSEC_TEMPFAIL);
    tlsa_job_reset(job);
    (void)tlsa_answer(job, ARES_ECONNREFUSED, NULL, 0);
    T_ASSERT_EQ(job->dnssec, DNA_DNSSEC_TEMPFAIL);
    // every truncation: temporary failure, nothing parsed, no overread (ASan)
    for (size_t cut = 0; cut < sizeof(tlsa_msg); cut++) {
        tlsa_job_reset(job);
        (void)tlsa_answer(job, ARES_SUCCESS, tlsa_msg, cut);
        T_ASSERT_EQ(job->dnssec, DNA_DNSSEC_TEMPFAIL);
        T_ASSERT_EQ(job->set.num_recs + job->set.num_malformed, 0);
    }
    // an answer to another question: temporary failure
    dna_tlsa_set_cleanup(&job->set);
    free(job);
    job = srv_job(dns, "_443._tcp.b");
    (void)tlsa_answer(job, ARES_SUCCESS, tlsa_msg, sizeof(tlsa_msg));
    T_ASSERT_EQ(job->dnssec, DNA_DNSSEC_TEMPFAIL);
    dna_tlsa_set_cleanup(&job->set);
    free(job);
}

static void test_names(void) {
    char out[DNS_NAME_MAX + 1];
    char name[300];
    T_ASSERT(domain_normalize(out, "Example.COM."));
    T_ASSERT_STREQ(out, "example.com");
    T_ASSERT(domain_normalize(out, "xn--bcher-kva.example"));
    T_ASSERT_STREQ(out, "xn--bcher-kva.example");
    T_ASSERT(!domain_normalize(out, ""));
    T_ASSERT(!domain_normalize(out, "."));
    T_ASSERT(!domain_normalize(out, ".a"));
    T_ASSERT(!domain_normalize(out, "a..b"));
    T_ASSERT(!domain_normalize(out, "a.b.."));
    T_ASSERT(!domain_normalize(out, "a/b"));
    T_ASSERT(!domain_normalize(out, "a\nb"));
    T_ASSERT(!domain_normalize(out, "\xc3\xbc"));
    memset(name, 'a', 63);
    name[63] = '\0';
    T_ASSERT(domain_normalize(out, name));
    memset(name, 'a', 64);
    name[64] = '\0';
    T_ASSERT(!domain_normalize(out, name)); // label > 63
    for (size_t i = 0; i < 253; i++) {
        name[i] = (i % 2) ? '.' : 'a';
    }
    name[253] = '\0'; // "a.a.…a": 253 bytes
    T_ASSERT(domain_normalize(out, name));
    name[253] = '.';
    name[254] = 'a';
    name[255] = '\0';
    T_ASSERT(!domain_normalize(out, name)); // 255 bytes
}

int main(void) {
    rt_dns_t dns;
    memset(&dns, 0, sizeof(dns));
    dns.rng = 0x9E3779B97F4A7C15ULL;
    test_priority_and_tls(&dns);
    test_weights(&dns);
    test_flatten(&dns);
    test_srv_answer(&dns);
    test_tlsa_answer(&dns);
    test_names();
    fprintf(stderr, "unit_dns_order: ok\n");
    return 0;
}
