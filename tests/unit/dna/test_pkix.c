// test_pkix.c: RFC 6125 identity matching (SPEC.md §2) on certificates built here with BoringSSL.
// Every certificate is signed with a fresh P-256 key and round-tripped through DER, so the matcher
// sees what BoringSSL decodes from the wire, not the structures the test built.
#include <stdbool.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bytestring.h>
#include <openssl/ec.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/obj.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dna/pkix.h"
#include "tests/support/t.h"

enum t_san_kind { T_DNS, T_XMPP, T_XMPP_IA5, T_SRV, T_URI, T_OTHER_OID, T_IP };

typedef struct t_san {
    enum t_san_kind kind;
    const char *val;
    size_t len; // 0: strlen(val)
} t_san_t;

typedef struct t_spec {
    const char *cn[2]; // up to two subject CNs
    size_t cn0_len;    // 0: strlen(cn[0])
    t_san_t sans[4];
    size_t num_sans;
    bool dup_san_ext; // add the SAN extension twice
} t_spec_t;

static EVP_PKEY *t_key;

static EVP_PKEY *t_make_key(void) {
    EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    T_ASSERT(ec != NULL);
    T_ASSERT(EC_KEY_generate_key(ec));
    EVP_PKEY *pkey = EVP_PKEY_new();
    T_ASSERT(pkey != NULL);
    T_ASSERT(EVP_PKEY_assign_EC_KEY(pkey, ec));
    return pkey;
}

static ASN1_STRING *t_str(int type, const char *val, size_t len) {
    ASN1_STRING *s = ASN1_STRING_type_new(type);
    T_ASSERT(s != NULL);
    T_ASSERT(ASN1_STRING_set(s, val, (int)len));
    return s;
}

static GENERAL_NAME *t_gen(const t_san_t *san) {
    size_t len = san->len != 0 ? san->len : strlen(san->val);
    GENERAL_NAME *gen = GENERAL_NAME_new();
    T_ASSERT(gen != NULL);
    const char *oid_txt = NULL;
    int str_type = V_ASN1_UTF8STRING;
    switch (san->kind) {
    case T_DNS:
        GENERAL_NAME_set0_value(gen, GEN_DNS, t_str(V_ASN1_IA5STRING, san->val, len));
        return gen;
    case T_URI:
        GENERAL_NAME_set0_value(gen, GEN_URI, t_str(V_ASN1_IA5STRING, san->val, len));
        return gen;
    case T_IP:
        GENERAL_NAME_set0_value(gen, GEN_IPADD, t_str(V_ASN1_OCTET_STRING, san->val, len));
        return gen;
    case T_XMPP:
        oid_txt = "1.3.6.1.5.5.7.8.5";
        break;
    case T_XMPP_IA5:
        oid_txt = "1.3.6.1.5.5.7.8.5";
        str_type = V_ASN1_IA5STRING;
        break;
    case T_SRV:
        oid_txt = "1.3.6.1.5.5.7.8.7";
        str_type = V_ASN1_IA5STRING;
        break;
    case T_OTHER_OID:
        oid_txt = "1.3.6.1.4.1.99999.1"; // some other otherName: not an identity we support
        break;
    }
    ASN1_OBJECT *oid = OBJ_txt2obj(oid_txt, 1);
    T_ASSERT(oid != NULL);
    ASN1_TYPE *value = ASN1_TYPE_new();
    T_ASSERT(value != NULL);
    ASN1_TYPE_set(value, str_type, t_str(str_type, san->val, len));
    T_ASSERT(GENERAL_NAME_set0_othername(gen, oid, value));
    return gen;
}

// t_cert builds, signs and DER round-trips a certificate for |spec|. Returns owned (X509_free).
static X509 *t_cert(const t_spec_t *spec) {
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    T_ASSERT(x != NULL && name != NULL);
    T_ASSERT(X509_set_version(x, X509_VERSION_3));
    T_ASSERT(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
    T_ASSERT(X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL);
    T_ASSERT(X509_gmtime_adj(X509_getm_notAfter(x), 3600) != NULL);
    // A non-empty subject even without CN (RFC 6120 §13.7.1.1).
    T_ASSERT(X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                        (const uint8_t *)"fedrouter tests", -1, -1, 0));
    for (size_t i = 0; i < 2; i++) {
        if (spec->cn[i] == NULL) {
            continue;
        }
        size_t len = (i == 0 && spec->cn0_len != 0) ? spec->cn0_len : strlen(spec->cn[i]);
        T_ASSERT(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                            (const uint8_t *)spec->cn[i], (int)len, -1,
                                            0));
    }
    T_ASSERT(X509_set_subject_name(x, name));
    T_ASSERT(X509_set_issuer_name(x, name));
    T_ASSERT(X509_set_pubkey(x, t_key));
    if (spec->num_sans > 0) {
        GENERAL_NAMES *gens = GENERAL_NAMES_new();
        T_ASSERT(gens != NULL);
        for (size_t i = 0; i < spec->num_sans; i++) {
            T_ASSERT(sk_GENERAL_NAME_push(gens, t_gen(&spec->sans[i])));
        }
        T_ASSERT(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1);
        if (spec->dup_san_ext) {
            T_ASSERT(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND) == 1);
        }
        GENERAL_NAMES_free(gens);
    }
    T_ASSERT(X509_sign(x, t_key, EVP_sha256()) > 0);

    uint8_t *der = NULL;
    int der_len = i2d_X509(x, &der);
    T_ASSERT(der_len > 0);
    const uint8_t *p = der;
    X509 *parsed = d2i_X509(NULL, &p, der_len);
    OPENSSL_free(der);
    X509_NAME_free(name);
    X509_free(x);
    return parsed; // NULL when BoringSSL refuses the encoding (checked by callers)
}

static const dna_pkix_opts_t kStrict = {.cn_fallback = false};
static const dna_pkix_opts_t kCnFallback = {.cn_fallback = true};

// t_match builds the certificate and returns dna_pkix_match's verdict for |ref|.
static rc_t t_match(const t_spec_t *spec, const char *ref, const dna_pkix_opts_t *opts) {
    X509 *x = t_cert(spec);
    T_ASSERT(x != NULL);
    rc_t rc = dna_pkix_match(x, ref, opts);
    X509_free(x);
    return rc;
}

#define SAN1(k, v) .sans = {{(k), (v), 0}}, .num_sans = 1
// MATCH(ref, opts, spec fields...) / NOMATCH(...): the spec comes last so that its commas need no
// protection from the preprocessor.
#define MATCH(ref, opts, ...) T_ASSERT_EQ(t_match(&(t_spec_t){__VA_ARGS__}, (ref), (opts)), RC_OK)
#define NOMATCH(ref, opts, ...)                                                                    \
    T_ASSERT_EQ(t_match(&(t_spec_t){__VA_ARGS__}, (ref), (opts)), RC_DNA_MISMATCH)

// SPEC.md §2.3, row by row. Rows that involve a CN are checked with the CN fallback on, because
// that is where a wrong answer could come from.
static void test_spec_table(void) {
    // 1. chat.example.net vs DNS *.example.net: match (one label).
    MATCH("chat.example.net", &kStrict, SAN1(T_DNS, "*.example.net"));
    // 2. a.b.example.net vs DNS *.example.net: no match.
    NOMATCH("a.b.example.net", &kStrict, SAN1(T_DNS, "*.example.net"));
    // 3. example.net vs DNS *.example.net: no match.
    NOMATCH("example.net", &kStrict, SAN1(T_DNS, "*.example.net"));
    // 4. example.net vs SRV _xmpp-client.example.net only: no match for s2s; and the SRV-ID,
    //    being present, also blocks a CN.
    NOMATCH("example.net", &kStrict, SAN1(T_SRV, "_xmpp-client.example.net"));
    NOMATCH("example.net", &kCnFallback, .cn = {"example.net"}, SAN1(T_SRV, "_xmpp-client.example.net"));
    // 5. example.net vs SRV _xmpp-server.example.net: match.
    MATCH("example.net", &kStrict, SAN1(T_SRV, "_xmpp-server.example.net"));
    // 6. example.net vs XmppAddr example.net + CN example.net: match via XmppAddr, CN ignored
    //    (the CN alone would not be consulted: an XmppAddr for another name plus the CN fails).
    MATCH("example.net", &kStrict, .cn = {"example.net"}, SAN1(T_XMPP, "example.net"));
    MATCH("example.net", &kCnFallback, .cn = {"example.net"}, SAN1(T_XMPP, "example.net"));
    NOMATCH("example.net", &kCnFallback, .cn = {"example.net"}, SAN1(T_XMPP, "other.org"));
    // 7. example.net vs DNS other.org + CN example.net: no match, even with the CN fallback.
    NOMATCH("example.net", &kCnFallback, .cn = {"example.net"}, SAN1(T_DNS, "other.org"));
}

static void test_dns_id(void) {
    MATCH("example.net", &kStrict, SAN1(T_DNS, "example.net"));
    MATCH("example.net", &kStrict, SAN1(T_DNS, "EXAMPLE.Net")); // upper-case SAN
    MATCH("chat.example.net", &kStrict, SAN1(T_DNS, "*.EXAMPLE.NET"));
    MATCH("example.net", &kStrict, SAN1(T_DNS, "example.net.")); // trailing root dot
    NOMATCH("other.net", &kStrict, SAN1(T_DNS, "example.net"));
    NOMATCH("xample.net", &kStrict, SAN1(T_DNS, "example.net"));
    NOMATCH("a.example.net", &kStrict, SAN1(T_DNS, "example.net"));
    NOMATCH("example.net", &kStrict, SAN1(T_DNS, "a.example.net"));
    // Second SAN matches.
    MATCH("example.net", &kStrict, .sans = {{T_DNS, "other.org", 0}, {T_DNS, "example.net", 0}}, .num_sans = 2);
    // IDN reference against an A-label DNS-ID.
    MATCH("xn--bcher-kva.example", &kStrict, SAN1(T_DNS, "xn--bcher-kva.example"));
    MATCH("chat.xn--bcher-kva.example", &kStrict, SAN1(T_DNS, "*.xn--bcher-kva.example"));
    // A U-label in a dNSName is not a valid DNS-ID: no match.
    NOMATCH("xn--bcher-kva.example", &kStrict, SAN1(T_DNS, "bücher.example"));
}

static void test_wildcard_abuse(void) {
    // Fewer than two labels after the wildcard: never honoured.
    NOMATCH("a.b.example", &kStrict, SAN1(T_DNS, "*.example"));
    NOMATCH("b.example", &kStrict, SAN1(T_DNS, "*.example"));
    NOMATCH("example.com", &kStrict, SAN1(T_DNS, "*.com"));
    NOMATCH("example", &kStrict, SAN1(T_DNS, "*"));
    NOMATCH("example", &kStrict, SAN1(T_DNS, "*."));
    // Partial-label wildcards (RFC 9525): rejected.
    NOMATCH("foo.example.net", &kStrict, SAN1(T_DNS, "f*o.example.net"));
    NOMATCH("foo.example.net", &kStrict, SAN1(T_DNS, "f*.example.net"));
    NOMATCH("foo.example.net", &kStrict, SAN1(T_DNS, "*o.example.net"));
    NOMATCH("xn--bcher-kva.example.net", &kStrict, SAN1(T_DNS, "xn--*.example.net"));
    // Wildcards elsewhere than the left-most label, or several of them.
    NOMATCH("chat.example.net", &kStrict, SAN1(T_DNS, "chat.*.net"));
    NOMATCH("a.b.example.net", &kStrict, SAN1(T_DNS, "*.*.example.net"));
    NOMATCH("a.example.net", &kStrict, SAN1(T_DNS, "**.example.net"));
    // '*' does not stand for the empty label (such a reference is not even a valid name).
    T_ASSERT_EQ(t_match(&(t_spec_t){SAN1(T_DNS, "*.example.net")}, ".example.net", &kStrict),
                RC_DNA_BAD_NAME);
    // No wildcard in XmppAddr or SRV-ID.
    NOMATCH("chat.example.net", &kStrict, SAN1(T_XMPP, "*.example.net"));
    NOMATCH("chat.example.net", &kStrict, SAN1(T_SRV, "_xmpp-server.*.example.net"));
    NOMATCH("chat.example.net", &kStrict, SAN1(T_SRV, "*.example.net"));
    // CN-ID follows the DNS-ID rules.
    MATCH("chat.example.net", &kCnFallback, .cn = {"*.example.net"});
    NOMATCH("example.com", &kCnFallback, .cn = {"*.com"});
}

static void test_srv_xmpp(void) {
    MATCH("example.net", &kStrict, SAN1(T_SRV, "_XMPP-SERVER.EXAMPLE.NET"));
    MATCH("example.net", &kStrict, SAN1(T_SRV, "_xmpp-server.example.net."));
    NOMATCH("other.net", &kStrict, SAN1(T_SRV, "_xmpp-server.example.net"));
    NOMATCH("example.net", &kStrict, SAN1(T_SRV, "_xmpp-server."));
    NOMATCH("example.net", &kStrict, SAN1(T_SRV, "_xmpps-server.example.net"));
    NOMATCH("example.net", &kStrict, SAN1(T_SRV, "xmpp-server.example.net"));
    NOMATCH("example.net", &kStrict, SAN1(T_SRV, "_xmpp-server._tcp.example.net"));
    // The service label is not part of the name: an SRV-ID proves only the domain after it.
    NOMATCH("xmpp-server.example.net", &kStrict, SAN1(T_SRV, "_xmpp-server.example.net"));
    T_ASSERT_EQ(t_match(&(t_spec_t){SAN1(T_SRV, "_xmpp-server.example.net")},
                        "_xmpp-server.example.net", &kStrict),
                RC_DNA_BAD_NAME);

    // XmppAddr: IDN U-labels are compared as A-labels.
    MATCH("xn--bcher-kva.example", &kStrict, SAN1(T_XMPP, "bücher.example"));
    MATCH("xn--bcher-kva.example", &kStrict, SAN1(T_XMPP, "BÜCHER.example"));
    MATCH("xn--bcher-kva.example", &kStrict, SAN1(T_XMPP, "xn--bcher-kva.example"));
    MATCH("example.net", &kStrict, SAN1(T_XMPP, "EXAMPLE.net"));
    NOMATCH("xn--bcher-kva.example", &kStrict, SAN1(T_XMPP, "bucher.example"));
    // A full JID is not a server identity.
    NOMATCH("example.net", &kStrict, SAN1(T_XMPP, "user@example.net"));
    NOMATCH("example.net", &kStrict, SAN1(T_XMPP, "example.net/res"));
    // XmppAddr must be a UTF8String; an IA5String one is ignored (but still counts as present).
    NOMATCH("example.net", &kStrict, SAN1(T_XMPP_IA5, "example.net"));
    NOMATCH("example.net", &kCnFallback, .cn = {"example.net"}, SAN1(T_XMPP_IA5, "other.net"));
}

static void test_cn(void) {
    // CN only: used only with the fallback switch on.
    NOMATCH("example.net", &kStrict, .cn = {"example.net"});
    NOMATCH("example.net", NULL, .cn = {"example.net"});
    MATCH("example.net", &kCnFallback, .cn = {"example.net"});
    MATCH("example.net", &kCnFallback, .cn = {"Example.NET"});
    NOMATCH("example.net", &kCnFallback, .cn = {"other.net"});
    // Exactly one CN.
    NOMATCH("example.net", &kCnFallback, .cn = {"example.net", "example.net"});
    NOMATCH("example.net", &kCnFallback, .cn = {"other.net", "example.net"});
    // No CN, no SAN.
    NOMATCH("example.net", &kCnFallback, .num_sans = 0);
    // CN ignored when any DNS, SRV, URI or XmppAddr SAN exists.
    NOMATCH("example.net", &kCnFallback, .cn = {"example.net"}, SAN1(T_DNS, "other.org"));
    NOMATCH("example.net", &kCnFallback, .cn = {"example.net"}, SAN1(T_SRV, "_xmpp-server.other.org"));
    NOMATCH("example.net", &kCnFallback, .cn = {"example.net"}, SAN1(T_URI, "xmpp:example.net"));
    NOMATCH("example.net", &kCnFallback, .cn = {"example.net"}, SAN1(T_XMPP, "other.org"));
    // ...but not for SAN types that are not identities here (iPAddress, unknown otherName).
    MATCH("example.net", &kCnFallback, .cn = {"example.net"}, SAN1(T_OTHER_OID, "example.net"));
    MATCH("example.net", &kCnFallback, .cn = {"example.net"}, .sans = {{T_IP, "\x7f\x00\x00\x01", 4}}, .num_sans = 1);
    // URI-ID never matches by itself.
    NOMATCH("example.net", &kStrict, SAN1(T_URI, "xmpp:example.net"));
    NOMATCH("example.net", &kStrict, SAN1(T_OTHER_OID, "example.net"));
}

static void test_embedded_nul(void) {
    static const char dns_nul[] = "example.net\0.evil.org";
    NOMATCH("example.net", &kStrict, .sans = {{T_DNS, dns_nul, sizeof(dns_nul) - 1}}, .num_sans = 1);
    static const char dns_nul2[] = "evil.org\0example.net";
    NOMATCH("evil.org", &kStrict, .sans = {{T_DNS, dns_nul2, sizeof(dns_nul2) - 1}}, .num_sans = 1);
    NOMATCH("example.net", &kStrict, .sans = {{T_XMPP, dns_nul, sizeof(dns_nul) - 1}}, .num_sans = 1);
    static const char srv_nul[] = "_xmpp-server.example.net\0.evil.org";
    NOMATCH("example.net", &kStrict, .sans = {{T_SRV, srv_nul, sizeof(srv_nul) - 1}}, .num_sans = 1);
    // A NUL-carrying DNS-ID is still a DNS-ID: it blocks the CN fallback.
    NOMATCH("example.net", &kCnFallback, .cn = {"example.net"}, .sans = {{T_DNS, dns_nul, sizeof(dns_nul) - 1}}, .num_sans = 1);
    static const char cn_nul[] = "example.net\0.evil.org";
    NOMATCH("example.net", &kCnFallback, .cn = {cn_nul}, .cn0_len = sizeof(cn_nul) - 1);
    NOMATCH("example.net.evil.org", &kCnFallback, .cn = {cn_nul}, .cn0_len = sizeof(cn_nul) - 1);
}

static void test_bad_reference(void) {
    X509 *x = t_cert(&(t_spec_t){.cn = {"example.net"}, SAN1(T_DNS, "example.net")});
    T_ASSERT(x != NULL);
    T_ASSERT_EQ(dna_pkix_match(x, "example.net", &kStrict), RC_OK);
    T_ASSERT_EQ(dna_pkix_match(x, "Example.net", &kStrict), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_pkix_match(x, "example.net.", &kStrict), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_pkix_match(x, "", &kStrict), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_pkix_match(x, NULL, &kStrict), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_pkix_match(x, "bücher.example", &kStrict), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_pkix_match(x, "*.net", &kStrict), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_pkix_match(x, "127.0.0.1", &kStrict), RC_DNA_MISMATCH);
    T_ASSERT_EQ(dna_pkix_match(x, "[::1]", &kStrict), RC_DNA_MISMATCH);
    T_ASSERT_EQ(dna_pkix_match(NULL, "example.net", &kStrict), RC_DNA_MISMATCH);
    X509_free(x);
}

static void test_duplicate_san(void) {
    // Two SAN extensions: RFC 5280 forbids it. If BoringSSL parses such a certificate at all, the
    // matcher must fail closed (no match, and no CN fallback either).
    X509 *x = t_cert(&(t_spec_t){
        .cn = {"example.net"}, SAN1(T_DNS, "example.net"), .dup_san_ext = true});
    if (x == NULL) {
        fprintf(stderr, "note: BoringSSL refused a certificate with two SAN extensions\n");
        return; // refused at parse time: nothing to match
    }
    T_ASSERT_EQ(dna_pkix_match(x, "example.net", &kCnFallback), RC_DNA_MISMATCH);
    X509_free(x);
}

static void test_names(void) {
    char out[256];
    X509 *x = t_cert(&(t_spec_t){.cn = {"x"},
                                 .sans = {{T_DNS, "a.example", 0},
                                          {T_XMPP, "b.example", 0},
                                          {T_SRV, "_xmpp-server.c.example", 0}},
                                 .num_sans = 3});
    T_ASSERT(x != NULL);
    T_ASSERT(dna_pkix_names(x, out, sizeof(out)));
    T_ASSERT_STREQ(out, "DNS:a.example,XmppAddr:b.example,SRV:_xmpp-server.c.example,CN:x");

    // Truncation: ends in "...", stays within the buffer, reports false.
    char small[20];
    memset(small, 'Z', sizeof(small));
    T_ASSERT(!dna_pkix_names(x, small, sizeof(small)));
    T_ASSERT(strlen(small) < sizeof(small));
    T_ASSERT_STREQ(small, "DNS:a.example,...");
    char tiny[3];
    T_ASSERT(!dna_pkix_names(x, tiny, sizeof(tiny)));
    T_ASSERT_STREQ(tiny, "");
    X509_free(x);

    // Peer bytes are escaped: separators, control characters, non-ASCII.
    static const char evil[] = "a,b\n\0c";
    x = t_cert(&(t_spec_t){.cn = {"ü"},
                           .sans = {{T_DNS, evil, sizeof(evil) - 1},
                                    {T_URI, "xmpp:q", 0},
                                    {T_IP, "\x7f\x00\x00\x01", 4}},
                           .num_sans = 3});
    T_ASSERT(x != NULL);
    T_ASSERT(dna_pkix_names(x, out, sizeof(out)));
    T_ASSERT_STREQ(out, "DNS:a\\x2cb\\x0a\\x00c,URI:xmpp:q,IP:127.0.0.1,CN:\\xc3\\xbc");
    X509_free(x);
}

int main(void) {
    t_key = t_make_key();
    test_spec_table();
    test_dns_id();
    test_wildcard_abuse();
    test_srv_xmpp();
    test_cn();
    test_embedded_nul();
    test_bad_reference();
    test_duplicate_san();
    test_names();
    EVP_PKEY_free(t_key);
    return 0;
}
