// notify.c: sd_notify(3) without libsystemd: READY/WATCHDOG/STATUS/STOPPING datagrams to
// $NOTIFY_SOCKET, and the watchdog that pings only while every worker's loop ticks.
#include "router/notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "router/internal.h"

#define NOTIFY_STATUS_EVERY_MS 5000u // STATUS= refresh period
#define NOTIFY_IDLE_WAIT_MS 1000u    // signal wait when there is nothing to ping
#define NOTIFY_READY_POLL_MS 10u     // signal wait while the workers start
// A worker whose heartbeat has not moved for half the watchdog interval plus this much is logged
// as stalled (its loop ticks every 100 ms; the margin keeps tick jitter out of the log).
#define NOTIFY_STALL_MARGIN_MS 250u

// parse_u64 reads a decimal number made of digits only (no sign, no spaces) from |s|. Returns
// false when |s| is empty, has another character or overflows.
static bool parse_u64(const char *s, uint64_t *out) {
    uint64_t v = 0;
    if (s == NULL || *s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

// watchdog_from_env returns the watchdog interval in ms from WATCHDOG_USEC, honouring
// WATCHDOG_PID (the watchdog is meant for that process only); 0 when there is none.
static uint64_t watchdog_from_env(void) {
    const char *usec_s = getenv("WATCHDOG_USEC");
    const char *pid_s = getenv("WATCHDOG_PID");
    uint64_t usec = 0, pid = 0;
    if (usec_s == NULL) {
        return 0;
    }
    if (!parse_u64(usec_s, &usec) || usec == 0) {
        CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_MAIN,
                 "systemd: WATCHDOG_USEC is not a positive number; watchdog off");
        return 0;
    }
    if (pid_s != NULL && (!parse_u64(pid_s, &pid) || pid != (uint64_t)getpid())) {
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN,
                 "systemd: WATCHDOG_PID is another process; watchdog off");
        return 0;
    }
    uint64_t ms = usec / 1000u;
    return ms == 0 ? 1 : ms;
}

rc_t rt_notify_init(rt_notify_t *n, uint32_t num_workers) {
    rc_t rc = RC_OK;
    memset(n, 0, sizeof(*n));
    n->_fd = -1;
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0') {
        goto out;
    }
    size_t len = strlen(path);
    // A filesystem path, or an abstract name ('@' stands for the leading NUL, and the address
    // length then excludes any terminator). systemd's "vsock:" addresses are not supported.
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(n->_sa.sun_path)) {
        CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_MAIN,
                 "systemd: NOTIFY_SOCKET must be an absolute path or @abstract name of at most "
                 "%zu bytes",
                 sizeof(n->_sa.sun_path) - 1);
        rc = RC_EINVAL;
        goto out;
    }
    n->_sa.sun_family = AF_UNIX;
    core_memcpy(n->_sa.sun_path, path, len);
    if (path[0] == '@') {
        n->_sa.sun_path[0] = '\0';
    }
    n->_sa_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    n->_watchdog_ms = watchdog_from_env();
    n->_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (n->_fd < 0) {
        CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_MAIN, "systemd: socket: %s", strerror(errno));
        rc = RC_EINVAL;
        goto out;
    }
    n->_num_beats = num_workers;
    n->_beats = core_xcalloc(num_workers ? num_workers : 1, sizeof(uint64_t));
    n->_stalled = core_xcalloc(num_workers ? num_workers : 1, sizeof(bool));
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN,
             "systemd: notifying %s%s, watchdog %s (%llu ms)", path[0] == '@' ? "abstract " : "",
             path, n->_watchdog_ms ? "on" : "off", (unsigned long long)n->_watchdog_ms);
out:
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    if (rc != RC_OK) {
        rt_notify_cleanup(n);
        n->_fd = -1;
    }
    return rc;
}

void rt_notify_cleanup(rt_notify_t *n) {
    if (n == NULL) {
        return;
    }
    if (n->_sa_len != 0 && n->_fd >= 0) {
        close(n->_fd);
    }
    free(n->_beats);
    free(n->_stalled);
    memset(n, 0, sizeof(*n));
}

bool rt_notify_enabled(const rt_notify_t *n) {
    return n->_sa_len != 0 && n->_fd >= 0;
}

uint64_t rt_notify_watchdog_ms(const rt_notify_t *n) {
    return rt_notify_enabled(n) ? n->_watchdog_ms : 0;
}

void rt_notify_send(rt_notify_t *n, const char *msg) {
    if (!rt_notify_enabled(n)) {
        return;
    }
    ssize_t r = sendto(n->_fd, msg, strlen(msg), MSG_NOSIGNAL,
                       (const struct sockaddr *)&n->_sa, n->_sa_len);
    if (r < 0) {
        CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_MAIN, "systemd: notify: %s", strerror(errno));
    }
}

// send_status sends |prefix| followed by a STATUS= line summarising the router's streams.
static void send_status(rt_notify_t *n, rt_router_t *rt, const char *prefix) {
    int64_t t[RT_STAT__COUNT] = {0};
    for (uint32_t i = 0; i < rt->num_workers; i++) {
        rt_stats_t *blk = &rt->workers[i].stats;
        rt_stats_sum(t, &blk, 1);
    }
    char msg[256];
    snprintf(msg, sizeof(msg),
             "%sSTATUS=%u workers; s2s streams %lld in, %lld out; %lld components; %lld pooled "
             "streams to %lld peers",
             prefix, rt->num_workers, (long long)t[RT_STAT_STREAMS_IN],
             (long long)t[RT_STAT_STREAMS_OUT], (long long)t[RT_STAT_STREAMS_COMPONENT],
             (long long)t[RT_STAT_POOL_STREAMS], (long long)t[RT_STAT_POOL_PEERS]);
    rt_notify_send(n, msg);
}

static void snapshot_beats(rt_notify_t *n, rt_router_t *rt) {
    for (uint32_t i = 0; i < n->_num_beats && i < rt->num_workers; i++) {
        n->_beats[i] = atomic_load_explicit(&rt->workers[i].heartbeat, memory_order_relaxed);
    }
}

// watchdog checks whether every worker ticked since the last ping and pings if so, logging a
// worker that stays silent. Returns nothing; called once the ping is due.
static void watchdog(rt_notify_t *n, rt_router_t *rt, uint64_t now) {
    bool all = true;
    uint64_t silent_ms = now - n->_last_ping_ms;
    for (uint32_t i = 0; i < n->_num_beats && i < rt->num_workers; i++) {
        uint64_t b = atomic_load_explicit(&rt->workers[i].heartbeat, memory_order_relaxed);
        if (b != n->_beats[i]) {
            if (n->_stalled[i]) {
                CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_MAIN,
                         "w%u: event loop ticks again; systemd watchdog pings resume", i);
                n->_stalled[i] = false;
            }
            continue;
        }
        all = false;
        if (!n->_stalled[i] && silent_ms >= n->_watchdog_ms / 2 + NOTIFY_STALL_MARGIN_MS) {
            CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_MAIN,
                     "w%u: event loop has not ticked for at least %llu ms: withholding the "
                     "systemd watchdog ping (systemd aborts fedrouter after %llu ms)",
                     i, (unsigned long long)silent_ms, (unsigned long long)n->_watchdog_ms);
            n->_stalled[i] = true;
        }
    }
    if (all) {
        rt_notify_send(n, "WATCHDOG=1");
        snapshot_beats(n, rt);
        n->_last_ping_ms = now;
    }
}

// step does whatever notification is due now and returns how long to wait for a signal (ms).
static uint64_t step(rt_notify_t *n, rt_router_t *rt) {
    if (!rt_notify_enabled(n)) {
        return NOTIFY_IDLE_WAIT_MS;
    }
    uint64_t now = rt_now_ms();
    if (!n->_ready) {
        // Listeners are bound before the workers start; a worker's first tick proves its loop
        // runs and its accepts are armed.
        for (uint32_t i = 0; i < rt->num_workers; i++) {
            if (atomic_load_explicit(&rt->workers[i].heartbeat, memory_order_relaxed) == 0) {
                return NOTIFY_READY_POLL_MS;
            }
        }
        send_status(n, rt, "READY=1\n");
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN, "systemd: READY=1 sent");
        n->_ready = true;
        snapshot_beats(n, rt);
        n->_last_ping_ms = now;
        n->_next_status_ms = now + NOTIFY_STATUS_EVERY_MS;
    }
    if (n->_watchdog_ms != 0 && now - n->_last_ping_ms >= n->_watchdog_ms / 2) {
        watchdog(n, rt, now);
    }
    if (now >= n->_next_status_ms) {
        send_status(n, rt, "");
        n->_next_status_ms = now + NOTIFY_STATUS_EVERY_MS;
    }
    if (n->_watchdog_ms == 0) {
        return NOTIFY_IDLE_WAIT_MS;
    }
    // Check four times per ping period: a ping goes out at most a quarter period late.
    uint64_t wait = n->_watchdog_ms / 8;
    if (wait < 5) {
        wait = 5;
    }
    return wait < NOTIFY_IDLE_WAIT_MS ? wait : NOTIFY_IDLE_WAIT_MS;
}

int rt_notify_sigwait(rt_notify_t *n, rt_router_t *rt, const sigset_t *sigs) {
    for (;;) {
        uint64_t wait_ms = step(n, rt);
        struct timespec ts = {
            .tv_sec = (time_t)(wait_ms / 1000u),
            .tv_nsec = (long)(wait_ms % 1000u) * 1000000L,
        };
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig > 0) {
            return sig;
        }
        // EAGAIN: the timeout; EINTR: a signal outside |sigs|. Either way, go round.
    }
}
