// posh_fetch.h: asynchronous POSH retrieval (RFC 7711, SPEC.md §7) inside a worker's event loop.
//
// rt_posh_fetch(D) GETs https://D/.well-known/posh/xmpp-server.json and reports one of:
//   FOUND    a fingerprints document (dna_posh_parse), possibly reached through HTTP redirects
//            and/or one reference document; |ttl_s| is dna_posh_cache_ttl(reference or NULL,
//            fingerprints, max_ttl_s) (POSH-10: the lower of the two "expires");
//   NONE     404 on the well-known URI (no POSH material, POSH-3; fall back, RFC 7712 §5.2),
//            or a document whose "expires" is 0 (the material or the delegation is invalid);
//   TEMPFAIL timeout (whole fetch incl. redirects and the reference), name resolution failure,
//            TCP connect failure on every address, TLS failure other than certificate
//            verification, 5xx, connection closed before the body was complete;
//   INVALID  malformed HTTP or POSH document, oversized head (> RT_HTTP_HEAD_MAX) or body
//            (> DNA_POSH_DOC_MAX, refused as soon as Content-Length or the bytes read exceed it),
//            a redirect without Location, to a non-https URL, beyond max_redirects or back to a
//            URL already visited (loop), a reference to a reference, a referenced URL that
//            answers 404, other 3xx/4xx/1xx/2xx statuses, Transfer-Encoding in the response,
//            and an HTTPS certificate that does not validate (PKIX against |ca_file|, DNS-ID of
//            the URL's host).
//   Why an untrusted HTTPS certificate is INVALID, not TEMPFAIL: RFC 7711 makes verifying the
//   HTTPS server's certificate for the source domain (RFC 2818) the trust bootstrap of POSH; a
//   server that fails it is not a transient network condition, and nothing it served may be
//   used. Like every failure it is cached only |fail_ttl_s|, so a fixed server is seen quickly.
//
// Other domains (the reading of RFC 7711 implemented here; SPEC.md POSH-1/5/8/11): the first
// hop MUST be https://D/ with a certificate valid for D (RFC 2818; the trust bootstrap). After
// that, RFC 7711 restricts an HTTP redirect only in scheme (the Location MUST be an https URI)
// and a reference document's "url" only to HTTPS (its example points from example.com to
// https://hosting.example.net/...); it does not require either to stay on D. Pointing at the
// hosting provider is the delegation POSH exists for: the delegation is secure when the offered
// certificate matches the material, however it was obtained (directly, by reference or by
// redirect, POSH-8). So cross-domain redirects and references are followed, and each hop's
// HTTPS certificate is verified for THAT hop's host, never for D.
// Limits: at most |max_redirects| redirects in the whole fetch (RFC 7711 recommends at most 10;
// default 3), one reference (POSH-5: a reference never points to a reference), 301/308 are
// treated as temporary (never cached), relative Location values ("/path") resolve against the
// current URL. A URL without an explicit port uses |conf.port| (443 in production).
//
// HTTP: "GET path HTTP/1.0" with Host (no chunked encoding), read until Content-Length or close.
// TLS: BoringSSL client, TLS >= 1.2, SNI = host, chain verified against |ca_file|, host name
// checked with X509_VERIFY_PARAM_set1_host (DNS-ID; no CN, no partial wildcards).
//
// Cache: per source domain, at most |cache_max| entries (least recently used evicted): FOUND for
// |ttl_s| (0 = not cached), NONE for |neg_ttl_s|, TEMPFAIL and INVALID for |fail_ttl_s|.
// Concurrent fetches of one domain share one retrieval (every caller gets its callback).
// Each outcome of a retrieval is logged once (CORE_LOG_SRC_DNA): domain, URL, status, why.
//
// Threads: none of its own. One rt_posh_t per worker thread, used by that thread only.
#ifndef RT_ROUTER_POSH_FETCH_H
#define RT_ROUTER_POSH_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dna/posh.h"
#include "router/core/rc.h"

typedef struct rt_posh rt_posh_t;

// Watch callback: the loop must poll |fd| for readability (|r|) and/or writability (|w|); both
// false means stop watching |fd| (it is about to be closed). Same contract as rt_dns_watch_cb.
typedef void (*rt_posh_watch_cb)(void *loop_ctx, int fd, bool r, bool w);

// Name resolution is injected: the router adapts its resolver, tests pass a stub.
// |rc| RC_OK with 1..|num| addresses (|addrs|/|lens| borrowed until return), or an error.
typedef void (*rt_posh_resolved_cb)(void *cbctx, rc_t rc, const struct sockaddr_storage *addrs,
                                    const socklen_t *lens, size_t num);
typedef struct rt_posh_resolver {
    // resolve starts resolving |host| (a normalised A-label) for |port|; RC_OK means |cb| runs
    // later exactly once unless cancelled, never from inside resolve. An error means it will not.
    rc_t (*resolve)(void *rctx, const char *host, uint16_t port, rt_posh_resolved_cb cb,
                    void *cbctx);
    // cancel: the pending callback with |cbctx| must not run.
    void (*cancel)(void *rctx, void *cbctx);
    void *rctx;
} rt_posh_resolver_t;

typedef struct rt_posh_conf {
    const char *ca_file;    // PEM trust store for the HTTPS servers (required)
    uint16_t port;          // HTTPS port for URLs without one (0: 443)
    uint32_t timeout_ms;    // whole fetch incl. redirects and the reference (0: 5000)
    uint32_t max_redirects; // 0: 3 (RT_POSH_NO_REDIRECTS for none)
    uint64_t max_ttl_s;     // cap on a FOUND result's cache time (0: 86400)
    uint32_t neg_ttl_s;     // cache time of NONE (0: 300)
    uint32_t fail_ttl_s;    // cache time of TEMPFAIL and INVALID (0: 30)
    size_t cache_max;       // cached domains (0: 4096)
    size_t pending_max;     // concurrent retrievals (0: 256); more -> RC_ENOBUFS
    rt_posh_resolver_t resolver;
} rt_posh_conf_t;

#define RT_POSH_NO_REDIRECTS UINT32_MAX

typedef enum rt_posh_status {
    RT_POSH_FOUND = 0,
    RT_POSH_NONE = 1,     // 404, expires 0
    RT_POSH_TEMPFAIL = 2, // timeout, 5xx, resolution/connect/TLS failure
    RT_POSH_INVALID = 3,  // malformed, bad redirect, oversized, untrusted HTTPS
} rt_posh_status_t;

#define RT_POSH_SOURCE_URL_MAX (DNA_POSH_URL_MAX + DNA_DOMAIN_MAX + 16)

typedef struct rt_posh_result {
    rt_posh_status_t status;
    const dna_posh_doc_t *doc; // FOUND: the fingerprints document, borrowed until return
    uint64_t ttl_s;            // how long the result is (or would be) cached
    bool from_cache;
    const char *why;           // operator-readable, borrowed until return
    const char *domain;        // the source domain (normalised), borrowed until return
    // The URL the answer came from (after redirects and the reference), "" when none was reached.
    char source_url[RT_POSH_SOURCE_URL_MAX + 1];
} rt_posh_result_t;

// Result callback. Runs exactly once per successful rt_posh_fetch unless cancelled, never from
// inside rt_posh_fetch: from rt_posh_process, rt_posh_tick or rt_posh_free. It may call
// rt_posh_fetch and rt_posh_cancel, never rt_posh_free.
typedef void (*rt_posh_cb)(void *ctx, const rt_posh_result_t *res);

// rt_posh_new returns an owned fetcher (rt_posh_free) or NULL with a logged reason (trust store
// unreadable, no resolver). Copies |conf| (|ca_file| is read now). |watch| runs from inside
// rt_posh_* calls and from the resolver callback. Thread: the owning worker.
rt_posh_t *rt_posh_new(const rt_posh_conf_t *conf, rt_posh_watch_cb watch, void *loop_ctx);
// rt_posh_free aborts pending retrievals; their callbacks run with TEMPFAIL ("shutting down")
// and deferred results (cache hits) are delivered as they are, before it returns. Accepts NULL.
void rt_posh_free(rt_posh_t *p);

// rt_posh_fetch starts (or joins, or answers from the cache) the POSH retrieval for |domain|
// (U- or A-label, normalised with dna_domain_normalize). Returns RC_OK (|cb| will run later,
// a cache hit at the next rt_posh_tick/rt_posh_process), RC_DNA_BAD_NAME for a bad domain or an
// IP literal, RC_ENOBUFS when |pending_max| retrievals are running, RC_EINVAL during free; on
// error |cb| never runs. |ctx| must stay valid until the callback or rt_posh_cancel.
RT_MUSTCHECK rc_t rt_posh_fetch(rt_posh_t *p, const char *domain, rt_posh_cb cb, void *ctx);
// rt_posh_cancel: no callback with |ctx| will run any more. The retrieval itself continues (its
// result fills the cache). Safe at any time, also from inside a callback.
void rt_posh_cancel(rt_posh_t *p, void *ctx);

// Loop integration. |fd| readiness reported by the loop; callbacks may run before it returns.
void rt_posh_process(rt_posh_t *p, int fd, bool readable, bool writable);
// rt_posh_tick handles timeouts and deferred results; |now_ms| is CLOCK_MONOTONIC in ms.
void rt_posh_tick(rt_posh_t *p, uint64_t now_ms);
// rt_posh_next_timeout_ms: how long until rt_posh_tick is needed, at most |max_ms|; 0 when
// results are waiting for delivery.
uint32_t rt_posh_next_timeout_ms(rt_posh_t *p, uint32_t max_ms);

#endif
