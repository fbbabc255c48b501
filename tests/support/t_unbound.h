// t_unbound.h: start a real unbound DNS server on 127.0.0.1 for tests (t_ prefix).
// unbound runs in the foreground (-d) from a config in a fresh temporary directory, serving only
// the local-zone data the test passes; it is stopped by PID. Thread: the test's main thread.
#ifndef RT_TESTS_SUPPORT_T_UNBOUND_H
#define RT_TESTS_SUPPORT_T_UNBOUND_H

#include <stdint.h>
#include <sys/types.h>

typedef struct t_unbound {
    pid_t pid;     // 0 when not running
    uint16_t port; // UDP and TCP port on 127.0.0.1
    char dir[64];  // temporary directory: unbound.conf, unbound.log
} t_unbound_t;

// t_unbound_path returns the unbound binary's path, or NULL if unbound is not installed.
const char *t_unbound_path(void);

// t_unbound_start writes a config with "local-zone: \"test.\" static" plus |zone_conf| (more
// "server:" lines, e.g. local-data) and starts unbound on 127.0.0.1 at |port|, or at a free
// port when |port| is 0 (use the same port to restart after t_unbound_stop). It returns once
// unbound answers UDP queries. Returns 0, or -1 (message on stderr). Call t_unbound_cleanup.
int t_unbound_start(t_unbound_t *u, const char *zone_conf, uint16_t port);

// t_unbound_stop kills unbound by its PID (SIGTERM) and waits for it. Idempotent.
void t_unbound_stop(t_unbound_t *u);

// t_unbound_cleanup stops unbound and removes the temporary directory. Accepts a zeroed struct.
void t_unbound_cleanup(t_unbound_t *u);

// t_free_udp_port returns a port on 127.0.0.1 that was free for both UDP and TCP, or 0.
uint16_t t_free_udp_port(void);

#endif
