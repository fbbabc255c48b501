// dbkey.c: Server Dialback keys (XEP-0185 §3) and the XEP-0114 component handshake digest.
// No I/O, no logging: keys and secrets never leave this file except as the caller's output.
#include "dna/dbkey.h"

#include <stdint.h>
#include <string.h>

#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/mem.h>
#include <openssl/sha.h>

#include "router/core/bytes.h"
#include "router/core/mem.h"

// Each of receiving, originating and stream ID is bounded like a JID part (RFC 7622 §3.1).
#define DNA_DBKEY_PART_MAX 1023
#define DNA_HANDSHAKE_HEX_LEN (2 * SHA_DIGEST_LENGTH)

// part_len returns the length of |s| when it is 1..DNA_DBKEY_PART_MAX bytes, else 0. Bounded scan.
static size_t part_len(const char *s) {
    if (s == NULL) {
        return 0;
    }
    size_t len = strnlen(s, DNA_DBKEY_PART_MAX + 1);
    return len > DNA_DBKEY_PART_MAX ? 0 : len;
}

// hex_lower_ct writes the lower-case form of the |len| bytes of |in| to |out| and returns true when
// every byte is a hex digit. It has no data-dependent branches, so the time taken does not reveal
// where a presented key stops being hex or how it compares.
static bool hex_lower_ct(char *out, const char *in, size_t len) {
    uint8_t bad = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)in[i];
        uint8_t lc = c | 0x20; // maps 'A'..'F' to 'a'..'f'; digits already have bit 5 set
        uint8_t is_digit = (uint8_t)((uint8_t)(c - '0') < 10);
        uint8_t is_alpha = (uint8_t)((uint8_t)(lc - 'a') < 6);
        bad |= (uint8_t)((is_digit | is_alpha) ^ 1);
        // choose c for digits, lc for letters (the choice is irrelevant when bad)
        uint8_t mask = (uint8_t)(0 - is_alpha);
        out[i] = (char)((lc & mask) | (c & (uint8_t)~mask));
    }
    return bad == 0;
}

void dna_dbkey_secret_init(dna_dbkey_secret_t *out, const char *secret, size_t len) {
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256((const uint8_t *)(len == 0 ? "" : secret), len, md);
    core_hex_encode(out->k, md, sizeof(md));
    OPENSSL_cleanse(md, sizeof(md));
}

rc_t dna_dbkey_compute(const dna_dbkey_secret_t *secret, char out[DNA_DBKEY_HEX_LEN + 1],
                       const char *receiving, const char *originating, const char *stream_id) {
    rc_t rc = RC_EINVAL;
    HMAC_CTX ctx;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;

    HMAC_CTX_init(&ctx);
    out[0] = '\0';
    size_t recv_len = part_len(receiving);
    size_t orig_len = part_len(originating);
    size_t id_len = part_len(stream_id);
    if (secret == NULL || recv_len == 0 || orig_len == 0 || id_len == 0) {
        goto out;
    }
    // XEP-0185 §3: the HMAC key is the 64-character hex string of SHA-256(secret), not its 32 raw
    // bytes (only the hex reading reproduces the XEP's test vectors; SPEC.md §4.2).
    if (!HMAC_Init_ex(&ctx, secret->k, DNA_DBKEY_HEX_LEN, EVP_sha256(), NULL) ||
        !HMAC_Update(&ctx, (const uint8_t *)receiving, recv_len) ||
        !HMAC_Update(&ctx, (const uint8_t *)" ", 1) ||
        !HMAC_Update(&ctx, (const uint8_t *)originating, orig_len) ||
        !HMAC_Update(&ctx, (const uint8_t *)" ", 1) ||
        !HMAC_Update(&ctx, (const uint8_t *)stream_id, id_len) || !HMAC_Final(&ctx, md, &md_len) ||
        md_len != SHA256_DIGEST_LENGTH) {
        rc = RC_ENOMEM; // BoringSSL's HMAC fails only on allocation
        goto out;
    }
    core_hex_encode(out, md, SHA256_DIGEST_LENGTH);
    rc = RC_OK;

out:
    OPENSSL_cleanse(md, sizeof(md));
    HMAC_CTX_cleanup(&ctx);
    return rc;
}

bool dna_dbkey_verify(const dna_dbkey_secret_t *secret, const char *key, size_t key_len,
                      const char *receiving, const char *originating, const char *stream_id) {
    char expected[DNA_DBKEY_HEX_LEN + 1];
    char presented[DNA_DBKEY_HEX_LEN];
    bool ok = false;

    if (key == NULL || key_len != DNA_DBKEY_HEX_LEN) {
        goto out; // the length is public; only the digits are compared in constant time
    }
    bool is_hex = hex_lower_ct(presented, key, DNA_DBKEY_HEX_LEN);
    if (dna_dbkey_compute(secret, expected, receiving, originating, stream_id) != RC_OK) {
        goto out;
    }
    bool same = core_ct_equal(expected, presented, DNA_DBKEY_HEX_LEN);
    ok = is_hex & same;

out:
    OPENSSL_cleanse(expected, sizeof(expected));
    OPENSSL_cleanse(presented, sizeof(presented));
    return ok;
}

void dna_handshake_compute(char out[41], const char *stream_id, const char *secret) {
    SHA_CTX ctx;
    uint8_t md[SHA_DIGEST_LENGTH];
    const char *id = stream_id != NULL ? stream_id : "";
    const char *sec = secret != NULL ? secret : "";

    // XEP-0114 §3: hex(SHA-1(stream ID ‖ secret)), no separator. Both strings are ours (the ID we
    // generated, the configured secret), so strlen is safe here.
    SHA1_Init(&ctx);
    SHA1_Update(&ctx, id, strlen(id));
    SHA1_Update(&ctx, sec, strlen(sec));
    SHA1_Final(md, &ctx);
    core_hex_encode(out, md, sizeof(md));
    OPENSSL_cleanse(md, sizeof(md));
    OPENSSL_cleanse(&ctx, sizeof(ctx));
}

bool dna_handshake_verify(const char *digest, size_t len, const char *stream_id,
                          const char *secret) {
    char expected[DNA_HANDSHAKE_HEX_LEN + 1];
    char presented[DNA_HANDSHAKE_HEX_LEN];
    bool ok = false;

    if (digest == NULL || len != DNA_HANDSHAKE_HEX_LEN) {
        goto out;
    }
    bool is_hex = hex_lower_ct(presented, digest, DNA_HANDSHAKE_HEX_LEN);
    dna_handshake_compute(expected, stream_id, secret);
    bool same = core_ct_equal(expected, presented, DNA_HANDSHAKE_HEX_LEN);
    ok = is_hex & same;

out:
    OPENSSL_cleanse(expected, sizeof(expected));
    OPENSSL_cleanse(presented, sizeof(presented));
    return ok;
}
