// dbkey.h: Server Dialback keys (XEP-0185) and the XEP-0114 component handshake.
//
// key = lowercase-hex(HMAC-SHA256(K, receiving + " " + originating + " " + stream_id)), with
// K = lowercase-hex(SHA-256(secret)) used as a 64-character ASCII key. Keys are compared in
// constant time and never logged. Thread: any.
#ifndef RT_DNA_DBKEY_H
#define RT_DNA_DBKEY_H

#include <stdbool.h>
#include <stddef.h>

#include "router/core/rc.h"

#define DNA_DBKEY_HEX_LEN 64

typedef struct dna_dbkey_secret {
    char k[DNA_DBKEY_HEX_LEN + 1]; // hex(SHA-256(secret))
} dna_dbkey_secret_t;

// dna_dbkey_secret_init derives K from |secret| (|len| bytes).
void dna_dbkey_secret_init(dna_dbkey_secret_t *out, const char *secret, size_t len);
// dna_dbkey_compute writes the 64 hex digits and a NUL to |out|. Returns RC_OK, or RC_EINVAL
// when an input is empty or longer than 1023 bytes.
RT_MUSTCHECK rc_t dna_dbkey_compute(const dna_dbkey_secret_t *secret, char out[DNA_DBKEY_HEX_LEN + 1],
                                    const char *receiving, const char *originating,
                                    const char *stream_id);
// dna_dbkey_verify is true when |key| (|key_len| bytes, exactly 64 hex digits, either case) is the
// key for (receiving, originating, stream_id). Constant time in the key.
bool dna_dbkey_verify(const dna_dbkey_secret_t *secret, const char *key, size_t key_len,
                      const char *receiving, const char *originating, const char *stream_id);

// dna_handshake_compute writes lowercase-hex(SHA-1(stream_id + secret)) and a NUL (XEP-0114).
void dna_handshake_compute(char out[41], const char *stream_id, const char *secret);
// dna_handshake_verify compares |digest| (|len| bytes, 40 hex digits, either case) in constant time.
bool dna_handshake_verify(const char *digest, size_t len, const char *stream_id,
                          const char *secret);

#endif
