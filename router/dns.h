// dns.h: outbound s2s address resolution on c-ares (RFC 6120 §3.2, XEP-0368).
//
// One rt_dns_t per worker thread. Resolution of a domain D:
//   1. a static route for D in the configuration wins (exact, case-insensitive domain match):
//      an IP literal host needs no DNS at all, a host name is resolved to A/AAAA only; the
//      route's port and direct_tls apply;
//   2. SRV _xmpps-server._tcp.D (direct TLS) and _xmpp-server._tcp.D (STARTTLS), queried together;
//      a single SRV record with target "." means "no service" -> RC_DNS_NOT_FOUND;
//   3. targets ordered by priority, then weight (RFC 2782 weighted random among equal priority);
//      at equal priority direct TLS targets come first (the weighted draw runs separately among
//      the direct TLS and the STARTTLS targets of a priority); each target resolved to A and
//      AAAA; a target without address is skipped; per target its IPv6 addresses come first, then
//      IPv4 (c-ares order within a family, no RFC 6724 sorting: Happy Eyeballs is the
//      connector's business); at most 16 addresses in all;
//   4. only when neither SRV name exists (NXDOMAIN or no records): A/AAAA of D on port 5269.
//      SRV records that lead to no address give RC_DNS_NOT_FOUND, never this fallback (CORE-3);
//      "." on one name and nothing (or "." too) on the other gives RC_DNS_NOT_FOUND. A timeout
//      or SERVFAIL on one SRV name is ignored when the other has records; otherwise it, or a
//      failed A/AAAA lookup with no address found elsewhere, gives RC_DNS_FAIL.
// Final answers are cached per domain: RC_OK for the smallest TTL seen (SRV and A/AAAA, at most
// 1 h; the RFC 2782 order is drawn again on each hit), RC_DNS_NOT_FOUND and answers partly
// built on failed queries for at most 30 s, RC_DNS_FAIL not at all; at most |cache_max| names,
// least recently used evicted. Names are looked up as given (no search domains, no /etc/hosts).
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

// Called exactly once per rt_dns_resolve_s2s, never synchronously from inside it: callbacks run
// from rt_dns_tick, rt_dns_process or rt_dns_free. |rc| is RC_OK with 1..|num| addresses,
// RC_DNS_NOT_FOUND, or RC_DNS_FAIL. |addrs| is borrowed until return. A callback may call
// rt_dns_resolve_s2s and rt_dns_cancel, never rt_dns_free.
typedef void (*rt_dns_cb)(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num);

// Watch callback: the loop must poll |fd| for readability (|r|) and/or writability (|w|); both
// false means stop watching |fd|.
typedef void (*rt_dns_watch_cb)(void *loop_ctx, int fd, bool r, bool w);

// rt_dns_new returns an owned resolver (free with rt_dns_free) or NULL with a logged reason.
// |conf| is copied except |routes|. |watch| runs from inside rt_dns_* calls (rt_dns_free too,
// to release the fds). Thread: one rt_dns_t is used by its owning thread only.
rt_dns_t *rt_dns_new(const rt_dns_conf_t *conf, rt_dns_watch_cb watch, void *loop_ctx);
// rt_dns_free cancels pending queries: their callbacks run with RC_DNS_FAIL before it returns
// (a result that was already complete but not yet delivered is delivered as it is; cancelled
// ones do not run). Accepts NULL.
void rt_dns_free(rt_dns_t *dns);

// rt_dns_resolve_s2s starts resolving |domain| (A-label; case and one trailing dot are
// normalised). Returns RC_OK (callback will run later) or an error (callback will not run):
// RC_EINVAL for a name that is not LDH labels of 1..253 bytes (or during rt_dns_free),
// RC_ENOBUFS when 256 resolutions are already pending. |ctx| must stay valid until the callback.
RT_MUSTCHECK rc_t rt_dns_resolve_s2s(rt_dns_t *dns, const char *domain, rt_dns_cb cb, void *ctx);
// rt_dns_cancel: the callback of every pending resolution with |ctx| will not run. Safe at any
// point, also if it already ran and from inside a callback.
void rt_dns_cancel(rt_dns_t *dns, void *ctx);

// Loop integration. Both may run resolution callbacks (and |watch|) before they return.
void rt_dns_process(rt_dns_t *dns, int fd, bool readable, bool writable);
void rt_dns_tick(rt_dns_t *dns); // call about every 100 ms; handles timeouts and deferred callbacks
// rt_dns_next_timeout_ms: how long until rt_dns_tick is needed (at most |max_ms|; 0 when results
// are waiting for delivery, e.g. a static route or a cache hit).
uint32_t rt_dns_next_timeout_ms(rt_dns_t *dns, uint32_t max_ms);

#endif
