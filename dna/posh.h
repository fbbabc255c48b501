// posh.h: PKIX over Secure HTTP (RFC 7711, SPEC.md §7): POSH documents and certificate matching.
// No I/O, no logging: the router fetches https://DOMAIN/.well-known/posh/xmpp-server.json (HTTPS
// certificate PKIX-validated for DOMAIN, redirects bounded and HTTPS only, body capped at
// DNA_POSH_DOC_MAX), hands the body to dna_posh_parse, follows a reference document's URL once
// (parsing that body with DNA_POSH_VIA_REFERENCE), and matches the peer's certificate with
// dna_posh_match. A 404 means "no POSH material" and never reaches this file.
#ifndef RT_DNA_POSH_H
#define RT_DNA_POSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "dna/domain.h"
#include "router/core/rc.h"

#define DNA_POSH_DOC_MAX (64 * 1024) // larger bodies are refused before parsing
#define DNA_POSH_MAX_FPS 32          // fingerprint descriptors per document
#define DNA_POSH_URL_MAX 2048        // a reference URL, in bytes

typedef enum dna_posh_kind {
    DNA_POSH_KIND_NONE = 0,
    DNA_POSH_KIND_FINGERPRINTS = 1, // "fingerprints" + "expires" (RFC 7711 §3.2)
    DNA_POSH_KIND_REFERENCE = 2,    // "url" + "expires" (RFC 7711 §3.3): fetch |url| next
} dna_posh_kind_t;

// dna_posh_fp_t is one fingerprint descriptor: the hashes of the DER end-entity certificate that
// fedrouter supports. Other hash names (sha-384, ...) are ignored.
typedef struct dna_posh_fp {
    bool has_sha256;
    bool has_sha512;
    uint8_t sha256[32];
    uint8_t sha512[64];
} dna_posh_fp_t;

// dna_posh_doc_t is a validated POSH document. Plain data: may be copied and cached.
typedef struct dna_posh_doc {
    dna_posh_kind_t kind;
    // Seconds the material (fingerprints) or the delegation (reference) may be cached. 0 means
    // the document is INVALID (RFC 7711 §3.2/§3.3): dna_posh_match reports no material, and it
    // must not be cached. Combine a reference and its target with dna_posh_cache_ttl.
    uint64_t expires;
    // FINGERPRINTS: descriptors with at least one supported hash, in document order.
    dna_posh_fp_t fps[DNA_POSH_MAX_FPS];
    size_t num_fps;
    size_t num_fps_unsupported; // descriptors with no hash we support (skipped)
    // REFERENCE: the URL as in the document (NUL-terminated), its host normalised with
    // dna_domain_normalize (what the HTTPS certificate must be valid for), port (443 when absent)
    // and path with query (at least "/").
    char url[DNA_POSH_URL_MAX + 1];
    char url_host[DNA_DOMAIN_MAX];
    uint16_t url_port;
    char url_path[DNA_POSH_URL_MAX + 1];
} dna_posh_doc_t;

// Flags for dna_posh_parse.
enum {
    // The body was fetched from a reference document's URL: it MUST be a fingerprints document
    // (RFC 7711 §3.3: a reference never points to another reference).
    DNA_POSH_VIA_REFERENCE = 1u << 0,
};

// dna_posh_parse validates the POSH document |json| (|json_len| bytes, not NUL-terminated) into
// |out|. Rules: a JSON object (duplicate keys refused); unknown members ignored; "expires"
// required, a JSON integer >= 0; exactly one of "fingerprints" (a non-empty array of objects;
// within each, "sha-256"/"sha-512" (names case-insensitive) must be strings holding canonical
// base64 of exactly 32/64 bytes, other names are ignored; at most DNA_POSH_MAX_FPS descriptors)
// or "url" (an https:// URL of printable ASCII, no userinfo, no fragment, a valid host, port
// 1..65535, at most DNA_POSH_URL_MAX bytes). Returns RC_OK; RC_ENOBUFS when |json_len| exceeds
// DNA_POSH_DOC_MAX or there are too many descriptors; RC_PROTO for anything malformed, and for a
// reference document when |flags| has DNA_POSH_VIA_REFERENCE. On failure |out| is zeroed
// (kind NONE). Borrows |json|. Thread: any.
RT_MUSTCHECK rc_t dna_posh_parse(dna_posh_doc_t *out, const uint8_t *json, size_t json_len,
                                 unsigned flags);

typedef enum dna_posh_result {
    DNA_POSH_NO_MATERIAL = 0, // no usable POSH material: fall back to other methods (RFC 7712 §5.2)
    DNA_POSH_MATCH = 1,       // the certificate is listed
    DNA_POSH_MISMATCH = 2,    // material exists and the certificate is not listed (or expired)
} dna_posh_result_t;

// dna_posh_match compares the DER encoding of |leaf| (the whole end-entity certificate, not the
// SPKI) with each descriptor of the fingerprints document |doc|, using the strongest supported
// hash present in each descriptor (SHA-512 over SHA-256). Writes to |*out|: MATCH; MISMATCH when
// none matches, or when |leaf| is outside its validity period at |now| (RFC 7711 §4: an expired
// certificate is never valid), or no descriptor has a supported hash; NO_MATERIAL when |doc| has
// expires == 0 or is a reference document (fetch its URL first). |*out_why| (may be NULL) gets a
// static explanation for operators. Returns RC_OK, RC_EINVAL for NULL |doc|/|leaf|, RC_ENOMEM
// (then |*out| is MISMATCH). Borrows all. Thread: any.
RT_MUSTCHECK rc_t dna_posh_match(dna_posh_result_t *out, const char **out_why,
                                 const dna_posh_doc_t *doc, X509 *leaf, time_t now);

// dna_posh_cache_ttl returns how long a POSH result may be cached, in seconds: the lower of
// |fps->expires| and, when |ref| is not NULL (the material came through a reference document),
// |ref->expires|, capped at |max_ttl| (RFC 7711 §3.4: never indefinitely, the lower of the two).
// 0 means do not cache. Thread: any.
uint64_t dna_posh_cache_ttl(const dna_posh_doc_t *ref, const dna_posh_doc_t *fps, uint64_t max_ttl);

#endif
