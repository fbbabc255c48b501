// verdict.h: the verdict table: "the peer identity P proves domain D", shared by all workers.
//
// A verdict is keyed to what the proof rests on: the peer address (IP and port; port 0 for an
// inbound peer, whose source port means nothing), the SHA-256 fingerprint of the peer's DER
// end-entity certificate (all zero when the proof does not rest on a certificate), and the
// domain (A-label). The value records the prooftype that decided it, whether it is positive,
// and when it expires. A different certificate at the same address is a different key, so a
// verdict never carries over to another certificate (SPEC.md RTR-6). Negative verdicts get a
// shorter TTL and never outlive a positive verdict for a different certificate.
//
// Concurrency: the table is split into shards, each with its own small lock; a lookup takes only
// its shard's lock, never a global one, and copies the entry out. The size is bounded: a full
// shard evicts its entry that expires first. No I/O, no logging.
#ifndef RT_POOL_VERDICT_H
#define RT_POOL_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "router/core/rc.h"

#define POOL_FP_LEN 32 // SHA-256

typedef enum pool_prooftype {
    POOL_PROOF_NONE = 0,
    POOL_PROOF_PKIX,     // RFC 6125 name match on a chain valid against the trust store
    POOL_PROOF_DIALBACK, // DNS-level: the domain resolves to this address and the peer hosts it
    POOL_PROOF_DANE,
    POOL_PROOF_POSH,
    POOL_PROOF_POLICY, // negative only: no prooftype proved the domain and the policy wants one
} pool_prooftype_t;

typedef struct pool_verdict_key {
    struct sockaddr_storage addr; // only the family, address and port are compared
    uint8_t fp[POOL_FP_LEN];      // all zero: not tied to a certificate
    const char *domain;           // A-label, NUL-terminated, at most 253 bytes
} pool_verdict_key_t;

typedef struct pool_verdict {
    bool positive;
    pool_prooftype_t proof;
    uint64_t expires_ms; // on the caller's monotonic clock
} pool_verdict_t;

typedef enum pool_verdict_lookup {
    POOL_VERDICT_MISS = 0,  // no entry, or it expired
    POOL_VERDICT_HIT,       // a positive verdict
    POOL_VERDICT_NEGATIVE,  // a negative verdict
} pool_verdict_lookup_t;

typedef struct pool_verdicts pool_verdicts_t;

typedef struct pool_verdict_stats {
    uint64_t entries;
    uint64_t evictions;
    uint64_t inserts;
} pool_verdict_stats_t;

// pool_verdicts_new returns an owned table holding at most |max_entries| (>= 64) entries.
// Free with pool_verdicts_free. Thread: any.
pool_verdicts_t *pool_verdicts_new(size_t max_entries);
void pool_verdicts_free(pool_verdicts_t *vt);

// pool_verdicts_lookup finds |key| at time |now_ms|; on HIT or NEGATIVE copies the entry to |out|
// (may be NULL). Expired entries count as MISS (and are removed). Thread: any.
pool_verdict_lookup_t pool_verdicts_lookup(pool_verdicts_t *vt, const pool_verdict_key_t *key,
                                           uint64_t now_ms, pool_verdict_t *out);

// pool_verdicts_put stores |v| for |key| (replacing any entry). A negative verdict is not stored
// over an unexpired positive one for the same key. Returns RC_OK or RC_EINVAL (bad domain).
// Thread: any.
RT_MUSTCHECK rc_t pool_verdicts_put(pool_verdicts_t *vt, const pool_verdict_key_t *key,
                                    const pool_verdict_t *v, uint64_t now_ms);

// pool_verdicts_flush_addr removes every entry for |addr| (all certificates and domains), e.g.
// when an operator flushes a peer or the peer's certificate changed. Returns how many.
size_t pool_verdicts_flush_addr(pool_verdicts_t *vt, const struct sockaddr_storage *addr);
// pool_prooftype_name returns "PKIX", "DANE", "POSH", "DIALBACK", "POLICY" or "NONE". Thread: any.
const char *pool_prooftype_name(pool_prooftype_t pt);

// pool_verdicts_flush_all removes every entry (a reload changed the trust store or the
// prooftype policies the verdicts were decided under). Returns how many. Thread: any.
size_t pool_verdicts_flush_all(pool_verdicts_t *vt);

void pool_verdicts_stats(pool_verdicts_t *vt, pool_verdict_stats_t *out);

// One entry as pool_verdicts_dump copies it out.
typedef struct pool_verdict_entry {
    struct sockaddr_storage addr; // family, address and port (port 0: an inbound peer)
    uint8_t fp[POOL_FP_LEN];      // all zero: not tied to a certificate
    char domain[254];             // NUL-terminated A-label
    pool_verdict_t v;
} pool_verdict_entry_t;

// What pool_verdicts_dump lists: NULL fields match everything.
typedef struct pool_verdict_filter {
    const struct sockaddr_storage *addr; // family and address must match; its port too unless 0
    const char *domain;                  // exact bytes
} pool_verdict_filter_t;

// pool_verdicts_dump copies the unexpired entries matching |filter| (NULL: all) at |now_ms| into
// |out|, at most |max| of them (|out| may be NULL when |max| is 0), in no particular order.
// Returns how many matched, which may exceed |max| (the rest were not copied). Each shard's lock
// is held only while that shard is scanned, so the result is not one atomic snapshot. Expired
// entries are neither listed nor removed. Thread: any.
size_t pool_verdicts_dump(pool_verdicts_t *vt, const pool_verdict_filter_t *filter, uint64_t now_ms,
                          pool_verdict_entry_t *out, size_t max);

#endif
