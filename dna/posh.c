// posh.c: POSH documents (RFC 7711) parsed with jansson into dna_posh_doc_t, and matched against
// the DER certificate with BoringSSL's SHA-2 (see posh.h).
#include "dna/posh.h"

#include <string.h>

#include <jansson.h>
#include <openssl/mem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "router/core/bytes.h"

// decode_digest strictly decodes base64 |b64| (|b64_len| bytes) of exactly |want| bytes into
// |out|: RFC 4648 §4 alphabet, padding as required, zero padding bits (the text must be the
// canonical encoding of the bytes).
static bool decode_digest(uint8_t *out, size_t want, const char *b64, size_t b64_len) {
    uint8_t buf[64];
    char again[4 * (sizeof(buf) / 3 + 1) + 1];
    size_t got = 0;
    if (want > sizeof(buf) || b64_len != 4 * ((want + 2) / 3) ||
        !core_b64_decode(buf, sizeof(buf), &got, b64, b64_len) || got != want) {
        return false;
    }
    core_b64_encode(again, buf, got);
    if (core_memcmp(again, b64, b64_len) != 0) {
        return false;
    }
    core_memcpy(out, buf, want);
    return true;
}

// parse_descriptor fills |fp| from one descriptor object. Returns RC_OK (possibly with no
// supported hash) or RC_PROTO.
static rc_t parse_descriptor(dna_posh_fp_t *fp, json_t *obj) {
    const char *key;
    json_t *val;
    *fp = (dna_posh_fp_t){0};
    if (!json_is_object(obj)) {
        return RC_PROTO;
    }
    json_object_foreach(obj, key, val) {
        size_t key_len = strlen(key); // jansson keys are NUL-terminated, NUL-free (no ALLOW_NUL)
        bool is256 = core_ascii_lower_eq(key, key_len, "sha-256", 7);
        bool is512 = core_ascii_lower_eq(key, key_len, "sha-512", 7);
        if (!is256 && !is512) {
            continue; // another hash function: not ours to judge (RFC 7711 §3.2, hash agility)
        }
        if (!json_is_string(val)) {
            return RC_PROTO;
        }
        const char *s = json_string_value(val);
        size_t s_len = json_string_length(val);
        if (is256) {
            if (fp->has_sha256 || !decode_digest(fp->sha256, sizeof(fp->sha256), s, s_len)) {
                return RC_PROTO; // "sha-256" twice in different case, or bad value
            }
            fp->has_sha256 = true;
        } else {
            if (fp->has_sha512 || !decode_digest(fp->sha512, sizeof(fp->sha512), s, s_len)) {
                return RC_PROTO;
            }
            fp->has_sha512 = true;
        }
    }
    return RC_OK;
}

// parse_url validates the reference URL |s| (|len| bytes) into |doc|'s url fields.
static rc_t parse_url(dna_posh_doc_t *doc, const char *s, size_t len) {
    static const char kScheme[] = "https://";
    core_cur_t cur, auth, host, port_cur;
    if (len == 0 || len > DNA_POSH_URL_MAX) {
        return RC_PROTO;
    }
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '#' || c == '\\') {
            return RC_PROTO; // control, space, non-ASCII, fragment, backslash
        }
    }
    if (len < sizeof(kScheme) - 1 ||
        !core_ascii_lower_eq(s, sizeof(kScheme) - 1, kScheme, sizeof(kScheme) - 1)) {
        return RC_PROTO; // RFC 7711 §3.3: https only
    }
    core_cur_init(&cur, s + sizeof(kScheme) - 1, len - (sizeof(kScheme) - 1));
    // The authority runs to the first '/' or '?'.
    size_t auth_len = 0;
    while (auth_len < cur.len && cur.ptr[auth_len] != '/' && cur.ptr[auth_len] != '?') {
        auth_len++;
    }
    if (!core_cur_get_bytes(&cur, &auth, auth_len) || auth.len == 0) {
        return RC_PROTO;
    }
    for (size_t i = 0; i < auth.len; i++) {
        if (auth.ptr[i] == '@') {
            return RC_PROTO; // userinfo: refused
        }
    }
    uint64_t port = 443;
    if (auth.ptr[0] == '[') {
        // IP-literal: "[...]" then optionally ":port".
        core_cur_t rest = auth;
        if (!core_cur_skip(&rest, 1) || !core_cur_get_until(&rest, &host, ']') || host.len == 0) {
            return RC_PROTO;
        }
        host.ptr--; // keep the brackets for dna_domain_normalize
        host.len += 2;
        port_cur = rest;
    } else {
        core_cur_t rest = auth;
        if (!core_cur_get_until(&rest, &host, ':')) {
            host = auth;
            rest.len = 0;
            port_cur = rest;
        } else {
            port_cur = rest;
            if (port_cur.len == 0) {
                return RC_PROTO; // "host:" without digits
            }
        }
    }
    if (port_cur.len != 0) {
        if (host.ptr[0] == '[' && !core_cur_match(&port_cur, ":", 1)) {
            return RC_PROTO;
        }
        if (!core_cur_get_decimal(&port_cur, 65535, &port) || !core_cur_empty(&port_cur) ||
            port == 0) {
            return RC_PROTO;
        }
    }
    if (host.len == 0 || dna_domain_normalize(doc->url_host, sizeof(doc->url_host),
                                              (const char *)host.ptr, host.len) != RC_OK) {
        return RC_PROTO;
    }
    doc->url_port = (uint16_t)port;
    core_memcpy(doc->url, s, len);
    doc->url[len] = '\0';
    if (cur.len == 0) {
        core_memcpy(doc->url_path, "/", 2);
    } else if (cur.ptr[0] == '?') {
        doc->url_path[0] = '/';
        core_memcpy(doc->url_path + 1, cur.ptr, cur.len);
        doc->url_path[cur.len + 1] = '\0';
    } else {
        core_memcpy(doc->url_path, cur.ptr, cur.len);
        doc->url_path[cur.len] = '\0';
    }
    return RC_OK;
}

rc_t dna_posh_parse(dna_posh_doc_t *out, const uint8_t *json, size_t json_len, unsigned flags) {
    rc_t rc = RC_PROTO;
    json_t *root = NULL;
    json_error_t err;
    core_memset(out, 0, sizeof(*out));
    if (json_len > DNA_POSH_DOC_MAX) {
        rc = RC_ENOBUFS;
        goto out;
    }
    if (json == NULL || json_len == 0) {
        goto out;
    }
    root = json_loadb((const char *)json, json_len, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL || !json_is_object(root)) {
        goto out;
    }
    json_t *expires = json_object_get(root, "expires");
    json_t *fps = json_object_get(root, "fingerprints");
    json_t *url = json_object_get(root, "url");
    if (!json_is_integer(expires) || json_integer_value(expires) < 0) {
        goto out; // RFC 7711 §3.2: a non-negative integer, required
    }
    out->expires = (uint64_t)json_integer_value(expires);
    if ((fps == NULL) == (url == NULL)) {
        goto out; // exactly one of them (a fingerprints document MUST NOT contain "url")
    }
    if (url != NULL) {
        if ((flags & DNA_POSH_VIA_REFERENCE) != 0 || !json_is_string(url)) {
            goto out;
        }
        rc = parse_url(out, json_string_value(url), json_string_length(url));
        if (rc != RC_OK) {
            goto out;
        }
        out->kind = DNA_POSH_KIND_REFERENCE;
        rc = RC_OK;
        goto out;
    }
    if (!json_is_array(fps) || json_array_size(fps) == 0) {
        goto out; // MUST contain at least one descriptor
    }
    if (json_array_size(fps) > DNA_POSH_MAX_FPS) {
        rc = RC_ENOBUFS;
        goto out;
    }
    size_t i;
    json_t *desc;
    json_array_foreach(fps, i, desc) {
        dna_posh_fp_t fp;
        rc = parse_descriptor(&fp, desc);
        if (rc != RC_OK) {
            goto out;
        }
        if (fp.has_sha256 || fp.has_sha512) {
            out->fps[out->num_fps++] = fp;
        } else {
            out->num_fps_unsupported++;
        }
    }
    out->kind = DNA_POSH_KIND_FINGERPRINTS;
    rc = RC_OK;
out:
    json_decref(root);
    if (rc != RC_OK) {
        core_memset(out, 0, sizeof(*out));
    }
    return rc;
}

rc_t dna_posh_match(dna_posh_result_t *out, const char **out_why, const dna_posh_doc_t *doc,
                    X509 *leaf, time_t now) {
    const char *why = "certificate could not be encoded or out of memory (failing closed)";
    rc_t rc = RC_ENOMEM;
    uint8_t *der = NULL;
    int der_len = -1;
    *out = DNA_POSH_MISMATCH;
    if (doc == NULL || leaf == NULL) {
        why = "no document or no certificate";
        rc = RC_EINVAL;
        goto out;
    }
    if (doc->kind != DNA_POSH_KIND_FINGERPRINTS) {
        *out = DNA_POSH_NO_MATERIAL;
        why = "not a fingerprints document (a reference must be followed first)";
        rc = RC_OK;
        goto out;
    }
    if (doc->expires == 0) {
        *out = DNA_POSH_NO_MATERIAL;
        why = "POSH document has expires 0: its material is invalid";
        rc = RC_OK;
        goto out;
    }
    rc = RC_OK;
    if (X509_cmp_time(X509_get0_notBefore(leaf), &now) >= 0 ||
        X509_cmp_time(X509_get0_notAfter(leaf), &now) <= 0) {
        why = "certificate is outside its validity period";
        goto out;
    }
    if (doc->num_fps == 0) {
        why = "no fingerprint uses a hash function fedrouter supports (sha-256, sha-512)";
        goto out;
    }
    der_len = i2d_X509(leaf, &der);
    if (der_len <= 0 || der == NULL) {
        rc = RC_ENOMEM;
        why = "certificate could not be encoded or out of memory (failing closed)";
        goto out;
    }
    uint8_t md256[SHA256_DIGEST_LENGTH];
    uint8_t md512[SHA512_DIGEST_LENGTH];
    SHA256(der, (size_t)der_len, md256);
    SHA512(der, (size_t)der_len, md512);
    why = "the certificate's fingerprint is not in the POSH document";
    for (size_t i = 0; i < doc->num_fps; i++) {
        const dna_posh_fp_t *fp = &doc->fps[i];
        bool hit = fp->has_sha512 ? core_memcmp(fp->sha512, md512, sizeof(md512)) == 0
                                  : core_memcmp(fp->sha256, md256, sizeof(md256)) == 0;
        if (hit) {
            *out = DNA_POSH_MATCH;
            why = "the certificate's fingerprint is in the POSH document";
            break;
        }
    }
out:
    OPENSSL_free(der);
    if (out_why != NULL) {
        *out_why = why;
    }
    return rc;
}

uint64_t dna_posh_cache_ttl(const dna_posh_doc_t *ref, const dna_posh_doc_t *fps, uint64_t max_ttl) {
    uint64_t ttl = max_ttl;
    if (fps == NULL) {
        return 0;
    }
    if (fps->expires < ttl) {
        ttl = fps->expires;
    }
    if (ref != NULL && ref->expires < ttl) {
        ttl = ref->expires;
    }
    return ttl;
}
