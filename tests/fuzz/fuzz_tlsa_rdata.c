// fuzz_tlsa_rdata.c: TLSA RDATA parsing and DANE matching on arbitrary bytes.
//
// Input: a sequence of u16-length-prefixed RDATAs (as in a DNS answer); when the input is not
// such a sequence, the whole input is one RDATA. Every RDATA goes through dna_tlsa_parse and
// dna_tlsa_set_add; the set is then matched against a fixed chain [leaf, CA] (built once). Checked
// (abort on violation):
// - on RC_OK the record's data is the RDATA after 3 bytes; on failure the output is zeroed;
// - usable records have the exact digest length / a Full length within DNA_TLSA_FULL_MAX;
// - set counters add up to the number of RDATAs;
// - the verdict is one of the three results, NONE_USABLE exactly when no record was usable, and
//   a MATCH points at a record of the set.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/x509.h>

#include "dna/tlsa.h"
#include "router/core/bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509 *fz_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key) {
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    if (x == NULL || name == NULL || !X509_set_version(x, X509_VERSION_3) ||
        !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365 * 20) == NULL ||
        !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const uint8_t *)cn, -1,
                                    -1, 0) ||
        !X509_set_subject_name(x, name) ||
        !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
        !X509_set_pubkey(x, key) || X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
        abort();
    }
    X509_NAME_free(name);
    return x;
}

static EVP_PKEY *fz_key(void) {
    EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
    EVP_PKEY *pkey = EVP_PKEY_new();
    if (ec == NULL || pkey == NULL || !EC_KEY_generate_key(ec) || !EVP_PKEY_assign_EC_KEY(pkey, ec)) {
        abort();
    }
    return pkey;
}

static STACK_OF(X509) *fz_chain(void) {
    static STACK_OF(X509) *chain;
    if (chain == NULL) {
        EVP_PKEY *ca_key = fz_key();
        EVP_PKEY *leaf_key = fz_key();
        X509 *ca = fz_cert("fuzz CA", ca_key, NULL, ca_key);
        X509 *leaf = fz_cert("xmpp.example", leaf_key, ca, ca_key);
        chain = sk_X509_new_null();
        if (chain == NULL || !sk_X509_push(chain, leaf) || !sk_X509_push(chain, ca)) {
            abort();
        }
        EVP_PKEY_free(ca_key);
        EVP_PKEY_free(leaf_key);
    }
    return chain;
}

static void check_one(dna_tlsa_set_t *set, const uint8_t *rd, size_t len) {
    dna_tlsa_rr_t rr;
    rc_t rc = dna_tlsa_parse(&rr, rd, len);
    if (rc == RC_OK) {
        if (len < 3 || rr.data != rd + 3 || rr.data_len != len - 3 || rr.usage != rd[0] ||
            rr.selector != rd[1] || rr.mtype != rd[2]) {
            abort();
        }
        if (rr.usable) {
            size_t want = rr.mtype == 1 ? 32 : rr.mtype == 2 ? 64 : 0;
            if (rr.usage > 3 || rr.selector > 1 || rr.mtype > 2 ||
                (want != 0 && rr.data_len != want) ||
                (want == 0 && (rr.data_len == 0 || rr.data_len > DNA_TLSA_FULL_MAX))) {
                abort();
            }
        }
    } else if (rc != RC_PROTO || rr.data != NULL || rr.data_len != 0 || rr.usable) {
        abort();
    }
    rc_t add = dna_tlsa_set_add(set, rd, len);
    if (add != RC_OK && add != RC_PROTO && add != RC_ENOBUFS) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dna_tlsa_set_t set;
    size_t num = 0;
    core_cur_t cur, rd;
    dna_tlsa_set_init(&set);
    core_cur_init(&cur, data, size);
    bool framed = size > 0;
    core_cur_t probe = cur;
    while (!core_cur_empty(&probe)) {
        if (!core_cur_get_u16_prefixed(&probe, &rd)) {
            framed = false;
            break;
        }
    }
    if (framed) {
        while (core_cur_get_u16_prefixed(&cur, &rd)) {
            check_one(&set, rd.ptr, rd.len);
            num++;
        }
    } else {
        check_one(&set, data, size);
        num = 1;
    }
    if (set.num_recs + set.num_unusable + set.num_malformed + set.num_dropped != num) {
        abort();
    }
    static const char *const refs[] = {"xmpp.example"};
    dna_tlsa_match_opts_t opts = {.ref_ids = refs,
                                  .num_ref_ids = 1,
                                  .allow_pkix_usages = size > 0 && (data[0] & 1),
                                  .pkix_chain_ok = size > 0 && (data[0] & 2),
                                  .now = 1700000000};
    dna_tlsa_match_t res;
    rc_t rc = dna_tlsa_match(&res, &set, fz_chain(), &opts);
    if (rc != RC_OK || res.why == NULL) {
        abort();
    }
    switch (res.result) {
    case DNA_TLSA_NONE_USABLE:
        if (res.num_usable != 0) {
            abort();
        }
        break;
    case DNA_TLSA_MISMATCH:
        if (res.num_usable == 0) {
            abort();
        }
        break;
    case DNA_TLSA_MATCH:
        if (res.num_usable == 0 || res.rec_index >= set.num_recs) {
            abort();
        }
        break;
    default:
        abort();
    }
    dna_tlsa_set_cleanup(&set);
    return 0;
}
