// test_tlsa.c: TLSA RDATA parsing, DANE matching (RFC 6698/7671/7673) and owner names, on
// certificates built here with BoringSSL (a test CA, leaves it issues, an unrelated CA). Every
// certificate is DER round-tripped so matching sees what BoringSSL decodes from the wire.
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dna/tlsa.h"
#include "tests/support/t.h"

static EVP_PKEY *t_make_key(void) {
    EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    T_ASSERT(ec != NULL);
    T_ASSERT(EC_KEY_generate_key(ec));
    EVP_PKEY *pkey = EVP_PKEY_new();
    T_ASSERT(pkey != NULL);
    T_ASSERT(EVP_PKEY_assign_EC_KEY(pkey, ec));
    return pkey;
}

// t_cert issues a certificate for |cn| (also its dNSName SAN when |dns| is not NULL) with public
// key |key|, signed by |issuer|/|issuer_key| (self-signed when |issuer| is NULL), valid from
// now+|nb| to now+|na| seconds. Returns owned (X509_free), DER round-tripped.
static X509 *t_cert(const char *cn, const char *dns, EVP_PKEY *key, X509 *issuer,
                    EVP_PKEY *issuer_key, bool ca, long nb, long na) {
    static long serial = 1;
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    T_ASSERT(x != NULL && name != NULL);
    T_ASSERT(X509_set_version(x, X509_VERSION_3));
    T_ASSERT(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++));
    T_ASSERT(X509_gmtime_adj(X509_getm_notBefore(x), nb) != NULL);
    T_ASSERT(X509_gmtime_adj(X509_getm_notAfter(x), na) != NULL);
    T_ASSERT(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                        (const uint8_t *)cn, -1, -1, 0));
    T_ASSERT(X509_set_subject_name(x, name));
    T_ASSERT(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name));
    T_ASSERT(X509_set_pubkey(x, key));
    if (ca) {
        BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
        T_ASSERT(bc != NULL);
        bc->ca = 0xff;
        T_ASSERT(X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1);
        BASIC_CONSTRAINTS_free(bc);
    }
    if (dns != NULL) {
        GENERAL_NAMES *gens = GENERAL_NAMES_new();
        GENERAL_NAME *gen = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        T_ASSERT(gens != NULL && gen != NULL && s != NULL);
        T_ASSERT(ASN1_STRING_set(s, dns, -1));
        GENERAL_NAME_set0_value(gen, GEN_DNS, s);
        T_ASSERT(sk_GENERAL_NAME_push(gens, gen));
        T_ASSERT(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1);
        GENERAL_NAMES_free(gens);
    }
    T_ASSERT(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    uint8_t *der = NULL;
    int der_len = i2d_X509(x, &der);
    T_ASSERT(der_len > 0);
    const uint8_t *p = der;
    X509 *parsed = d2i_X509(NULL, &p, der_len);
    T_ASSERT(parsed != NULL);
    OPENSSL_free(der);
    X509_NAME_free(name);
    X509_free(x);
    return parsed;
}

// The cast: a CA and a leaf it issued for xmpp.example; a second CA (same name, other key) and a
// leaf it issued; an expired leaf from the first CA; a leaf for another name.
static EVP_PKEY *ca_key, *ca2_key, *leaf_key, *other_key;
static X509 *ca, *ca2, *leaf, *leaf_ca2, *leaf_expired, *leaf_other;

static void t_setup(void) {
    ca_key = t_make_key();
    ca2_key = t_make_key();
    leaf_key = t_make_key();
    other_key = t_make_key();
    ca = t_cert("Test CA", NULL, ca_key, NULL, NULL, true, -3600, 86400);
    ca2 = t_cert("Test CA", NULL, ca2_key, NULL, NULL, true, -3600, 86400);
    leaf = t_cert("xmpp.example", "xmpp.example", leaf_key, ca, ca_key, false, -3600, 86400);
    leaf_ca2 = t_cert("xmpp.example", "xmpp.example", leaf_key, ca2, ca2_key, false, -3600, 86400);
    leaf_expired =
        t_cert("xmpp.example", "xmpp.example", leaf_key, ca, ca_key, false, -7200, -3600);
    leaf_other = t_cert("other.example", "other.example", other_key, ca, ca_key, false, -3600,
                        86400);
}

static STACK_OF(X509) *t_chain(X509 *a, X509 *b) {
    STACK_OF(X509) *sk = sk_X509_new_null();
    T_ASSERT(sk != NULL);
    T_ASSERT(sk_X509_push(sk, a));
    if (b != NULL) {
        T_ASSERT(sk_X509_push(sk, b));
    }
    return sk; // borrowed certificates: free with sk_X509_free only
}

// t_rdata builds TLSA RDATA for (u, s, m) over certificate |x| into |out| (cap 8192); returns len.
static size_t t_rdata(uint8_t *out, uint8_t u, uint8_t s, uint8_t m, X509 *x) {
    uint8_t *der = NULL;
    int der_len = s == 0 ? i2d_X509(x, &der) : i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    T_ASSERT(der_len > 0 && der_len < 4096);
    out[0] = u;
    out[1] = s;
    out[2] = m;
    size_t len = 3;
    if (m == 0) {
        memcpy(out + 3, der, (size_t)der_len);
        len += (size_t)der_len;
    } else if (m == 1) {
        SHA256(der, (size_t)der_len, out + 3);
        len += 32;
    } else {
        SHA512(der, (size_t)der_len, out + 3);
        len += 64;
    }
    OPENSSL_free(der);
    return len;
}

static const char *const kRefs[] = {"xmpp.example"};

static dna_tlsa_match_opts_t t_opts(void) {
    return (dna_tlsa_match_opts_t){
        .ref_ids = kRefs, .num_ref_ids = 1, .now = time(NULL)};
}

// t_match_one runs dna_tlsa_match for a set of one record (u, s, m) over |rec_cert| against
// chain (c0, c1) and returns the result; |*why| receives the explanation.
static dna_tlsa_result_t t_match_opts(uint8_t u, uint8_t s, uint8_t m, X509 *rec_cert, X509 *c0,
                                      X509 *c1, const dna_tlsa_match_opts_t *opts) {
    uint8_t rd[8192];
    dna_tlsa_set_t set;
    dna_tlsa_set_init(&set);
    size_t len = t_rdata(rd, u, s, m, rec_cert);
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, len), RC_OK);
    T_ASSERT_EQ(set.num_recs, 1);
    STACK_OF(X509) *chain = t_chain(c0, c1);
    dna_tlsa_match_t res;
    T_ASSERT_EQ(dna_tlsa_match(&res, &set, chain, opts), RC_OK);
    T_ASSERT(res.why != NULL);
    if (res.result == DNA_TLSA_MATCH) {
        T_ASSERT_EQ(res.usage, u);
        T_ASSERT_EQ(res.rec_index, 0);
    }
    sk_X509_free(chain);
    dna_tlsa_set_cleanup(&set);
    return res.result;
}

static dna_tlsa_result_t t_match(uint8_t u, uint8_t s, uint8_t m, X509 *rec_cert, X509 *c0,
                                 X509 *c1) {
    dna_tlsa_match_opts_t o = t_opts();
    return t_match_opts(u, s, m, rec_cert, c0, c1, &o);
}

static void test_parse(void) {
    uint8_t rd[4200] = {3, 1, 1};
    dna_tlsa_rr_t rr;
    for (size_t i = 0; i < 64; i++) {
        rd[3 + i] = (uint8_t)i;
    }
    // Each field lands where it belongs.
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3 + 32), RC_OK);
    T_ASSERT(rr.usable);
    T_ASSERT_EQ(rr.usage, 3);
    T_ASSERT_EQ(rr.selector, 1);
    T_ASSERT_EQ(rr.mtype, 1);
    T_ASSERT_EQ(rr.data_len, 32);
    T_ASSERT(rr.data == rd + 3);
    rd[0] = 2;
    rd[1] = 0;
    rd[2] = 2;
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3 + 64), RC_OK);
    T_ASSERT(rr.usable && rr.usage == 2 && rr.selector == 0 && rr.mtype == 2);
    T_ASSERT_EQ(rr.data_len, 64);
    // Bad lengths for the digest types, including one trailing byte.
    rd[0] = 3;
    rd[1] = 1;
    rd[2] = 1;
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3 + 31), RC_PROTO);
    T_ASSERT(!rr.usable && rr.data == NULL);
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3 + 33), RC_PROTO);
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3 + 64), RC_PROTO);
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3), RC_PROTO);
    rd[2] = 2;
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3 + 32), RC_PROTO);
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3 + 65), RC_PROTO);
    // Full data: 1..4096 bytes.
    rd[2] = 0;
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3), RC_PROTO);
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 4), RC_OK);
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3 + DNA_TLSA_FULL_MAX), RC_OK);
    T_ASSERT_EQ(rr.data_len, DNA_TLSA_FULL_MAX);
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3 + DNA_TLSA_FULL_MAX + 1), RC_PROTO);
    // Truncated headers.
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 0), RC_PROTO);
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 1), RC_PROTO);
    T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 2), RC_PROTO);
    T_ASSERT_EQ(dna_tlsa_parse(&rr, NULL, 0), RC_PROTO);
    // Unknown usage, selector or matching type: well-formed but unusable, whatever the length.
    static const uint8_t unknown[][3] = {{4, 1, 1}, {255, 1, 1}, {3, 2, 1}, {3, 255, 0},
                                         {3, 1, 3}, {2, 0, 255}};
    for (size_t i = 0; i < RT_ARRAY_LEN(unknown); i++) {
        memcpy(rd, unknown[i], 3);
        T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3 + 7), RC_OK);
        T_ASSERT(!rr.usable);
        T_ASSERT_EQ(rr.usage, unknown[i][0]);
        T_ASSERT_EQ(dna_tlsa_parse(&rr, rd, 3), RC_OK);
        T_ASSERT(!rr.usable);
    }
    T_ASSERT_STREQ(dna_tlsa_usage_name(3), "DANE-EE");
    T_ASSERT_STREQ(dna_tlsa_selector_name(1), "SPKI");
    T_ASSERT_STREQ(dna_tlsa_mtype_name(2), "SHA2-512");
    T_ASSERT_STREQ(dna_tlsa_usage_name(9), "unknown");
}

static void test_set(void) {
    dna_tlsa_set_t set;
    uint8_t rd[3 + 32] = {3, 1, 1};
    dna_tlsa_set_init(&set);
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, sizeof(rd)), RC_OK);
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, sizeof(rd) - 1), RC_PROTO);
    rd[0] = 7;
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, sizeof(rd)), RC_OK);
    T_ASSERT_EQ(set.num_recs, 1);
    T_ASSERT_EQ(set.num_malformed, 1);
    T_ASSERT_EQ(set.num_unusable, 1);
    // The set keeps its own copy.
    rd[0] = 3;
    rd[5] = 0xaa;
    T_ASSERT(set.recs[0].data != rd + 3);
    T_ASSERT_EQ(set.recs[0].data[2], 0);
    for (size_t i = 1; i < DNA_TLSA_MAX_RECORDS; i++) {
        T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, sizeof(rd)), RC_OK);
    }
    T_ASSERT_EQ(set.num_recs, DNA_TLSA_MAX_RECORDS);
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, sizeof(rd)), RC_ENOBUFS);
    T_ASSERT_EQ(set.num_dropped, 1);
    dna_tlsa_set_cleanup(&set);
    T_ASSERT_EQ(set.num_recs, 0);
    dna_tlsa_set_cleanup(&set); // twice: zeroed set
    dna_tlsa_set_cleanup(NULL);
}

static void test_dane_ee(void) {
    // 3 1 1, 3 0 1, 3 1 2, 3 0 0 on the leaf.
    T_ASSERT_EQ(t_match(3, 1, 1, leaf, leaf, ca), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match(3, 0, 1, leaf, leaf, ca), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match(3, 1, 2, leaf, leaf, ca), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match(3, 0, 2, leaf, leaf, ca), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match(3, 0, 0, leaf, leaf, ca), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match(3, 1, 0, leaf, leaf, NULL), DNA_TLSA_MATCH);
    // No name and no date checks for DANE-EE: other reference identity, expired leaf.
    const char *const refs[] = {"elsewhere.example"};
    dna_tlsa_match_opts_t o = t_opts();
    o.ref_ids = refs;
    T_ASSERT_EQ(t_match_opts(3, 1, 1, leaf, leaf, ca, &o), DNA_TLSA_MATCH);
    o.num_ref_ids = 0;
    T_ASSERT_EQ(t_match_opts(3, 0, 1, leaf, leaf, NULL, &o), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match(3, 1, 1, leaf_expired, leaf_expired, ca), DNA_TLSA_MATCH);
    // SPKI record survives re-issuance with the same key (leaf_ca2 has leaf's key)...
    T_ASSERT_EQ(t_match(3, 1, 1, leaf, leaf_ca2, NULL), DNA_TLSA_MATCH);
    // ...a full-certificate record does not.
    T_ASSERT_EQ(t_match(3, 0, 1, leaf, leaf_ca2, NULL), DNA_TLSA_MISMATCH);
    // EE record for another certificate.
    T_ASSERT_EQ(t_match(3, 1, 1, leaf_other, leaf, ca), DNA_TLSA_MISMATCH);
    T_ASSERT_EQ(t_match(3, 0, 0, leaf_other, leaf, ca), DNA_TLSA_MISMATCH);
    // An EE record for the CA does not authenticate the leaf.
    T_ASSERT_EQ(t_match(3, 1, 1, ca, leaf, ca), DNA_TLSA_MISMATCH);
}

static void test_wrong_data(void) {
    uint8_t rd[8192];
    dna_tlsa_set_t set;
    dna_tlsa_match_t res;
    dna_tlsa_match_opts_t o = t_opts();
    STACK_OF(X509) *chain = t_chain(leaf, ca);
    // Wrong fingerprint: one bit flipped.
    dna_tlsa_set_init(&set);
    size_t len = t_rdata(rd, 3, 1, 1, leaf);
    rd[10] ^= 1;
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, len), RC_OK);
    T_ASSERT_EQ(dna_tlsa_match(&res, &set, chain, &o), RC_OK);
    T_ASSERT_EQ(res.result, DNA_TLSA_MISMATCH);
    T_ASSERT_EQ(res.num_usable, 1);
    T_ASSERT(strstr(res.why, "matches") != NULL);
    dna_tlsa_set_cleanup(&set);
    // Wrong selector: the SPKI digest published as selector Cert.
    len = t_rdata(rd, 3, 1, 1, leaf);
    rd[1] = 0;
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, len), RC_OK);
    T_ASSERT_EQ(dna_tlsa_match(&res, &set, chain, &o), RC_OK);
    T_ASSERT_EQ(res.result, DNA_TLSA_MISMATCH);
    // Add the right record: a later record matches, so MATCH with its index.
    len = t_rdata(rd, 3, 1, 1, leaf);
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, len), RC_OK);
    T_ASSERT_EQ(dna_tlsa_match(&res, &set, chain, &o), RC_OK);
    T_ASSERT_EQ(res.result, DNA_TLSA_MATCH);
    T_ASSERT_EQ(res.rec_index, 1);
    T_ASSERT_EQ(res.num_usable, 2);
    dna_tlsa_set_cleanup(&set);
    // Digest agility: with a (wrong) SHA2-512 record for (3, 1), the right SHA2-256 one for the
    // same (usage, selector) is ignored.
    len = t_rdata(rd, 3, 1, 1, leaf);
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, len), RC_OK);
    len = t_rdata(rd, 3, 1, 2, leaf_other);
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, len), RC_OK);
    T_ASSERT_EQ(dna_tlsa_match(&res, &set, chain, &o), RC_OK);
    T_ASSERT_EQ(res.result, DNA_TLSA_MISMATCH);
    T_ASSERT_EQ(res.num_usable, 1);
    // ...but a SHA2-256 record for another selector still counts.
    len = t_rdata(rd, 3, 0, 1, leaf);
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, len), RC_OK);
    T_ASSERT_EQ(dna_tlsa_match(&res, &set, chain, &o), RC_OK);
    T_ASSERT_EQ(res.result, DNA_TLSA_MATCH);
    T_ASSERT_EQ(res.rec_index, 2);
    dna_tlsa_set_cleanup(&set);
    // No usable records: empty set, or only unknown types / malformed ones.
    T_ASSERT_EQ(dna_tlsa_match(&res, &set, chain, &o), RC_OK);
    T_ASSERT_EQ(res.result, DNA_TLSA_NONE_USABLE);
    len = t_rdata(rd, 3, 1, 1, leaf);
    rd[0] = 4;
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, len), RC_OK);
    rd[0] = 3;
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, len - 1), RC_PROTO);
    T_ASSERT_EQ(dna_tlsa_match(&res, &set, chain, &o), RC_OK);
    T_ASSERT_EQ(res.result, DNA_TLSA_NONE_USABLE);
    T_ASSERT_EQ(res.num_usable, 0);
    // No chain at all.
    T_ASSERT_EQ(dna_tlsa_match(&res, &set, NULL, &o), RC_EINVAL);
    T_ASSERT_EQ(res.result, DNA_TLSA_MISMATCH);
    STACK_OF(X509) *empty = sk_X509_new_null();
    T_ASSERT_EQ(dna_tlsa_match(&res, &set, empty, &o), RC_EINVAL);
    sk_X509_free(empty);
    dna_tlsa_set_cleanup(&set);
    sk_X509_free(chain);
}

static void test_dane_ta(void) {
    // 2 0 1 / 2 1 1 / 2 0 2 / 2 0 0 on the CA in the chain; names checked.
    T_ASSERT_EQ(t_match(2, 0, 1, ca, leaf, ca), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match(2, 1, 1, ca, leaf, ca), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match(2, 0, 2, ca, leaf, ca), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match(2, 0, 0, ca, leaf, ca), DNA_TLSA_MATCH);
    // 2 0 0 carries the TA itself: it need not be in the chain. 2 0 1 does need it.
    T_ASSERT_EQ(t_match(2, 0, 0, ca, leaf, NULL), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match(2, 0, 1, ca, leaf, NULL), DNA_TLSA_MISMATCH);
    // The TA must not be the leaf itself.
    T_ASSERT_EQ(t_match(2, 0, 1, leaf, leaf, ca), DNA_TLSA_MISMATCH);
    // The leaf's names must include a reference identity.
    const char *const refs[] = {"elsewhere.example", "xmpp.example"};
    dna_tlsa_match_opts_t o = t_opts();
    o.ref_ids = refs;
    o.num_ref_ids = 1;
    T_ASSERT_EQ(t_match_opts(2, 0, 1, ca, leaf, ca, &o), DNA_TLSA_MISMATCH);
    o.num_ref_ids = 2; // secure delegation: the SRV target as a second reference identity
    T_ASSERT_EQ(t_match_opts(2, 0, 1, ca, leaf, ca, &o), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match(2, 0, 1, ca, leaf_other, ca), DNA_TLSA_MISMATCH);
    // The leaf must chain to the matched TA: leaf_ca2 was signed by ca2, which has ca's name.
    T_ASSERT_EQ(t_match(2, 0, 1, ca, leaf_ca2, ca), DNA_TLSA_MISMATCH);
    T_ASSERT_EQ(t_match(2, 0, 1, ca2, leaf_ca2, ca2), DNA_TLSA_MATCH);
    // DANE-TA checks dates (unlike DANE-EE).
    T_ASSERT_EQ(t_match(2, 0, 1, ca, leaf_expired, ca), DNA_TLSA_MISMATCH);
    // The why of a chain failure says so.
    uint8_t rd[8192];
    dna_tlsa_set_t set;
    dna_tlsa_match_t res;
    dna_tlsa_set_init(&set);
    size_t len = t_rdata(rd, 2, 0, 1, ca);
    T_ASSERT_EQ(dna_tlsa_set_add(&set, rd, len), RC_OK);
    STACK_OF(X509) *chain = t_chain(leaf_ca2, ca);
    o = t_opts();
    T_ASSERT_EQ(dna_tlsa_match(&res, &set, chain, &o), RC_OK);
    T_ASSERT_EQ(res.result, DNA_TLSA_MISMATCH);
    T_ASSERT(strstr(res.why, "chain") != NULL);
    sk_X509_free(chain);
    dna_tlsa_set_cleanup(&set);
}

static void test_pkix_usages(void) {
    dna_tlsa_match_opts_t o = t_opts();
    // Not allowed: unusable, so NONE_USABLE even though the record would match.
    T_ASSERT_EQ(t_match_opts(1, 1, 1, leaf, leaf, ca, &o), DNA_TLSA_NONE_USABLE);
    T_ASSERT_EQ(t_match_opts(0, 0, 1, ca, leaf, ca, &o), DNA_TLSA_NONE_USABLE);
    o.allow_pkix_usages = true;
    // Allowed, but PKIX validation failed: mismatch.
    T_ASSERT_EQ(t_match_opts(1, 1, 1, leaf, leaf, ca, &o), DNA_TLSA_MISMATCH);
    T_ASSERT_EQ(t_match_opts(0, 0, 1, ca, leaf, ca, &o), DNA_TLSA_MISMATCH);
    o.pkix_chain_ok = true;
    T_ASSERT_EQ(t_match_opts(1, 1, 1, leaf, leaf, ca, &o), DNA_TLSA_MATCH);
    T_ASSERT_EQ(t_match_opts(0, 0, 1, ca, leaf, ca, &o), DNA_TLSA_MATCH);
    // Names still apply to PKIX-EE.
    T_ASSERT_EQ(t_match_opts(1, 1, 1, leaf_other, leaf_other, ca, &o), DNA_TLSA_MISMATCH);
    // PKIX-TA never matches the leaf.
    T_ASSERT_EQ(t_match_opts(0, 0, 1, leaf, leaf, ca, &o), DNA_TLSA_MISMATCH);
}

static void test_verify_with_ta(void) {
    time_t now = time(NULL);
    STACK_OF(X509) *chain = t_chain(leaf, ca);
    T_ASSERT_EQ(dna_tlsa_verify_with_ta(leaf, ca, chain, now), RC_OK);
    T_ASSERT_EQ(dna_tlsa_verify_with_ta(leaf, ca, NULL, now), RC_OK);
    T_ASSERT_EQ(dna_tlsa_verify_with_ta(leaf, ca2, chain, now), RC_DNA_MISMATCH);
    T_ASSERT_EQ(dna_tlsa_verify_with_ta(leaf_ca2, ca, NULL, now), RC_DNA_MISMATCH);
    T_ASSERT_EQ(dna_tlsa_verify_with_ta(leaf, ca, chain, now + 2 * 86400), RC_DNA_MISMATCH);
    sk_X509_free(chain);
}

static void test_owner_name(void) {
    char out[DNA_TLSA_OWNER_MAX];
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, "xmpp1.hosting.example.net"), RC_OK);
    T_ASSERT_STREQ(out, "_5269._tcp.xmpp1.hosting.example.net");
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5270, "xn--bcher-kva.example."), RC_OK);
    T_ASSERT_STREQ(out, "_5270._tcp.xn--bcher-kva.example");
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 65535, "a"), RC_OK);
    T_ASSERT_STREQ(out, "_65535._tcp.a");
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 0, "a"), RC_EINVAL);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, NULL), RC_EINVAL);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, ""), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, "."), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, "a..b"), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, ".a"), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, "a.b.."), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, "Upper.example"), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, "sp ace.example"), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, "b\xc3\xbc.example"), RC_DNA_BAD_NAME);
    // Length: 64-octet label refused; 253-octet total is the limit.
    char name[300];
    memset(name, 'a', 64);
    name[64] = '\0';
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, name), RC_DNA_BAD_NAME);
    // "_5269._tcp." (11) + 242 = 253: 63.63.63.50 (labels + 3 dots = 242).
    size_t p = 0;
    const size_t labels[] = {63, 63, 63, 50};
    for (size_t i = 0; i < 4; i++) {
        memset(name + p, 'b', labels[i]);
        p += labels[i];
        name[p++] = '.';
    }
    name[p - 1] = '\0';
    T_ASSERT_EQ(strlen(name), 242);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 5269, name), RC_OK);
    T_ASSERT_EQ(strlen(out), 253);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, sizeof(out), 52690, name), RC_DNA_BAD_NAME);
    // Buffer too small.
    T_ASSERT_EQ(dna_tlsa_owner_name(out, 12, 5269, "a"), RC_ENOBUFS);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, 13, 5269, "a"), RC_OK);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, 14, 5269, "a.b"), RC_ENOBUFS);
    T_ASSERT_EQ(dna_tlsa_owner_name(out, 15, 5269, "a.b"), RC_OK);
}

int main(void) {
    t_setup();
    test_parse();
    test_set();
    test_dane_ee();
    test_wrong_data();
    test_dane_ta();
    test_pkix_usages();
    test_verify_with_ta();
    test_owner_name();
    X509_free(ca);
    X509_free(ca2);
    X509_free(leaf);
    X509_free(leaf_ca2);
    X509_free(leaf_expired);
    X509_free(leaf_other);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(ca2_key);
    EVP_PKEY_free(leaf_key);
    EVP_PKEY_free(other_key);
    return 0;
}
