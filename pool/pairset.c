#include "pool/pairset.h"

#include <stdlib.h>
#include <string.h>

static uint32_t hash_pair(const char *remote, const char *local) {
    uint32_t h = 2166136261u;
    for (const char *p = remote; *p; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    h = (h ^ 0xffu) * 16777619u;
    for (const char *p = local; *p; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    return h;
}

void pool_pairset_init(pool_pairset_t *ps, size_t max) {
    core_memset(ps, 0, sizeof(*ps));
    ps->max = max;
}

void pool_pairset_cleanup(pool_pairset_t *ps) {
    if (ps == NULL) {
        return;
    }
    free(ps->pairs);
    free(ps->_buckets);
    size_t max = ps->max;
    pool_pairset_init(ps, max);
}

static void rebuild(pool_pairset_t *ps) {
    core_memset(ps->_buckets, 0, ps->_num_buckets * sizeof(uint32_t));
    for (size_t i = 0; i < ps->num; i++) {
        uint32_t b = hash_pair(ps->pairs[i].remote, ps->pairs[i].local) & (ps->_num_buckets - 1);
        ps->pairs[i]._next = ps->_buckets[b];
        ps->_buckets[b] = (uint32_t)(i + 1);
    }
}

pool_pair_t *pool_pairset_find(const pool_pairset_t *ps, const char *remote, const char *local) {
    if (ps->num == 0) {
        return NULL;
    }
    uint32_t b = hash_pair(remote, local) & (ps->_num_buckets - 1);
    for (uint32_t i = ps->_buckets[b]; i != 0; i = ps->pairs[i - 1]._next) {
        pool_pair_t *p = &ps->pairs[i - 1];
        if (strcmp(p->remote, remote) == 0 && strcmp(p->local, local) == 0) {
            return p;
        }
    }
    return NULL;
}

static void count(pool_pairset_t *ps, pool_pair_state_t st, int delta) {
    size_t *n = st == POOL_PAIR_VALID ? &ps->num_valid : &ps->num_pending;
    *n = (size_t)((long)*n + delta);
}

pool_pair_t *pool_pairset_add(pool_pairset_t *ps, const char *remote, const char *local,
                              pool_pair_state_t state) {
    if (ps->num >= ps->max || strlen(remote) >= DNA_DOMAIN_MAX || strlen(local) >= DNA_DOMAIN_MAX) {
        return NULL;
    }
    if (ps->num == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 4;
        if (cap > ps->max) {
            cap = ps->max;
        }
        ps->pairs = core_xrealloc(ps->pairs, cap * sizeof(pool_pair_t));
        ps->cap = cap;
    }
    if (ps->num + 1 > ps->_num_buckets) {
        size_t nb = ps->_num_buckets ? ps->_num_buckets : 8;
        while (nb < 2 * (ps->num + 1)) {
            nb *= 2;
        }
        free(ps->_buckets);
        ps->_buckets = core_xcalloc(nb, sizeof(uint32_t));
        ps->_num_buckets = nb;
        rebuild(ps);
    }
    pool_pair_t *p = &ps->pairs[ps->num];
    core_memset(p, 0, sizeof(*p));
    strcpy(p->remote, remote);
    strcpy(p->local, local);
    p->state = state;
    uint32_t b = hash_pair(remote, local) & (ps->_num_buckets - 1);
    p->_next = ps->_buckets[b];
    ps->_buckets[b] = (uint32_t)(ps->num + 1);
    ps->num++;
    count(ps, state, 1);
    return p;
}

void pool_pairset_remove(pool_pairset_t *ps, pool_pair_t *p) {
    size_t i = (size_t)(p - ps->pairs);
    RT_CHECK(i < ps->num);
    count(ps, p->state, -1);
    ps->pairs[i] = ps->pairs[ps->num - 1];
    ps->num--;
    rebuild(ps);
}

void pool_pairset_set_state(pool_pairset_t *ps, pool_pair_t *p, pool_pair_state_t state) {
    count(ps, p->state, -1);
    count(ps, state, 1);
    p->state = state;
}

bool pool_pairset_remote_valid(const pool_pairset_t *ps, const char *remote) {
    for (size_t i = 0; i < ps->num; i++) {
        if (ps->pairs[i].state == POOL_PAIR_VALID && strcmp(ps->pairs[i].remote, remote) == 0) {
            return true;
        }
    }
    return false;
}
