// dns.h: outbound s2s address resolution on c-ares (RFC 6120 §3.2, XEP-0368).
//
// One rt_dns_t per worker thread. Resolution of a domain D:
//   1. a static route for D in the configuration wins (no DNS at all);
//   2. SRV _xmpps-server._tcp.D (direct TLS) and _xmpp-server._tcp.D (STARTTLS), queried together;
//      a single SRV record with target "." means "no service" -> RC_DNS_NOT_FOUND;
//   3. targets ordered by priority, then weight (RFC 2782 weighted random among equal priority);
//      at equal priority direct TLS targets come first; each target resolved to A and AAAA;
//   4. only when neither SRV name exists (NXDOMAIN or no records): A/AAAA of D on port 5269.
// Answers are cached per TTL (bounded size).
//
// The event loop drives c-ares' sockets: rt_dns tells it which fds to watch through the |watch|
// callback, and the loop calls rt_dns_process when one is ready and rt_dns_tick periodically
// (for timeouts). No threads of its own.
#ifndef RT_ROUTER_DNS_H
#define RT_ROUTER_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "router/core/rc.h"

typedef struct rt_dns rt_dns_t;

typedef struct rt_dns_route {
    char *domain; // A-label, lower case
    char *host;   // IP literal or host name
    uint16_t port;
    bool direct_tls;
} rt_dns_route_t;

typedef struct rt_dns_conf {
    const char *servers;          // "ip:port[,ip:port]" or NULL for /etc/resolv.conf
    const rt_dns_route_t *routes; // static routes (borrowed; must outlive the rt_dns_t)
    size_t num_routes;
    uint32_t timeout_ms; // per query try (default 2000)
    uint32_t tries;      // default 2
    size_t cache_max;    // max cached names (default 4096)
} rt_dns_conf_t;

// One address to try, in order.
typedef struct rt_dns_addr {
    struct sockaddr_storage sa;
    socklen_t sa_len;
    char host[256];  // the SRV target (or the domain, or the static route's host)
    bool direct_tls; // true: TLS from the first byte (XEP-0368), false: STARTTLS
    bool from_srv;   // reached through an SRV record
} rt_dns_addr_t;

// Called exactly once per rt_dns_resolve_s2s, never synchronously from inside it. |rc| is RC_OK
// with 1..|num| addresses, RC_DNS_NOT_FOUND, or RC_DNS_FAIL. |addrs| is borrowed until return.
typedef void (*rt_dns_cb)(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num);

// Watch callback: the loop must poll |fd| for readability (|r|) and/or writability (|w|); both
// false means stop watching |fd|.
typedef void (*rt_dns_watch_cb)(void *loop_ctx, int fd, bool r, bool w);

// rt_dns_new returns an owned resolver (free with rt_dns_free) or NULL with a logged reason.
// |conf| is copied except |routes|.
rt_dns_t *rt_dns_new(const rt_dns_conf_t *conf, rt_dns_watch_cb watch, void *loop_ctx);
// rt_dns_free cancels pending queries: their callbacks run with RC_DNS_FAIL before it returns.
void rt_dns_free(rt_dns_t *dns);

// rt_dns_resolve_s2s starts resolving |domain| (A-label). Returns RC_OK (callback will run later)
// or an error (callback will not run). |ctx| must stay valid until the callback.
RT_MUSTCHECK rc_t rt_dns_resolve_s2s(rt_dns_t *dns, const char *domain, rt_dns_cb cb, void *ctx);
// rt_dns_cancel: the callback for |ctx| will not run. Safe if it already ran.
void rt_dns_cancel(rt_dns_t *dns, void *ctx);

// Loop integration.
void rt_dns_process(rt_dns_t *dns, int fd, bool readable, bool writable);
void rt_dns_tick(rt_dns_t *dns); // call about every 100 ms; handles timeouts and deferred callbacks
// rt_dns_next_timeout_ms: how long until rt_dns_tick is needed (at most |max_ms|).
uint32_t rt_dns_next_timeout_ms(rt_dns_t *dns, uint32_t max_ms);

#endif
