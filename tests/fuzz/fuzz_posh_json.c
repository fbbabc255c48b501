// fuzz_posh_json.c: POSH document parsing (RFC 7711) and matching on arbitrary bytes.
//
// Input: the whole buffer is a POSH document body. It is parsed as a first document and as the
// target of a reference (DNA_POSH_VIA_REFERENCE). Checked (abort on violation):
// - results are RC_OK, RC_PROTO or RC_ENOBUFS; on failure the document is zeroed;
// - via a reference the result is never a reference document;
// - a reference has an https URL, a non-empty normalised host, a port != 0 and a path starting
//   with '/', all NUL-terminated within their buffers;
// - a fingerprints document has 1..DNA_POSH_MAX_FPS descriptors in all, each kept one with a hash;
// - matching a fixed certificate gives a valid result, NO_MATERIAL for expires 0;
// - dna_posh_cache_ttl never exceeds either expires or the cap.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/nid.h>
#include <openssl/x509.h>

#include "dna/posh.h"
#include "router/core/mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static X509 *fz_leaf(void) {
    static X509 *leaf;
    if (leaf == NULL) {
        EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
        EVP_PKEY *key = EVP_PKEY_new();
        X509_NAME *name = X509_NAME_new();
        leaf = X509_new();
        if (ec == NULL || key == NULL || name == NULL || leaf == NULL ||
            !EC_KEY_generate_key(ec) || !EVP_PKEY_assign_EC_KEY(key, ec) ||
            !X509_set_version(leaf, X509_VERSION_3) ||
            !ASN1_INTEGER_set(X509_get_serialNumber(leaf), 1) ||
            X509_gmtime_adj(X509_getm_notBefore(leaf), -3600) == NULL ||
            X509_gmtime_adj(X509_getm_notAfter(leaf), 86400L * 365 * 20) == NULL ||
            !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                        (const uint8_t *)"xmpp.example", -1, -1, 0) ||
            !X509_set_subject_name(leaf, name) || !X509_set_issuer_name(leaf, name) ||
            !X509_set_pubkey(leaf, key) || X509_sign(leaf, key, EVP_sha256()) <= 0) {
            abort();
        }
        X509_NAME_free(name);
        EVP_PKEY_free(key);
    }
    return leaf;
}

static void check_doc(rc_t rc, const dna_posh_doc_t *doc, unsigned flags) {
    static const dna_posh_doc_t zero;
    if (rc != RC_OK) {
        if ((rc != RC_PROTO && rc != RC_ENOBUFS) || memcmp(doc, &zero, sizeof(zero)) != 0) {
            abort();
        }
        return;
    }
    if (doc->kind == DNA_POSH_KIND_REFERENCE) {
        if ((flags & DNA_POSH_VIA_REFERENCE) != 0 || doc->num_fps != 0 ||
            memchr(doc->url, '\0', sizeof(doc->url)) == NULL ||
            memchr(doc->url_host, '\0', sizeof(doc->url_host)) == NULL ||
            memchr(doc->url_path, '\0', sizeof(doc->url_path)) == NULL ||
            !core_ascii_lower_eq(doc->url, 8, "https://", 8) || doc->url_host[0] == '\0' ||
            doc->url_port == 0 || doc->url_path[0] != '/') {
            abort();
        }
    } else if (doc->kind == DNA_POSH_KIND_FINGERPRINTS) {
        size_t all = doc->num_fps + doc->num_fps_unsupported;
        if (all == 0 || all > DNA_POSH_MAX_FPS || doc->url[0] != '\0') {
            abort();
        }
        for (size_t i = 0; i < doc->num_fps; i++) {
            if (!doc->fps[i].has_sha256 && !doc->fps[i].has_sha512) {
                abort();
            }
        }
    } else {
        abort();
    }
    dna_posh_result_t res;
    const char *why = NULL;
    if (dna_posh_match(&res, &why, doc, fz_leaf(), 1700000000) != RC_OK || why == NULL) {
        abort();
    }
    if (res != DNA_POSH_NO_MATERIAL && res != DNA_POSH_MATCH && res != DNA_POSH_MISMATCH) {
        abort();
    }
    if ((doc->expires == 0 || doc->kind == DNA_POSH_KIND_REFERENCE) && res != DNA_POSH_NO_MATERIAL) {
        abort();
    }
    uint64_t ttl = dna_posh_cache_ttl(doc, doc, 86400);
    if (ttl > doc->expires || ttl > 86400) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static dna_posh_doc_t doc; // ~7 KiB: keep it off the fuzzer's stack
    check_doc(dna_posh_parse(&doc, data, size, 0), &doc, 0);
    check_doc(dna_posh_parse(&doc, data, size, DNA_POSH_VIA_REFERENCE), &doc,
              DNA_POSH_VIA_REFERENCE);
    return 0;
}
