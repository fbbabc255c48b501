// test_domain.c: dna_domain_normalize (RFC 7622 §3.2, IDNA2008) and dna_jid_domain (RFC 7622 §3).
#include <stdbool.h>
#include <string.h>

#include "dna/domain.h"
#include "tests/support/t.h"

// norm_ok asserts that |in| normalises to |want|.
static void norm_ok(const char *in, size_t in_len, const char *want) {
    char out[DNA_DOMAIN_MAX];
    rc_t rc = dna_domain_normalize(out, sizeof(out), in, in_len);
    if (rc != RC_OK) {
        fprintf(stderr, "normalize(\"%.*s\") failed: %d\n", (int)in_len, in, rc);
    }
    T_ASSERT_EQ(rc, RC_OK);
    T_ASSERT_STREQ(out, want);
}
#define NORM_OK(in, want) norm_ok((in), sizeof(in) - 1, (want))

static void norm_bad(const char *in, size_t in_len) {
    char out[DNA_DOMAIN_MAX];
    rc_t rc = dna_domain_normalize(out, sizeof(out), in, in_len);
    if (rc != RC_DNA_BAD_NAME) {
        fprintf(stderr, "normalize(\"%.*s\") = %d (out \"%s\"), want RC_DNA_BAD_NAME\n",
                (int)in_len, in, rc, out);
    }
    T_ASSERT_EQ(rc, RC_DNA_BAD_NAME);
    T_ASSERT_STREQ(out, "");
}
#define NORM_BAD(in) norm_bad((in), sizeof(in) - 1)

static void test_normalize_ascii(void) {
    NORM_OK("example.com", "example.com");
    NORM_OK("Example.COM", "example.com");
    NORM_OK("example.com.", "example.com"); // one trailing dot stripped (RFC 7622 §3.2)
    NORM_OK("localhost", "localhost");
    NORM_OK("a-b.c0.example", "a-b.c0.example");
    // Valid host names that IDNA2008 would refuse (hyphens in positions 3-4) stay accepted.
    NORM_OK("r3---sn-abc.example", "r3---sn-abc.example");
    NORM_OK("123.example", "123.example");

    NORM_BAD("");
    NORM_BAD(".");
    NORM_BAD("example.com..");
    NORM_BAD("a..b");
    NORM_BAD(".a.example");
    NORM_BAD("a_b.example"); // host names only: no '_'
    NORM_BAD("_xmpp-server.example");
    NORM_BAD("a b.example");
    NORM_BAD("-a.example");
    NORM_BAD("a-.example");
    NORM_BAD("*.example.com");
    NORM_BAD("user@example.com");
    NORM_BAD("example.com/res");
    NORM_BAD("a\0b.example");       // embedded NUL
    NORM_BAD("example.com\0");      // trailing NUL counted in the length
    NORM_BAD("1.2.3");              // all-numeric TLD: not a name, not an address
    NORM_BAD("1.2.3.256");
    NORM_BAD("example.123");
}

static void test_normalize_lengths(void) {
    char buf[1100];
    char out[DNA_DOMAIN_MAX];

    // 63-octet label accepted, 64 refused.
    memset(buf, 'a', 63);
    memcpy(buf + 63, ".example", 8);
    T_ASSERT_EQ(dna_domain_normalize(out, sizeof(out), buf, 71), RC_OK);
    T_ASSERT_EQ(strlen(out), 71);
    memset(buf, 'a', 64);
    memcpy(buf + 64, ".example", 8);
    T_ASSERT_EQ(dna_domain_normalize(out, sizeof(out), buf, 72), RC_DNA_BAD_NAME);

    // 253 octets accepted (plus a trailing dot: 254 in), 254 refused.
    // 4 labels of 63 = 252 + 3 dots = 255: build 61+63+63+63 + 3 dots = 253.
    size_t off = 0;
    const size_t labels[4] = {61, 63, 63, 63};
    for (size_t i = 0; i < 4; i++) {
        memset(buf + off, 'b', labels[i]);
        off += labels[i];
        if (i < 3) {
            buf[off++] = '.';
        }
    }
    T_ASSERT_EQ(off, 253);
    T_ASSERT_EQ(dna_domain_normalize(out, sizeof(out), buf, off), RC_OK);
    T_ASSERT_EQ(strlen(out), 253);
    buf[off] = '.';
    T_ASSERT_EQ(dna_domain_normalize(out, sizeof(out), buf, off + 1), RC_OK);
    T_ASSERT_EQ(strlen(out), 253);
    buf[0] = 'c';
    memmove(buf + 1, buf, off);
    T_ASSERT_EQ(dna_domain_normalize(out, sizeof(out), buf, off + 1), RC_DNA_BAD_NAME);

    // Input over 1023 octets refused before any processing.
    memset(buf, 'a', sizeof(buf));
    T_ASSERT_EQ(dna_domain_normalize(out, sizeof(out), buf, 1024), RC_DNA_BAD_NAME);

    // Output buffer too small.
    char small[8];
    T_ASSERT_EQ(dna_domain_normalize(small, sizeof(small), "example.com", 11), RC_ENOBUFS);
    T_ASSERT_EQ(dna_domain_normalize(small, sizeof(small), "a.b.com", 7), RC_OK);
    T_ASSERT_STREQ(small, "a.b.com");
    T_ASSERT_EQ(dna_domain_normalize(NULL, 0, "a.b.com", 7), RC_EINVAL);
}

static void test_normalize_idn(void) {
    NORM_OK("bücher.example", "xn--bcher-kva.example");
    NORM_OK("BÜCHER.Example", "xn--bcher-kva.example"); // UTS #46 case mapping
    NORM_OK("bücher.example.", "xn--bcher-kva.example");
    NORM_OK("xn--bcher-kva.example", "xn--bcher-kva.example");
    NORM_OK("XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example");
    NORM_OK("ｅｘａｍｐｌｅ.com", "example.com"); // width mapping
    NORM_OK("faß.de", "xn--fa-hia.de");        // non-transitional: ß is kept, not "ss"
    NORM_OK("b\xc3\xbc" "cher.example", "xn--bcher-kva.example"); // NFC input
    NORM_OK("bu\xcc\x88" "cher.example", "xn--bcher-kva.example"); // NFD input, NFC'd first

    NORM_BAD("xn--zz.example"); // bad Punycode
    NORM_BAD("xn--a.example");  // A-label decoding to a disallowed label
    NORM_BAD("xn--ls8h.la");    // emoji: not IDNA2008
    NORM_BAD("bü_cher.example");
    NORM_BAD("bücher..example");
    NORM_BAD("\xff\xfe.example"); // not UTF-8
}

static void test_normalize_ip(void) {
    NORM_OK("127.0.0.1", "127.0.0.1");
    NORM_OK("[::1]", "[::1]");
    NORM_OK("[2001:DB8::1]", "[2001:DB8::1]"); // passed through unchanged
    NORM_BAD("[::1");
    NORM_BAD("::1");
    NORM_BAD("[zz::1]");
    NORM_BAD("[]");
    NORM_BAD("[127.0.0.1]");
    NORM_BAD("[::1]x");
    NORM_BAD("01.2.3.4"); // leading zero
    NORM_BAD("[0000:0000:0000:0000:0000:0000:0000:0000:0000]");
}

// jid_ok asserts the domainpart of |jid| is |want|.
static void jid_ok(const char *jid, size_t len, const char *want) {
    const char *dom = NULL;
    size_t dom_len = 0;
    bool ok = dna_jid_domain(jid, len, &dom, &dom_len);
    if (!ok) {
        fprintf(stderr, "dna_jid_domain(\"%.*s\") failed\n", (int)len, jid);
    }
    T_ASSERT(ok);
    T_ASSERT(dom >= jid && dom + dom_len <= jid + len); // a view into the input
    T_ASSERT_EQ(dom_len, strlen(want));
    T_ASSERT(memcmp(dom, want, dom_len) == 0);
}
#define JID_OK(jid, want) jid_ok((jid), sizeof(jid) - 1, (want))

static void jid_bad(const char *jid, size_t len) {
    const char *dom = (const char *)1;
    size_t dom_len = 12345;
    bool ok = dna_jid_domain(jid, len, &dom, &dom_len);
    if (ok) {
        fprintf(stderr, "dna_jid_domain(\"%.*s\") accepted\n", (int)len, jid);
    }
    T_ASSERT(!ok);
    T_ASSERT(dom == (const char *)1 && dom_len == 12345); // outputs untouched on failure
}
#define JID_BAD(jid) jid_bad((jid), sizeof(jid) - 1)

static void test_jid(void) {
    JID_OK("example.com", "example.com");
    JID_OK("user@example.com", "example.com");
    JID_OK("user@example.com/res", "example.com");
    JID_OK("example.com/res", "example.com");
    JID_OK("example.com/res@other/x", "example.com"); // '@' after '/' belongs to the resource
    JID_OK("user@example.com/a@b/c", "example.com");
    JID_OK("Bücher.Example.", "Bücher.Example."); // returned as is; normalising is separate

    JID_BAD("");
    JID_BAD("@example.com");
    JID_BAD("user@");
    JID_BAD("user@/res");
    JID_BAD("/res");
    JID_BAD("a@b@example.com");
    JID_BAD("example.com/");
    JID_BAD("user@example.com/");
    T_ASSERT(!dna_jid_domain(NULL, 0, &(const char *){NULL}, &(size_t){0}));

    // 1023-octet parts are fine; 1024 is not.
    static char buf[4000];
    const char *dom = NULL;
    size_t dom_len = 0;
    memset(buf, 'l', 1023);
    memcpy(buf + 1023, "@example.com", 12);
    T_ASSERT(dna_jid_domain(buf, 1035, &dom, &dom_len));
    T_ASSERT_EQ(dom_len, 11);
    memset(buf, 'l', 1024);
    memcpy(buf + 1024, "@example.com", 12);
    T_ASSERT(!dna_jid_domain(buf, 1036, &dom, &dom_len));

    memset(buf, 'd', 1023);
    T_ASSERT(dna_jid_domain(buf, 1023, &dom, &dom_len));
    T_ASSERT_EQ(dom_len, 1023);
    memset(buf, 'd', 1024);
    T_ASSERT(!dna_jid_domain(buf, 1024, &dom, &dom_len));

    memcpy(buf, "example.com/", 12);
    memset(buf + 12, 'r', 1023);
    T_ASSERT(dna_jid_domain(buf, 12 + 1023, &dom, &dom_len));
    T_ASSERT_EQ(dom_len, 11);
    memset(buf + 12, 'r', 1024);
    T_ASSERT(!dna_jid_domain(buf, 12 + 1024, &dom, &dom_len));

    // The length bounds the scan: bytes after |len| are never read.
    T_ASSERT(dna_jid_domain("a.example@x", 9, &dom, &dom_len));
    T_ASSERT_EQ(dom_len, 9);
}

int main(void) {
    test_normalize_ascii();
    test_normalize_lengths();
    test_normalize_idn();
    test_normalize_ip();
    test_jid();
    return 0;
}
