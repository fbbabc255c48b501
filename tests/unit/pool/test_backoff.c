// test_backoff.c: pool_backoff_*: exponential growth with caps, jitter bounds, the per-minute
// bound and the reset on success.
#include <stdint.h>

#include "pool/backoff.h"
#include "tests/support/t.h"

#define T0 1000000u // an arbitrary monotonic "now"

static void test_defaults(void) {
    pool_backoff_conf_t c;
    pool_backoff_conf_default(&c);
    T_ASSERT_EQ(c.base_ms, 1000);
    T_ASSERT_EQ(c.max_ms, 300000);
    T_ASSERT_EQ(c.max_per_minute, 4);
}

static void test_fresh_peer_may_start_now(void) {
    pool_backoff_conf_t c;
    pool_backoff_conf_default(&c);
    pool_backoff_t b = {0};
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0), T0);
}

// With rnd = 2^31 the factor is exactly 1, so the wait is the unjittered base * 2^(n-1).
static void test_exponential_growth_and_cap(void) {
    pool_backoff_conf_t c;
    pool_backoff_conf_default(&c);
    c.max_per_minute = POOL_BACKOFF_WINDOW;
    pool_backoff_t b = {0};
    uint64_t expect = 1000;
    for (uint32_t n = 1; n <= 12; n++) {
        pool_backoff_failed(&b, &c, T0, 0x80000000u);
        T_ASSERT_EQ(b.failures, n);
        uint64_t want = expect < c.max_ms ? expect : c.max_ms;
        T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0), T0 + want);
        expect *= 2;
    }
    // 2^11 s > 300 s: capped. Far more failures must not overflow the shift.
    for (uint32_t n = 0; n < 100; n++) {
        pool_backoff_failed(&b, &c, T0, 0x80000000u);
    }
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0), T0 + 300000);
    // An earlier not_before never moves the answer below now.
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0 + 400000), T0 + 400000);
}

static void test_jitter_bounds(void) {
    pool_backoff_conf_t c;
    pool_backoff_conf_default(&c);
    pool_backoff_t b = {0};
    pool_backoff_failed(&b, &c, T0, 0); // first failure: 1000 ms
    T_ASSERT_EQ(b.not_before_ms, T0 + 500);
    b = (pool_backoff_t){0};
    pool_backoff_failed(&b, &c, T0, UINT32_MAX);
    T_ASSERT(b.not_before_ms < T0 + 1500);
    T_ASSERT(b.not_before_ms >= T0 + 1499);
    // Jitter applies to the capped wait too: [150 s, 450 s).
    b = (pool_backoff_t){.failures = 40};
    pool_backoff_failed(&b, &c, T0, 0);
    T_ASSERT_EQ(b.not_before_ms, T0 + 150000);
    pool_backoff_failed(&b, &c, T0, UINT32_MAX);
    T_ASSERT(b.not_before_ms < T0 + 450000);
    T_ASSERT(b.not_before_ms > T0 + 449000);
}

static void test_per_minute_bound(void) {
    pool_backoff_conf_t c;
    pool_backoff_conf_default(&c); // 4 per minute
    pool_backoff_t b = {0};
    for (uint32_t i = 0; i < 3; i++) {
        pool_backoff_attempt(&b, T0 + i * 1000);
        T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0 + i * 1000 + 1), T0 + i * 1000 + 1);
    }
    pool_backoff_attempt(&b, T0 + 3000);
    // Four attempts within 60 s: the fifth waits until the first leaves the window.
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0 + 3001), T0 + 60000);
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0 + 70000), T0 + 70000);
    // The fifth attempt at T0+60 s: now the second attempt (T0+1 s) is the oldest of the last 4.
    pool_backoff_attempt(&b, T0 + 60000);
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0 + 60000), T0 + 61000);
    // Many more attempts keep the ring consistent (positions wrap inside the window).
    for (uint32_t i = 0; i < 50; i++) {
        pool_backoff_attempt(&b, T0 + 100000 + i);
    }
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0 + 100050), T0 + 100046 + 60000);
    // max_per_minute above the window is clamped to it.
    c.max_per_minute = 100;
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0 + 100050), T0 + 100042 + 60000);
    // The larger of the two bounds wins.
    c.max_per_minute = 4;
    b.not_before_ms = T0 + 300000;
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0 + 100050), T0 + 300000);
}

static void test_success_resets(void) {
    pool_backoff_conf_t c;
    pool_backoff_conf_default(&c);
    pool_backoff_t b = {0};
    for (uint32_t i = 0; i < 5; i++) {
        pool_backoff_failed(&b, &c, T0, 0x80000000u);
    }
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0), T0 + 16000);
    pool_backoff_succeeded(&b);
    T_ASSERT_EQ(b.failures, 0);
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0), T0);
    // The next failure starts from the base again.
    pool_backoff_failed(&b, &c, T0, 0x80000000u);
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0), T0 + 1000);
    // The per-minute record survives a success.
    for (uint32_t i = 0; i < 4; i++) {
        pool_backoff_attempt(&b, T0 + i);
    }
    pool_backoff_succeeded(&b);
    T_ASSERT_EQ(pool_backoff_next_ms(&b, &c, T0 + 10), T0 + 60000);
}

int main(void) {
    test_defaults();
    test_fresh_peer_may_start_now();
    test_exponential_growth_and_cap();
    test_jitter_bounds();
    test_per_minute_bound();
    test_success_resets();
    return 0;
}
