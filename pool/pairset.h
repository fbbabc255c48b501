// pairset.h: the domain pairs authorised on one inbound stream (RFC 7712 §6, SPEC.md RTR-1).
//
// Each pair (remote sender domain, local target domain) is pending (being verified) or valid
// (stanzas accepted). A stream may carry many pairs; lookups are by hash, so checking every
// inbound stanza costs O(1) whatever the number of pairs. The set is bounded by |max|. No I/O.
// Thread: a set belongs to its stream's worker.
#ifndef RT_POOL_PAIRSET_H
#define RT_POOL_PAIRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dna/domain.h"
#include "router/core/mem.h"

typedef enum pool_pair_state {
    POOL_PAIR_PENDING = 1,
    POOL_PAIR_VALID,
} pool_pair_state_t;

typedef struct pool_pair {
    char remote[DNA_DOMAIN_MAX];
    char local[DNA_DOMAIN_MAX];
    pool_pair_state_t state;
    uint32_t _next; // hash chain (index + 1; 0 ends)
} pool_pair_t;

typedef struct pool_pairset {
    pool_pair_t *pairs;
    size_t num;
    size_t cap;
    size_t max;
    size_t num_valid;
    size_t num_pending;
    uint32_t *_buckets; // index + 1; 0 empty
    size_t _num_buckets;
} pool_pairset_t;

// pool_pairset_init prepares an empty set that holds at most |max| pairs. A zeroed set is empty
// and safe to clean up.
void pool_pairset_init(pool_pairset_t *ps, size_t max);
void pool_pairset_cleanup(pool_pairset_t *ps);

// pool_pairset_find returns the pair or NULL. The pointer is borrowed until the next add or remove.
pool_pair_t *pool_pairset_find(const pool_pairset_t *ps, const char *remote, const char *local);
// pool_pairset_add adds a pair that is not in the set; returns it, or NULL when the set is full
// or a domain is too long. Invalidates earlier pointers.
pool_pair_t *pool_pairset_add(pool_pairset_t *ps, const char *remote, const char *local,
                              pool_pair_state_t state);
// pool_pairset_remove removes |p|. Invalidates earlier pointers.
void pool_pairset_remove(pool_pairset_t *ps, pool_pair_t *p);
void pool_pairset_set_state(pool_pairset_t *ps, pool_pair_t *p, pool_pair_state_t state);
// pool_pairset_remote_valid: some valid pair has |remote| as its sender. O(n): error paths only.
bool pool_pairset_remote_valid(const pool_pairset_t *ps, const char *remote);

#endif
