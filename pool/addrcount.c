#include "pool/addrcount.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/siphash.h>

#include "router/core/mem.h"

#define SHARDS 64

typedef struct entry {
    struct entry *next;
    uint8_t key[9]; // family tag + 4 (IPv4) or 8 (IPv6 /64) bytes
    uint32_t count;
} entry_t;

typedef struct shard {
    pthread_mutex_t lock;
    entry_t *buckets[64];
} shard_t;

struct pool_addrcount {
    uint64_t sipkey[2];
    size_t max_entries;
    atomic_size_t num_entries;
    shard_t shards[SHARDS];
};

static bool make_key(const struct sockaddr_storage *a, uint8_t key[9]) {
    core_memset(key, 0, 9);
    if (a->ss_family == AF_INET) {
        key[0] = 4;
        core_memcpy(key + 1, &((const struct sockaddr_in *)a)->sin_addr, 4);
        return true;
    }
    if (a->ss_family == AF_INET6) {
        const uint8_t *b = ((const struct sockaddr_in6 *)a)->sin6_addr.s6_addr;
        static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (core_memcmp(b, v4mapped, 12) == 0) {
            key[0] = 4;
            core_memcpy(key + 1, b + 12, 4);
        } else {
            key[0] = 6;
            core_memcpy(key + 1, b, 8); // the /64
        }
        return true;
    }
    return false;
}

pool_addrcount_t *pool_addrcount_new(size_t max_entries) {
    pool_addrcount_t *t = core_xcalloc(1, sizeof(*t));
    RAND_bytes((uint8_t *)t->sipkey, sizeof(t->sipkey));
    t->max_entries = max_entries;
    for (size_t i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&t->shards[i].lock, NULL);
    }
    return t;
}

void pool_addrcount_free(pool_addrcount_t *t) {
    if (t == NULL) {
        return;
    }
    for (size_t i = 0; i < SHARDS; i++) {
        for (size_t b = 0; b < 64; b++) {
            entry_t *e = t->shards[i].buckets[b];
            while (e != NULL) {
                entry_t *n = e->next;
                free(e);
                e = n;
            }
        }
        pthread_mutex_destroy(&t->shards[i].lock);
    }
    free(t);
}

// shard_of picks the shard and bucket of |key|; the caller locks the shard before find().
static shard_t *shard_of(pool_addrcount_t *t, const uint8_t key[9], size_t *out_bucket) {
    uint64_t h = SIPHASH_24(t->sipkey, key, 9);
    *out_bucket = (size_t)((h / SHARDS) % 64);
    return &t->shards[h % SHARDS];
}

static entry_t **find(shard_t *s, size_t bucket, const uint8_t key[9]) {
    entry_t **pp = &s->buckets[bucket];
    while (*pp != NULL && core_memcmp((*pp)->key, key, 9) != 0) {
        pp = &(*pp)->next;
    }
    return pp;
}

bool pool_addrcount_acquire(pool_addrcount_t *t, const struct sockaddr_storage *addr,
                            uint32_t limit) {
    uint8_t key[9];
    if (!make_key(addr, key)) {
        return false;
    }
    size_t b;
    shard_t *s = shard_of(t, key, &b);
    bool ok = false;
    pthread_mutex_lock(&s->lock);
    entry_t **pp = find(s, b, key);
    if (*pp != NULL) {
        if ((*pp)->count < limit) {
            (*pp)->count++;
            ok = true;
        }
    } else if (limit > 0 && atomic_fetch_add(&t->num_entries, 1) < t->max_entries) {
        entry_t *e = core_xcalloc(1, sizeof(*e));
        core_memcpy(e->key, key, 9);
        e->count = 1;
        *pp = e;
        ok = true;
    } else if (limit > 0) {
        atomic_fetch_sub(&t->num_entries, 1);
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

void pool_addrcount_release(pool_addrcount_t *t, const struct sockaddr_storage *addr) {
    uint8_t key[9];
    if (!make_key(addr, key)) {
        return;
    }
    size_t b;
    shard_t *s = shard_of(t, key, &b);
    pthread_mutex_lock(&s->lock);
    entry_t **pp = find(s, b, key);
    entry_t *e = *pp;
    if (e != NULL && --e->count == 0) {
        *pp = e->next;
        free(e);
        atomic_fetch_sub(&t->num_entries, 1);
    }
    pthread_mutex_unlock(&s->lock);
}

uint32_t pool_addrcount_get(pool_addrcount_t *t, const struct sockaddr_storage *addr) {
    uint8_t key[9];
    if (!make_key(addr, key)) {
        return 0;
    }
    size_t b;
    shard_t *s = shard_of(t, key, &b);
    pthread_mutex_lock(&s->lock);
    entry_t **pp = find(s, b, key);
    uint32_t n = *pp != NULL ? (*pp)->count : 0;
    pthread_mutex_unlock(&s->lock);
    return n;
}
