// tlsa.c: TLSA RDATA parsing and DANE certificate matching (see tlsa.h). Hashes, DER encodings
// and chain building are BoringSSL's; this file only decides which to compare.
#include "dna/tlsa.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "dna/pkix.h"
#include "router/core/bytes.h"

rc_t dna_tlsa_parse(dna_tlsa_rr_t *out, const uint8_t *rdata, size_t rdata_len) {
    core_cur_t cur;
    dna_tlsa_rr_t rr = {0};
    core_cur_init(&cur, rdata, rdata_len);
    if (!core_cur_get_u8(&cur, &rr.usage) || !core_cur_get_u8(&cur, &rr.selector) ||
        !core_cur_get_u8(&cur, &rr.mtype)) {
        *out = (dna_tlsa_rr_t){0};
        return RC_PROTO;
    }
    // The association data is the rest of the RDATA (RFC 6698 §2.1.4).
    rr.data = cur.ptr;
    rr.data_len = cur.len;
    bool known = rr.usage <= DNA_TLSA_USAGE_DANE_EE && rr.selector <= DNA_TLSA_SEL_SPKI &&
                 rr.mtype <= DNA_TLSA_MT_SHA512;
    if (!known) {
        rr.usable = false;
        *out = rr;
        return RC_OK;
    }
    size_t want = 0;
    switch (rr.mtype) {
    case DNA_TLSA_MT_SHA256:
        want = SHA256_DIGEST_LENGTH;
        break;
    case DNA_TLSA_MT_SHA512:
        want = SHA512_DIGEST_LENGTH;
        break;
    default:
        break;
    }
    if ((want != 0 && rr.data_len != want) ||
        (want == 0 && (rr.data_len == 0 || rr.data_len > DNA_TLSA_FULL_MAX))) {
        *out = (dna_tlsa_rr_t){0};
        return RC_PROTO;
    }
    rr.usable = true;
    *out = rr;
    return RC_OK;
}

void dna_tlsa_set_init(dna_tlsa_set_t *set) {
    core_memset(set, 0, sizeof(*set));
}

void dna_tlsa_set_cleanup(dna_tlsa_set_t *set) {
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->num_recs; i++) {
        free((void *)set->recs[i].data);
    }
    core_memset(set, 0, sizeof(*set));
}

rc_t dna_tlsa_set_add(dna_tlsa_set_t *set, const uint8_t *rdata, size_t rdata_len) {
    dna_tlsa_rr_t rr;
    rc_t rc = dna_tlsa_parse(&rr, rdata, rdata_len);
    if (rc != RC_OK) {
        set->num_malformed++;
        return rc;
    }
    if (!rr.usable) {
        set->num_unusable++;
        return RC_OK;
    }
    if (set->num_recs >= DNA_TLSA_MAX_RECORDS) {
        set->num_dropped++;
        return RC_ENOBUFS;
    }
    // rr.data_len is 32, 64 or 1..DNA_TLSA_FULL_MAX (checked by the parser): a fixed bound.
    uint8_t *copy = core_xmalloc(rr.data_len);
    core_memcpy(copy, rr.data, rr.data_len);
    rr.data = copy;
    set->recs[set->num_recs++] = rr;
    return RC_OK;
}

// der_of returns the DER encoding of |x|'s certificate (selector 0) or SubjectPublicKeyInfo
// (selector 1) in |*out| (OPENSSL_free), its length in |*out_len|. Returns false on failure.
static bool der_of(X509 *x, uint8_t selector, uint8_t **out, size_t *out_len) {
    int len = -1;
    *out = NULL;
    if (selector == DNA_TLSA_SEL_CERT) {
        len = i2d_X509(x, out);
    } else {
        X509_PUBKEY *pk = X509_get_X509_PUBKEY(x);
        if (pk != NULL) {
            len = i2d_X509_PUBKEY(pk, out);
        }
    }
    if (len <= 0 || *out == NULL) {
        OPENSSL_free(*out);
        *out = NULL;
        return false;
    }
    *out_len = (size_t)len;
    return true;
}

// rr_matches compares record |rr| with certificate |x|: 1 match, 0 no match, -1 when the DER
// encoding could not be produced (allocation failure or an unencodable certificate).
static int rr_matches(const dna_tlsa_rr_t *rr, X509 *x) {
    uint8_t *der = NULL;
    size_t der_len = 0;
    int ret = -1;
    uint8_t md[SHA512_DIGEST_LENGTH];
    if (!der_of(x, rr->selector, &der, &der_len)) {
        goto out;
    }
    switch (rr->mtype) {
    case DNA_TLSA_MT_FULL:
        ret = der_len == rr->data_len && core_memcmp(der, rr->data, der_len) == 0;
        break;
    case DNA_TLSA_MT_SHA256:
        SHA256(der, der_len, md);
        ret = rr->data_len == SHA256_DIGEST_LENGTH && core_memcmp(md, rr->data, rr->data_len) == 0;
        break;
    case DNA_TLSA_MT_SHA512:
        SHA512(der, der_len, md);
        ret = rr->data_len == SHA512_DIGEST_LENGTH && core_memcmp(md, rr->data, rr->data_len) == 0;
        break;
    default:
        ret = 0;
        break;
    }
out:
    OPENSSL_free(der);
    return ret;
}

rc_t dna_tlsa_verify_with_ta(X509 *leaf, X509 *ta, STACK_OF(X509) *untrusted, time_t now) {
    rc_t rc = RC_ENOMEM;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (store == NULL || ctx == NULL || !X509_STORE_add_cert(store, ta) ||
        !X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
        goto out;
    }
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_PARTIAL_CHAIN);
    X509_STORE_CTX_set_time(ctx, 0, now);
    rc = X509_verify_cert(ctx) == 1 ? RC_OK : RC_DNA_MISMATCH;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

// names_ok is true when |leaf| names one of the reference identities of |opts|.
static bool names_ok(X509 *leaf, const dna_tlsa_match_opts_t *opts) {
    dna_pkix_opts_t popts = {.cn_fallback = opts->cn_fallback};
    for (size_t i = 0; i < opts->num_ref_ids; i++) {
        if (opts->ref_ids[i] != NULL && dna_pkix_match(leaf, opts->ref_ids[i], &popts) == RC_OK) {
            return true;
        }
    }
    return false;
}

// Candidate failure reasons, most informative last: a later one replaces an earlier one.
enum { WHY_NONE, WHY_NO_MATCH, WHY_PKIX, WHY_NAMES, WHY_CHAIN, WHY_INTERNAL };
static const char *const kWhy[] = {
    [WHY_NONE] = "no usable TLSA record",
    [WHY_NO_MATCH] = "no usable TLSA record matches the certificate chain",
    [WHY_PKIX] = "a PKIX-TA/PKIX-EE record matched but PKIX validation failed",
    [WHY_NAMES] = "a TA/PKIX record matched but the certificate names no reference identity",
    [WHY_CHAIN] = "a DANE-TA record matched but the leaf does not chain to that trust anchor",
    [WHY_INTERNAL] = "certificate could not be encoded or out of memory (failing closed)",
};

// ta_check finishes a TA-style match (usages 0 and 2) for trust anchor |ta|: 1 when the peer is
// authenticated, 0 when not (|*why| raised), -1 on allocation failure.
static int ta_check(const dna_tlsa_rr_t *rr, X509 *leaf, X509 *ta, STACK_OF(X509) *chain,
                    const dna_tlsa_match_opts_t *opts, int *why) {
    if (rr->usage == DNA_TLSA_USAGE_PKIX_TA) {
        if (!opts->pkix_chain_ok) {
            *why = *why > WHY_PKIX ? *why : WHY_PKIX;
            return 0;
        }
    } else {
        rc_t rc = dna_tlsa_verify_with_ta(leaf, ta, chain, opts->now);
        if (rc == RC_ENOMEM) {
            return -1;
        }
        if (rc != RC_OK) {
            *why = *why > WHY_CHAIN ? *why : WHY_CHAIN;
            return 0;
        }
    }
    if (!names_ok(leaf, opts)) {
        *why = *why > WHY_NAMES ? *why : WHY_NAMES;
        return 0;
    }
    return 1;
}

// try_record evaluates one usable record: 1 authenticated, 0 not, -1 internal failure.
static int try_record(const dna_tlsa_rr_t *rr, STACK_OF(X509) *chain,
                      const dna_tlsa_match_opts_t *opts, int *why) {
    X509 *leaf = sk_X509_value(chain, 0);
    if (rr->usage == DNA_TLSA_USAGE_DANE_EE || rr->usage == DNA_TLSA_USAGE_PKIX_EE) {
        int m = rr_matches(rr, leaf);
        if (m <= 0) {
            if (m == 0 && *why < WHY_NO_MATCH) {
                *why = WHY_NO_MATCH;
            }
            return m;
        }
        if (rr->usage == DNA_TLSA_USAGE_DANE_EE) {
            return 1; // RFC 7671 §5.1: no name and no date checks
        }
        if (!opts->pkix_chain_ok) {
            *why = *why > WHY_PKIX ? *why : WHY_PKIX;
            return 0;
        }
        if (!names_ok(leaf, opts)) {
            *why = *why > WHY_NAMES ? *why : WHY_NAMES;
            return 0;
        }
        return 1;
    }
    // TA usages: any certificate after the leaf.
    bool found = false;
    size_t n = sk_X509_num(chain);
    for (size_t i = 1; i < n; i++) {
        X509 *ta = sk_X509_value(chain, i);
        int m = rr_matches(rr, ta);
        if (m < 0) {
            return -1;
        }
        if (m == 0) {
            continue;
        }
        found = true;
        int r = ta_check(rr, leaf, ta, chain, opts, why);
        if (r != 0) {
            return r;
        }
    }
    // "2 0 0" carries the whole TA certificate: it need not be in the chain (RFC 7671 §5.2.2).
    if (!found && rr->usage == DNA_TLSA_USAGE_DANE_TA && rr->selector == DNA_TLSA_SEL_CERT &&
        rr->mtype == DNA_TLSA_MT_FULL) {
        const uint8_t *p = rr->data;
        X509 *ta = d2i_X509(NULL, &p, (long)rr->data_len);
        if (ta != NULL && p == rr->data + rr->data_len) {
            found = true;
            int r = ta_check(rr, leaf, ta, chain, opts, why);
            X509_free(ta);
            return r;
        }
        X509_free(ta);
    }
    if (!found && *why < WHY_NO_MATCH) {
        *why = WHY_NO_MATCH;
    }
    return 0;
}

// usage_considered applies the usage policy of |opts|.
static bool usage_considered(uint8_t usage, const dna_tlsa_match_opts_t *opts) {
    return usage == DNA_TLSA_USAGE_DANE_TA || usage == DNA_TLSA_USAGE_DANE_EE ||
           opts->allow_pkix_usages;
}

rc_t dna_tlsa_match(dna_tlsa_match_t *out, const dna_tlsa_set_t *set, STACK_OF(X509) *chain,
                    const dna_tlsa_match_opts_t *opts) {
    *out = (dna_tlsa_match_t){.result = DNA_TLSA_MISMATCH, .why = kWhy[WHY_INTERNAL]};
    if (chain == NULL || sk_X509_num(chain) == 0 || sk_X509_value(chain, 0) == NULL) {
        out->why = "no peer certificate";
        return RC_EINVAL;
    }
    // Digest agility: which (usage, selector) combinations carry SHA2-512 records.
    bool has512[4][2] = {{false}};
    for (size_t i = 0; i < set->num_recs; i++) {
        const dna_tlsa_rr_t *rr = &set->recs[i];
        if (rr->usable && usage_considered(rr->usage, opts) && rr->mtype == DNA_TLSA_MT_SHA512) {
            has512[rr->usage][rr->selector] = true;
        }
    }
    int why = WHY_NONE;
    size_t num_usable = 0;
    for (size_t i = 0; i < set->num_recs; i++) {
        const dna_tlsa_rr_t *rr = &set->recs[i];
        if (!rr->usable || !usage_considered(rr->usage, opts) ||
            (rr->mtype == DNA_TLSA_MT_SHA256 && has512[rr->usage][rr->selector])) {
            continue;
        }
        num_usable++;
        int r = try_record(rr, chain, opts, &why);
        if (r < 0) {
            out->num_usable = num_usable;
            return RC_ENOMEM; // |out| says MISMATCH: fail closed
        }
        if (r > 0) {
            *out = (dna_tlsa_match_t){.result = DNA_TLSA_MATCH,
                                      .num_usable = num_usable,
                                      .rec_index = i,
                                      .usage = rr->usage,
                                      .why = "a usable TLSA record matches"};
            return RC_OK;
        }
    }
    out->num_usable = num_usable;
    if (num_usable == 0) {
        out->result = DNA_TLSA_NONE_USABLE;
        out->why = kWhy[WHY_NONE];
    } else {
        out->result = DNA_TLSA_MISMATCH;
        out->why = kWhy[why == WHY_NONE ? WHY_NO_MATCH : why];
    }
    return RC_OK;
}

rc_t dna_tlsa_owner_name(char *out, size_t out_cap, uint16_t port, const char *host) {
    if (out == NULL || host == NULL || port == 0) {
        return RC_EINVAL;
    }
    size_t host_len = strnlen(host, DNA_TLSA_OWNER_MAX);
    if (host_len > 0 && host[host_len - 1] == '.') {
        host_len--;
    }
    if (host_len == 0 || host_len >= DNA_TLSA_OWNER_MAX) {
        return RC_DNA_BAD_NAME;
    }
    size_t label_len = 0;
    for (size_t i = 0; i < host_len; i++) {
        char c = host[i];
        if (c == '.') {
            if (label_len == 0) {
                return RC_DNA_BAD_NAME;
            }
            label_len = 0;
            continue;
        }
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!ok || ++label_len > 63) {
            return RC_DNA_BAD_NAME;
        }
    }
    if (label_len == 0) {
        return RC_DNA_BAD_NAME;
    }
    char prefix[16]; // "_65535._tcp." is 12 bytes
    int plen = snprintf(prefix, sizeof(prefix), "_%u._tcp.", (unsigned)port);
    if (plen <= 0 || (size_t)plen >= sizeof(prefix)) {
        return RC_EINVAL;
    }
    size_t total = (size_t)plen + host_len;
    if (total > 253) {
        return RC_DNA_BAD_NAME;
    }
    if (total + 1 > out_cap) {
        return RC_ENOBUFS;
    }
    core_memcpy(out, prefix, (size_t)plen);
    core_memcpy(out + plen, host, host_len);
    out[total] = '\0';
    return RC_OK;
}

const char *dna_tlsa_usage_name(uint8_t usage) {
    static const char *const names[] = {"PKIX-TA", "PKIX-EE", "DANE-TA", "DANE-EE"};
    return usage < RT_ARRAY_LEN(names) ? names[usage] : usage == 255 ? "PrivCert" : "unknown";
}

const char *dna_tlsa_selector_name(uint8_t selector) {
    static const char *const names[] = {"Cert", "SPKI"};
    return selector < RT_ARRAY_LEN(names) ? names[selector] : selector == 255 ? "PrivSel" : "unknown";
}

const char *dna_tlsa_mtype_name(uint8_t mtype) {
    static const char *const names[] = {"Full", "SHA2-256", "SHA2-512"};
    return mtype < RT_ARRAY_LEN(names) ? names[mtype] : mtype == 255 ? "PrivMatch" : "unknown";
}
