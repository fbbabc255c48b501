// peer.c: the pool on the router side. Outbound s2s streams are pooled per peer address
// (IP, port, transport): a new domain pair rides an existing stream with dialback whenever the
// peer allows it (RFC 7712 §6.1 assertion, §6.2 supposition; XEP-0220 §2.6), decided from the
// verdict table; a new connection is made only when no usable stream exists, and connection
// attempts to a failing peer back off.
//
// Ownership: a remote domain's pairs, and the peers and streams they use, live on the worker
// rt_route_owner_of() picks from the domain's addresses, so one peer address is served by one
// worker. Any worker learns that owner through its route cache (one DNS resolution per domain
// and TTL) and hands stanzas and db:verify requests to it.
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "router/admin.h"
#include "router/internal.h"
#include "router/proof.h"

#define ROUTE_TTL_MS 60000u
#define ROUTE_MAX_QUEUED 10000u
#define VERDICT_PKIX_TTL_MS 3600000u
#define VERDICT_DNS_TTL_MS 600000u
#define VERDICT_NEGATIVE_TTL_MS 60000u
#define POOL_TICK_MS 500u
#define PIGGY_INFLIGHT_MAX 64u // db:result in flight per stream: pace, never flood a peer
#define VCONN_MAX 4u           // verification connections in flight per peer address
#define PAIR_RETRIES_MAX 3u    // resource-constraint answers before a pair gives up
#define FLAP_MS 10000u         // a stream that dies younger than this counts as a failed attempt
#define REFUSAL_MS 60000u      // how long a refused domain or pair bounces without a new try

typedef struct rt_route_entry {
    struct rt_route_entry *next;
    rt_worker_t *w;
    char domain[DNA_DOMAIN_MAX];
    bool resolving;
    int32_t owner;
    uint64_t expires_ms;
    rt_msg_t *q_head, *q_tail;
    size_t q_count;
} rt_route_entry_t;

typedef struct rt_dom_entry {
    struct rt_dom_entry *next;
    rt_worker_t *w;
    char domain[DNA_DOMAIN_MAX];
    bool resolving;
    rc_t rc;
    uint64_t expires_ms;
    rt_dns_addr_t *addrs;
    size_t num_addrs;
    rt_opair_t *waiting;       // RESOLVING pairs
    rt_out_verify_t *verifies; // verify requests waiting for the addresses
} rt_dom_entry_t;

#define LOGP(lvl, fmt, ...) CORE_LOG(lvl, CORE_LOG_SRC_S2S, fmt, __VA_ARGS__)

static uint32_t fnv(uint32_t h, const void *data, size_t len) {
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

static uint32_t str_bucket(const char *a, const char *b) {
    uint32_t h = fnv(2166136261u, a, strlen(a));
    if (b != NULL) {
        h = fnv(h, " ", 1);
        h = fnv(h, b, strlen(b));
    }
    return h % RT_OUT_BUCKETS;
}

uint32_t rt_pool_rand(rt_worker_t *w) {
    // xorshift64*, seeded from RAND_bytes: jitter only, never security.
    if (w->rnd_state == 0) {
        RAND_bytes((uint8_t *)&w->rnd_state, sizeof(w->rnd_state));
        w->rnd_state |= 1;
    }
    w->rnd_state ^= w->rnd_state >> 12;
    w->rnd_state ^= w->rnd_state << 25;
    w->rnd_state ^= w->rnd_state >> 27;
    return (uint32_t)((w->rnd_state * 2685821657736338717ull) >> 32);
}

// addr_key writes a canonical byte key of |a|: family, address, port, transport.
static size_t addr_key(const rt_dns_addr_t *a, uint8_t out[24]) {
    core_memset(out, 0, 24);
    size_t n = 0;
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
        out[n++] = 4;
        core_memcpy(out + n, &s4->sin_addr, 4);
        n += 4;
        core_memcpy(out + n, &s4->sin_port, 2);
        n += 2;
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
        out[n++] = 6;
        core_memcpy(out + n, &s6->sin6_addr, 16);
        n += 16;
        core_memcpy(out + n, &s6->sin6_port, 2);
        n += 2;
    }
    out[n++] = a->direct_tls ? 1 : 0;
    return n;
}

// owner_of picks the worker for a domain from its address set: the smallest address decides,
// so every worker computes the same owner whatever order the SRV weights gave.
static uint32_t owner_of(const rt_router_t *rt, const rt_dns_addr_t *addrs, size_t num) {
    uint8_t best[24], k[24];
    size_t best_len = addr_key(&addrs[0], best);
    for (size_t i = 1; i < num; i++) {
        size_t n = addr_key(&addrs[i], k);
        if (core_memcmp(k, best, 24) < 0) {
            core_memcpy(best, k, 24);
            best_len = n;
        }
    }
    return fnv(2166136261u, best, best_len) % rt->num_workers;
}

// resolve_cond: the bounce condition for a failed resolution. "Not found" is an answer; a
// resolver timeout or our own limit is temporary (RFC 6120 §10.4.3).
static const char *resolve_cond(rc_t rc) {
    return rc == RC_DNS_NOT_FOUND || rc == RC_EINVAL || rc == RC_DNS_BOGUS
               ? "remote-server-not-found" // DNSSEC bogus: must not connect (RFC 7673 §3.1)
               : "remote-server-timeout";
}

// ---- pair bookkeeping --------------------------------------------------------------------------

static rt_stat_id_t pair_gauge(rt_opair_state_t st) {
    switch (st) {
    case RT_OPAIR_PENDING:
        return RT_STAT_PAIRS_OUT_PENDING;
    case RT_OPAIR_VALID:
        return RT_STAT_PAIRS_OUT_VALID;
    default:
        return RT_STAT_PAIRS_OUT_WAITING;
    }
}

static void pair_set_state(rt_worker_t *w, rt_opair_t *p, rt_opair_state_t st) {
    rt_stat_add(&w->stats, pair_gauge(p->state), -1);
    rt_stat_add(&w->stats, pair_gauge(st), 1);
    p->state = st;
}

static rt_opair_t *pair_find(rt_worker_t *w, const char *l, const char *r) {
    for (rt_opair_t *p = w->pair_table[str_bucket(l, r)]; p != NULL; p = p->hash_next) {
        if (strcmp(p->local, l) == 0 && strcmp(p->remote, r) == 0) {
            return p;
        }
    }
    return NULL;
}

static bool list_remove(rt_opair_t **head, rt_opair_t *p) {
    for (rt_opair_t **pp = head; *pp != NULL; pp = &(*pp)->list_next) {
        if (*pp == p) {
            *pp = p->list_next;
            p->list_next = NULL;
            return true;
        }
    }
    return false;
}

static void list_append(rt_opair_t **head, rt_opair_t *p) {
    p->list_next = NULL;
    while (*head != NULL) {
        head = &(*head)->list_next;
    }
    *head = p;
}

static rt_dom_entry_t *dom_find(rt_worker_t *w, const char *domain) {
    for (rt_dom_entry_t *e = w->dom_table[str_bucket(domain, NULL)]; e != NULL; e = e->next) {
        if (strcmp(e->domain, domain) == 0) {
            return e;
        }
    }
    return NULL;
}

// pair_detach takes |p| off whatever list holds it.
static void pair_detach(rt_worker_t *w, rt_opair_t *p) {
    if (p->stream != NULL && p->piggybacked && p->state == RT_OPAIR_PENDING) {
        p->stream->piggy_pending--;
    }
    if (p->stream != NULL) {
        list_remove(&p->stream->opairs, p);
        p->stream = NULL;
    } else if (p->peer != NULL) {
        list_remove(&p->peer->waiting, p);
    } else {
        rt_dom_entry_t *e = dom_find(w, p->remote);
        if (e != NULL) {
            list_remove(&e->waiting, p);
        }
    }
    p->peer = NULL;
}

// pair_dequeue takes the oldest queued stanza of |p| (the caller owns it), keeping the pair's and
// the worker's byte counts.
static rt_msg_t *pair_dequeue(rt_worker_t *w, rt_opair_t *p) {
    rt_msg_t *m = rt_msg_pop(&p->q_head, &p->q_tail);
    if (p->q_head == NULL) {
        p->deadline_ms = 0;
    }
    p->q_bytes -= m->size;
    w->q_bytes -= m->size;
    return m;
}

static void pair_bounce_queue(rt_worker_t *w, rt_opair_t *p, const char *cond, const char *etype) {
    while (p->q_head != NULL) {
        rt_route_bounce(w, pair_dequeue(w, p), cond, etype);
    }
}

static void pair_free(rt_worker_t *w, rt_opair_t *p) {
    pair_detach(w, p);
    rt_opair_t **pp = &w->pair_table[str_bucket(p->local, p->remote)];
    while (*pp != NULL && *pp != p) {
        pp = &(*pp)->hash_next;
    }
    if (*pp == p) {
        *pp = p->hash_next;
    }
    rt_stat_add(&w->stats, pair_gauge(p->state), -1);
    while (p->q_head != NULL) {
        rt_msg_free(pair_dequeue(w, p));
    }
    free(p);
}

static void pair_fail(rt_worker_t *w, rt_opair_t *p, const char *cond, const char *etype) {
    if (p->q_head != NULL) {
        LOGP(CORE_LOG_INFO, "w%u: pair %s->%s failed: bouncing queued stanzas with %s", w->idx,
             p->local, p->remote, cond);
    }
    pair_bounce_queue(w, p, cond, etype);
    pair_free(w, p);
}

static void pair_flush(rt_worker_t *w, rt_opair_t *p) {
    if (!rt_sout_established(p->stream)) {
        return; // closing: after our </stream:stream> nothing more may be written (the TLS
                // session is shut down); the queue goes to the next stream
    }
    // When the stream is congested the rest waits (bounded) until it drains.
    while (p->q_head != NULL && !rt_conn_congested(p->stream)) {
        rt_sout_send_stanza(p->stream, pair_dequeue(w, p));
    }
    if (p->q_head != NULL) {
        p->stream->drain_wanted = true; // the stream's completed sends will call us again
    }
}

static void peer_dispatch(rt_worker_t *w, rt_peer_t *peer);
static void peer_drain_step(rt_worker_t *w, rt_peer_t *peer);
static void pair_place(rt_worker_t *w, rt_opair_t *p, rt_dom_entry_t *e);

// ---- peers ----------------------------------------------------------------------------------------

static rt_peer_t *peer_get(rt_worker_t *w, const rt_dns_addr_t *a) {
    uint8_t k[24], k2[24];
    size_t n = addr_key(a, k);
    uint32_t b = fnv(2166136261u, k, n) % RT_OUT_BUCKETS;
    for (rt_peer_t *p = w->peer_table[b]; p != NULL; p = p->hash_next) {
        if (addr_key(&p->addr, k2) == n && core_memcmp(k, k2, n) == 0) {
            return p;
        }
    }
    rt_peer_t *p = core_xcalloc(1, sizeof(*p));
    p->addr = *a;
    char ip[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        port = ntohs(s4->sin_port);
    } else {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        port = ntohs(s6->sin6_port);
    }
    snprintf(p->text, sizeof(p->text), a->sa.ss_family == AF_INET6 ? "[%s]:%u%s" : "%s:%u%s", ip,
             port, a->direct_tls ? "/tls" : "");
    p->hash_next = w->peer_table[b];
    w->peer_table[b] = p;
    rt_stat_inc(&w->stats, RT_STAT_POOL_PEERS);
    return p;
}

// verdict_key: the verdict of |peer|'s address (and certificate on |s|, if any) for |domain|,
// for a verification connection's result, whose stream |s| may be gone; a live stream's key is
// rt_proof_verdict_key.
static pool_verdict_key_t verdict_key(const rt_peer_t *peer, const rt_conn_t *s, const char *domain) {
    pool_verdict_key_t k;
    core_memset(&k, 0, sizeof(k));
    k.addr = peer->addr.sa;
    if (s != NULL && s->has_peer_fp) {
        core_memcpy(k.fp, s->peer_fp, POOL_FP_LEN);
    }
    k.domain = domain;
    return k;
}

static void verdict_put(pool_verdicts_t *vt, const pool_verdict_key_t *k, const pool_verdict_t *v,
                        uint64_t now_ms) {
    if (pool_verdicts_put(vt, k, v, now_ms) != RC_OK) {
        LOGP(CORE_LOG_WARN, "verdict for %s not stored", k->domain);
    }
}

typedef enum proof { PROOF_YES, PROOF_NO, PROOF_UNKNOWN } proof_t;

static proof_t start_vconn(rt_worker_t *w, rt_peer_t *peer, rt_conn_t *s, const char *local,
                           const char *remote);
static void peer_dispatch(rt_worker_t *w, rt_peer_t *peer);

// prove_target: may the peer behind stream |s| receive stanzas for |remote| on it (RFC 7712 §4.4.2)?
// Its certificate proves it, or a verdict says so; otherwise a verification connection finds out.
static proof_t prove_target(rt_worker_t *w, rt_peer_t *peer, rt_conn_t *s, const char *local,
                            const char *remote) {
    rt_router_t *rt = w->rt;
    for (rt_conn_t *c = peer->streams; c != NULL; c = c->peer_next) {
        if (c->vconn && strcmp(c->prove, remote) == 0 && !c->closing) {
            return PROOF_UNKNOWN; // already being verified
        }
    }
    pool_verdict_key_t k = rt_proof_verdict_key(s, remote); // as the check records it
    pool_verdict_t v;
    switch (pool_verdicts_lookup(rt->verdicts, &k, w->now_ms, &v)) {
    case POOL_VERDICT_HIT:
        rt_stat_inc(&w->stats, RT_STAT_VERDICT_HIT);
        return PROOF_YES;
    case POOL_VERDICT_NEGATIVE:
        rt_stat_inc(&w->stats, RT_STAT_VERDICT_NEGATIVE);
        if (v.proof != POOL_PROOF_NONE) {
            return PROOF_NO; // refused by a prooftype, or a failed verification connection
        }
        break; // the certificate proves nothing: a verification connection finds out
    case POOL_VERDICT_MISS: {
        rt_stat_inc(&w->stats, RT_STAT_VERDICT_MISS);
        if (rt_proof_pending(s, RT_PROOF_TARGET, remote)) {
            return PROOF_UNKNOWN;
        }
        dna_verdict_t dv;
        if (!rt_proof_start(s, RT_PROOF_TARGET, remote, local, NULL, &dv)) {
            return PROOF_UNKNOWN; // rt_pool_target_proof continues
        }
        if (dv.kind == DNA_VERDICT_PROVEN) {
            return PROOF_YES;
        }
        if (dv.kind == DNA_VERDICT_REFUSED) {
            return PROOF_NO;
        }
        break;
    }
    }
    return start_vconn(w, peer, s, local, remote);
}

// start_vconn opens a verification connection for |remote| to the peer behind |s| (at most
// VCONN_MAX at a time): if the peer answers a stream to |remote|, it serves it.
static proof_t start_vconn(rt_worker_t *w, rt_peer_t *peer, rt_conn_t *s, const char *local,
                           const char *remote) {
    for (rt_conn_t *c = peer->streams; c != NULL; c = c->peer_next) {
        if (c->vconn && strcmp(c->prove, remote) == 0 && !c->closing) {
            return PROOF_UNKNOWN; // already being verified
        }
    }
    size_t vconns = 0;
    for (rt_conn_t *c = peer->streams; c != NULL; c = c->peer_next) {
        if (c->vconn && !c->closing && !c->close_after_flush) {
            vconns++;
        }
    }
    if (vconns >= VCONN_MAX) {
        return PROOF_UNKNOWN; // the next one starts when one of these finishes
    }
    rt_conn_t *v2 = rt_sout_open(w, peer, local, remote, true);
    if (v2 == NULL) {
        return PROOF_NO;
    }
    snprintf(v2->prove, sizeof(v2->prove), "%s", remote);
    v2->prove_for = s;
    LOGP(CORE_LOG_INFO, "w%u: %s: certificate on the pooled stream does not prove %s; verifying",
         w->idx, peer->text, remote);
    return PROOF_UNKNOWN;
}

void rt_pool_vconn_proof(rt_conn_t *v, bool pkix_ok) {
    rt_worker_t *w = v->w;
    rt_peer_t *peer = v->peer;
    // The peer at this address answered a stream to the domain: with a certificate that proves it
    // (PKIX), or at least as its host (dialback level: the DNS says this address serves it).
    pool_verdict_key_t k = verdict_key(peer, v->prove_for, v->prove);
    pool_verdict_t pv = {.positive = true,
                         .proof = !pkix_ok                             ? POOL_PROOF_DIALBACK
                                  : v->proof_type == DNA_PROOF_DANE ? POOL_PROOF_DANE
                                  : v->proof_type == DNA_PROOF_POSH ? POOL_PROOF_POSH
                                                                    : POOL_PROOF_PKIX,
                         .expires_ms = w->now_ms + (pkix_ok ? VERDICT_PKIX_TTL_MS : VERDICT_DNS_TTL_MS)};
    verdict_put(w->rt->verdicts, &k, &pv, w->now_ms);
    LOGP(CORE_LOG_INFO, "w%u: %s serves %s (%s)", w->idx, peer->text, v->prove,
         pkix_ok ? dna_prooftype_name(v->proof_type) : "dialback level");
    v->prove[0] = '\0';
    if (v->verifies == NULL && peer->verifies == NULL) {
        v->backoff_done = true; // done, not failed
        rt_conn_end_stream(v);
    }
    peer_dispatch(w, peer);
}

static void attach(rt_worker_t *w, rt_opair_t *p, rt_conn_t *s, bool piggyback) {
    pair_detach(w, p);
    p->stream = s;
    p->piggybacked = piggyback;
    list_append(&s->opairs, p);
    pair_set_state(w, p, RT_OPAIR_PENDING);
    if (piggyback) {
        s->piggy_pending++;
        rt_stat_inc(&w->stats, RT_STAT_PAIRS_PIGGYBACKED_OUT);
        rt_stat_inc(&w->stats, RT_STAT_HANDSHAKES_AVOIDED);
        LOGP(CORE_LOG_DEBUG, "w%u c%lu: piggybacking %s->%s", w->idx, (unsigned long)s->id,
             p->local, p->remote);
        rt_sout_send_db_result(s, p->local, p->remote);
    }
}

static bool stream_usable(const rt_conn_t *s) {
    return !s->vconn && !s->closing && !s->close_after_flush && s->state >= 0;
}

static uint64_t backoff_next(rt_worker_t *w, rt_peer_t *peer) {
    if (peer->backoff.failures == 0) {
        return w->now_ms;
    }
    return pool_backoff_next_ms(&peer->backoff, &w->rt->backoff, w->now_ms);
}

static void send_peer_verifies(rt_worker_t *w, rt_peer_t *peer) {
    if (peer->verifies == NULL) {
        return;
    }
    // BIDI-5: a db:verify never goes back over the stream its db:result came in on.
    rt_out_verify_t **vp = &peer->verifies;
    while (*vp != NULL) {
        rt_out_verify_t *v = *vp;
        rt_conn_t *s = NULL;
        for (rt_conn_t *c = peer->streams; c != NULL; c = c->peer_next) {
            if (rt_sout_can_verify(c) && !(v->reply_worker == w->idx && v->reply_conn == c->id)) {
                s = c;
                break;
            }
        }
        if (s == NULL) {
            vp = &v->next;
            continue;
        }
        *vp = v->next;
        rt_sout_send_verify(s, v);
    }
    if (peer->verifies == NULL) {
        return;
    }
    for (rt_conn_t *c = peer->streams; c != NULL; c = c->peer_next) {
        if (!c->closing && !c->close_after_flush && !rt_sout_can_verify(c)) {
            return; // a stream is on its way; the verifies go when it is ready
        }
    }
    if (backoff_next(w, peer) > w->now_ms || peer->draining) {
        return; // the tick retries (a draining peer gets no new connection: they time out)
    }
    // No stream to the authoritative server's address: a verification connection carries them.
    if (peer->backoff.failures > 0) {
        pool_backoff_attempt(&peer->backoff, w->now_ms);
    }
    if (rt_sout_open(w, peer, peer->verifies->local, peer->verifies->remote, true) == NULL) {
        pool_backoff_failed(&peer->backoff, &w->rt->backoff, w->now_ms, rt_pool_rand(w));
    }
}

static void peer_free_refusals(rt_peer_t *peer) {
    while (peer->refusals != NULL) {
        rt_refusal_t *r = peer->refusals;
        peer->refusals = r->next;
        free(r);
    }
}

static void refusal_add(rt_worker_t *w, rt_peer_t *peer, const char *local, const char *remote,
                        const char *cond, const char *etype) {
    rt_refusal_t *r = core_xcalloc(1, sizeof(*r));
    snprintf(r->local, sizeof(r->local), "%s", local != NULL ? local : "");
    snprintf(r->remote, sizeof(r->remote), "%s", remote);
    r->cond = cond;
    r->etype = etype;
    r->until_ms = w->now_ms + REFUSAL_MS;
    r->next = peer->refusals;
    peer->refusals = r;
}

// refusal_find: a live refusal covering (local, remote) at |peer|; expired ones are dropped.
static const rt_refusal_t *refusal_find(rt_worker_t *w, rt_peer_t *peer, const char *local,
                                        const char *remote) {
    for (rt_refusal_t **pp = &peer->refusals; *pp != NULL;) {
        rt_refusal_t *r = *pp;
        if (w->now_ms >= r->until_ms) {
            *pp = r->next;
            free(r);
            continue;
        }
        if (strcmp(r->remote, remote) == 0 && (r->local[0] == '\0' || strcmp(r->local, local) == 0)) {
            return r;
        }
        pp = &r->next;
    }
    return NULL;
}

void rt_pool_stream_refused(rt_conn_t *c, const char *cond, bool established) {
    rt_peer_t *peer = c->peer;
    if (peer == NULL) {
        return;
    }
    if (!established) {
        // The answer to our own header or primary db:result: the stream's domain is refused.
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_S2S, "w%u: %s does not serve %s (%s): bouncing for %us",
                 c->w->idx, peer->text, c->remote, cond, REFUSAL_MS / 1000);
        refusal_add(c->w, peer, NULL, c->remote, "remote-server-not-found", "cancel");
        return;
    }
    // On an established stream only a pending piggybacked target can be the refused one; the
    // peer kills the stream instead of answering with a dialback error, so new targets no longer
    // ride its streams.
    peer->no_db_errors = true;
    for (rt_opair_t *p = c->opairs; p != NULL; p = p->list_next) {
        if (p->piggybacked && p->state == RT_OPAIR_PENDING && strcmp(p->remote, c->remote) != 0) {
            CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_S2S,
                     "w%u: %s closed the stream on target %s (%s): bouncing it for %us", c->w->idx,
                     peer->text, p->remote, cond, REFUSAL_MS / 1000);
            refusal_add(c->w, peer, NULL, p->remote, "remote-server-not-found", "cancel");
        }
    }
}

// stream_quiet: nothing of |s| is still to go out or be answered: no pair with queued stanzas or
// a db:result in flight, no stanza unacknowledged under stream management, no db:verify.
static bool stream_quiet(const rt_conn_t *s) {
    for (const rt_opair_t *p = s->opairs; p != NULL; p = p->list_next) {
        if (p->q_head != NULL || p->state == RT_OPAIR_PENDING) {
            return false;
        }
    }
    return (!s->sm_on || s->sm_count == 0) && s->verifies == NULL && s->wbuf.len == 0 &&
           s->sending.len == 0;
}

// end_streams ends |peer|'s pooled streams that are up (with |quiet_only|, only those with
// nothing in flight) with </stream:stream>, on purpose (no back-off). Ending one takes it out of
// the pool (its queued stanzas wait for a new stream) and may dispatch the peer again, so the
// list is searched afresh each time.
static void end_streams(rt_worker_t *w, rt_peer_t *peer, bool quiet_only, const char *why,
                        const char *suffix) {
    for (;;) {
        rt_conn_t *s = peer->streams;
        while (s != NULL &&
               !(rt_sout_established(s) && !s->vconn && (!quiet_only || stream_quiet(s)))) {
            s = s->peer_next;
        }
        if (s == NULL) {
            return;
        }
        LOGP(CORE_LOG_INFO, "w%u c%lu: %s %s: ending stream %s->%s%s", w->idx,
             (unsigned long)s->id, peer->text, why, s->local, s->remote, suffix);
        s->backoff_done = true; // ended on purpose: not a failed attempt
        rt_conn_end_stream(s);
    }
}

// peer_drain_step moves a draining peer on: its waiting pairs fail over to the domain's next
// address (if any; else they wait and the tick bounces them at their stanza deadline), and each
// pooled stream ends with </stream:stream> once quiet, or at drain_until_ms regardless.
static void peer_drain_step(rt_worker_t *w, rt_peer_t *peer) {
    for (rt_opair_t *p = peer->waiting; p != NULL;) {
        rt_opair_t *next = p->list_next;
        rt_dom_entry_t *e = dom_find(w, p->remote);
        if (e != NULL && !e->resolving && p->addr_idx + 1 < e->num_addrs) {
            p->addr_idx++;
            pair_place(w, p, e);
        }
        p = next;
    }
    bool late = w->now_ms >= peer->drain_until_ms;
    // One on its way ends here once up; a vconn ends once its work is done.
    end_streams(w, peer, !late, "is draining", late ? " (drain time is up)" : "");
}

// peer_dispatch places every waiting pair of |peer|: on a stream that already carries its target
// (assertion), on the pooled stream when the peer takes new targets and is proven for this one
// (supposition), or on a new stream of its own.
static void peer_dispatch(rt_worker_t *w, rt_peer_t *peer) {
    if (w->stopping) {
        return;
    }
    send_peer_verifies(w, peer);
    if (peer->draining) {
        peer_drain_step(w, peer); // no new pairs here: they fail over or wait
        return;
    }
    rt_opair_t *p = peer->waiting;
    while (p != NULL) {
        rt_opair_t *next = p->list_next;
        const rt_refusal_t *ref = refusal_find(w, peer, p->local, p->remote);
        if (ref != NULL) {
            pair_fail(w, p, ref->cond, ref->etype);
            p = next;
            continue;
        }
        rt_conn_t *target = NULL, *main = NULL;
        bool establishing_same = false, establishing_any = false;
        for (rt_conn_t *s = peer->streams; s != NULL; s = s->peer_next) {
            if (!stream_usable(s)) {
                continue;
            }
            bool est = rt_sout_established(s);
            // A stream reaches the target it was opened for; on a stream that takes new targets
            // the others are proven one by one below.
            if (est && strcmp(s->remote, p->remote) == 0 && target == NULL) {
                target = s;
            }
            if (est && s->feat_db_errors && main == NULL) {
                main = s;
            }
            if (!est) {
                establishing_any = true;
                establishing_same |= strcmp(s->remote, p->remote) == 0;
            }
        }
        if (target != NULL) {
            if (target->piggy_pending < PIGGY_INFLIGHT_MAX) {
                attach(w, p, target, true); // assertion: a new sender for a target already here
            }
            p = next;
            continue;
        }
        if (main != NULL) {
            if (main->piggy_pending >= PIGGY_INFLIGHT_MAX) {
                if (!peer->no_db_errors) {
                    break; // every other pair would go to this stream too: wait for answers
                }
                p = next;
                continue;
            }
            proof_t pr = prove_target(w, peer, main, p->local, p->remote);
            if (pr == PROOF_YES) {
                attach(w, p, main, true); // supposition: a new target on the pooled stream
                p = next;
                continue;
            }
            if (pr == PROOF_UNKNOWN) {
                p = next;
                continue;
            }
        }
        if (establishing_same || (establishing_any && !peer->no_db_errors && main == NULL)) {
            p = next; // wait: that stream may carry this pair once it is up
            continue;
        }
        if (backoff_next(w, peer) > w->now_ms) {
            p = next; // the tick retries (or bounces when the wait outlasts the stanza timeout)
            continue;
        }
        if (p->deadline_ms != 0 && w->now_ms >= p->deadline_ms) {
            // Its stanzas are already due: bounce rather than spend a connection attempt.
            pair_fail(w, p, peer->ever_connected ? "remote-server-timeout" : "remote-server-not-found",
                      peer->ever_connected ? "wait" : "cancel");
            p = next;
            continue;
        }
        if (peer->backoff.failures > 0) {
            pool_backoff_attempt(&peer->backoff, w->now_ms); // only retries count toward the bound
        }
        rt_conn_t *s = rt_sout_open(w, peer, p->local, p->remote, false);
        if (s == NULL) {
            pool_backoff_failed(&peer->backoff, &w->rt->backoff, w->now_ms, rt_pool_rand(w));
            p = next;
            continue;
        }
        attach(w, p, s, false);
        p = next;
    }
}

// pair_place puts |p| on the peer of its current address.
static void pair_place(rt_worker_t *w, rt_opair_t *p, rt_dom_entry_t *e) {
    if (p->addr_idx >= e->num_addrs) {
        pair_fail(w, p, "remote-server-not-found", "cancel");
        return;
    }
    rt_peer_t *peer = peer_get(w, &e->addrs[p->addr_idx]);
    pair_detach(w, p);
    p->peer = peer;
    pair_set_state(w, p, RT_OPAIR_WAITING);
    list_append(&peer->waiting, p);
    peer_dispatch(w, peer);
}

static void dom_dns_done(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num);

static rt_dom_entry_t *dom_get(rt_worker_t *w, const char *domain, bool *out_ready) {
    rt_dom_entry_t *e = dom_find(w, domain);
    if (e == NULL) {
        e = core_xcalloc(1, sizeof(*e));
        e->w = w;
        snprintf(e->domain, sizeof(e->domain), "%s", domain);
        uint32_t b = str_bucket(domain, NULL);
        e->next = w->dom_table[b];
        w->dom_table[b] = e;
    }
    *out_ready = false;
    if (e->resolving) {
        return e;
    }
    if (e->addrs != NULL && w->now_ms < e->expires_ms) {
        *out_ready = true;
        return e;
    }
    e->resolving = true;
    rc_t rc = rt_dns_resolve_s2s(w->dns, domain, dom_dns_done, e);
    if (rc != RC_OK) {
        e->resolving = false;
        e->rc = rc;
        free(e->addrs);
        e->addrs = NULL;
        e->num_addrs = 0;
        *out_ready = true; // with no addresses: callers fail at once
    }
    return e;
}

static void verify_fail(rt_worker_t *w, rt_out_verify_t *v, const char *cond) {
    rt_pool_verify_answer(w, v, RT_VERDICT_ERROR, cond);
}

static void peer_add_verify(rt_worker_t *w, rt_peer_t *peer, rt_out_verify_t *v) {
    v->next = peer->verifies;
    peer->verifies = v;
    send_peer_verifies(w, peer);
}

static void dom_settle(rt_worker_t *w, rt_dom_entry_t *e);

static void dom_dns_done(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num) {
    rt_dom_entry_t *e = ctx;
    e->resolving = false;
    e->rc = rc;
    free(e->addrs);
    e->addrs = NULL;
    e->num_addrs = 0;
    if (rc == RC_OK && num > 0) {
        e->addrs = core_xcalloc(num, sizeof(rt_dns_addr_t));
        core_memcpy(e->addrs, addrs, num * sizeof(rt_dns_addr_t));
        e->num_addrs = num;
    }
    dom_settle(e->w, e);
}

static void dom_settle(rt_worker_t *w, rt_dom_entry_t *e) {
    e->expires_ms = w->now_ms + (e->num_addrs > 0                ? ROUTE_TTL_MS
                                 : e->rc == RC_DNS_NOT_FOUND ? 5000u
                                                             : 0u);
    rt_opair_t *p = e->waiting;
    e->waiting = NULL;
    while (p != NULL) {
        rt_opair_t *next = p->list_next;
        p->list_next = NULL;
        if (e->num_addrs == 0) {
            LOGP(CORE_LOG_INFO, "w%u: cannot resolve %s: %s", w->idx, e->domain, rc_str(e->rc));
            const char *cond = resolve_cond(e->rc);
            pair_fail(w, p, cond, strcmp(cond, "remote-server-not-found") == 0 ? "cancel" : "wait");
        } else {
            pair_place(w, p, e);
        }
        p = next;
    }
    rt_out_verify_t *v = e->verifies;
    e->verifies = NULL;
    while (v != NULL) {
        rt_out_verify_t *next = v->next;
        v->next = NULL;
        if (e->num_addrs == 0) {
            verify_fail(w, v, resolve_cond(e->rc));
        } else {
            peer_add_verify(w, peer_get(w, &e->addrs[0]), v);
        }
        v = next;
    }
}

// ---- entry points ---------------------------------------------------------------------------------

void rt_pool_submit(rt_worker_t *w, rt_msg_t *m) {
    const rt_conf_t *conf = w->conf;
    if (m->kind == RT_MSG_VERIFY_REQ) {
        rt_out_verify_t *v = core_xcalloc(1, sizeof(*v));
        snprintf(v->local, sizeof(v->local), "%s", m->fdom);
        snprintf(v->remote, sizeof(v->remote), "%s", m->tdom);
        snprintf(v->stream_id, sizeof(v->stream_id), "%s", m->stream_id);
        snprintf(v->key, sizeof(v->key), "%s", m->key);
        v->reply_worker = m->reply_worker;
        v->reply_conn = m->reply_conn;
        v->deadline_ms = w->now_ms + (uint64_t)conf->auth_timeout_s * 1000u;
        rt_msg_free(m);
        if (w->stopping) {
            verify_fail(w, v, "remote-server-timeout");
            return;
        }
        bool ready;
        rt_dom_entry_t *e = dom_get(w, v->remote, &ready);
        if (!ready) {
            v->next = e->verifies;
            e->verifies = v;
        } else if (e->num_addrs == 0) {
            verify_fail(w, v, resolve_cond(e->rc));
        } else {
            peer_add_verify(w, peer_get(w, &e->addrs[0]), v);
        }
        return;
    }
    if (w->stopping) {
        rt_route_bounce(w, m, "remote-server-timeout", "wait");
        return;
    }
    rt_opair_t *p = pair_find(w, m->fdom, m->tdom);
    if (p != NULL && p->state == RT_OPAIR_VALID && p->q_head == NULL &&
        rt_sout_established(p->stream) && !rt_conn_congested(p->stream)) {
        rt_sout_send_stanza(p->stream, m);
        return;
    }
    bool fresh = p == NULL;
    if (fresh) {
        p = core_xcalloc(1, sizeof(*p));
        snprintf(p->local, sizeof(p->local), "%s", m->fdom);
        snprintf(p->remote, sizeof(p->remote), "%s", m->tdom);
        p->state = RT_OPAIR_RESOLVING;
        p->created_us = rt_stats_now_us();
        rt_stat_inc(&w->stats, RT_STAT_PAIRS_OUT_WAITING);
        uint32_t b = str_bucket(p->local, p->remote);
        p->hash_next = w->pair_table[b];
        w->pair_table[b] = p;
    }
    // Bounded twice: per pair, and per worker over all its pairs (so that many pairs toward a
    // peer that stopped reading cannot add up to unbounded memory).
    if (p->q_bytes + m->size > conf->max_queue_bytes ||
        w->q_bytes + m->size > conf->max_total_queue_bytes) {
        rt_route_bounce(w, m, "resource-constraint", "wait");
        if (fresh) {
            pair_free(w, p);
        }
        return;
    }
    if (p->q_tail == NULL) {
        p->deadline_ms = w->now_ms + (uint64_t)conf->stanza_timeout_s * 1000u;
    }
    rt_msg_append(&p->q_head, &p->q_tail, m);
    p->q_bytes += m->size;
    w->q_bytes += m->size;
    if (p->stream != NULL && p->state == RT_OPAIR_VALID) {
        p->stream->drain_wanted = true; // queued behind a congested stream
    }
    if (fresh) {
        bool ready;
        rt_dom_entry_t *e = dom_get(w, p->remote, &ready);
        if (ready) {
            if (e->num_addrs == 0) {
                const char *cond = resolve_cond(e->rc);
                pair_fail(w, p, cond, strcmp(cond, "remote-server-not-found") == 0 ? "cancel" : "wait");
            } else {
                pair_place(w, p, e);
            }
        } else {
            list_append(&e->waiting, p);
        }
    } else if (p->state == RT_OPAIR_VALID && p->stream != NULL && rt_sout_established(p->stream)) {
        pair_flush(w, p);
    }
}

static void route_dns_done(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num);

static rt_route_entry_t *route_find(rt_worker_t *w, const char *domain) {
    for (rt_route_entry_t *e = w->route_table[str_bucket(domain, NULL)]; e != NULL; e = e->next) {
        if (strcmp(e->domain, domain) == 0) {
            return e;
        }
    }
    return NULL;
}

static void route_deliver(rt_worker_t *w, uint32_t owner, rt_msg_t *m) {
    if (owner == w->idx) {
        rt_pool_submit(w, m);
    } else {
        rt_worker_post(w, owner, m);
    }
}

static void route_fail_msg(rt_worker_t *w, rt_msg_t *m, rc_t rc) {
    const char *cond = resolve_cond(rc);
    if (m->kind == RT_MSG_STANZA) {
        rt_route_bounce(w, m, cond, strcmp(cond, "remote-server-not-found") == 0 ? "cancel" : "wait");
        return;
    }
    rt_out_verify_t v = {.reply_worker = m->reply_worker, .reply_conn = m->reply_conn};
    snprintf(v.local, sizeof(v.local), "%s", m->fdom);
    snprintf(v.remote, sizeof(v.remote), "%s", m->tdom);
    snprintf(v.stream_id, sizeof(v.stream_id), "%s", m->stream_id);
    rt_msg_free(m);
    rt_msg_t *r = rt_msg_verify_new(RT_MSG_VERIFY_RES, v.local, v.remote, v.stream_id, NULL,
                                    v.reply_worker, v.reply_conn, RT_VERDICT_ERROR, cond);
    if (v.reply_worker == w->idx) {
        rt_sin_verify_result(w, r);
    } else {
        rt_worker_post(w, v.reply_worker, r);
    }
}

void rt_pool_route(rt_worker_t *w, rt_msg_t *m) {
    rt_route_entry_t *e = route_find(w, m->tdom);
    if (e != NULL && !e->resolving && w->now_ms < e->expires_ms) {
        route_deliver(w, (uint32_t)e->owner, m);
        return;
    }
    if (e == NULL) {
        e = core_xcalloc(1, sizeof(*e));
        e->w = w;
        snprintf(e->domain, sizeof(e->domain), "%s", m->tdom);
        uint32_t b = str_bucket(e->domain, NULL);
        e->next = w->route_table[b];
        w->route_table[b] = e;
    }
    if (e->q_count >= ROUTE_MAX_QUEUED) {
        if (m->kind == RT_MSG_STANZA) {
            rt_route_bounce(w, m, "resource-constraint", "wait");
        } else {
            route_fail_msg(w, m, RC_ENOBUFS);
        }
        return;
    }
    rt_msg_append(&e->q_head, &e->q_tail, m);
    e->q_count++;
    if (!e->resolving) {
        e->resolving = true;
        rc_t rc = rt_dns_resolve_s2s(w->dns, e->domain, route_dns_done, e);
        if (rc != RC_OK) {
            route_dns_done(e, rc, NULL, 0);
        }
    }
}

static void route_dns_done(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num) {
    rt_route_entry_t *e = ctx;
    rt_worker_t *w = e->w;
    e->resolving = false;
    bool ok = rc == RC_OK && num > 0;
    if (ok) {
        e->owner = (int32_t)owner_of(w->rt, addrs, num);
        e->expires_ms = w->now_ms + ROUTE_TTL_MS;
    } else {
        e->owner = -1;
        e->expires_ms = 0;
        LOGP(CORE_LOG_INFO, "w%u: cannot resolve %s: %s", w->idx, e->domain, rc_str(rc));
    }
    rt_msg_t *m = e->q_head;
    e->q_head = e->q_tail = NULL;
    e->q_count = 0;
    while (m != NULL) {
        rt_msg_t *next = m->next;
        m->next = NULL;
        if (ok) {
            route_deliver(w, (uint32_t)e->owner, m);
        } else {
            route_fail_msg(w, m, rc);
        }
        m = next;
    }
}

// ---- what streams tell the pool ---------------------------------------------------------------------

void rt_pool_verify_answer(rt_worker_t *w, rt_out_verify_t *v, rt_verdict_t verdict,
                           const char *cond) {
    rt_msg_t *r = rt_msg_verify_new(RT_MSG_VERIFY_RES, v->local, v->remote, v->stream_id, NULL,
                                    v->reply_worker, v->reply_conn, verdict, cond);
    if (v->reply_worker == w->idx) {
        rt_sin_verify_result(w, r);
    } else {
        rt_worker_post(w, v->reply_worker, r);
    }
    free(v);
}

void rt_pool_stream_drained(rt_conn_t *c) {
    for (rt_opair_t *p = c->opairs; p != NULL && !rt_conn_congested(c); p = p->list_next) {
        if (p->state == RT_OPAIR_VALID && p->q_head != NULL) {
            pair_flush(c->w, p);
        }
    }
}

void rt_pool_stream_ready(rt_conn_t *c) {
    if (c->peer != NULL) {
        send_peer_verifies(c->w, c->peer);
    }
}

void rt_pool_stream_established(rt_conn_t *c) {
    rt_worker_t *w = c->w;
    c->peer->no_db_errors = !c->feat_db_errors;
    for (rt_opair_t *p = c->opairs; p != NULL; p = p->list_next) {
        if (!p->piggybacked && p->state == RT_OPAIR_PENDING && strcmp(p->local, c->local) == 0 &&
            strcmp(p->remote, c->remote) == 0) {
            pair_set_state(w, p, RT_OPAIR_VALID);
            rt_hist_observe_since(&w->stats, RT_HIST_PAIR_SETUP, &p->created_us);
            pair_flush(w, p);
            if (c->bidi) {
                rt_sin_add_reverse_pair(c, p->remote, p->local); // BIDI-6
            }
        }
    }
    send_peer_verifies(w, c->peer);
    peer_dispatch(w, c->peer);
}

void rt_pool_pair_answer(rt_conn_t *c, const char *from, const char *to, const char *type,
                         const char *cond) {
    rt_worker_t *w = c->w;
    rt_opair_t *p = c->opairs;
    while (p != NULL && !(strcmp(p->local, to) == 0 && strcmp(p->remote, from) == 0 &&
                          p->state == RT_OPAIR_PENDING)) {
        p = p->list_next;
    }
    if (p == NULL) {
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_DIALBACK,
                 "w%u c%lu %s: ignoring a db:result answer for a pair not pending on this stream",
                 w->idx, (unsigned long)c->id, c->peer_text);
        return; // DB-11
    }
    if (p->piggybacked) {
        c->piggy_pending--; // this answer frees a slot for the next piggybacked db:result
    }
    if (strcmp(type, "valid") == 0) {
        pair_set_state(w, p, RT_OPAIR_VALID);
        rt_hist_observe_since(&w->stats, RT_HIST_PAIR_SETUP, &p->created_us);
        if (c->bidi) {
            rt_sin_add_reverse_pair(c, p->remote, p->local); // BIDI-6
        }
        if (p->piggybacked) {
            rt_stat_inc(&w->stats, RT_STAT_AUTH_DIALBACK_OUT);
        }
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_DIALBACK, "w%u c%lu %s: pair %s->%s valid%s", w->idx,
                 (unsigned long)c->id, c->peer_text, p->local, p->remote,
                 p->piggybacked ? " (piggybacked)" : "");
        pair_flush(w, p);
        if (c->peer != NULL) {
            peer_dispatch(w, c->peer);
        }
        return;
    }
    p->piggybacked = false; // its slot is already given back
    if (cond != NULL && strcmp(cond, "resource-constraint") == 0 && p->retries < PAIR_RETRIES_MAX &&
        c->peer != NULL) {
        // The peer cannot take another pair right now (XEP-0220 §2.5): wait and try again.
        rt_peer_t *peer = c->peer;
        p->retries++;
        list_remove(&c->opairs, p);
        p->stream = NULL;
        p->peer = peer;
        pair_set_state(w, p, RT_OPAIR_WAITING);
        list_append(&peer->waiting, p);
        peer_dispatch(w, peer);
        return;
    }
    bool invalid = strcmp(type, "invalid") == 0;
    CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_DIALBACK, "w%u c%lu %s: pair %s->%s refused: %s%s%s",
             w->idx, (unsigned long)c->id, c->peer_text, p->local, p->remote, type,
             cond ? " " : "", cond ? cond : "");
    // XEP-0220 §2.4/2.5: invalid -> internal-server-error, any dialback error -> timeout.
    rt_peer_t *peer = c->peer;
    if (peer != NULL) {
        bool unknown = cond != NULL && (strcmp(cond, "item-not-found") == 0 ||
                                        strcmp(cond, "remote-server-not-found") == 0);
        if (unknown) {
            refusal_add(w, peer, NULL, p->remote, "remote-server-not-found", "cancel");
        } else {
            refusal_add(w, peer, p->local, p->remote,
                        invalid ? "internal-server-error" : "remote-server-timeout",
                        invalid ? "cancel" : "wait");
        }
    }
    pair_fail(w, p, invalid ? "internal-server-error" : "remote-server-timeout",
              invalid ? "cancel" : "wait");
    if (peer != NULL) {
        peer_dispatch(w, peer);
    }
}

void rt_pool_stream_failed(rt_conn_t *c) {
    rt_worker_t *w = c->w;
    rt_peer_t *peer = c->peer;
    if (peer == NULL) {
        return; // already taken out of the pool (idle close, fedctl flush-peer)
    }
    if (c->vconn && c->prove[0] != '\0') {
        pool_verdict_key_t k = verdict_key(peer, c->prove_for, c->prove);
        pool_verdict_t v = {.positive = false,
                            .proof = POOL_PROOF_DIALBACK, // the address did not answer for it
                            .expires_ms = w->now_ms + VERDICT_NEGATIVE_TTL_MS};
        verdict_put(w->rt->verdicts, &k, &v, w->now_ms);
        c->prove[0] = '\0';
    }
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_S2S, "w%u: %s: stream to %s failed before it was up",
             w->idx, peer->text, c->remote);
}

void rt_pool_stream_closed(rt_conn_t *c) {
    rt_worker_t *w = c->w;
    rt_peer_t *peer = c->peer;
    if (peer == NULL) {
        return;
    }
    // A stream that never connected, or died young, is a failed attempt for the address (a peer
    // that accepts and then drops every stream must not escape the back-off); one refused for
    // its domain, finished on purpose, or ended by our shutdown is not.
    if (!c->backoff_done && !c->refused_domain && !w->stopping &&
        (c->connected_ms == 0 || w->now_ms - c->connected_ms < FLAP_MS)) {
        pool_backoff_failed(&peer->backoff, &w->rt->backoff, w->now_ms, rt_pool_rand(w));
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_S2S, "w%u: %s: attempt failed (%u in a row)",
                 w->idx, peer->text, peer->backoff.failures);
    }
    c->backoff_done = true;
    for (rt_conn_t **pp = &peer->streams; *pp != NULL; pp = &(*pp)->peer_next) {
        if (*pp == c) {
            *pp = c->peer_next;
            break;
        }
    }
    for (rt_conn_t *v = peer->streams; v != NULL; v = v->peer_next) {
        if (v->prove_for == c) {
            v->prove_for = NULL;
        }
    }
    c->peer = NULL;
    c->peer_next = NULL;
    // Verifies sent on this stream go back to the peer for another stream to carry.
    while (c->verifies != NULL) {
        rt_out_verify_t *v = c->verifies;
        c->verifies = v->next;
        v->next = peer->verifies;
        peer->verifies = v;
    }
    // Pairs with stanzas waiting go back to the peer (or the next address); the others are done.
    while (c->opairs != NULL) {
        rt_opair_t *p = c->opairs;
        c->opairs = p->list_next;
        p->list_next = NULL;
        p->stream = NULL;
        if (p->q_head == NULL) {
            p->peer = NULL;
            pair_free(w, p);
            continue;
        }
        bool ready = false;
        rt_dom_entry_t *e = dom_find(w, p->remote);
        ready = e != NULL && !e->resolving && e->num_addrs > 0;
        if (peer->backoff.failures > 0 && ready && p->addr_idx + 1 < e->num_addrs) {
            p->addr_idx++; // fail over to the next address now
            p->peer = NULL;
            pair_place(w, p, e);
            continue;
        }
        p->peer = peer;
        pair_set_state(w, p, RT_OPAIR_WAITING);
        list_append(&peer->waiting, p);
    }
    if (!w->stopping) {
        peer_dispatch(w, peer);
    }
}

// ---- time -----------------------------------------------------------------------------------------

static void peer_tick(rt_worker_t *w, rt_peer_t *peer) {
    for (rt_out_verify_t **pp = &peer->verifies; *pp != NULL;) {
        rt_out_verify_t *v = *pp;
        if (w->now_ms >= v->deadline_ms) {
            *pp = v->next;
            verify_fail(w, v, "remote-server-timeout");
        } else {
            pp = &v->next;
        }
    }
    uint64_t next_attempt = backoff_next(w, peer);
    const char *cond = peer->ever_connected ? "remote-server-timeout" : "remote-server-not-found";
    const char *etype = peer->ever_connected ? "wait" : "cancel";
    rt_opair_t *p = peer->waiting;
    while (p != NULL) {
        rt_opair_t *next = p->list_next;
        if (p->q_head == NULL) {
            pair_free(w, p);
        } else if (w->now_ms >= p->deadline_ms || next_attempt > p->deadline_ms) {
            // The back-off outlasts the stanza timeout: try the next address, else bounce.
            rt_dom_entry_t *e = dom_find(w, p->remote);
            if (e != NULL && !e->resolving && p->addr_idx + 1 < e->num_addrs &&
                w->now_ms < p->deadline_ms) {
                p->addr_idx++;
                pair_place(w, p, e);
            } else {
                pair_fail(w, p, cond, etype);
            }
        }
        p = next;
    }
    for (rt_conn_t *s = peer->streams; s != NULL; s = s->peer_next) {
        if (peer->backoff.failures > 0 && rt_sout_established(s) &&
            w->now_ms - s->connected_ms >= FLAP_MS) {
            pool_backoff_succeeded(&peer->backoff); // a stream that stays up: the address works
        }
        for (rt_opair_t *q = s->opairs; q != NULL;) {
            rt_opair_t *qn = q->list_next;
            if (q->state == RT_OPAIR_PENDING && q->q_head != NULL && w->now_ms >= q->deadline_ms) {
                pair_fail(w, q, cond, etype);
            } else if (q->state == RT_OPAIR_VALID && q->q_head != NULL &&
                       w->now_ms >= q->deadline_ms) {
                // Stanzas held back by a peer that stopped reading: bounce, keep the pair.
                pair_bounce_queue(w, q, "remote-server-timeout", "wait");
            }
            q = qn;
        }
    }
    if (peer->draining) {
        peer_dispatch(w, peer); // the drain goes on: quiet streams end, late ones are ended
    } else if (peer->waiting != NULL && next_attempt <= w->now_ms) {
        peer_dispatch(w, peer);
    } else if (peer->verifies != NULL) {
        send_peer_verifies(w, peer);
    }
}

void rt_pool_tick(rt_worker_t *w) {
    for (size_t b = 0; b < RT_OUT_BUCKETS; b++) {
        rt_peer_t **pp = &w->peer_table[b];
        while (*pp != NULL) {
            rt_peer_t *peer = *pp;
            peer_tick(w, peer);
            (void)refusal_find(w, peer, "", ""); // drops the expired refusals
            bool idle = !peer->draining && peer->streams == NULL && peer->waiting == NULL &&
                        peer->verifies == NULL && peer->refusals == NULL &&
                        (peer->backoff.failures == 0 ||
                         w->now_ms > peer->backoff.not_before_ms + 120000u);
            if (idle) {
                *pp = peer->hash_next;
                rt_stat_add(&w->stats, RT_STAT_POOL_PEERS, -1);
                peer_free_refusals(peer);
                free(peer);
                continue;
            }
            pp = &peer->hash_next;
        }
        // Expired route and domain entries with nothing waiting are dropped.
        rt_route_entry_t **rp = &w->route_table[b];
        while (*rp != NULL) {
            rt_route_entry_t *e = *rp;
            if (!e->resolving && e->q_head == NULL && w->now_ms >= e->expires_ms) {
                *rp = e->next;
                free(e);
                continue;
            }
            rp = &e->next;
        }
        rt_dom_entry_t **dp = &w->dom_table[b];
        while (*dp != NULL) {
            rt_dom_entry_t *e = *dp;
            if (!e->resolving && e->waiting == NULL && e->verifies == NULL &&
                w->now_ms >= e->expires_ms + ROUTE_TTL_MS) {
                *dp = e->next;
                free(e->addrs);
                free(e);
                continue;
            }
            dp = &e->next;
        }
    }
}

void rt_pool_fail_all(rt_worker_t *w) {
    for (size_t b = 0; b < RT_OUT_BUCKETS; b++) {
        for (rt_opair_t *p = w->pair_table[b]; p != NULL; p = p->hash_next) {
            pair_bounce_queue(w, p, "remote-server-timeout", "wait");
        }
        for (rt_peer_t *peer = w->peer_table[b]; peer != NULL; peer = peer->hash_next) {
            while (peer->verifies != NULL) {
                rt_out_verify_t *v = peer->verifies;
                peer->verifies = v->next;
                verify_fail(w, v, "remote-server-timeout");
            }
        }
        for (rt_route_entry_t *e = w->route_table[b]; e != NULL; e = e->next) {
            rt_msg_t *m = e->q_head;
            e->q_head = e->q_tail = NULL;
            e->q_count = 0;
            while (m != NULL) {
                rt_msg_t *next = m->next;
                m->next = NULL;
                if (m->kind == RT_MSG_STANZA) {
                    rt_route_bounce(w, m, "remote-server-timeout", "wait");
                } else {
                    rt_msg_free(m);
                }
                m = next;
            }
        }
    }
}

void rt_pool_cleanup(rt_worker_t *w) {
    for (size_t b = 0; b < RT_OUT_BUCKETS; b++) {
        while (w->pair_table[b] != NULL) {
            rt_opair_t *p = w->pair_table[b];
            w->pair_table[b] = p->hash_next;
            rt_msg_list_free(p->q_head);
            free(p);
        }
        while (w->peer_table[b] != NULL) {
            rt_peer_t *peer = w->peer_table[b];
            w->peer_table[b] = peer->hash_next;
            while (peer->verifies != NULL) {
                rt_out_verify_t *v = peer->verifies;
                peer->verifies = v->next;
                free(v);
            }
            peer_free_refusals(peer);
            free(peer);
        }
        while (w->route_table[b] != NULL) {
            rt_route_entry_t *e = w->route_table[b];
            w->route_table[b] = e->next;
            rt_msg_list_free(e->q_head);
            free(e);
        }
        while (w->dom_table[b] != NULL) {
            rt_dom_entry_t *e = w->dom_table[b];
            w->dom_table[b] = e->next;
            rt_out_verify_t *v = e->verifies;
            while (v != NULL) {
                rt_out_verify_t *next = v->next;
                free(v);
                v = next;
            }
            free(e->addrs);
            free(e);
        }
    }
}

// ---- admin dump (fedctl) ---------------------------------------------------------------------------

static const char *opair_state_name(rt_opair_state_t st) {
    switch (st) {
    case RT_OPAIR_RESOLVING:
        return "resolving";
    case RT_OPAIR_WAITING:
        return "waiting";
    case RT_OPAIR_PENDING:
        return "pending";
    case RT_OPAIR_VALID:
        return "valid";
    }
    return "unknown";
}

static void admin_pair_counts(core_bld_t *b, const rt_opair_t *head) {
    size_t n[RT_OPAIR_VALID + 1] = {0};
    for (const rt_opair_t *p = head; p != NULL; p = p->list_next) {
        if (p->state >= RT_OPAIR_RESOLVING && p->state <= RT_OPAIR_VALID) {
            n[p->state]++;
        }
    }
    core_bld_printf(b, "{\"waiting\":%zu,\"pending\":%zu,\"valid\":%zu}", n[RT_OPAIR_WAITING],
                    n[RT_OPAIR_PENDING], n[RT_OPAIR_VALID]);
}

static void admin_dump_peer(rt_worker_t *w, const rt_peer_t *peer, core_bld_t *b) {
    core_bld_printf(b, "{\"worker\":%u,\"addr\":", w->idx);
    rt_admin_json_str(b, peer->text);
    core_bld_printf(b, ",\"failures\":%u,\"ever_connected\":%s,\"draining\":%s,\"waiting\":",
                    peer->backoff.failures, peer->ever_connected ? "true" : "false",
                    peer->draining ? "true" : "false");
    admin_pair_counts(b, peer->waiting);
    core_bld_add_str(b, ",\"streams\":[");
    bool first = true;
    for (const rt_conn_t *c = peer->streams; c != NULL; c = c->peer_next) {
        const char *st = c->closing || c->close_after_flush ? "closing"
                         : rt_sout_established(c)           ? "established"
                                                            : "connecting";
        core_bld_printf(b, "%s{\"id\":%llu,\"state\":\"%s\",\"local\":", first ? "" : ",",
                        (unsigned long long)c->id, st);
        first = false;
        rt_admin_json_str(b, c->local);
        core_bld_add_str(b, ",\"remote\":");
        rt_admin_json_str(b, c->remote);
        core_bld_printf(b, ",\"vconn\":%s,\"bidi\":%s,\"sm\":%s,\"tls\":%s,\"pairs\":",
                        c->vconn ? "true" : "false", c->bidi ? "true" : "false",
                        c->sm_on ? "true" : "false", c->tls_ready ? "true" : "false");
        admin_pair_counts(b, c->opairs);
        core_bld_add_str(b, "}");
    }
    core_bld_add_str(b, "]}");
}

// admin_verdict_proof: the prooftype of the positive verdict for |k|, or NULL when none.
static const char *admin_verdict_proof(rt_worker_t *w, const pool_verdict_key_t *k) {
    pool_verdict_t v;
    if (pool_verdicts_lookup(w->rt->verdicts, k, w->now_ms, &v) != POOL_VERDICT_HIT) {
        return NULL;
    }
    return pool_prooftype_name(v.proof);
}

// admin_opair_how: how outbound pair |p| was (or is being) verified, and on what proof.
// EXTERNAL: SASL EXTERNAL on its stream; dialback: the stream's own db:result (the proof is
// what our check of the peer's certificate found); piggybacked: a db:result on a pooled stream
// (the proof is the verdict that let us send it there, when one is cached).
static void admin_opair_how(rt_worker_t *w, const rt_opair_t *p, const char **how,
                            const char **proof) {
    *how = NULL;
    *proof = NULL;
    const rt_conn_t *s = p->stream;
    if (s == NULL) {
        return;
    }
    if (s->proof_kind == DNA_VERDICT_PROVEN) {
        *proof = dna_prooftype_name(s->proof_type);
    } else if (s->proof_kind == DNA_VERDICT_DIALBACK) {
        *proof = "DIALBACK";
    }
    if (p->piggybacked) {
        *how = "piggybacked";
        if (strcmp(s->remote, p->remote) != 0 && s->peer != NULL) {
            pool_verdict_key_t k = rt_proof_verdict_key(s, p->remote);
            *proof = admin_verdict_proof(w, &k);
        }
        return;
    }
    *how = s->sasl_done ? "EXTERNAL" : "dialback";
}

static void admin_dump_pair(rt_worker_t *w, const rt_opair_t *p, core_bld_t *b) {
    size_t queued = 0;
    for (const rt_msg_t *m = p->q_head; m != NULL; m = m->next) {
        queued++;
    }
    core_bld_printf(b, "{\"worker\":%u,\"dir\":\"out\",\"local\":", w->idx);
    rt_admin_json_str(b, p->local);
    core_bld_add_str(b, ",\"remote\":");
    rt_admin_json_str(b, p->remote);
    core_bld_printf(b, ",\"state\":\"%s\",\"peer\":", opair_state_name(p->state));
    const rt_peer_t *peer = p->peer != NULL ? p->peer : p->stream != NULL ? p->stream->peer : NULL;
    rt_admin_json_str(b, peer != NULL ? peer->text : NULL);
    if (p->stream != NULL) {
        core_bld_printf(b, ",\"stream\":%llu", (unsigned long long)p->stream->id);
    } else {
        core_bld_add_str(b, ",\"stream\":null");
    }
    const char *how, *proof;
    admin_opair_how(w, p, &how, &proof);
    core_bld_add_str(b, ",\"mechanism\":");
    rt_admin_json_str(b, how);
    core_bld_add_str(b, ",\"prooftype\":");
    rt_admin_json_str(b, proof);
    core_bld_printf(b, ",\"piggybacked\":%s,\"queued\":%zu,\"queued_bytes\":%zu}",
                    p->piggybacked ? "true" : "false", queued, p->q_bytes);
}

// admin_dump_in_pairs appends the pairs of inbound stream |c|. How each was verified is read
// back from what the stream keeps: SASL EXTERNAL covers the header pair (c->sasl_done); any other
// valid pair passed dialback, "dialback-optimized" (XEP-0344) when the verdict table holds a
// positive prooftype verdict for this peer, certificate and domain (the check that let it skip
// db:verify), plain "dialback" otherwise; a pair that is not the stream's first one was
// piggybacked (multiplexed) onto it.
static void admin_dump_in_pairs(rt_worker_t *w, const rt_conn_t *c, core_bld_t *b, bool *first) {
    pool_verdict_key_t k = rt_proof_verdict_key(c, "");
    for (size_t i = 0; i < c->pairs.num; i++) {
        const pool_pair_t *p = &c->pairs.pairs[i];
        k.domain = p->remote;
        const char *proof = admin_verdict_proof(w, &k);
        bool external = c->sasl_done && strcmp(p->remote, c->hdr_from) == 0 &&
                        strcmp(p->local, c->hdr_to) == 0;
        const char *how = p->state != POOL_PAIR_VALID ? NULL
                          : external                  ? "EXTERNAL"
                          : proof != NULL && strcmp(proof, "DIALBACK") != 0 ? "dialback-optimized"
                                                                            : "dialback";
        core_bld_printf(b, "%s{\"worker\":%u,\"dir\":\"in\",\"local\":", *first ? "" : ",", w->idx);
        *first = false;
        rt_admin_json_str(b, p->local);
        core_bld_add_str(b, ",\"remote\":");
        rt_admin_json_str(b, p->remote);
        core_bld_printf(b, ",\"state\":\"%s\",\"peer\":",
                        p->state == POOL_PAIR_VALID ? "valid" : "pending");
        rt_admin_json_str(b, c->peer_text);
        core_bld_printf(b, ",\"stream\":%llu,\"mechanism\":", (unsigned long long)c->id);
        rt_admin_json_str(b, how);
        core_bld_add_str(b, ",\"prooftype\":");
        rt_admin_json_str(b, proof);
        core_bld_printf(b, ",\"piggybacked\":%s,\"queued\":0,\"queued_bytes\":0}",
                        i > 0 && !external ? "true" : "false");
    }
}

void rt_pool_admin_dump(rt_worker_t *w, bool pairs, core_bld_t *b) {
    bool first = true;
    if (pairs) {
        for (const rt_conn_t *c = w->conns; c != NULL; c = c->next) {
            if (c->kind == RT_CONN_S2S_IN && !c->closing && !c->close_after_flush) {
                admin_dump_in_pairs(w, c, b, &first);
            }
        }
    }
    for (size_t i = 0; i < RT_OUT_BUCKETS; i++) {
        if (pairs) {
            for (const rt_opair_t *p = w->pair_table[i]; p != NULL; p = p->hash_next) {
                core_bld_add_str(b, first ? "" : ",");
                first = false;
                admin_dump_pair(w, p, b);
            }
        } else {
            for (const rt_peer_t *peer = w->peer_table[i]; peer != NULL; peer = peer->hash_next) {
                core_bld_add_str(b, first ? "" : ",");
                first = false;
                admin_dump_peer(w, peer, b);
            }
        }
    }
}

void rt_pool_target_proof(rt_conn_t *s, const char *local, const char *remote,
                          const dna_verdict_t *v) {
    rt_worker_t *w = s->w;
    rt_peer_t *peer = s->peer;
    if (peer == NULL) {
        return;
    }
    if (v->kind == DNA_VERDICT_TEMPFAIL && stream_usable(s) && !peer->draining) {
        // Not recorded in the verdict table: let a verification connection decide instead of
        // asking again at once.
        (void)start_vconn(w, peer, s, local, remote);
    }
    peer_dispatch(w, peer);
}

void rt_pool_stream_unproven(rt_conn_t *c, const dna_verdict_t *v) {
    rt_peer_t *peer = c->peer;
    if (peer == NULL) {
        return;
    }
    bool temp = v->kind == DNA_VERDICT_TEMPFAIL;
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_S2S, "w%u: %s is not proven to serve %s (%s): bouncing for %us",
             c->w->idx, peer->text, c->remote, v->reason, REFUSAL_MS / 1000);
    refusal_add(c->w, peer, NULL, c->remote, temp ? "remote-server-timeout" : "remote-server-not-found",
                temp ? "wait" : "cancel");
}

// admin_addr_match: |peer| is at |sa| (family, address and port; either transport).
static bool admin_addr_match(const rt_peer_t *peer, const struct sockaddr_storage *sa) {
    const struct sockaddr_storage *a = &peer->addr.sa;
    if (a->ss_family != sa->ss_family) {
        return false;
    }
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)sa;
        return x->sin_port == y->sin_port && core_memcmp(&x->sin_addr, &y->sin_addr, 4) == 0;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)sa;
        return x->sin6_port == y->sin6_port && core_memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
    }
    return false;
}

// same_ip: |a| and |b| carry the same IP address (ports ignored).
static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) {
        return false;
    }
    if (a->ss_family == AF_INET) {
        return core_memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                           &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
    }
    return a->ss_family == AF_INET6 &&
           core_memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                       &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

// admin_flush_inbound ends this worker's inbound streams from |sa|'s IP address (any source
// port) with </stream:stream>: the peer reconnects and every pair is checked afresh (after a
// stricter policy, for one). Returns how many.
static size_t admin_flush_inbound(rt_worker_t *w, const struct sockaddr_storage *sa) {
    size_t n = 0;
    for (rt_conn_t *c = w->conns; c != NULL; c = c->next) {
        if (c->kind == RT_CONN_S2S_IN && !c->closing && !c->close_after_flush &&
            same_ip(&c->peer_sa, sa)) {
            LOGP(CORE_LOG_INFO, "w%u c%lu %s: inbound stream ended (operator: flush-peer)", w->idx,
                 (unsigned long)c->id, c->peer_text);
            rt_conn_end_stream(c);
            n++;
        }
    }
    return n;
}

void rt_pool_admin_peer(rt_worker_t *w, rt_admin_peer_op_t op, const struct sockaddr_storage *sa,
                        core_bld_t *b) {
    bool first = true;
    if (op == RT_ADMIN_PEER_FLUSH) {
        size_t n = admin_flush_inbound(w, sa);
        if (n > 0) {
            char ip[INET6_ADDRSTRLEN] = "?";
            const void *a = sa->ss_family == AF_INET
                                ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                                : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
            inet_ntop(sa->ss_family, a, ip, sizeof(ip));
            char text[INET6_ADDRSTRLEN + 16];
            snprintf(text, sizeof(text), "%s (inbound)", ip);
            core_bld_printf(b, "{\"worker\":%u,\"addr\":", w->idx);
            rt_admin_json_str(b, text);
            core_bld_printf(b, ",\"streams\":%zu,\"draining\":false}", n);
            first = false;
        }
    }
    for (size_t i = 0; i < RT_OUT_BUCKETS; i++) {
        for (rt_peer_t *peer = w->peer_table[i]; peer != NULL; peer = peer->hash_next) {
            if (!admin_addr_match(peer, sa)) {
                continue;
            }
            size_t streams = 0; // the ones flush-peer ends or drain-peer waits for
            for (const rt_conn_t *c = peer->streams; c != NULL; c = c->peer_next) {
                streams += !c->closing && !c->close_after_flush && !c->vconn;
            }
            switch (op) {
            case RT_ADMIN_PEER_FLUSH:
                peer->backoff.failures = 0; // start afresh: no back-off wait for the new stream
                // Their pairs detach; those with queued stanzas wait for a new stream, proven
                // afresh (the verdicts are gone).
                end_streams(w, peer, false, "flushed by the operator", "");
                break;
            case RT_ADMIN_PEER_DRAIN:
                if (!peer->draining) {
                    peer->draining = true;
                    uint32_t limit_s = w->conf->shutdown_timeout_s;
                    peer->drain_until_ms = w->now_ms + (uint64_t)limit_s * 1000u;
                    LOGP(CORE_LOG_INFO,
                         "w%u: %s draining (operator): no new pairs, %zu streams end once their "
                         "queues are out (at most %us)",
                         w->idx, peer->text, streams, limit_s);
                }
                break;
            case RT_ADMIN_PEER_UNDRAIN:
                if (peer->draining) {
                    peer->draining = false;
                    LOGP(CORE_LOG_INFO, "w%u: %s no longer draining (operator)", w->idx,
                         peer->text);
                }
                break;
            }
            core_bld_printf(b, "%s{\"worker\":%u,\"addr\":", first ? "" : ",", w->idx);
            first = false;
            rt_admin_json_str(b, peer->text);
            core_bld_printf(b, ",\"streams\":%zu,\"draining\":%s}", streams,
                            peer->draining ? "true" : "false");
            if (!w->stopping) {
                peer_dispatch(w, peer); // draining: first step now; else the waiting pairs go
            }
        }
    }
}
