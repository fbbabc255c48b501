// Unit tests for pool/pairset.c: the hashed set of domain pairs on one inbound stream.
#include <stdio.h>
#include <string.h>

#include "pool/pairset.h"
#include "tests/support/t.h"

int main(void) {
    pool_pairset_t ps;
    pool_pairset_init(&ps, 1000);
    T_ASSERT(pool_pairset_find(&ps, "a.example", "b.example") == NULL);

    // Many pairs; each is found again by (remote, local) and not by (local, remote).
    char r[64], l[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(r, sizeof(r), "r%d.example", i % 50);
        snprintf(l, sizeof(l), "l%d.example", i / 50);
        T_ASSERT(pool_pairset_add(&ps, r, l, i % 2 ? POOL_PAIR_VALID : POOL_PAIR_PENDING) != NULL);
    }
    T_ASSERT_EQ(ps.num, 1000);
    T_ASSERT_EQ(ps.num_valid, 500);
    T_ASSERT_EQ(ps.num_pending, 500);
    T_ASSERT(pool_pairset_add(&ps, "x.example", "y.example", POOL_PAIR_VALID) == NULL); // full
    pool_pair_t *p = pool_pairset_find(&ps, "r7.example", "l3.example");
    T_ASSERT(p != NULL && strcmp(p->remote, "r7.example") == 0 && p->state == POOL_PAIR_VALID);
    T_ASSERT(pool_pairset_find(&ps, "l3.example", "r7.example") == NULL);

    // State changes keep the counts; remove keeps every other pair findable.
    p = pool_pairset_find(&ps, "r8.example", "l3.example");
    T_ASSERT(p != NULL && p->state == POOL_PAIR_PENDING);
    pool_pairset_set_state(&ps, p, POOL_PAIR_VALID);
    T_ASSERT_EQ(ps.num_valid, 501);
    pool_pairset_remove(&ps, p);
    T_ASSERT_EQ(ps.num, 999);
    T_ASSERT_EQ(ps.num_valid, 500);
    T_ASSERT(pool_pairset_find(&ps, "r8.example", "l3.example") == NULL);
    for (int i = 0; i < 1000; i++) {
        snprintf(r, sizeof(r), "r%d.example", i % 50);
        snprintf(l, sizeof(l), "l%d.example", i / 50);
        bool removed = i % 50 == 8 && i / 50 == 3;
        T_ASSERT((pool_pairset_find(&ps, r, l) != NULL) == !removed);
    }

    // remote_valid looks at valid pairs only.
    T_ASSERT(pool_pairset_remote_valid(&ps, "r1.example"));  // odd i: valid
    pool_pairset_cleanup(&ps);
    pool_pairset_init(&ps, 4);
    T_ASSERT(pool_pairset_add(&ps, "p.example", "q.example", POOL_PAIR_PENDING) != NULL);
    T_ASSERT(!pool_pairset_remote_valid(&ps, "p.example"));
    // A domain too long for a pair is refused, not truncated.
    char longd[300];
    memset(longd, 'a', sizeof(longd) - 1);
    longd[sizeof(longd) - 1] = '\0';
    T_ASSERT(pool_pairset_add(&ps, longd, "q.example", POOL_PAIR_VALID) == NULL);
    pool_pairset_cleanup(&ps);
    return 0;
}
