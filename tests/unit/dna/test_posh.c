// test_posh.c: POSH documents (RFC 7711, SPEC.md §7): parsing into dna_posh_doc_t, the bad
// inputs a hostile or broken web server can send, and matching against certificates built here.
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/mem.h>
#include <openssl/nid.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "dna/posh.h"
#include "router/core/bytes.h"
#include "tests/support/t.h"

static EVP_PKEY *key;
static X509 *leaf, *leaf2, *leaf_expired;

// t_cert makes a self-signed certificate valid from now+|nb| to now+|na|. Returns owned.
static X509 *t_cert(const char *cn, long nb, long na) {
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    T_ASSERT(x != NULL && name != NULL);
    T_ASSERT(X509_set_version(x, X509_VERSION_3));
    T_ASSERT(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
    T_ASSERT(X509_gmtime_adj(X509_getm_notBefore(x), nb) != NULL);
    T_ASSERT(X509_gmtime_adj(X509_getm_notAfter(x), na) != NULL);
    T_ASSERT(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                        (const uint8_t *)cn, -1, -1, 0));
    T_ASSERT(X509_set_subject_name(x, name));
    T_ASSERT(X509_set_issuer_name(x, name));
    T_ASSERT(X509_set_pubkey(x, key));
    T_ASSERT(X509_sign(x, key, EVP_sha256()) > 0);
    X509_NAME_free(name);
    return x;
}

static void t_setup(void) {
    EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    T_ASSERT(ec != NULL && EC_KEY_generate_key(ec));
    key = EVP_PKEY_new();
    T_ASSERT(key != NULL && EVP_PKEY_assign_EC_KEY(key, ec));
    leaf = t_cert("xmpp.example", -3600, 86400);
    leaf2 = t_cert("renewed.example", -3600, 86400); // same key, other certificate
    leaf_expired = t_cert("xmpp.example", -7200, -3600);
}

// t_fp writes the base64 SHA-256 (|sha512| false) or SHA-512 of |x|'s DER into |out| (>= 89).
// |spki| hashes the SubjectPublicKeyInfo instead (a classic mistake the matcher must not accept).
static void t_fp(char *out, X509 *x, bool sha512, bool spki) {
    uint8_t *der = NULL;
    int der_len = spki ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : i2d_X509(x, &der);
    T_ASSERT(der_len > 0);
    uint8_t md[SHA512_DIGEST_LENGTH];
    if (sha512) {
        SHA512(der, (size_t)der_len, md);
    } else {
        SHA256(der, (size_t)der_len, md);
    }
    core_b64_encode(out, md, sha512 ? 64 : 32);
    OPENSSL_free(der);
}

static rc_t t_parse(dna_posh_doc_t *doc, const char *json, unsigned flags) {
    return dna_posh_parse(doc, (const uint8_t *)json, strlen(json), flags);
}

static dna_posh_result_t t_match(const dna_posh_doc_t *doc, X509 *x) {
    dna_posh_result_t res;
    const char *why = NULL;
    T_ASSERT_EQ(dna_posh_match(&res, &why, doc, x, time(NULL)), RC_OK);
    T_ASSERT(why != NULL);
    return res;
}

static dna_posh_doc_t doc; // large: static

static void test_fingerprints(void) {
    char f256[100], f512[100], o256[100], o512[100], json[1024];
    t_fp(f256, leaf, false, false);
    t_fp(f512, leaf, true, false);
    t_fp(o256, leaf2, false, false);
    t_fp(o512, leaf2, true, false);
    // The RFC 7711 example shape, both hashes.
    snprintf(json, sizeof(json),
             "{\"fingerprints\":[{\"sha-256\":\"%s\",\"sha-512\":\"%s\"}],\"expires\":604800}",
             f256, f512);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_OK);
    T_ASSERT_EQ(doc.kind, DNA_POSH_KIND_FINGERPRINTS);
    T_ASSERT_EQ(doc.expires, 604800);
    T_ASSERT_EQ(doc.num_fps, 1);
    T_ASSERT(doc.fps[0].has_sha256 && doc.fps[0].has_sha512);
    T_ASSERT_EQ(doc.url[0], '\0');
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_MATCH);
    T_ASSERT_EQ(t_match(&doc, leaf2), DNA_POSH_MISMATCH);
    // Accepted also by the fingerprints-only rule for a reference's target.
    T_ASSERT_EQ(t_parse(&doc, json, DNA_POSH_VIA_REFERENCE), RC_OK);
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_MATCH);
    // SHA-256 only; SHA-512 only; the second descriptor matches (renewal overlap).
    snprintf(json, sizeof(json), "{\"expires\":60,\"fingerprints\":[{\"sha-256\":\"%s\"}]}", f256);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_OK);
    T_ASSERT(doc.fps[0].has_sha256 && !doc.fps[0].has_sha512);
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_MATCH);
    snprintf(json, sizeof(json), "{\"expires\":60,\"fingerprints\":[{\"sha-512\":\"%s\"}]}", f512);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_OK);
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_MATCH);
    snprintf(json, sizeof(json),
             "{\"expires\":60,\"fingerprints\":[{\"sha-256\":\"%s\"},{\"sha-512\":\"%s\"}]}", o256,
             f512);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_OK);
    T_ASSERT_EQ(doc.num_fps, 2);
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_MATCH);
    T_ASSERT_EQ(t_match(&doc, leaf2), DNA_POSH_MATCH);
    // Wrong fingerprint.
    snprintf(json, sizeof(json), "{\"expires\":60,\"fingerprints\":[{\"sha-256\":\"%s\"}]}", o256);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_OK);
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_MISMATCH);
    // The strongest hash of a descriptor decides: a right SHA-256 next to a wrong SHA-512 fails.
    snprintf(json, sizeof(json),
             "{\"expires\":60,\"fingerprints\":[{\"sha-256\":\"%s\",\"sha-512\":\"%s\"}]}", f256,
             o512);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_OK);
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_MISMATCH);
    // A hash of the SPKI (same key in leaf and leaf2) is not a POSH fingerprint.
    char spki[100];
    t_fp(spki, leaf, false, true);
    snprintf(json, sizeof(json), "{\"expires\":60,\"fingerprints\":[{\"sha-256\":\"%s\"}]}", spki);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_OK);
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_MISMATCH);
    // An expired certificate never matches, even when listed.
    char e256[100];
    t_fp(e256, leaf_expired, false, false);
    snprintf(json, sizeof(json), "{\"expires\":60,\"fingerprints\":[{\"sha-256\":\"%s\"}]}", e256);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_OK);
    T_ASSERT_EQ(t_match(&doc, leaf_expired), DNA_POSH_MISMATCH);
    // Hash names case-insensitively; unknown hashes and members ignored.
    snprintf(json, sizeof(json),
             "{\"expires\":60,\"x-note\":{\"a\":[1,2]},\"fingerprints\":[{\"sha-384\":\"zz\"},"
             "{\"SHA-256\":\"%s\",\"md5\":5}]}",
             f256);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_OK);
    T_ASSERT_EQ(doc.num_fps, 1);
    T_ASSERT_EQ(doc.num_fps_unsupported, 1);
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_MATCH);
    // Only unsupported hashes: parses, never matches.
    T_ASSERT_EQ(t_parse(&doc, "{\"expires\":60,\"fingerprints\":[{\"sha-384\":\"abc\"},{}]}", 0),
                RC_OK);
    T_ASSERT_EQ(doc.num_fps, 0);
    T_ASSERT_EQ(doc.num_fps_unsupported, 2);
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_MISMATCH);
    // The same hash twice in one descriptor (differing in case): refused.
    snprintf(json, sizeof(json),
             "{\"expires\":60,\"fingerprints\":[{\"sha-256\":\"%s\",\"Sha-256\":\"%s\"}]}", f256,
             f256);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_PROTO);
}

static void test_expires(void) {
    char f256[100], json[512];
    t_fp(f256, leaf, false, false);
    // expires 0: well-formed, but the material is invalid (no material, no caching).
    snprintf(json, sizeof(json), "{\"fingerprints\":[{\"sha-256\":\"%s\"}],\"expires\":0}", f256);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_OK);
    T_ASSERT_EQ(doc.expires, 0);
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_NO_MATERIAL);
    T_ASSERT_EQ(dna_posh_cache_ttl(NULL, &doc, 3600), 0);
    // Missing, negative, fractional, string, boolean, too big: refused.
    static const char *const bad_tail[] = {
        "", ",\"expires\":-1", ",\"expires\":1.5", ",\"expires\":60.0",
        ",\"expires\":\"60\"", ",\"expires\":true", ",\"expires\":null",
        ",\"expires\":99999999999999999999999",
    };
    for (size_t i = 0; i < RT_ARRAY_LEN(bad_tail); i++) {
        snprintf(json, sizeof(json), "{\"fingerprints\":[{\"sha-256\":\"%s\"}]%s}", f256,
                 bad_tail[i]);
        T_ASSERT_EQ(t_parse(&doc, json, 0), RC_PROTO);
        T_ASSERT_EQ(doc.kind, DNA_POSH_KIND_NONE);
    }
    // The cache lifetime: the lower of the two documents, capped.
    dna_posh_doc_t ref = {.kind = DNA_POSH_KIND_REFERENCE, .expires = 100};
    dna_posh_doc_t fps = {.kind = DNA_POSH_KIND_FINGERPRINTS, .expires = 500};
    T_ASSERT_EQ(dna_posh_cache_ttl(&ref, &fps, 3600), 100);
    T_ASSERT_EQ(dna_posh_cache_ttl(NULL, &fps, 3600), 500);
    T_ASSERT_EQ(dna_posh_cache_ttl(&ref, &fps, 50), 50);
    ref.expires = 0;
    T_ASSERT_EQ(dna_posh_cache_ttl(&ref, &fps, 3600), 0);
    T_ASSERT_EQ(dna_posh_cache_ttl(&ref, NULL, 3600), 0);
}

static void test_bad_fingerprints(void) {
    char f256[100], f512[100], json[1024];
    t_fp(f256, leaf, false, false);
    t_fp(f512, leaf, true, false);
    // Bad base64: a character outside the alphabet, URL-safe alphabet, missing padding,
    // whitespace, non-zero padding bits.
    char v[100];
    static const struct {
        size_t pos;
        char c;
    } corrupt[] = {{0, '*'}, {5, '-'}, {7, '_'}, {43, 'A'}, {10, ' '}};
    for (size_t i = 0; i < RT_ARRAY_LEN(corrupt); i++) {
        strcpy(v, f256);
        v[corrupt[i].pos] = corrupt[i].c;
        snprintf(json, sizeof(json), "{\"expires\":1,\"fingerprints\":[{\"sha-256\":\"%s\"}]}", v);
        T_ASSERT_EQ(t_parse(&doc, json, 0), RC_PROTO);
    }
    strcpy(v, f256);
    v[43] = '\0'; // padding dropped
    snprintf(json, sizeof(json), "{\"expires\":1,\"fingerprints\":[{\"sha-256\":\"%s\"}]}", v);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_PROTO);
    // Non-canonical: the last character before '=' carries padding bits (32 bytes -> 43 chars +
    // '=': the last char encodes 4 bits, its low 2 bits must be zero).
    strcpy(v, f256);
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t idx = (size_t)(strchr(alpha, v[42]) - alpha);
    v[42] = alpha[idx | 1];
    snprintf(json, sizeof(json), "{\"expires\":1,\"fingerprints\":[{\"sha-256\":\"%s\"}]}", v);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_PROTO);
    // Wrong digest length: a SHA-512 value under sha-256 and the other way round; 31 bytes.
    snprintf(json, sizeof(json), "{\"expires\":1,\"fingerprints\":[{\"sha-256\":\"%s\"}]}", f512);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_PROTO);
    snprintf(json, sizeof(json), "{\"expires\":1,\"fingerprints\":[{\"sha-512\":\"%s\"}]}", f256);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_PROTO);
    uint8_t md[31] = {1};
    core_b64_encode(v, md, sizeof(md));
    snprintf(json, sizeof(json), "{\"expires\":1,\"fingerprints\":[{\"sha-256\":\"%s\"}]}", v);
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_PROTO);
    // Value not a string; descriptor not an object; empty or non-array fingerprints.
    static const char *const bad[] = {
        "{\"expires\":1,\"fingerprints\":[{\"sha-256\":42}]}",
        "{\"expires\":1,\"fingerprints\":[{\"sha-256\":null}]}",
        "{\"expires\":1,\"fingerprints\":[\"abc\"]}",
        "{\"expires\":1,\"fingerprints\":[]}",
        "{\"expires\":1,\"fingerprints\":{}}",
        "{\"expires\":1,\"fingerprints\":\"x\"}",
        "{\"expires\":1,\"fingerprints\":null}",
        "{\"expires\":1}",
    };
    for (size_t i = 0; i < RT_ARRAY_LEN(bad); i++) {
        T_ASSERT_EQ(t_parse(&doc, bad[i], 0), RC_PROTO);
    }
    // Too many descriptors.
    char big[8192];
    size_t n = (size_t)snprintf(big, sizeof(big), "{\"expires\":1,\"fingerprints\":[");
    for (size_t i = 0; i <= DNA_POSH_MAX_FPS; i++) {
        n += (size_t)snprintf(big + n, sizeof(big) - n, "%s{\"sha-256\":\"%s\"}", i ? "," : "",
                              f256);
    }
    snprintf(big + n, sizeof(big) - n, "]}");
    T_ASSERT_EQ(t_parse(&doc, big, 0), RC_ENOBUFS);
    // Exactly the maximum is fine: drop one descriptor.
    char *last = strrchr(big, ',');
    T_ASSERT(last != NULL);
    strcpy(last, "]}");
    T_ASSERT_EQ(t_parse(&doc, big, 0), RC_OK);
    T_ASSERT_EQ(doc.num_fps, DNA_POSH_MAX_FPS);
}

static void test_reference(void) {
    T_ASSERT_EQ(t_parse(&doc,
                        "{\"url\":\"https://hosting.example.net/.well-known/posh/xmpp-server.json\","
                        "\"expires\":86400}",
                        0),
                RC_OK);
    T_ASSERT_EQ(doc.kind, DNA_POSH_KIND_REFERENCE);
    T_ASSERT_EQ(doc.expires, 86400);
    T_ASSERT_STREQ(doc.url, "https://hosting.example.net/.well-known/posh/xmpp-server.json");
    T_ASSERT_STREQ(doc.url_host, "hosting.example.net");
    T_ASSERT_EQ(doc.url_port, 443);
    T_ASSERT_STREQ(doc.url_path, "/.well-known/posh/xmpp-server.json");
    T_ASSERT_EQ(doc.num_fps, 0);
    // A reference is not material: it must be followed.
    T_ASSERT_EQ(t_match(&doc, leaf), DNA_POSH_NO_MATERIAL);
    // Nested reference: refused when the body came through a reference.
    T_ASSERT_EQ(t_parse(&doc, "{\"url\":\"https://a.example/x.json\",\"expires\":5}",
                        DNA_POSH_VIA_REFERENCE),
                RC_PROTO);
    T_ASSERT_EQ(doc.kind, DNA_POSH_KIND_NONE);
    // Scheme case, upper-case and IDN hosts, explicit port, query, no path.
    T_ASSERT_EQ(t_parse(&doc, "{\"url\":\"HTTPS://Host.Example:8443/p/q.json?v=1\",\"expires\":5}", 0),
                RC_OK);
    T_ASSERT_STREQ(doc.url_host, "host.example");
    T_ASSERT_EQ(doc.url_port, 8443);
    T_ASSERT_STREQ(doc.url_path, "/p/q.json?v=1");
    T_ASSERT_EQ(t_parse(&doc, "{\"url\":\"https://xn--bcher-kva.example\",\"expires\":5}", 0),
                RC_OK);
    T_ASSERT_STREQ(doc.url_host, "xn--bcher-kva.example");
    T_ASSERT_STREQ(doc.url_path, "/");
    T_ASSERT_EQ(t_parse(&doc, "{\"url\":\"https://h.example?x\",\"expires\":5}", 0), RC_OK);
    T_ASSERT_STREQ(doc.url_path, "/?x");
    T_ASSERT_EQ(t_parse(&doc, "{\"url\":\"https://[::1]:8443/posh.json\",\"expires\":5}", 0),
                RC_OK);
    T_ASSERT_EQ(doc.url_port, 8443);
    T_ASSERT_STREQ(doc.url_path, "/posh.json");
    // expires 0 on a reference: the delegation is invalid.
    T_ASSERT_EQ(t_parse(&doc, "{\"url\":\"https://a.example/\",\"expires\":0}", 0), RC_OK);
    T_ASSERT_EQ(doc.expires, 0);
    // Bad URLs.
    static const char *const bad[] = {
        "{\"url\":\"http://hosting.example.net/x.json\",\"expires\":5}",
        "{\"url\":\"ftp://hosting.example.net/x.json\",\"expires\":5}",
        "{\"url\":\"//hosting.example.net/x.json\",\"expires\":5}",
        "{\"url\":\"https://\",\"expires\":5}",
        "{\"url\":\"https:///x.json\",\"expires\":5}",
        "{\"url\":\"https://user@host.example/x\",\"expires\":5}",
        "{\"url\":\"https://host.example/x#frag\",\"expires\":5}",
        "{\"url\":\"https://host.example:0/x\",\"expires\":5}",
        "{\"url\":\"https://host.example:65536/x\",\"expires\":5}",
        "{\"url\":\"https://host.example:/x\",\"expires\":5}",
        "{\"url\":\"https://host.example:08/x\",\"expires\":5}",
        "{\"url\":\"https://host.example:44a/x\",\"expires\":5}",
        "{\"url\":\"https://ho st.example/x\",\"expires\":5}",
        "{\"url\":\"https://host.example/a b\",\"expires\":5}",
        "{\"url\":\"https://h\\u00f6st.example/x\",\"expires\":5}",
        "{\"url\":\"https://host..example/x\",\"expires\":5}",
        "{\"url\":\"https://[::1/x\",\"expires\":5}",
        "{\"url\":\"https://[::1]x/y\",\"expires\":5}",
        "{\"url\":\"https://host.example\\\\x\",\"expires\":5}",
        "{\"url\":\"\",\"expires\":5}",
        "{\"url\":5,\"expires\":5}",
        "{\"url\":[\"https://a.example/\"],\"expires\":5}",
        "{\"url\":\"https://a.example/\"}",
        // A fingerprints document MUST NOT contain url; a reference is not also a fingerprints doc.
        "{\"url\":\"https://a.example/\",\"fingerprints\":[{\"sha-384\":\"x\"}],\"expires\":5}",
    };
    for (size_t i = 0; i < RT_ARRAY_LEN(bad); i++) {
        rc_t rc = t_parse(&doc, bad[i], 0);
        if (rc != RC_PROTO) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
        }
        T_ASSERT_EQ(rc, RC_PROTO);
    }
    // Too long a URL.
    char json[DNA_POSH_URL_MAX + 100];
    int n = snprintf(json, sizeof(json), "{\"url\":\"https://a.example/");
    memset(json + n, 'p', DNA_POSH_URL_MAX);
    // "https://a.example/" is 18 bytes: 18 + (MAX - 17) 'p' is one byte over.
    snprintf(json + n + DNA_POSH_URL_MAX - 17, sizeof(json) - (size_t)n - DNA_POSH_URL_MAX + 17,
             "\",\"expires\":5}");
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_PROTO);
    snprintf(json + n + DNA_POSH_URL_MAX - 18, sizeof(json) - (size_t)n - DNA_POSH_URL_MAX + 18,
             "\",\"expires\":5}");
    T_ASSERT_EQ(t_parse(&doc, json, 0), RC_OK);
    T_ASSERT_EQ(strlen(doc.url), DNA_POSH_URL_MAX);
}

static void test_not_a_document(void) {
    static const char *const bad[] = {
        "",
        "[]",
        "[{\"expires\":1,\"url\":\"https://a.example/\"}]",
        "\"https://a.example/\"",
        "null",
        "42",
        "{",
        "{\"expires\":1,\"url\":\"https://a.example/\"",
        "{\"expires\":1,\"url\":\"https://a.example/\"} x",
        "{\"expires\":1,\"url\":\"https://a.example/\"}{}",
        "{\"expires\":1,\"expires\":2,\"url\":\"https://a.example/\"}", // duplicate member
        "{\"expires\":1,\"url\":\"https://a.example/\\u0000x\"}",        // NUL in a string
        "{\"expires\":1,\"url\":'https://a.example/'}",
        "{}",
    };
    for (size_t i = 0; i < RT_ARRAY_LEN(bad); i++) {
        rc_t rc = t_parse(&doc, bad[i], 0);
        if (rc != RC_PROTO) {
            fprintf(stderr, "accepted: %s\n", bad[i]);
        }
        T_ASSERT_EQ(rc, RC_PROTO);
        T_ASSERT_EQ(doc.kind, DNA_POSH_KIND_NONE);
    }
    T_ASSERT_EQ(dna_posh_parse(&doc, NULL, 0, 0), RC_PROTO);
    // Raw bytes that are not UTF-8.
    const uint8_t raw[] = "{\"expires\":1,\"url\":\"https://a.example/\xff\"}";
    T_ASSERT_EQ(dna_posh_parse(&doc, raw, sizeof(raw) - 1, 0), RC_PROTO);
    // Oversize: one byte over the cap is refused before parsing; exactly the cap (padded with
    // whitespace) parses.
    const char *body = "{\"expires\":1,\"url\":\"https://a.example/\"}";
    size_t body_len = strlen(body);
    uint8_t *big = malloc(DNA_POSH_DOC_MAX + 1);
    T_ASSERT(big != NULL);
    memcpy(big, body, body_len);
    memset(big + body_len, ' ', DNA_POSH_DOC_MAX + 1 - body_len);
    T_ASSERT_EQ(dna_posh_parse(&doc, big, DNA_POSH_DOC_MAX + 1, 0), RC_ENOBUFS);
    T_ASSERT_EQ(dna_posh_parse(&doc, big, DNA_POSH_DOC_MAX, 0), RC_OK);
    T_ASSERT_EQ(doc.kind, DNA_POSH_KIND_REFERENCE);
    free(big);
    // Matching: bad arguments.
    dna_posh_result_t res;
    T_ASSERT_EQ(dna_posh_match(&res, NULL, NULL, leaf, time(NULL)), RC_EINVAL);
    T_ASSERT_EQ(res, DNA_POSH_MISMATCH);
    dna_posh_doc_t empty = {0};
    T_ASSERT_EQ(dna_posh_match(&res, NULL, &empty, leaf, time(NULL)), RC_OK);
    T_ASSERT_EQ(res, DNA_POSH_NO_MATERIAL);
}

int main(void) {
    t_setup();
    test_fingerprints();
    test_expires();
    test_bad_fingerprints();
    test_reference();
    test_not_a_document();
    X509_free(leaf);
    X509_free(leaf2);
    X509_free(leaf_expired);
    EVP_PKEY_free(key);
    return 0;
}
