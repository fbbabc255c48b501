// addrcount.h: counts per source address (unauthenticated connections per peer), exact keys.
//
// Keys are the full IPv4 address or the IPv6 /64 (one site), so neither a hash collision nor a
// site's many addresses can spend another address's budget. Sharded by a keyed SipHash, each shard
// with its own lock; entries live only while their count is above zero, and the table holds at
// most |max_entries| addresses (a new address beyond that is refused: the caller treats it as
// over the limit). No I/O. Thread: any.
#ifndef RT_POOL_ADDRCOUNT_H
#define RT_POOL_ADDRCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct pool_addrcount pool_addrcount_t;

// pool_addrcount_new returns an owned table (free with pool_addrcount_free).
pool_addrcount_t *pool_addrcount_new(size_t max_entries);
void pool_addrcount_free(pool_addrcount_t *t);

// pool_addrcount_acquire adds one for |addr| unless that would exceed |limit|; returns whether it
// did. Every successful acquire is matched by one pool_addrcount_release.
bool pool_addrcount_acquire(pool_addrcount_t *t, const struct sockaddr_storage *addr,
                            uint32_t limit);
void pool_addrcount_release(pool_addrcount_t *t, const struct sockaddr_storage *addr);
// pool_addrcount_get returns the current count for |addr|.
uint32_t pool_addrcount_get(pool_addrcount_t *t, const struct sockaddr_storage *addr);

#endif
