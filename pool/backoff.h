// backoff.h: connection back-off per peer address (no I/O, no clock of its own).
//
// After a failed attempt the next one waits base * 2^(failures-1), capped at |max_ms|, times a
// jitter factor in [0.5, 1.5) drawn from the caller's random value; and at most |max_per_minute|
// attempts start in any sliding 60 s window. A success resets the failures.
#ifndef RT_POOL_BACKOFF_H
#define RT_POOL_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define POOL_BACKOFF_WINDOW 8 // attempts remembered for the per-minute bound (>= max_per_minute)

typedef struct pool_backoff_conf {
    uint32_t base_ms;        // default 1000
    uint32_t max_ms;         // default 300000
    uint32_t max_per_minute; // default 4, at most POOL_BACKOFF_WINDOW
} pool_backoff_conf_t;

typedef struct pool_backoff {
    uint32_t failures;
    uint64_t not_before_ms; // no attempt before this time
    uint64_t attempts[POOL_BACKOFF_WINDOW]; // start times of the latest attempts (ring)
    uint32_t attempt_pos;
} pool_backoff_t;

void pool_backoff_conf_default(pool_backoff_conf_t *out);

// pool_backoff_next_ms returns the earliest time an attempt may start (>= now_ms), honouring
// both the exponential wait and the per-minute bound.
uint64_t pool_backoff_next_ms(const pool_backoff_t *b, const pool_backoff_conf_t *conf,
                              uint64_t now_ms);
// pool_backoff_attempt records that an attempt starts at |now_ms|.
void pool_backoff_attempt(pool_backoff_t *b, uint64_t now_ms);
// pool_backoff_failed records a failed attempt at |now_ms|; |rnd| is a uniform random 32-bit
// value for the jitter.
void pool_backoff_failed(pool_backoff_t *b, const pool_backoff_conf_t *conf, uint64_t now_ms,
                         uint32_t rnd);
// pool_backoff_succeeded resets the failures (the per-minute record stays).
void pool_backoff_succeeded(pool_backoff_t *b);

#endif
