// backoff.c: per-peer connection back-off (exponential with jitter, plus a per-minute bound).
// Pure arithmetic on the caller's clock and random values; no I/O, no logging.
#include "pool/backoff.h"

#include "router/core/mem.h"

#define BACKOFF_WINDOW_MS 60000u

// per_minute returns conf->max_per_minute clamped to [1, POOL_BACKOFF_WINDOW] (0 is not
// "unlimited": it would forbid every attempt, so it means 1).
static uint32_t per_minute(const pool_backoff_conf_t *conf) {
    uint32_t m = conf->max_per_minute;
    if (m == 0) {
        return 1;
    }
    return m > POOL_BACKOFF_WINDOW ? POOL_BACKOFF_WINDOW : m;
}

static uint64_t add_sat(uint64_t a, uint64_t b) {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

void pool_backoff_conf_default(pool_backoff_conf_t *out) {
    out->base_ms = 1000;
    out->max_ms = 300000;
    out->max_per_minute = 4;
}

// |attempt_pos| counts recorded attempts but is kept in [0, 2 * POOL_BACKOFF_WINDOW): once it
// reaches twice the window it drops by one window, which keeps pos % WINDOW (the next ring slot)
// and "the ring is full" (pos >= WINDOW) both right without ever wrapping.
uint64_t pool_backoff_next_ms(const pool_backoff_t *b, const pool_backoff_conf_t *conf,
                              uint64_t now_ms) {
    uint64_t t = now_ms > b->not_before_ms ? now_ms : b->not_before_ms;
    uint32_t m = per_minute(conf);
    if (b->attempt_pos >= m) {
        // The oldest of the last m attempts; once it leaves the window, m - 1 remain in it.
        uint32_t oldest_slot = (b->attempt_pos - m) % POOL_BACKOFF_WINDOW;
        uint64_t leaves = add_sat(b->attempts[oldest_slot], BACKOFF_WINDOW_MS);
        if (leaves > t) {
            t = leaves;
        }
    }
    return t;
}

void pool_backoff_attempt(pool_backoff_t *b, uint64_t now_ms) {
    b->attempts[b->attempt_pos % POOL_BACKOFF_WINDOW] = now_ms;
    b->attempt_pos++;
    if (b->attempt_pos >= 2 * POOL_BACKOFF_WINDOW) {
        b->attempt_pos -= POOL_BACKOFF_WINDOW;
    }
}

void pool_backoff_failed(pool_backoff_t *b, const pool_backoff_conf_t *conf, uint64_t now_ms,
                         uint32_t rnd) {
    if (b->failures < UINT32_MAX) {
        b->failures++;
    }
    uint32_t shift = b->failures - 1;
    uint64_t wait = conf->max_ms;
    if (shift < 32) {
        uint64_t exp = (uint64_t)conf->base_ms << shift; // < 2^64: base < 2^32, shift < 32
        if (exp < wait) {
            wait = exp;
        }
    }
    // wait * (0.5 + rnd / 2^32), in [0.5, 1.5) times wait; wait < 2^32 so the product fits.
    uint64_t jittered = wait / 2 + ((wait * rnd) >> 32);
    b->not_before_ms = add_sat(now_ms, jittered);
}

void pool_backoff_succeeded(pool_backoff_t *b) {
    b->failures = 0;
    b->not_before_ms = 0;
}
