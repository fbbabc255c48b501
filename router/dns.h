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
//      or SERVFAIL on one SRV name is ignored when the other has records; otherwise a timeout
//      or a failed A/AAAA lookup with no address found elsewhere gives RC_DNS_FAIL, and a
//      SERVFAIL (the validating resolver's "bogus", RFC 7673 §3.1: do not connect) gives
//      RC_DNS_BOGUS, never cached.
// Final answers are cached per domain: RC_OK for the smallest TTL seen (SRV and A/AAAA, at most
// 1 h; the RFC 2782 order is drawn again on each hit), RC_DNS_NOT_FOUND and answers partly
// built on failed queries for at most 30 s, RC_DNS_FAIL not at all; at most |cache_max| names,
// least recently used evicted. Names are looked up as given (no search domains, no /etc/hosts).
//
// DNSSEC (DANE, RFC 7673, SPEC.md §8): the SRV and TLSA queries are built by dna_dnsmsg_query
// (AD=1, EDNS0 DO=1) and sent with ares_send; their answers are parsed by dna_dnsmsg_parse. The
// trust rule (DANE-2): an answer is "secure" only when it comes, with the AD bit set, from the
// configured resolver (|servers|), which must be a validating resolver on this host or behind a
// trusted channel. rt_dns does not validate DNSSEC itself. A truncated UDP answer (TC=1) is
// retried over TCP by c-ares itself (ARES_FLAG_IGNTC is not set); a TC=1 answer that still
// reaches us is a temporary failure. A/AAAA lookups use ares_getaddrinfo (no AD bit looked at).
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

#include "dna/prooftype.h"
#include "dna/tlsa.h"
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
    // The SRV RRset that produced this address came with the AD bit set (DNSSEC secure, RFC 7673
    // §3.1: the target is a secure delegation, TLSA applies). False for the A/AAAA fallback,
    // static routes and rt_dns_resolve_host.
    bool srv_secure;
} rt_dns_addr_t;

// Called exactly once per rt_dns_resolve_s2s, never synchronously from inside it: callbacks run
// from rt_dns_tick, rt_dns_process or rt_dns_free. |rc| is RC_OK with 1..|num| addresses,
// RC_DNS_NOT_FOUND, RC_DNS_FAIL or RC_DNS_BOGUS. |addrs| is borrowed until return. A callback may call
// rt_dns_resolve_s2s and rt_dns_cancel, never rt_dns_free.
typedef void (*rt_dns_cb)(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num);

// The result of a TLSA lookup (rt_dns_resolve_tlsa).
typedef struct rt_dns_tlsa {
    // SECURE: NOERROR or NXDOMAIN with AD; INSECURE: NOERROR or NXDOMAIN without AD; BOGUS:
    // SERVFAIL from the validating resolver; TEMPFAIL: timeout, refused, malformed or truncated
    // answer, other rcode, rt_dns_free. Never UNKNOWN.
    dna_dnssec_t dnssec;
    // SECURE: the records (possibly none: NXDOMAIN/NODATA), with the counts of unusable,
    // malformed and dropped ones; borrowed until the callback returns. NULL unless SECURE
    // (insecure records are never parsed).
    const dna_tlsa_set_t *set;
    // SECURE/INSECURE: seconds the answer stays valid (the RRset's TTL, at most 3600; 30 for an
    // empty answer, whose negative TTL is not looked at; what is left of it on a cache hit).
    // BOGUS: 30 (how long it is cached). TEMPFAIL: 0.
    uint32_t ttl;
    char owner[DNA_TLSA_OWNER_MAX]; // the name queried: "_<port>._tcp.<host>", lower case
} rt_dns_tlsa_t;

// TLSA callback: the same rules as rt_dns_cb (exactly once per accepted rt_dns_resolve_tlsa,
// never synchronously, cancelled by rt_dns_cancel with its |ctx|). |res| and |res->set| are
// borrowed until return.
typedef void (*rt_dns_tlsa_cb)(void *ctx, const rt_dns_tlsa_t *res);

// Watch callback: the loop must poll |fd| for readability (|r|) and/or writability (|w|); both
// false means stop watching |fd|.
typedef void (*rt_dns_watch_cb)(void *loop_ctx, int fd, bool r, bool w);

// rt_dns_new returns an owned resolver (free with rt_dns_free) or NULL with a logged reason.
// |conf| is copied except |routes|. |watch| runs from inside rt_dns_* calls (rt_dns_free too,
// to release the fds). Thread: one rt_dns_t is used by its owning thread only.
rt_dns_t *rt_dns_new(const rt_dns_conf_t *conf, rt_dns_watch_cb watch, void *loop_ctx);
// rt_dns_free cancels pending queries: their callbacks run with RC_DNS_FAIL (TLSA: TEMPFAIL)
// before it returns
// (a result that was already complete but not yet delivered is delivered as it is; cancelled
// ones do not run). Accepts NULL.
void rt_dns_free(rt_dns_t *dns);

// rt_dns_resolve_s2s starts resolving |domain| (A-label; case and one trailing dot are
// normalised). Returns RC_OK (callback will run later) or an error (callback will not run):
// RC_EINVAL for a name that is not LDH labels of 1..253 bytes (or during rt_dns_free),
// RC_ENOBUFS when 4096 resolutions are already pending. |ctx| must stay valid until the callback.
RT_MUSTCHECK rc_t rt_dns_resolve_s2s(rt_dns_t *dns, const char *domain, rt_dns_cb cb, void *ctx);
// rt_dns_resolve_tlsa starts the TLSA lookup of "_<port>._tcp.<host>" (RFC 6698 §3, RFC 7673
// §3.3: |host| is the SRV target, an A-label name; case and one trailing dot are normalised),
// with AD=1 and DO=1, at the configured resolver. The answer's DNSSEC state and, when secure,
// its records are given to |cb| (see rt_dns_tlsa_t). Results are cached per owner name in the
// same cache (and under the same |cache_max| bound) as rt_dns_resolve_s2s: SECURE and INSECURE
// for their TTL (at most 1 h; 30 s when empty), BOGUS for 30 s, TEMPFAIL not at all. Logs one
// line per result (debug; warn for BOGUS and for malformed answers; info when the set holds
// malformed or dropped records). Returns RC_OK (callback will run later) or an error (callback
// will not run): RC_EINVAL for a NULL argument, port 0, a bad host name (as for
// rt_dns_resolve_s2s, or an owner name over 253 bytes) or during rt_dns_free; RC_ENOBUFS when
// too many lookups are pending (not for cache hits). Borrows |host|; |ctx| must stay valid until
// the callback (or rt_dns_cancel). Thread: the owner of |dns|.
RT_MUSTCHECK rc_t rt_dns_resolve_tlsa(rt_dns_t *dns, const char *host, uint16_t port,
                                      rt_dns_tlsa_cb cb, void *ctx);

// rt_dns_resolve_host resolves |host| (an A-label name, normalised as above) to A and AAAA only:
// no SRV, no static route, no cache; for the POSH HTTPS fetcher (RFC 7711). Every address gets
// |port|, host = the normalised name, direct_tls, from_srv and srv_secure false; IPv6 first. |cb|
// runs once, as for rt_dns_resolve_s2s: RC_OK with 1..16 addresses, RC_DNS_NOT_FOUND (NXDOMAIN
// or no address), RC_DNS_FAIL (timeout, SERVFAIL, rt_dns_free). Returns RC_OK, RC_EINVAL (NULL
// argument, port 0, bad name, during rt_dns_free) or RC_ENOBUFS, as rt_dns_resolve_s2s. Borrows
// |host|. Thread: the owner of |dns|.
RT_MUSTCHECK rc_t rt_dns_resolve_host(rt_dns_t *dns, const char *host, uint16_t port,
                                      rt_dns_cb cb, void *ctx);

// rt_dns_cancel: the callback of every pending resolution (s2s, TLSA or host) with |ctx| will not
// run. Safe at any point, also if it already ran and from inside a callback.
void rt_dns_cancel(rt_dns_t *dns, void *ctx);

// Loop integration. Both may run resolution callbacks (and |watch|) before they return.
void rt_dns_process(rt_dns_t *dns, int fd, bool readable, bool writable);
void rt_dns_tick(rt_dns_t *dns); // call about every 100 ms; handles timeouts and deferred callbacks
// rt_dns_next_timeout_ms: how long until rt_dns_tick is needed (at most |max_ms|; 0 when results
// are waiting for delivery, e.g. a static route or a cache hit).
uint32_t rt_dns_next_timeout_ms(rt_dns_t *dns, uint32_t max_ms);

#endif
