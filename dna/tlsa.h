// tlsa.h: DANE TLSA records (RFC 6698, RFC 7218 names, RFC 7671 operations, RFC 7673 for SRV):
// RDATA parsing and certificate matching. No I/O, no logging.
//
// The trust rule (SPEC.md DANE-1/DANE-2), written down here because this is where it is applied:
// TLSA records are only ever given to these functions by the router when the answer came from
// the configured validating resolver (on-host or over a trusted channel) with the AD bit set,
// i.e. the RRset is DNSSEC "secure". An answer without AD is "insecure" and its records are
// unusable: the router must not parse them into a set at all. A SERVFAIL from the validating
// resolver ("bogus" or "indeterminate") means: do not connect to that target (the policy layer,
// dna/prooftype.h, turns it into a refusal or a temporary failure).
//
// Usages: DANE-EE(3) and DANE-TA(2) always; PKIX-TA(0) and PKIX-EE(1) only when the caller allows
// them (RFC 7671 §4: NOT RECOMMENDED next to 2/3; config-gated). Selectors Cert(0) and SPKI(1);
// matching types Full(0), SHA2-256(1), SHA2-512(2). Anything else is "unusable": ignored, not an
// error (RFC 6698 §4.1). Malformed records (short RDATA, wrong digest length) are unusable too;
// the parser reports them separately so that operators can be told.
#ifndef RT_DNA_TLSA_H
#define RT_DNA_TLSA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "router/core/rc.h"

#define DNA_TLSA_FULL_MAX 4096     // cap on Full(0) association data (a certificate or SPKI)
#define DNA_TLSA_MAX_RECORDS 32    // records kept per set; more are dropped (fail closed)
#define DNA_TLSA_OWNER_MAX 256     // "_65535._tcp." + a 253-octet name + NUL fits

// Usage, selector and matching type values (RFC 7218 names).
enum {
    DNA_TLSA_USAGE_PKIX_TA = 0,
    DNA_TLSA_USAGE_PKIX_EE = 1,
    DNA_TLSA_USAGE_DANE_TA = 2,
    DNA_TLSA_USAGE_DANE_EE = 3,
    DNA_TLSA_SEL_CERT = 0,
    DNA_TLSA_SEL_SPKI = 1,
    DNA_TLSA_MT_FULL = 0,
    DNA_TLSA_MT_SHA256 = 1,
    DNA_TLSA_MT_SHA512 = 2,
};

// dna_tlsa_rr_t is one parsed TLSA record. From dna_tlsa_parse, |data| borrows the RDATA; inside
// a dna_tlsa_set_t it points to the set's own copy.
typedef struct dna_tlsa_rr {
    uint8_t usage;
    uint8_t selector;
    uint8_t mtype;
    bool usable; // false: unknown usage, selector or matching type (ignore the record)
    const uint8_t *data;
    size_t data_len;
} dna_tlsa_rr_t;

// dna_tlsa_parse parses one TLSA RDATA (|rdata_len| bytes: usage u8, selector u8, matching type
// u8, association data to the end) into |out|. Returns RC_OK for a well-formed record; then
// |out->usable| is false when the usage, selector or matching type is unknown (the association
// data is not checked for those). Returns RC_PROTO for a malformed record of known type (fewer
// than 3 bytes, SHA2-256 data not 32 bytes, SHA2-512 data not 64, Full data empty or over
// DNA_TLSA_FULL_MAX); |out| is then zeroed. A malformed record is unusable: ignore it, do not
// fail the connection because of it. Borrows |rdata| (|out->data| points into it). Thread: any.
RT_MUSTCHECK rc_t dna_tlsa_parse(dna_tlsa_rr_t *out, const uint8_t *rdata, size_t rdata_len);

// dna_tlsa_set_t holds the usable records of one TLSA RRset (one _port._tcp.host) as owned
// copies, plus counts of what was ignored. Zero it (or dna_tlsa_set_init) before use; release it
// with dna_tlsa_set_cleanup. The router may share a filled set read-only between threads.
typedef struct dna_tlsa_set {
    dna_tlsa_rr_t recs[DNA_TLSA_MAX_RECORDS];
    size_t num_recs;
    size_t num_unusable;  // well-formed, unknown usage/selector/matching type
    size_t num_malformed; // RC_PROTO from dna_tlsa_parse
    size_t num_dropped;   // well-formed and known, but over DNA_TLSA_MAX_RECORDS
} dna_tlsa_set_t;

// dna_tlsa_set_init zeroes |set| (an empty set). Thread: the owner of |set|.
void dna_tlsa_set_init(dna_tlsa_set_t *set);
// dna_tlsa_set_cleanup frees the copies and zeroes |set|. Accepts a zeroed set.
void dna_tlsa_set_cleanup(dna_tlsa_set_t *set);

// dna_tlsa_set_add parses |rdata| (|rdata_len| bytes) and keeps a copy when the record is usable.
// Returns RC_OK when it was kept or was well-formed but unusable (counted in num_unusable),
// RC_PROTO when malformed (counted in num_malformed), RC_ENOBUFS when the set is full (counted in
// num_dropped). None of these is a reason to fail the connection by itself. Copies |rdata|
// (at most DNA_TLSA_FULL_MAX bytes per record, so a set holds at most ~128 KiB). Thread: the
// owner of |set|.
RT_MUSTCHECK rc_t dna_tlsa_set_add(dna_tlsa_set_t *set, const uint8_t *rdata, size_t rdata_len);

typedef enum dna_tlsa_result {
    DNA_TLSA_NONE_USABLE = 0, // no usable record: proceed as without DANE (RFC 7673 §4.1)
    DNA_TLSA_MATCH = 1,       // a usable record authenticates the peer
    DNA_TLSA_MISMATCH = 2,    // usable records exist and none matched: the connection MUST fail
} dna_tlsa_result_t;

// dna_tlsa_match_opts_t is what the caller knows beyond the certificates.
typedef struct dna_tlsa_match_opts {
    // Reference identities for the name checks of DANE-TA, PKIX-TA and PKIX-EE matches (RFC 7673
    // §4.2): the service domain, plus the SRV target host when the SRV answer was DNSSEC-secure
    // (secure delegation). Normalised A-labels (dna_domain_normalize). DANE-EE ignores them.
    const char *const *ref_ids;
    size_t num_ref_ids;
    bool cn_fallback; // passed to dna_pkix_match
    // Usages 0/1 are considered only when |allow_pkix_usages|; otherwise they are unusable.
    bool allow_pkix_usages;
    // Result of the normal PKIX chain validation against the trust store (the TLS layer's
    // X509_verify_cert), needed by usages 0 and 1. For PKIX-TA pass the validated chain (with
    // its root) as |chain| so that a record for the root can match.
    bool pkix_chain_ok;
    // Verification time for DANE-TA chain building (usually time(NULL)). DANE-EE ignores dates.
    time_t now;
} dna_tlsa_match_opts_t;

// dna_tlsa_match_t is the detail of a verdict, for the caller's logs and dnacheck.
typedef struct dna_tlsa_match {
    dna_tlsa_result_t result;
    size_t num_usable;   // records that were considered (after usage policy and digest agility)
    size_t rec_index;    // MATCH: index in set->recs of the record that matched
    uint8_t usage;       // MATCH: its usage
    // MISMATCH: why the best candidate failed, a static string ("no record matches the
    // certificate", "DANE-TA matched but the leaf does not chain to it", "DANE-TA matched but no
    // reference identity is in the certificate", ...). MATCH/NONE_USABLE: a short static note.
    const char *why;
} dna_tlsa_match_t;

// dna_tlsa_match decides RFC 6698 §2.1 / RFC 7671 / RFC 7673 §4.2 for the peer's certificate
// chain |chain| (leaf first, as SSL_get_peer_full_cert_chain or the validated chain gives it)
// against |set|:
//   - DANE-EE(3): the leaf's DER certificate (selector 0) or DER SubjectPublicKeyInfo (1),
//     compared whole (0) or by SHA2-256 (1) / SHA2-512 (2). No name and no date checks.
//   - DANE-TA(2): a certificate of |chain| other than the leaf matches; then the leaf must chain
//     to it (dna_tlsa_verify_with_ta, dates checked at |opts->now|) and name a reference
//     identity. A "2 0 0" record whose certificate is not in the chain is used as the TA itself.
//   - PKIX-TA(0): like DANE-TA but the match may be any non-leaf certificate of |chain| and
//     |opts->pkix_chain_ok| must hold (no extra chain building); names checked.
//   - PKIX-EE(1): like DANE-EE, plus |opts->pkix_chain_ok| and the name check.
// Digest agility (RFC 7671 §9): for each (usage, selector), when SHA2-512 records are present the
// SHA2-256 records of that combination are ignored. Writes the verdict to |out| (never NULL).
// Returns RC_OK (the verdict is in |out->result|), RC_EINVAL for a NULL/empty chain, RC_ENOMEM
// when BoringSSL cannot allocate (then |out->result| is MISMATCH: fail closed). Borrows all.
// Thread: any (|set| read-only).
RT_MUSTCHECK rc_t dna_tlsa_match(dna_tlsa_match_t *out, const dna_tlsa_set_t *set,
                                 STACK_OF(X509) *chain, const dna_tlsa_match_opts_t *opts);

// dna_tlsa_verify_with_ta runs X509_verify_cert on |leaf| with |ta| as the only trust anchor
// (X509_V_FLAG_PARTIAL_CHAIN, so an intermediate works) and the certificates of |untrusted|
// (may be NULL; the leaf may be in it) as intermediates, at time |now|. Returns RC_OK when the
// leaf chains to |ta|, RC_DNA_MISMATCH when it does not (bad signature, expired, constraints),
// RC_ENOMEM. No name or purpose check. Borrows all. Thread: any.
RT_MUSTCHECK rc_t dna_tlsa_verify_with_ta(X509 *leaf, X509 *ta, STACK_OF(X509) *untrusted,
                                          time_t now);

// dna_tlsa_owner_name writes "_<port>._tcp.<host>" NUL-terminated into |out| (capacity |out_cap|,
// DNA_TLSA_OWNER_MAX is enough). |host| is the SRV target (RFC 7673 §3.3), a normalised A-label
// name; one trailing dot is dropped. Returns RC_OK, RC_EINVAL for port 0 or NULL arguments,
// RC_DNA_BAD_NAME when |host| is empty, has an empty label, a character outside [a-z0-9-_.] or
// the result exceeds 253 octets, RC_ENOBUFS when |out_cap| is too small. Thread: any.
RT_MUSTCHECK rc_t dna_tlsa_owner_name(char *out, size_t out_cap, uint16_t port, const char *host);

// dna_tlsa_usage_name / selector_name / mtype_name return static RFC 7218 names ("DANE-EE",
// "SPKI", "SHA2-256") or "unknown". Thread: any.
const char *dna_tlsa_usage_name(uint8_t usage);
const char *dna_tlsa_selector_name(uint8_t selector);
const char *dna_tlsa_mtype_name(uint8_t mtype);

#endif
