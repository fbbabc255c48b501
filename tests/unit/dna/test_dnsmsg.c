// test_dnsmsg.c: DNS query building and response parsing (dna/dnsmsg.h) on hand-built messages.
#include <stdint.h>
#include <string.h>

#include "dna/dnsmsg.h"
#include "dna/tlsa.h"
#include "router/core/bytes.h"
#include "tests/support/t.h"

#define T_QR_RD_RA 0x8180u
#define T_AD 0x0020u
#define T_TC 0x0200u

// t_msg_t is a response under construction.
typedef struct t_msg {
    core_bld_t b;
} t_msg_t;

static void t_u16(t_msg_t *m, uint16_t v) {
    core_bld_add_u8(&m->b, (uint8_t)(v >> 8));
    core_bld_add_u8(&m->b, (uint8_t)v);
}

static void t_u32(t_msg_t *m, uint32_t v) {
    t_u16(m, (uint16_t)(v >> 16));
    t_u16(m, (uint16_t)v);
}

// t_name appends |s| ("a.b.c", no trailing dot) uncompressed, with the root label.
static void t_name(t_msg_t *m, const char *s) {
    const char *p = s;
    while (*p != '\0') {
        size_t n = 0;
        while (p[n] != '\0' && p[n] != '.') {
            n++;
        }
        core_bld_add_u8(&m->b, (uint8_t)n);
        core_bld_add(&m->b, p, n);
        p += n;
        if (*p == '.') {
            p++;
        }
    }
    core_bld_add_u8(&m->b, 0);
}

static void t_ptr(t_msg_t *m, uint16_t off) {
    t_u16(m, (uint16_t)(0xC000u | off));
}

static void t_start(t_msg_t *m, uint16_t id, uint16_t flags, uint16_t an, uint16_t ns,
                    uint16_t ar, const char *qname, uint16_t qtype) {
    core_bld_init(&m->b, 65535);
    t_u16(m, id);
    t_u16(m, flags);
    t_u16(m, 1);
    t_u16(m, an);
    t_u16(m, ns);
    t_u16(m, ar);
    t_name(m, qname);
    t_u16(m, qtype);
    t_u16(m, DNA_DNS_CLASS_IN);
}

// t_rr_tail appends type, class, TTL and the RDATA after an owner name.
static void t_rr_tail(t_msg_t *m, uint16_t type, uint32_t ttl, const void *rdata, size_t len) {
    t_u16(m, type);
    t_u16(m, DNA_DNS_CLASS_IN);
    t_u32(m, ttl);
    t_u16(m, (uint16_t)len);
    core_bld_add(&m->b, rdata, len);
}

static void t_opt(t_msg_t *m, uint8_t ext_rcode) {
    core_bld_add_u8(&m->b, 0);
    t_u16(m, DNA_DNS_TYPE_OPT);
    t_u16(m, 1232);
    t_u32(m, ((uint32_t)ext_rcode << 24) | 0x8000u);
    t_u16(m, 0);
}

static rc_t t_parse(dna_dnsmsg_t *out, t_msg_t *m, uint16_t id, const char *qname, uint16_t qt) {
    T_ASSERT(core_bld_finish(&m->b) == RC_OK);
    return dna_dnsmsg_parse(out, m->b.data, m->b.len, id, qname, qt);
}

static dna_dnsmsg_t g_out; // large; one at a time

static void test_query_bytes(void) {
    core_bld_t b;
    core_bld_init(&b, 512);
    T_ASSERT_EQ(dna_dnsmsg_query(&b, 0xBEEF, "_5269._tcp.Example.com.", DNA_DNS_TYPE_TLSA),
                RC_OK);
    static const uint8_t want[] = {
        0xBE, 0xEF, 0x01, 0x20, 0, 1, 0, 0, 0, 0, 0, 1, // header: RD, AD; QD=1, AR=1
        5, '_', '5', '2', '6', '9', 4, '_', 't', 'c', 'p', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e',
        3, 'c', 'o', 'm', 0, 0, 52, 0, 1, // question TLSA IN
        0, 0, 41, 0x04, 0xD0, 0, 0, 0x80, 0x00, 0, 0, // OPT: size 1232, DO
    };
    T_ASSERT_EQ(b.len, sizeof(want));
    T_ASSERT(memcmp(b.data, want, sizeof(want)) == 0);
    core_bld_cleanup(&b);

    // Bad names append nothing.
    char long_label[70];
    memset(long_label, 'a', 64);
    long_label[64] = '\0';
    char long_name[300];
    for (size_t i = 0; i < 260; i++) {
        long_name[i] = (i % 10 == 9) ? '.' : 'a';
    }
    long_name[260] = '\0';
    const char *bad[] = {"", ".", "a..b", ".a", "a b.com", "a\xc3\xa9.com", long_label,
                         long_name, "a.b.."};
    core_bld_init(&b, 512);
    for (size_t i = 0; i < RT_ARRAY_LEN(bad); i++) {
        T_ASSERT_EQ(dna_dnsmsg_query(&b, 1, bad[i], DNA_DNS_TYPE_A), RC_DNA_BAD_NAME);
        T_ASSERT_EQ(b.len, 0);
    }
    T_ASSERT_EQ(dna_dnsmsg_query(&b, 1, NULL, DNA_DNS_TYPE_A), RC_DNA_BAD_NAME);
    // 63-octet label fine; a 253-character name (255 wire octets) fine, 254 not.
    long_label[63] = '\0';
    T_ASSERT_EQ(dna_dnsmsg_query(&b, 1, long_label, DNA_DNS_TYPE_A), RC_OK);
    long_name[253] = '\0';
    T_ASSERT_EQ(dna_dnsmsg_query(&b, 1, long_name, DNA_DNS_TYPE_A), RC_OK);
    long_name[253] = 'a';
    long_name[254] = '\0';
    T_ASSERT_EQ(dna_dnsmsg_query(&b, 1, long_name, DNA_DNS_TYPE_A), RC_DNA_BAD_NAME);
    core_bld_cleanup(&b);

    core_bld_init(&b, 20);
    T_ASSERT_EQ(dna_dnsmsg_query(&b, 1, "example.com", DNA_DNS_TYPE_A), RC_ENOBUFS);
    core_bld_cleanup(&b);
}

// t_tlsa_msg builds an answer to _5269._tcp.example.com TLSA: one TLSA (3 1 1, 32 bytes of
// 0xAB) with a compressed owner, its RRSIG, and an OPT record.
static void t_tlsa_msg(t_msg_t *m, uint16_t flags) {
    uint8_t rd[35];
    memset(rd, 0xAB, sizeof(rd));
    rd[0] = 3;
    rd[1] = 1;
    rd[2] = 1;
    t_start(m, 0x1234, flags, 2, 0, 1, "_5269._tcp.example.com", DNA_DNS_TYPE_TLSA);
    t_ptr(m, 12);
    t_rr_tail(m, DNA_DNS_TYPE_TLSA, 3600, rd, sizeof(rd));
    t_ptr(m, 12);
    t_rr_tail(m, DNA_DNS_TYPE_RRSIG, 60, "sig-bytes", 9);
    t_opt(m, 0);
}

static void test_tlsa_ad(void) {
    t_msg_t m;
    t_tlsa_msg(&m, T_QR_RD_RA | T_AD);
    T_ASSERT_EQ(t_parse(&g_out, &m, 0x1234, "_5269._TCP.example.com", DNA_DNS_TYPE_TLSA), RC_OK);
    T_ASSERT(g_out.ad);
    T_ASSERT(!g_out.tc);
    T_ASSERT(g_out.edns);
    T_ASSERT_EQ(g_out.rcode, 0);
    T_ASSERT_EQ(g_out.id, 0x1234);
    T_ASSERT_EQ(g_out.num_answers, 1);
    T_ASSERT_EQ(g_out.answers[0].ttl, 3600);
    T_ASSERT_EQ(g_out.min_ttl, 3600); // the RRSIG's 60 does not count
    T_ASSERT_STREQ(g_out.owner, "_5269._tcp.example.com");
    T_ASSERT_EQ(g_out.answers[0].rdata_len, 35);
    // header 12 + qname 24 + 4, owner pointer 2 + 10 fixed bytes
    T_ASSERT(g_out.answers[0].rdata == m.b.data + 12 + 24 + 4 + 12);
    dna_tlsa_rr_t rr;
    T_ASSERT_EQ(dna_tlsa_parse(&rr, g_out.answers[0].rdata, g_out.answers[0].rdata_len), RC_OK);
    T_ASSERT(rr.usable);
    T_ASSERT_EQ(rr.usage, 3);
    core_bld_cleanup(&m.b);

    t_tlsa_msg(&m, T_QR_RD_RA);
    T_ASSERT_EQ(t_parse(&g_out, &m, 0x1234, "_5269._tcp.example.com", DNA_DNS_TYPE_TLSA), RC_OK);
    T_ASSERT(!g_out.ad);
    T_ASSERT_EQ(g_out.num_answers, 1);

    // Every truncation of the message is rejected.
    for (size_t n = 0; n < m.b.len; n++) {
        T_ASSERT_EQ(dna_dnsmsg_parse(&g_out, m.b.data, n, 0x1234, "_5269._tcp.example.com",
                                     DNA_DNS_TYPE_TLSA),
                    RC_PROTO);
        T_ASSERT_EQ(g_out.num_answers, 0);
    }
    // Trailing garbage is rejected.
    core_bld_add_u8(&m.b, 0);
    T_ASSERT_EQ(t_parse(&g_out, &m, 0x1234, "_5269._tcp.example.com", DNA_DNS_TYPE_TLSA),
                RC_PROTO);
    core_bld_cleanup(&m.b);
}

static void test_srv_compression(void) {
    t_msg_t m;
    // Question name at 12: "_xmpp-server" (13) "_tcp" (5) "example" at 30 (8) "com" (4) root.
    t_start(&m, 7, T_QR_RD_RA | T_AD, 3, 0, 0, "_xmpp-server._tcp.example.com",
            DNA_DNS_TYPE_SRV);
    size_t at = m.b.len;
    uint8_t rd1[] = {0, 10, 0, 5, 0x14, 0x95, 5, 'X', 'm', 'p', 'p', '1', 0xC0, 30};
    t_ptr(&m, 12);
    t_rr_tail(&m, DNA_DNS_TYPE_SRV, 300, rd1, sizeof(rd1));
    // The second target points at the first one's target ("xmpp1.example.com").
    uint8_t rd2[] = {0, 20, 0, 0, 0x14, 0x96, 0xC0, (uint8_t)(at + 2 + 10 + 6)};
    t_ptr(&m, 12);
    t_rr_tail(&m, DNA_DNS_TYPE_SRV, 200, rd2, sizeof(rd2));
    uint8_t rd3[] = {0, 30, 0, 0, 0, 0, 0}; // target "."
    t_ptr(&m, 12);
    t_rr_tail(&m, DNA_DNS_TYPE_SRV, 100, rd3, sizeof(rd3));
    T_ASSERT_EQ(t_parse(&g_out, &m, 7, "_xmpp-server._tcp.example.com", DNA_DNS_TYPE_SRV), RC_OK);
    T_ASSERT_EQ(g_out.num_answers, 3);
    T_ASSERT_EQ(g_out.min_ttl, 100);
    dna_dnsmsg_srv_t srv;
    T_ASSERT_EQ(dna_dnsmsg_srv(&srv, &g_out, &g_out.answers[0]), RC_OK);
    T_ASSERT_EQ(srv.priority, 10);
    T_ASSERT_EQ(srv.weight, 5);
    T_ASSERT_EQ(srv.port, 5269);
    T_ASSERT_STREQ(srv.target, "xmpp1.example.com");
    T_ASSERT_EQ(dna_dnsmsg_srv(&srv, &g_out, &g_out.answers[1]), RC_OK);
    T_ASSERT_EQ(srv.port, 5270);
    T_ASSERT_STREQ(srv.target, "xmpp1.example.com");
    T_ASSERT_EQ(dna_dnsmsg_srv(&srv, &g_out, &g_out.answers[2]), RC_OK);
    T_ASSERT_STREQ(srv.target, ".");
    // Short RDATA, RDATA not inside the message.
    dna_dnsmsg_rr_t shortrr = {.ttl = 0, .rdata = g_out.answers[0].rdata, .rdata_len = 5};
    T_ASSERT_EQ(dna_dnsmsg_srv(&srv, &g_out, &shortrr), RC_PROTO);
    T_ASSERT_EQ(srv.port, 0);
    dna_dnsmsg_rr_t outside = {.ttl = 0, .rdata = rd1, .rdata_len = sizeof(rd1)};
    T_ASSERT_EQ(dna_dnsmsg_srv(&srv, &g_out, &outside), RC_EINVAL);
    // A target name cut by the RDATA's end.
    dna_dnsmsg_rr_t longer = {.ttl = 0, .rdata = g_out.answers[2].rdata, .rdata_len = 6};
    T_ASSERT_EQ(dna_dnsmsg_srv(&srv, &g_out, &longer), RC_PROTO);
    core_bld_cleanup(&m.b);
}

// t_chain builds an answer to h0.example.com A with CNAMEs h0 -> h1 -> ... -> h<hops>, then
// two A records at h<hops>, and one A record for another name.
static void t_chain(t_msg_t *m, size_t hops, bool loop) {
    char name[64];
    char next[64];
    t_start(m, 9, T_QR_RD_RA | T_AD, (uint16_t)(hops + 3), 0, 0, "h0.example.com",
            DNA_DNS_TYPE_A);
    // Put the A records first: order in the section does not matter.
    snprintf(name, sizeof(name), "h%zu.example.com", loop ? (size_t)0 : hops);
    t_name(m, name);
    t_rr_tail(m, DNA_DNS_TYPE_A, 500, "\x0a\x00\x00\x01", 4);
    t_name(m, "other.example.com");
    t_rr_tail(m, DNA_DNS_TYPE_A, 5, "\x0a\x00\x00\x09", 4);
    t_name(m, name);
    t_rr_tail(m, DNA_DNS_TYPE_A, 400, "\x0a\x00\x00\x02", 4);
    for (size_t i = 0; i < hops; i++) {
        snprintf(name, sizeof(name), "H%zu.example.com", i);
        snprintf(next, sizeof(next), "h%zu.example.com", loop && i + 1 == hops ? (size_t)0 : i + 1);
        t_name(m, name);
        t_msg_t rd;
        core_bld_init(&rd.b, 256);
        t_name(&rd, next);
        T_ASSERT(core_bld_finish(&rd.b) == RC_OK);
        t_rr_tail(m, DNA_DNS_TYPE_CNAME, (uint32_t)(1000 + i), rd.b.data, rd.b.len);
        core_bld_cleanup(&rd.b);
    }
}

static void test_cname_chain(void) {
    t_msg_t m;
    t_chain(&m, 2, false);
    T_ASSERT_EQ(t_parse(&g_out, &m, 9, "h0.example.com", DNA_DNS_TYPE_A), RC_OK);
    T_ASSERT_EQ(g_out.num_cnames, 2);
    T_ASSERT_STREQ(g_out.owner, "h2.example.com");
    T_ASSERT_EQ(g_out.num_answers, 2);
    T_ASSERT_EQ(g_out.min_ttl, 400);
    uint8_t a[4];
    T_ASSERT_EQ(dna_dnsmsg_a(a, &g_out.answers[0]), RC_OK);
    T_ASSERT(memcmp(a, "\x0a\x00\x00\x01", 4) == 0);
    uint8_t a6[16];
    T_ASSERT_EQ(dna_dnsmsg_aaaa(a6, &g_out.answers[0]), RC_PROTO);
    core_bld_cleanup(&m.b);

    // CNAME TTLs count in the minimum.
    t_chain(&m, 8, false);
    T_ASSERT_EQ(t_parse(&g_out, &m, 9, "h0.example.com", DNA_DNS_TYPE_A), RC_OK);
    T_ASSERT_EQ(g_out.num_cnames, 8);
    T_ASSERT_EQ(g_out.num_answers, 2);
    core_bld_cleanup(&m.b);

    t_chain(&m, 9, false);
    T_ASSERT_EQ(t_parse(&g_out, &m, 9, "h0.example.com", DNA_DNS_TYPE_A), RC_PROTO);
    core_bld_cleanup(&m.b);

    t_chain(&m, 3, true); // h0 -> h1 -> h2 -> h0
    T_ASSERT_EQ(t_parse(&g_out, &m, 9, "h0.example.com", DNA_DNS_TYPE_A), RC_PROTO);
    core_bld_cleanup(&m.b);

    // Asking for the CNAME itself does not follow it.
    t_chain(&m, 1, false);
    T_ASSERT(core_bld_finish(&m.b) == RC_OK);
    // Rewrite the question type to CNAME (offset 12 + 16 = qtype).
    m.b.data[12 + 16] = 0;
    m.b.data[12 + 16 + 1] = DNA_DNS_TYPE_CNAME;
    T_ASSERT_EQ(t_parse(&g_out, &m, 9, "h0.example.com", DNA_DNS_TYPE_CNAME), RC_OK);
    T_ASSERT_EQ(g_out.num_cnames, 0);
    T_ASSERT_EQ(g_out.num_answers, 1);
    T_ASSERT_EQ(g_out.min_ttl, 1000);
    core_bld_cleanup(&m.b);
}

static void test_rcodes(void) {
    t_msg_t m;
    t_start(&m, 5, T_QR_RD_RA | T_AD | DNA_DNS_RCODE_NXDOMAIN, 0, 0, 1, "nope.example",
            DNA_DNS_TYPE_SRV);
    t_opt(&m, 0);
    T_ASSERT_EQ(t_parse(&g_out, &m, 5, "nope.example", DNA_DNS_TYPE_SRV), RC_OK);
    T_ASSERT_EQ(g_out.rcode, DNA_DNS_RCODE_NXDOMAIN);
    T_ASSERT_EQ(g_out.num_answers, 0);
    T_ASSERT_EQ(g_out.min_ttl, 0);
    T_ASSERT(g_out.ad);
    core_bld_cleanup(&m.b);

    // Extended rcode: BADVERS = OPT high bits 1, header 0.
    t_start(&m, 5, T_QR_RD_RA, 0, 0, 1, "nope.example", DNA_DNS_TYPE_SRV);
    t_opt(&m, 1);
    T_ASSERT_EQ(t_parse(&g_out, &m, 5, "nope.example", DNA_DNS_TYPE_SRV), RC_OK);
    T_ASSERT_EQ(g_out.rcode, DNA_DNS_RCODE_BADVERS);
    core_bld_cleanup(&m.b);

    // Two OPT records; OPT in the answer section; OPT with a non-root owner.
    t_start(&m, 5, T_QR_RD_RA, 0, 0, 2, "nope.example", DNA_DNS_TYPE_SRV);
    t_opt(&m, 0);
    t_opt(&m, 0);
    T_ASSERT_EQ(t_parse(&g_out, &m, 5, "nope.example", DNA_DNS_TYPE_SRV), RC_PROTO);
    core_bld_cleanup(&m.b);
    t_start(&m, 5, T_QR_RD_RA, 1, 0, 0, "nope.example", DNA_DNS_TYPE_SRV);
    t_opt(&m, 0);
    T_ASSERT_EQ(t_parse(&g_out, &m, 5, "nope.example", DNA_DNS_TYPE_SRV), RC_PROTO);
    core_bld_cleanup(&m.b);
    t_start(&m, 5, T_QR_RD_RA, 0, 0, 1, "nope.example", DNA_DNS_TYPE_SRV);
    t_ptr(&m, 12);
    t_rr_tail(&m, DNA_DNS_TYPE_OPT, 0, NULL, 0);
    T_ASSERT_EQ(t_parse(&g_out, &m, 5, "nope.example", DNA_DNS_TYPE_SRV), RC_PROTO);
    core_bld_cleanup(&m.b);
}

static void test_truncated_tc(void) {
    t_msg_t m;
    // TC=1: header and question only, counts claim an answer that is not there.
    t_start(&m, 3, T_QR_RD_RA | T_TC, 1, 0, 0, "example.com", DNA_DNS_TYPE_TLSA);
    T_ASSERT_EQ(t_parse(&g_out, &m, 3, "example.com", DNA_DNS_TYPE_TLSA), RC_OK);
    T_ASSERT(g_out.tc);
    T_ASSERT_EQ(g_out.num_answers, 0);
    core_bld_cleanup(&m.b);
    // Without TC the same message is short.
    t_start(&m, 3, T_QR_RD_RA, 1, 0, 0, "example.com", DNA_DNS_TYPE_TLSA);
    T_ASSERT_EQ(t_parse(&g_out, &m, 3, "example.com", DNA_DNS_TYPE_TLSA), RC_PROTO);
    core_bld_cleanup(&m.b);
}

// t_one_answer builds an answer to example.com A whose single A record has the owner given by
// |owner| raw bytes.
static void t_one_answer(t_msg_t *m, const uint8_t *owner, size_t owner_len) {
    t_start(m, 4, T_QR_RD_RA, 1, 0, 0, "example.com", DNA_DNS_TYPE_A);
    core_bld_add(&m->b, owner, owner_len);
    t_rr_tail(m, DNA_DNS_TYPE_A, 60, "\x01\x02\x03\x04", 4);
}

static void test_bad_names(void) {
    t_msg_t m;
    // The answer starts at 12 + 13 + 4 = 29.
    const uint8_t self[] = {0xC0, 29};                // pointer to itself
    const uint8_t fwd[] = {0xC0, 31, 0};              // forward pointer (to the 0 after it)
    const uint8_t hdr[] = {0xC0, 4};                  // into the header
    const uint8_t loop2[] = {1, 'a', 0xC0, 29};       // label then pointer back to its own start
    const uint8_t ext[] = {0x40, 0};                  // label length 64 (type 0x40)
    const uint8_t rsv[] = {0x80, 0};                  // reserved label type
    const uint8_t ok[] = {0xC0, 12};                  // the question name: accepted
    const uint8_t *cases[] = {self, fwd, hdr, loop2, ext, rsv};
    const size_t lens[] = {sizeof(self), sizeof(fwd), sizeof(hdr), sizeof(loop2), sizeof(ext),
                           sizeof(rsv)};
    for (size_t i = 0; i < RT_ARRAY_LEN(cases); i++) {
        t_one_answer(&m, cases[i], lens[i]);
        T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_PROTO);
        core_bld_cleanup(&m.b);
    }
    // A forward pointer to a well-formed name (the next record's owner) is still rejected.
    t_start(&m, 4, T_QR_RD_RA, 2, 0, 0, "example.com", DNA_DNS_TYPE_A);
    t_ptr(&m, 29 + 2 + 14);
    t_rr_tail(&m, DNA_DNS_TYPE_A, 60, "\x01\x02\x03\x04", 4);
    t_name(&m, "example.com");
    t_rr_tail(&m, DNA_DNS_TYPE_A, 60, "\x01\x02\x03\x05", 4);
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_PROTO);
    m.b.data[30] = 12; // the same pointer aimed backwards at the question name is fine
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_OK);
    T_ASSERT_EQ(g_out.num_answers, 2);
    core_bld_cleanup(&m.b);

    // Pointer chains: the owner points at the last of |k| pointers kept in an earlier RDATA,
    // each pointing at the one before, the first at the question name. 64 pointers in all are
    // followed, 65 are not.
    for (size_t k = 63; k <= 64; k++) {
        t_start(&m, 4, T_QR_RD_RA, 2, 0, 0, "example.com", DNA_DNS_TYPE_A);
        size_t base = 29 + 2 + 10;
        t_ptr(&m, 12);
        t_u16(&m, 65280); // a private-use type: ignored
        t_u16(&m, DNA_DNS_CLASS_IN);
        t_u32(&m, 1);
        t_u16(&m, (uint16_t)(2 * k));
        for (size_t i = 0; i < k; i++) {
            t_ptr(&m, (uint16_t)(i == 0 ? 12 : base + 2 * (i - 1)));
        }
        t_ptr(&m, (uint16_t)(base + 2 * (k - 1)));
        t_rr_tail(&m, DNA_DNS_TYPE_A, 60, "\x01\x02\x03\x04", 4);
        T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A),
                    k == 63 ? RC_OK : RC_PROTO);
        T_ASSERT_EQ(g_out.num_answers, k == 63 ? 1 : 0);
        core_bld_cleanup(&m.b);
    }

    t_one_answer(&m, ok, sizeof(ok));
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_OK);
    T_ASSERT_EQ(g_out.num_answers, 1);
    core_bld_cleanup(&m.b);

    // Label of 64 octets written as a plain length byte (64 = 0x40) in the question.
    uint8_t l64[80];
    l64[0] = 64;
    memset(l64 + 1, 'a', 64);
    l64[65] = 0;
    t_one_answer(&m, l64, 66);
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_PROTO);
    core_bld_cleanup(&m.b);

    // Names of 255 wire octets are accepted (and ignored: another name), 257 rejected.
    uint8_t longname[300];
    size_t n = 0;
    for (size_t i = 0; i < 3; i++) {
        longname[n++] = 63;
        memset(longname + n, 'a', 63);
        n += 63;
    }
    longname[n++] = 61;
    memset(longname + n, 'b', 61);
    n += 61;
    longname[n++] = 0;
    T_ASSERT_EQ(n, 255);
    t_one_answer(&m, longname, n);
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_OK);
    T_ASSERT_EQ(g_out.num_answers, 0);
    core_bld_cleanup(&m.b);
    longname[n - 1 - 62] = 63; // last label 63 octets: 257 total
    longname[n - 1] = 'b';
    longname[n] = 'b';
    longname[n + 1] = 0;
    t_one_answer(&m, longname, n + 2);
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_PROTO);
    core_bld_cleanup(&m.b);
    // Too long through compression: 192 octets in place + a pointer to a 67-octet name.
    t_start(&m, 4, T_QR_RD_RA, 2, 0, 0, "example.com", DNA_DNS_TYPE_A);
    size_t at = m.b.len;
    uint8_t mid[70];
    mid[0] = 63;
    memset(mid + 1, 'c', 63);
    mid[64] = 1;
    mid[65] = 'x';
    mid[66] = 0;
    core_bld_add(&m.b, mid, 67);
    t_rr_tail(&m, DNA_DNS_TYPE_A, 1, "\x01\x02\x03\x04", 4);
    core_bld_add(&m.b, longname, 192);
    t_ptr(&m, (uint16_t)at);
    t_rr_tail(&m, DNA_DNS_TYPE_A, 1, "\x01\x02\x03\x04", 4);
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_PROTO);
    core_bld_cleanup(&m.b);
}

static void test_header_and_question(void) {
    t_msg_t m;
    t_one_answer(&m, (const uint8_t *)"\xC0\x0C", 2);
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_OK);
    T_ASSERT_EQ(g_out.min_ttl, 60);
    m.b.data[29 + 2 + 4] = 0x80; // TTL with the top bit set reads as 0 (RFC 2181 §8)
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_OK);
    T_ASSERT_EQ(g_out.answers[0].ttl, 0);
    T_ASSERT_EQ(g_out.min_ttl, 0);
    T_ASSERT_EQ(t_parse(&g_out, &m, 5, "example.com", DNA_DNS_TYPE_A), RC_PROTO); // wrong id
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.org", DNA_DNS_TYPE_A), RC_PROTO); // other name
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_AAAA), RC_PROTO); // type
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "EXAMPLE.Com.", DNA_DNS_TYPE_A), RC_OK);       // case, dot
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "exa mple.com", DNA_DNS_TYPE_A), RC_DNA_BAD_NAME);
    m.b.data[2] &= 0x7F; // QR=0: a query, not a response
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_PROTO);
    m.b.data[2] |= 0x80;
    m.b.data[2] |= 0x08; // opcode 1
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_PROTO);
    m.b.data[2] &= (uint8_t)~0x08;
    m.b.data[5] = 2; // QDCOUNT 2
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_PROTO);
    m.b.data[5] = 0;
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_PROTO);
    m.b.data[5] = 1;
    m.b.data[12 + 13 + 3] = 3; // class CH
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_PROTO);
    m.b.data[12 + 13 + 3] = 1;
    T_ASSERT_EQ(t_parse(&g_out, &m, 4, "example.com", DNA_DNS_TYPE_A), RC_OK);
    // Our own query is no response.
    core_bld_t q;
    core_bld_init(&q, 512);
    T_ASSERT_EQ(dna_dnsmsg_query(&q, 4, "example.com", DNA_DNS_TYPE_A), RC_OK);
    T_ASSERT_EQ(dna_dnsmsg_parse(&g_out, q.data, q.len, 4, "example.com", DNA_DNS_TYPE_A),
                RC_PROTO);
    core_bld_cleanup(&q);
    core_bld_cleanup(&m.b);
}

static void test_other_names_and_cap(void) {
    t_msg_t m;
    t_start(&m, 8, T_QR_RD_RA | T_AD, 67, 1, 0, "many.example", DNA_DNS_TYPE_AAAA);
    t_name(&m, "else.example");
    t_rr_tail(&m, DNA_DNS_TYPE_AAAA, 7, "0123456789abcdef", 16);
    for (uint32_t i = 0; i < 65; i++) {
        uint8_t rd[16] = {0x20, 0x01, 0x0d, 0xb8};
        rd[15] = (uint8_t)i;
        t_ptr(&m, 12);
        t_rr_tail(&m, DNA_DNS_TYPE_AAAA, 100 + i, rd, 16);
    }
    t_name(&m, "MANY.example"); // case-insensitive owner, class CH: ignored
    t_u16(&m, DNA_DNS_TYPE_AAAA);
    t_u16(&m, 3);
    t_u32(&m, 1);
    t_u16(&m, 16);
    core_bld_add(&m.b, "0123456789abcdef", 16);
    t_ptr(&m, 12); // authority: checked, not collected
    t_rr_tail(&m, DNA_DNS_TYPE_AAAA, 2, "0123456789abcdef", 16);
    T_ASSERT_EQ(t_parse(&g_out, &m, 8, "many.example", DNA_DNS_TYPE_AAAA), RC_OK);
    T_ASSERT_EQ(g_out.num_answers, DNA_DNSMSG_MAX_ANSWERS);
    T_ASSERT_EQ(g_out.num_dropped, 1);
    T_ASSERT_EQ(g_out.min_ttl, 100);
    uint8_t a6[16];
    T_ASSERT_EQ(dna_dnsmsg_aaaa(a6, &g_out.answers[63]), RC_OK);
    T_ASSERT_EQ(a6[15], 63);
    T_ASSERT_EQ(a6[0], 0x20);
    uint8_t a4[4] = {9, 9, 9, 9};
    T_ASSERT_EQ(dna_dnsmsg_a(a4, &g_out.answers[0]), RC_PROTO);
    T_ASSERT_EQ(a4[0], 9);
    core_bld_cleanup(&m.b);

    // A malformed CNAME RDATA anywhere in the answer section is rejected.
    t_start(&m, 8, T_QR_RD_RA, 1, 0, 0, "many.example", DNA_DNS_TYPE_AAAA);
    t_name(&m, "x.example");
    t_rr_tail(&m, DNA_DNS_TYPE_CNAME, 1, "\x01y\x00\x00", 4); // a byte after the name
    T_ASSERT_EQ(t_parse(&g_out, &m, 8, "many.example", DNA_DNS_TYPE_AAAA), RC_PROTO);
    core_bld_cleanup(&m.b);
}

int main(void) {
    test_query_bytes();
    test_tlsa_ad();
    test_srv_compression();
    test_cname_chain();
    test_rcodes();
    test_truncated_tc();
    test_bad_names();
    test_header_and_question();
    test_other_names_and_cap();
    return 0;
}
