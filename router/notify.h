// notify.h: the systemd service notification protocol (sd_notify(3)) without libsystemd.
//
// Under a Type=notify unit systemd passes NOTIFY_SOCKET (a filesystem path, or an abstract socket
// name when it starts with '@') and, with WatchdogSec=, WATCHDOG_USEC (and WATCHDOG_PID). Each
// notification is one datagram of "KEY=value" lines sent to that socket. fedrouter sends:
//   READY=1       once every worker's loop has ticked (its listeners are open and armed);
//   WATCHDOG=1    every WATCHDOG_USEC/2 while every worker's loop is alive: each worker bumps
//                 rt_worker_t.heartbeat on its tick, and a ping is sent only when all heartbeats
//                 advanced since the previous ping;
//   STATUS=...    a one-line summary (workers, streams), refreshed every few seconds;
//   RELOADING=1   with MONOTONIC_USEC= and a STATUS=, when a reload starts (SIGHUP or fedctl
//                 reload, main.c rt_reload_run), then READY=1 with a STATUS= saying whether the
//                 new configuration was applied or refused (the running one stays then);
//   STOPPING=1    on SIGTERM/SIGINT (sent by main through rt_notify_send), with STATUS= lines
//                 for the drain and the close phase; WATCHDOG=1 continues during the drain.
// Without NOTIFY_SOCKET every function is a no-op apart from waiting for signals.
//
// Thread: the main thread only (the one that waits for signals). The struct's fields are private.
#ifndef RT_ROUTER_NOTIFY_H
#define RT_ROUTER_NOTIFY_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "router/core/rc.h"

typedef struct rt_router rt_router_t;

typedef struct rt_notify {
    int _fd;                   // datagram socket; -1: not under systemd
    struct sockaddr_un _sa;
    socklen_t _sa_len;
    uint64_t _watchdog_ms;     // 0: no watchdog
    bool _ready;               // READY=1 sent
    uint64_t _last_ping_ms;    // last WATCHDOG=1 (or READY=1)
    uint64_t _next_status_ms;  // next STATUS= refresh
    uint64_t *_beats;          // [num_beats]: each worker's heartbeat at the last ping
    bool *_stalled;            // [num_beats]: stall already logged
    uint32_t _num_beats;
} rt_notify_t;

// rt_notify_init reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, removes them from the
// environment (so that nothing fedrouter might start inherits them) and opens the socket. A
// zeroed-then-initialised |n| without NOTIFY_SOCKET is disabled; a malformed variable is logged
// and disables only what it configures. Returns RC_OK, or RC_EINVAL when NOTIFY_SOCKET is set but
// unusable (too long, or the socket cannot be created); |n| is then disabled and safe to clean up.
// Thread: main, before any other thread starts (it changes the environment).
RT_MUSTCHECK rc_t rt_notify_init(rt_notify_t *n, uint32_t num_workers);

// rt_notify_cleanup closes the socket and frees |n|'s arrays. Accepts NULL and a zeroed |n| (the
// socket is closed only when init opened it).
void rt_notify_cleanup(rt_notify_t *n);

// rt_notify_enabled: true when NOTIFY_SOCKET was given and usable.
bool rt_notify_enabled(const rt_notify_t *n);

// rt_notify_watchdog_ms: the watchdog interval in milliseconds, 0 when there is none.
uint64_t rt_notify_watchdog_ms(const rt_notify_t *n);

// rt_notify_send sends |msg| (newline-separated KEY=value lines, e.g. "STOPPING=1") as one
// datagram; a no-op when disabled. Best effort, like sd_notify(3): a failed send is logged (warn)
// and there is nothing else a caller could do about it. Thread: any, but the protocol is the main
// thread's job.
void rt_notify_send(rt_notify_t *n, const char *msg);

// rt_notify_sigwait waits for one of |sigs| (which the calling thread must have blocked) and
// returns its number. While waiting it sends READY=1 (with a STATUS= line) once every worker of
// |rt| has ticked, then WATCHDOG=1 pings and STATUS= refreshes as described at the top; a worker
// whose heartbeat stops is logged once (warn) and withholds the pings until it ticks again.
// Borrows |rt| (its workers must outlive the call). Thread: main.
int rt_notify_sigwait(rt_notify_t *n, rt_router_t *rt, const sigset_t *sigs);

#endif
