// Unit tests for pool/addrcount.c: exact per-address counts, IPv6 /64 aggregation, limits.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "pool/addrcount.h"
#include "tests/support/t.h"

static struct sockaddr_storage v4(const char *ip, uint16_t port) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    T_ASSERT(inet_pton(AF_INET, ip, &s->sin_addr) == 1);
    return ss;
}

static struct sockaddr_storage v6(const char *ip) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
    s->sin6_family = AF_INET6;
    T_ASSERT(inet_pton(AF_INET6, ip, &s->sin6_addr) == 1);
    return ss;
}

int main(void) {
    pool_addrcount_t *t = pool_addrcount_new(4);
    struct sockaddr_storage a = v4("127.0.0.1", 1000), a2 = v4("127.0.0.1", 2000);
    struct sockaddr_storage b = v4("127.0.10.191", 1000); // collided with a in the old table

    // The limit holds per address; the port does not matter.
    for (int i = 0; i < 3; i++) {
        T_ASSERT(pool_addrcount_acquire(t, i % 2 ? &a2 : &a, 3));
    }
    T_ASSERT(!pool_addrcount_acquire(t, &a, 3));
    T_ASSERT_EQ(pool_addrcount_get(t, &a), 3);
    // Another address has its own budget, whatever its hash.
    T_ASSERT(pool_addrcount_acquire(t, &b, 3));
    T_ASSERT_EQ(pool_addrcount_get(t, &b), 1);
    // Release frees one slot.
    pool_addrcount_release(t, &a);
    T_ASSERT(pool_addrcount_acquire(t, &a, 3));
    T_ASSERT(!pool_addrcount_acquire(t, &a, 3));

    // IPv6: one /64 shares a budget; another /64 does not; v4-mapped counts as IPv4.
    struct sockaddr_storage s1 = v6("2001:db8:1:2::1"), s2 = v6("2001:db8:1:2:ffff::9");
    struct sockaddr_storage o = v6("2001:db8:1:3::1"), m = v6("::ffff:127.0.10.191");
    T_ASSERT(pool_addrcount_acquire(t, &s1, 2));
    T_ASSERT(pool_addrcount_acquire(t, &s2, 2));
    T_ASSERT(!pool_addrcount_acquire(t, &s1, 2));
    T_ASSERT_EQ(pool_addrcount_get(t, &m), 1); // the same entry as b
    // The table holds at most 4 addresses (a, b, the /64 and now o): a fifth is refused.
    T_ASSERT(pool_addrcount_acquire(t, &o, 2));
    struct sockaddr_storage e = v4("10.9.9.9", 1);
    T_ASSERT(!pool_addrcount_acquire(t, &e, 2));
    // Entries go away at zero, making room.
    pool_addrcount_release(t, &o);
    T_ASSERT_EQ(pool_addrcount_get(t, &o), 0);
    T_ASSERT(pool_addrcount_acquire(t, &e, 2));
    // A limit of zero admits nothing.
    struct sockaddr_storage z = v4("10.0.0.1", 1);
    T_ASSERT(!pool_addrcount_acquire(t, &z, 0));
    pool_addrcount_free(t);
    return 0;
}
