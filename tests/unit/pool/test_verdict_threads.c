// test_verdict_threads.c: 4 threads x 100k mixed put/lookup/flush on overlapping keys of one small
// table (so shards evict all the time). Every value written encodes its key, so a reader that got
// a torn or misplaced entry sees a value that does not match the key it asked for. Run it under
// -DRT_SANITIZE=thread as well.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "pool/verdict.h"
#include "tests/support/t.h"

#define NUM_THREADS 4
#define NUM_OPS 100000
#define NUM_GROUPS 128 // distinct (address, domain) pairs
#define FPS_PER_GROUP 4
#define NUM_KEYS (NUM_GROUPS * FPS_PER_GROUP)
#define MAX_ENTRIES 256
#define NOW 1000u
#define VAL_BASE (1ull << 40)

typedef struct tkey {
    pool_verdict_key_t k;
    char domain[32];
} tkey_t;

typedef struct worker {
    pool_verdicts_t *vt;
    uint64_t seed;
    uint64_t hits; // HIT or NEGATIVE answers checked
} worker_t;

// make_key builds key |k|: group g = k / 4 is the (address, domain), k % 4 the certificate.
static void make_key(tkey_t *t, uint32_t k) {
    uint32_t g = k / FPS_PER_GROUP;
    memset(t, 0, sizeof(*t));
    struct sockaddr_in *sin = (struct sockaddr_in *)&t->k.addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(5269);
    sin->sin_addr.s_addr = htonl(0x0a010000u + g);
    memset(t->k.fp, (int)(k % FPS_PER_GROUP + 1), sizeof(t->k.fp));
    snprintf(t->domain, sizeof(t->domain), "d%u.example", (unsigned)(g % 8));
    t->k.domain = t->domain;
}

// A group is all-positive or all-negative, so the RTR-8 caps (which only act between a positive
// and a negative of one group) never rewrite an expiry and the encoding stays exact.
static bool key_positive(uint32_t k) {
    return (k / FPS_PER_GROUP) % 2 == 0;
}

static pool_verdict_t make_value(uint32_t k, uint32_t counter) {
    return (pool_verdict_t){
        .positive = key_positive(k),
        .proof = (pool_prooftype_t)(1 + k % 4),
        .expires_ms = VAL_BASE + ((uint64_t)k << 24) + (counter & 0xffffffu),
    };
}

static uint64_t xorshift(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static void *run(void *arg) {
    worker_t *w = arg;
    tkey_t t;
    for (uint32_t i = 0; i < NUM_OPS; i++) {
        uint64_t r = xorshift(&w->seed);
        uint32_t k = (uint32_t)(r % NUM_KEYS);
        uint32_t op = (uint32_t)((r >> 32) % 100);
        make_key(&t, k);
        if (op < 45) {
            pool_verdict_t v = make_value(k, i);
            T_ASSERT_EQ(pool_verdicts_put(w->vt, &t.k, &v, NOW), RC_OK);
        } else if (op < 98) {
            pool_verdict_t out;
            memset(&out, 0xee, sizeof(out));
            pool_verdict_lookup_t res = pool_verdicts_lookup(w->vt, &t.k, NOW, &out);
            if (res != POOL_VERDICT_MISS) {
                T_ASSERT_EQ(res, key_positive(k) ? POOL_VERDICT_HIT : POOL_VERDICT_NEGATIVE);
                T_ASSERT_EQ(out.positive, key_positive(k));
                T_ASSERT_EQ(out.proof, 1 + k % 4);
                T_ASSERT(out.expires_ms >= VAL_BASE);
                T_ASSERT_EQ((out.expires_ms - VAL_BASE) >> 24, k);
                w->hits++;
            }
        } else {
            (void)pool_verdicts_flush_addr(w->vt, &t.k.addr);
        }
    }
    return NULL;
}

int main(void) {
    pool_verdicts_t *vt = pool_verdicts_new(MAX_ENTRIES);
    T_ASSERT(vt != NULL);
    pthread_t th[NUM_THREADS];
    worker_t w[NUM_THREADS];
    for (uint32_t i = 0; i < NUM_THREADS; i++) {
        w[i] = (worker_t){.vt = vt, .seed = 0x9e3779b97f4a7c15ull * (i + 1)};
        T_ASSERT_EQ(pthread_create(&th[i], NULL, run, &w[i]), 0);
    }
    uint64_t hits = 0;
    for (uint32_t i = 0; i < NUM_THREADS; i++) {
        T_ASSERT_EQ(pthread_join(th[i], NULL), 0);
        hits += w[i].hits;
    }
    pool_verdict_stats_t st;
    pool_verdicts_stats(vt, &st);
    T_ASSERT(hits > 0);
    T_ASSERT(st.evictions > 0);
    T_ASSERT(st.entries <= MAX_ENTRIES);
    // The entry counter stayed exact under contention: flushing every address removes exactly
    // that many entries and leaves zero.
    size_t removed = 0;
    tkey_t t;
    for (uint32_t g = 0; g < NUM_GROUPS; g++) {
        make_key(&t, g * FPS_PER_GROUP);
        removed += pool_verdicts_flush_addr(vt, &t.k.addr);
    }
    T_ASSERT_EQ(removed, st.entries);
    pool_verdicts_stats(vt, &st);
    T_ASSERT_EQ(st.entries, 0);
    pool_verdicts_free(vt);
    return 0;
}
