// verdict.c: the sharded verdict table (SPEC.md §14.2 RTR-6..RTR-8). No I/O, no logging.
//
// Layout: VT_NUM_SHARDS shards, each with its own mutex, a fixed array of |cap| entries
// (cap = max_entries / VT_NUM_SHARDS, so the total never exceeds max_entries), a free list and
// chained buckets linked by entry index. Nothing is allocated after pool_verdicts_new; the
// domain is stored inline.
//
// Hashing: one keyed SipHash-2-4 (random key from RAND_bytes per table, so a peer cannot aim
// collisions at one shard or bucket) over (family, port, address, domain). The fingerprint is
// deliberately NOT hashed: every certificate seen for one (address, domain) lands in the same
// shard and bucket chain, which is what lets a put see the verdicts for the *other* certificates
// and apply the RTR-8 cap without a global lock. It also confines a peer that cycles through
// certificates to one shard's worth of entries. Keys still compare exactly, fingerprint included.
//
// RTR-8 cap, as implemented: when a negative verdict is put while the table holds an unexpired
// positive for the same (address, domain) with a different fingerprint, the negative's expiry is
// lowered to that positive's expiry; and when a positive is put, unexpired negatives for the same
// (address, domain) with a different fingerprint are lowered to the positive's expiry. So no
// negative entry outlives a positive for another certificate that sat in the table with it.
//
// Details the header leaves open: an entry is expired when now_ms >= expires_ms; a put whose
// (capped) expiry is already past stores nothing and removes the entry it would replace; put
// also returns RC_EINVAL for an address that is not AF_INET/AF_INET6; the domain compares as
// exact bytes (callers pass the normalised A-label); flush_addr matches family, address and
// port, like the key. Eviction scans the full shard (O(cap)); it runs only when a shard is full.
#include "pool/verdict.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <openssl/siphash.h>

#include "router/core/mem.h"

#define VT_NUM_SHARDS 64u
#define VT_DOMAIN_MAX 253u
#define VT_NIL UINT32_MAX // "no entry" in chains and the free list

// vt_addr_t is the compared part of a sockaddr: family, address bytes (4 or 16), port.
typedef struct vt_addr {
    uint8_t family; // AF_INET or AF_INET6
    uint8_t addr_len;
    uint16_t port; // network byte order, compared as stored
    uint8_t addr[16];
} vt_addr_t;

typedef struct vt_entry {
    uint64_t hash;
    uint32_t next; // bucket chain when used, free list when not
    bool used;
    vt_addr_t addr;
    uint8_t fp[POOL_FP_LEN];
    uint8_t domain_len;
    char domain[VT_DOMAIN_MAX + 1]; // not NUL-terminated; domain_len bytes are valid
    pool_verdict_t v;
} vt_entry_t;

// Fields after |lock| are touched only with |lock| held.
typedef struct vt_shard {
    pthread_mutex_t lock;
    uint32_t cap;
    uint32_t num_used;
    uint32_t bucket_mask;
    uint32_t free_head;
    uint32_t *buckets; // head entry index per bucket, VT_NIL when empty
    vt_entry_t *entries;
} vt_shard_t;

struct pool_verdicts {
    uint64_t sip_key[2];
    vt_shard_t shards[VT_NUM_SHARDS];
    _Atomic uint64_t entries;
    _Atomic uint64_t evictions;
    _Atomic uint64_t inserts;
};

// vt_key_t is a validated key: what pool_verdict_key_t becomes at the boundary.
typedef struct vt_key {
    vt_addr_t addr;
    const uint8_t *fp;
    const char *domain;
    size_t domain_len;
    uint64_t hash;
} vt_key_t;

// addr_from_sockaddr fills |out| from |ss| and returns false for a family other than IPv4/IPv6.
static bool addr_from_sockaddr(vt_addr_t *out, const struct sockaddr_storage *ss) {
    core_memset(out, 0, sizeof(*out));
    if (ss == NULL) {
        return false;
    }
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        out->family = AF_INET;
        out->addr_len = 4;
        out->port = sin->sin_port;
        core_memcpy(out->addr, &sin->sin_addr, 4);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        out->family = AF_INET6;
        out->addr_len = 16;
        out->port = sin6->sin6_port;
        core_memcpy(out->addr, &sin6->sin6_addr, 16);
        return true;
    }
    return false;
}

static bool addr_equal(const vt_addr_t *a, const vt_addr_t *b) {
    return a->family == b->family && a->port == b->port && a->addr_len == b->addr_len &&
           core_memcmp(a->addr, b->addr, a->addr_len) == 0;
}

// key_check validates |key| (IPv4/IPv6 address, domain of 1..253 bytes) into |out| and hashes it.
static bool key_check(const pool_verdicts_t *vt, vt_key_t *out, const pool_verdict_key_t *key) {
    if (key == NULL || key->domain == NULL || !addr_from_sockaddr(&out->addr, &key->addr)) {
        return false;
    }
    out->domain_len = strnlen(key->domain, VT_DOMAIN_MAX + 1);
    if (out->domain_len == 0 || out->domain_len > VT_DOMAIN_MAX) {
        return false;
    }
    out->fp = key->fp;
    out->domain = key->domain;
    // family | port | address | domain length | domain: fixed-width fields, then a
    // length-prefixed domain, so two different keys never serialise to the same bytes.
    uint8_t buf[1 + 2 + 16 + 1 + VT_DOMAIN_MAX];
    size_t n = 0;
    buf[n++] = out->addr.family;
    core_memcpy(buf + n, &out->addr.port, 2);
    n += 2;
    core_memcpy(buf + n, out->addr.addr, out->addr.addr_len);
    n += out->addr.addr_len;
    buf[n++] = (uint8_t)out->domain_len;
    core_memcpy(buf + n, out->domain, out->domain_len);
    n += out->domain_len;
    out->hash = SIPHASH_24(vt->sip_key, buf, n);
    return true;
}

static vt_shard_t *shard_of(pool_verdicts_t *vt, uint64_t hash) {
    return &vt->shards[hash % VT_NUM_SHARDS];
}

static uint32_t *bucket_of(vt_shard_t *s, uint64_t hash) {
    return &s->buckets[(uint32_t)(hash / VT_NUM_SHARDS) & s->bucket_mask];
}

// same_addr_domain reports whether |e| is for the (address, domain) of |k|, any fingerprint.
static bool same_addr_domain(const vt_entry_t *e, const vt_key_t *k) {
    return e->hash == k->hash && addr_equal(&e->addr, &k->addr) && e->domain_len == k->domain_len &&
           core_memcmp(e->domain, k->domain, k->domain_len) == 0;
}

static bool key_equal(const vt_entry_t *e, const vt_key_t *k) {
    return same_addr_domain(e, k) && core_memcmp(e->fp, k->fp, POOL_FP_LEN) == 0;
}

// shard_remove unlinks used entry |idx| from its chain and puts it on the free list. Lock held.
static void shard_remove(pool_verdicts_t *vt, vt_shard_t *s, uint32_t idx) {
    uint32_t *link = bucket_of(s, s->entries[idx].hash);
    while (*link != idx) {
        RT_CHECK(*link != VT_NIL);
        link = &s->entries[*link].next;
    }
    *link = s->entries[idx].next;
    s->entries[idx].used = false;
    s->entries[idx].next = s->free_head;
    s->free_head = idx;
    s->num_used--;
    atomic_fetch_sub_explicit(&vt->entries, 1, memory_order_relaxed);
}

// shard_find returns the index of the entry for |k|, or VT_NIL. Lock held.
static uint32_t shard_find(vt_shard_t *s, const vt_key_t *k) {
    for (uint32_t i = *bucket_of(s, k->hash); i != VT_NIL; i = s->entries[i].next) {
        if (key_equal(&s->entries[i], k)) {
            return i;
        }
    }
    return VT_NIL;
}

// shard_evict removes the entry that expires first (a full shard only). Lock held. O(cap).
static void shard_evict(pool_verdicts_t *vt, vt_shard_t *s) {
    uint32_t victim = VT_NIL;
    for (uint32_t i = 0; i < s->cap; i++) {
        if (s->entries[i].used &&
            (victim == VT_NIL || s->entries[i].v.expires_ms < s->entries[victim].v.expires_ms)) {
            victim = i;
        }
    }
    RT_CHECK(victim != VT_NIL);
    shard_remove(vt, s, victim);
    atomic_fetch_add_explicit(&vt->evictions, 1, memory_order_relaxed);
}

pool_verdicts_t *pool_verdicts_new(size_t max_entries) {
    if (max_entries < VT_NUM_SHARDS || max_entries / VT_NUM_SHARDS >= VT_NIL / 2) {
        return NULL;
    }
    uint32_t cap = (uint32_t)(max_entries / VT_NUM_SHARDS);
    uint32_t num_buckets = 1;
    while (num_buckets < cap) {
        num_buckets *= 2;
    }
    pool_verdicts_t *vt = core_xcalloc(1, sizeof(*vt));
    RT_CHECK(RAND_bytes((uint8_t *)vt->sip_key, sizeof(vt->sip_key)) == 1);
    for (size_t si = 0; si < VT_NUM_SHARDS; si++) {
        vt_shard_t *s = &vt->shards[si];
        RT_CHECK(pthread_mutex_init(&s->lock, NULL) == 0);
        s->cap = cap;
        s->bucket_mask = num_buckets - 1;
        s->buckets = core_xcalloc(num_buckets, sizeof(*s->buckets));
        for (uint32_t b = 0; b < num_buckets; b++) {
            s->buckets[b] = VT_NIL;
        }
        s->entries = core_xcalloc(cap, sizeof(*s->entries));
        for (uint32_t i = 0; i < cap; i++) {
            s->entries[i].next = i + 1 < cap ? i + 1 : VT_NIL;
        }
        s->free_head = 0;
    }
    return vt;
}

void pool_verdicts_free(pool_verdicts_t *vt) {
    if (vt == NULL) {
        return;
    }
    for (size_t si = 0; si < VT_NUM_SHARDS; si++) {
        pthread_mutex_destroy(&vt->shards[si].lock);
        free(vt->shards[si].buckets);
        free(vt->shards[si].entries);
    }
    free(vt);
}

pool_verdict_lookup_t pool_verdicts_lookup(pool_verdicts_t *vt, const pool_verdict_key_t *key,
                                           uint64_t now_ms, pool_verdict_t *out) {
    vt_key_t k;
    if (vt == NULL || !key_check(vt, &k, key)) {
        return POOL_VERDICT_MISS;
    }
    pool_verdict_lookup_t res = POOL_VERDICT_MISS;
    vt_shard_t *s = shard_of(vt, k.hash);
    pthread_mutex_lock(&s->lock);
    uint32_t idx = shard_find(s, &k);
    if (idx != VT_NIL) {
        const vt_entry_t *e = &s->entries[idx];
        if (e->v.expires_ms <= now_ms) {
            shard_remove(vt, s, idx);
        } else {
            res = e->v.positive ? POOL_VERDICT_HIT : POOL_VERDICT_NEGATIVE;
            if (out != NULL) {
                *out = e->v;
            }
        }
    }
    pthread_mutex_unlock(&s->lock);
    return res;
}

rc_t pool_verdicts_put(pool_verdicts_t *vt, const pool_verdict_key_t *key, const pool_verdict_t *v,
                       uint64_t now_ms) {
    vt_key_t k;
    if (vt == NULL || v == NULL || !key_check(vt, &k, key)) {
        return RC_EINVAL;
    }
    pool_verdict_t nv = *v;
    vt_shard_t *s = shard_of(vt, k.hash);
    pthread_mutex_lock(&s->lock);
    uint32_t idx = shard_find(s, &k);
    if (!nv.positive && idx != VT_NIL && s->entries[idx].v.positive &&
        s->entries[idx].v.expires_ms > now_ms) {
        goto out; // a negative never replaces an unexpired positive for the same key
    }
    // RTR-8: cap in both directions against the other certificates of this (address, domain).
    for (uint32_t i = *bucket_of(s, k.hash); i != VT_NIL; i = s->entries[i].next) {
        vt_entry_t *o = &s->entries[i];
        if (i == idx || !same_addr_domain(o, &k) || o->v.positive == nv.positive ||
            o->v.expires_ms <= now_ms) {
            continue;
        }
        if (!nv.positive && nv.expires_ms > o->v.expires_ms) {
            nv.expires_ms = o->v.expires_ms;
        } else if (nv.positive && o->v.expires_ms > nv.expires_ms) {
            o->v.expires_ms = nv.expires_ms;
        }
    }
    if (nv.expires_ms <= now_ms) {
        // Already expired: storing it would only take a slot. Replacing means removing.
        if (idx != VT_NIL) {
            shard_remove(vt, s, idx);
        }
        goto out;
    }
    if (idx == VT_NIL) {
        if (s->num_used == s->cap) {
            shard_evict(vt, s);
        }
        idx = s->free_head;
        RT_CHECK(idx != VT_NIL);
        vt_entry_t *e = &s->entries[idx];
        s->free_head = e->next;
        e->used = true;
        e->hash = k.hash;
        e->addr = k.addr;
        core_memcpy(e->fp, k.fp, POOL_FP_LEN);
        e->domain_len = (uint8_t)k.domain_len;
        core_memcpy(e->domain, k.domain, k.domain_len);
        uint32_t *head = bucket_of(s, k.hash);
        e->next = *head;
        *head = idx;
        s->num_used++;
        atomic_fetch_add_explicit(&vt->entries, 1, memory_order_relaxed);
    }
    s->entries[idx].v = nv;
    atomic_fetch_add_explicit(&vt->inserts, 1, memory_order_relaxed);
out:
    pthread_mutex_unlock(&s->lock);
    return RC_OK;
}

size_t pool_verdicts_flush_addr(pool_verdicts_t *vt, const struct sockaddr_storage *addr) {
    vt_addr_t a;
    if (vt == NULL || !addr_from_sockaddr(&a, addr)) {
        return 0;
    }
    size_t num_removed = 0;
    for (size_t si = 0; si < VT_NUM_SHARDS; si++) {
        vt_shard_t *s = &vt->shards[si];
        pthread_mutex_lock(&s->lock);
        for (uint32_t i = 0; i < s->cap; i++) {
            if (s->entries[i].used && addr_equal(&s->entries[i].addr, &a)) {
                shard_remove(vt, s, i);
                num_removed++;
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    return num_removed;
}

const char *pool_prooftype_name(pool_prooftype_t pt) {
    switch (pt) {
    case POOL_PROOF_PKIX:
        return "PKIX";
    case POOL_PROOF_DANE:
        return "DANE";
    case POOL_PROOF_POSH:
        return "POSH";
    case POOL_PROOF_DIALBACK:
        return "DIALBACK";
    case POOL_PROOF_POLICY:
        return "POLICY";
    case POOL_PROOF_NONE:
        break;
    }
    return "NONE";
}

size_t pool_verdicts_flush_all(pool_verdicts_t *vt) {
    size_t num_removed = 0;
    for (size_t si = 0; vt != NULL && si < VT_NUM_SHARDS; si++) {
        vt_shard_t *s = &vt->shards[si];
        pthread_mutex_lock(&s->lock);
        for (uint32_t i = 0; i < s->cap; i++) {
            if (s->entries[i].used) {
                shard_remove(vt, s, i);
                num_removed++;
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    return num_removed;
}

// entry_matches: |e| passes the filter (|a| the filter's address when |has_addr|).
static bool entry_matches(const vt_entry_t *e, bool has_addr, const vt_addr_t *a,
                          const char *domain, size_t domain_len) {
    if (has_addr && (e->addr.family != a->family || e->addr.addr_len != a->addr_len ||
                     core_memcmp(e->addr.addr, a->addr, a->addr_len) != 0 ||
                     (a->port != 0 && e->addr.port != a->port))) {
        return false;
    }
    return domain == NULL ||
           (e->domain_len == domain_len && core_memcmp(e->domain, domain, domain_len) == 0);
}

// entry_copy fills |out| from used entry |e|.
static void entry_copy(pool_verdict_entry_t *out, const vt_entry_t *e) {
    core_memset(out, 0, sizeof(*out));
    if (e->addr.family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;
        sin->sin_family = AF_INET;
        sin->sin_port = e->addr.port;
        core_memcpy(&sin->sin_addr, e->addr.addr, 4);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = e->addr.port;
        core_memcpy(&sin6->sin6_addr, e->addr.addr, 16);
    }
    core_memcpy(out->fp, e->fp, POOL_FP_LEN);
    core_memcpy(out->domain, e->domain, e->domain_len);
    out->domain[e->domain_len] = '\0';
    out->v = e->v;
}

size_t pool_verdicts_dump(pool_verdicts_t *vt, const pool_verdict_filter_t *filter, uint64_t now_ms,
                          pool_verdict_entry_t *out, size_t max) {
    vt_addr_t a = {0};
    bool has_addr = filter != NULL && filter->addr != NULL;
    if (vt == NULL || (has_addr && !addr_from_sockaddr(&a, filter->addr))) {
        return 0;
    }
    const char *domain = filter != NULL ? filter->domain : NULL;
    size_t domain_len = domain != NULL ? strnlen(domain, VT_DOMAIN_MAX + 1) : 0;
    size_t num = 0;
    for (size_t si = 0; si < VT_NUM_SHARDS; si++) {
        vt_shard_t *s = &vt->shards[si];
        pthread_mutex_lock(&s->lock);
        for (uint32_t i = 0; i < s->cap; i++) {
            const vt_entry_t *e = &s->entries[i];
            if (!e->used || e->v.expires_ms <= now_ms ||
                !entry_matches(e, has_addr, &a, domain, domain_len)) {
                continue;
            }
            if (num < max) {
                entry_copy(&out[num], e);
            }
            num++;
        }
        pthread_mutex_unlock(&s->lock);
    }
    return num;
}

void pool_verdicts_stats(pool_verdicts_t *vt, pool_verdict_stats_t *out) {
    core_memset(out, 0, sizeof(*out));
    if (vt == NULL) {
        return;
    }
    out->entries = atomic_load_explicit(&vt->entries, memory_order_relaxed);
    out->evictions = atomic_load_explicit(&vt->evictions, memory_order_relaxed);
    out->inserts = atomic_load_explicit(&vt->inserts, memory_order_relaxed);
}
