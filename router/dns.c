// dns.c: outbound s2s address resolution on c-ares (RFC 6120 §3.2, RFC 2782, XEP-0368).
//
// A resolution is a job: static route (no DNS) | cache hit | SRV pair -> A/AAAA of each target |
// A/AAAA fallback of the bare domain. Two more job kinds share the machinery: a TLSA lookup (one
// query) and a host lookup (A/AAAA of one name, rt_dns_resolve_host). c-ares owns the sockets;
// its socket state callback is forwarded to the loop's |watch| callback. Finished jobs go to a
// ready queue and their callbacks run from rt_dns_tick / rt_dns_process (never from the
// rt_dns_resolve_* call).
//
// c-ares 1.18.1 has no per-query cancel, so a cancelled job stays allocated (flagged) until its
// outstanding c-ares queries complete, then it is freed without running its callback.
//
// SRV and TLSA queries are built by dna_dnsmsg_query (AD=1, EDNS0 DO=1), sent with ares_send and
// parsed by dna_dnsmsg_parse (bounded, untrusted input); their TTLs come from its min_ttl.
// A/AAAA TTLs come from ares_addrinfo_node. c-ares delivers only an answer whose ID and question
// match the query it sent (and may have put an ID of its own into that query), so the ID we parse
// against is the answer's own; dna_dnsmsg_parse checks the question again. The DNSSEC queries go
// through a second channel (|sec|, see rt_dns_new) on the same servers and the same watch/tick.
#include "router/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dna/dnsmsg.h"
#include "router/core/bytes.h"
#include "router/core/log.h"

#define DNS_DEFAULT_TIMEOUT_MS 2000
#define DNS_DEFAULT_TRIES 2
#define DNS_DEFAULT_CACHE_MAX 4096
#define DNS_MAX_JOBS 4096     // resolutions alive at once (RC_ENOBUFS beyond)
#define DNS_MAX_TARGETS 16    // SRV targets kept per domain (both services together)
#define DNS_MAX_ADDRS 16      // addresses handed to the callback
#define DNS_TARGET_ADDRS 8    // per target and family
#define DNS_TTL_MAX_S 3600    // cap of a positive cache entry
#define DNS_NEG_TTL_S 30      // RC_DNS_NOT_FOUND is cached this long
#define DNS_DEFAULT_PORT 5269 // A/AAAA fallback (CORE-4)
#define DNS_NAME_MAX 253
#define DNS_QUERY_MAX 512 // a built query: header, question (<= 255-byte name), OPT

// What a job resolves.
typedef enum dns_kind {
    DNS_KIND_S2S = 0,  // rt_dns_resolve_s2s
    DNS_KIND_HOST = 1, // rt_dns_resolve_host: A/AAAA of one name, no cache
    DNS_KIND_TLSA = 2, // rt_dns_resolve_tlsa: one TLSA query
} dns_kind_t;

enum { DNS_SVC_XMPPS = 0, DNS_SVC_XMPP = 1, DNS_NUM_SVC = 2 };

// What one SRV query said.
typedef enum dns_srv_res {
    DNS_SRV_PENDING = 0,
    DNS_SRV_RECORDS, // at least one usable record
    DNS_SRV_NONE,    // NXDOMAIN or NODATA
    DNS_SRV_DOT,     // the "service not offered" record "."
    DNS_SRV_FAIL,    // timeout, malformed answer, shutdown
    DNS_SRV_BOGUS,   // SERVFAIL from the (validating) resolver
} dns_srv_res_t;

static const char *const dns_srv_res_names[] = {"pending", "records", "none", "not offered (.)",
                                                "failed", "bogus"};

typedef enum dns_job_state {
    DNS_JOB_SRV,   // waiting for both SRV answers
    DNS_JOB_ADDR,  // waiting for A/AAAA of the targets
    DNS_JOB_TLSA,  // waiting for the TLSA answer
    DNS_JOB_READY, // result in |rc|/|addrs|, on the ready queue
} dns_job_state_t;

typedef struct rt_dns_job rt_dns_job_t;

// c-ares callback argument: which job and which query of it.
typedef struct dns_q {
    rt_dns_job_t *job;
    size_t idx;
} dns_q_t;

// One SRV target (or the bare domain, or a static route's host) and its addresses.
typedef struct dns_target {
    char host[256];
    uint16_t port;
    uint16_t prio;
    uint16_t weight;
    bool direct_tls;
    bool from_srv;
    bool srv_secure; // the SRV answer that named it had AD set
    bool failed;     // resolution failed hard (not NXDOMAIN/NODATA)
    int alias;      // index of an earlier target with the same host, or -1
    uint8_t num_v6; // addresses, c-ares order within a family
    uint8_t num_v4;
    uint8_t v6[DNS_TARGET_ADDRS][16];
    uint8_t v4[DNS_TARGET_ADDRS][4];
    dns_q_t q;
} dns_target_t;

struct rt_dns_job {
    rt_dns_job_t *prev, *next; // on dns->active or dns->ready
    rt_dns_t *dns;
    dns_kind_t kind;
    rt_dns_cb cb;           // S2S, HOST
    rt_dns_tlsa_cb tlsa_cb; // TLSA
    void *ctx;
    bool cancelled;
    bool cacheable;
    bool degraded; // part of the answer failed (timeout/SERVFAIL): cache it briefly only
    dns_job_state_t state;
    size_t pending; // outstanding c-ares queries (+1 while starting them)
    char domain[DNS_NAME_MAX + 1]; // TLSA: the owner name queried
    dns_srv_res_t srv[DNS_NUM_SVC];
    dns_q_t srv_q[DNS_NUM_SVC];
    uint32_t ttl_s; // min TTL seen so far
    size_t num_targets;
    dns_target_t targets[DNS_MAX_TARGETS];
    rc_t rc;
    size_t num_addrs;
    rt_dns_addr_t addrs[DNS_MAX_ADDRS];
    // TLSA
    dns_q_t tlsa_q;
    dna_dnssec_t dnssec;
    uint32_t tlsa_ttl;
    const char *tlsa_why; // static note for the log
    dna_tlsa_set_t set;   // SECURE only
};

typedef struct dns_list {
    rt_dns_job_t *head, *tail;
} dns_list_t;

// A cached final answer, keyed by (kind, name). S2S: |rc| and, for RC_OK, the resolved targets
// (ordering is redone on each hit so that RFC 2782 weights keep spreading the load). TLSA: the
// DNSSEC state and, when SECURE, the record set.
typedef struct dns_cache_ent {
    struct dns_cache_ent *hnext;               // hash chain
    struct dns_cache_ent *lru_prev, *lru_next; // head = most recently used
    dns_kind_t kind;
    char *domain;
    uint64_t hash;
    uint64_t expires_ms;
    rc_t rc;
    size_t num_targets;
    dns_target_t *targets;
    dna_dnssec_t dnssec;
    dna_tlsa_set_t *set; // owned; TLSA SECURE only
} dns_cache_ent_t;

struct rt_dns {
    ares_channel ch;  // A/AAAA (ares_getaddrinfo)
    ares_channel sec; // our own SRV/TLSA queries (ares_send), ARES_FLAG_NOCHECKRESP
    rt_dns_watch_cb watch;
    void *loop_ctx;
    const rt_dns_route_t *routes;
    size_t num_routes;
    size_t cache_max;
    uint64_t rng;
    bool closing;
    size_t num_jobs;
    dns_list_t active; // waiting for c-ares (cancelled ones too)
    dns_list_t ready;  // callback not yet run
    // cache
    dns_cache_ent_t **buckets;
    size_t num_buckets; // power of two
    size_t num_cached;
    dns_cache_ent_t *lru_head, *lru_tail;
};

static void job_step(rt_dns_job_t *job);

// --- small helpers -----------------------------------------------------------------------------

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

// rng_next: xorshift64*; load spreading only, not security relevant.
static uint64_t rng_next(rt_dns_t *dns) {
    uint64_t x = dns->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    dns->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void list_push(dns_list_t *l, rt_dns_job_t *job) {
    job->prev = l->tail;
    job->next = NULL;
    if (l->tail != NULL) {
        l->tail->next = job;
    } else {
        l->head = job;
    }
    l->tail = job;
}

static void list_remove(dns_list_t *l, rt_dns_job_t *job) {
    if (job->prev != NULL) {
        job->prev->next = job->next;
    } else {
        l->head = job->next;
    }
    if (job->next != NULL) {
        job->next->prev = job->prev;
    } else {
        l->tail = job->prev;
    }
    job->prev = job->next = NULL;
}

static void job_free(rt_dns_job_t *job) {
    job->dns->num_jobs--;
    dna_tlsa_set_cleanup(&job->set);
    free(job);
}

static const char *esc(char *buf, size_t cap, const char *s) {
    return core_log_escape(buf, cap, s, strlen(s));
}

// domain_normalize checks that |in| is an LDH domain name (A-labels; '_' tolerated in labels)
// of 1..253 bytes without empty labels, strips one trailing dot and writes it lower-cased into
// |out| (capacity DNS_NAME_MAX + 1).
RT_MUSTCHECK static bool domain_normalize(char *out, const char *in) {
    size_t len = strnlen(in, DNS_NAME_MAX + 2);
    if (len > 0 && in[len - 1] == '.') {
        len--;
    }
    if (len == 0 || len > DNS_NAME_MAX) {
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
            if (++label > 63) {
                return false;
            }
        } else {
            return false;
        }
        out[i] = c;
    }
    out[len] = '\0';
    return label != 0;
}

static bool is_fail_status(int status) {
    return status != ARES_SUCCESS && status != ARES_ENODATA && status != ARES_ENOTFOUND;
}

static void job_ttl(rt_dns_job_t *job, uint32_t ttl) {
    if (ttl < job->ttl_s) {
        job->ttl_s = ttl;
    }
}

// --- cache -------------------------------------------------------------------------------------

static uint64_t hash_key(dns_kind_t kind, const char *s) {
    uint64_t h = 1469598103934665603ULL; // FNV-1a over the kind and the name
    h ^= (uint8_t)kind;
    h *= 1099511628211ULL;
    for (; *s != '\0'; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void cache_unlink(rt_dns_t *dns, dns_cache_ent_t *e) {
    dns_cache_ent_t **pp = &dns->buckets[e->hash & (dns->num_buckets - 1)];
    while (*pp != e) {
        pp = &(*pp)->hnext;
    }
    *pp = e->hnext;
    if (e->lru_prev != NULL) {
        e->lru_prev->lru_next = e->lru_next;
    } else {
        dns->lru_head = e->lru_next;
    }
    if (e->lru_next != NULL) {
        e->lru_next->lru_prev = e->lru_prev;
    } else {
        dns->lru_tail = e->lru_prev;
    }
    dns->num_cached--;
    free(e->domain);
    free(e->targets);
    if (e->set != NULL) {
        dna_tlsa_set_cleanup(e->set);
        free(e->set);
    }
    free(e);
}

static void lru_push_front(rt_dns_t *dns, dns_cache_ent_t *e) {
    e->lru_prev = NULL;
    e->lru_next = dns->lru_head;
    if (dns->lru_head != NULL) {
        dns->lru_head->lru_prev = e;
    } else {
        dns->lru_tail = e;
    }
    dns->lru_head = e;
}

// cache_get returns the live entry of |kind| for |domain| (marking it recently used) or NULL;
// expired entries are dropped on the way.
static dns_cache_ent_t *cache_get(rt_dns_t *dns, dns_kind_t kind, const char *domain) {
    uint64_t h = hash_key(kind, domain);
    dns_cache_ent_t *e = dns->buckets[h & (dns->num_buckets - 1)];
    for (; e != NULL; e = e->hnext) {
        if (e->hash == h && e->kind == kind && strcmp(e->domain, domain) == 0) {
            break;
        }
    }
    if (e == NULL) {
        return NULL;
    }
    if (e->expires_ms <= now_ms()) {
        cache_unlink(dns, e);
        return NULL;
    }
    if (dns->lru_head != e) {
        e->lru_prev->lru_next = e->lru_next;
        if (e->lru_next != NULL) {
            e->lru_next->lru_prev = e->lru_prev;
        } else {
            dns->lru_tail = e->lru_prev;
        }
        lru_push_front(dns, e);
    }
    return e;
}

// cache_insert makes a new entry of |kind| for |domain| that expires in |ttl_s| seconds
// (replacing an older one), evicting the least recently used entries when full; the caller fills
// in the answer.
static dns_cache_ent_t *cache_insert(rt_dns_t *dns, dns_kind_t kind, const char *domain,
                                     uint32_t ttl_s) {
    dns_cache_ent_t *e = cache_get(dns, kind, domain);
    if (e != NULL) {
        cache_unlink(dns, e);
    }
    while (dns->num_cached >= dns->cache_max && dns->lru_tail != NULL) {
        cache_unlink(dns, dns->lru_tail);
    }
    e = core_xcalloc(1, sizeof(*e));
    e->kind = kind;
    e->domain = core_xstrdup(domain);
    e->hash = hash_key(kind, domain);
    e->expires_ms = now_ms() + (uint64_t)ttl_s * 1000u;
    dns_cache_ent_t **b = &dns->buckets[e->hash & (dns->num_buckets - 1)];
    e->hnext = *b;
    *b = e;
    lru_push_front(dns, e);
    dns->num_cached++;
    return e;
}

// cache_put stores the final answer of the s2s |job|. RC_DNS_FAIL is not cached;
// RC_DNS_NOT_FOUND and answers that are partly based on failed queries are kept DNS_NEG_TTL_S
// at most.
static void cache_put(rt_dns_t *dns, const rt_dns_job_t *job) {
    uint32_t ttl;
    size_t n = 0;
    dns_cache_ent_t *e = NULL;
    if (!job->cacheable || dns->cache_max == 0 || job->rc == RC_DNS_FAIL ||
        job->kind != DNS_KIND_S2S) {
        return;
    }
    ttl = job->rc == RC_OK && !job->degraded ? job->ttl_s : DNS_NEG_TTL_S;
    ttl = ttl > job->ttl_s && job->rc == RC_OK ? job->ttl_s : ttl;
    ttl = ttl > DNS_TTL_MAX_S ? DNS_TTL_MAX_S : ttl;
    if (ttl == 0) {
        return;
    }
    e = cache_insert(dns, DNS_KIND_S2S, job->domain, ttl);
    e->rc = job->rc;
    if (job->rc == RC_OK) {
        e->targets = core_xcalloc(job->num_targets, sizeof(dns_target_t));
        for (size_t i = 0; i < job->num_targets; i++) {
            const dns_target_t *t = &job->targets[i];
            if (t->num_v4 + t->num_v6 > 0) {
                e->targets[n++] = *t;
            }
        }
    }
    e->num_targets = n;
}

// --- ordering and result -----------------------------------------------------------------------

// order_before: priority ascending, then direct TLS before STARTTLS (XEP-0368 preference).
static bool order_before(const dns_target_t *a, const dns_target_t *b) {
    if (a->prio != b->prio) {
        return a->prio < b->prio;
    }
    return a->direct_tls && !b->direct_tls;
}

static bool same_group(const dns_target_t *a, const dns_target_t *b) {
    return a->prio == b->prio && a->direct_tls == b->direct_tls;
}

// order_targets writes into |out_idx| the order in which to try |targets|: groups of equal
// (priority, direct_tls) by order_before, and inside a group the RFC 2782 weighted random
// selection. The group is shuffled first and its zero weights put at the front, so targets of
// weight 0 are picked only when rolled or last, and all-zero groups are tried in random order.
static void order_targets(rt_dns_t *dns, size_t *out_idx, const dns_target_t *targets, size_t n) {
    for (size_t i = 0; i < n; i++) {
        out_idx[i] = i;
    }
    // stable insertion sort by group
    for (size_t i = 1; i < n; i++) {
        size_t v = out_idx[i];
        size_t j = i;
        while (j > 0 && order_before(&targets[v], &targets[out_idx[j - 1]])) {
            out_idx[j] = out_idx[j - 1];
            j--;
        }
        out_idx[j] = v;
    }
    for (size_t g0 = 0; g0 < n;) {
        size_t g1 = g0 + 1;
        size_t zeros = g0;
        while (g1 < n && same_group(&targets[out_idx[g0]], &targets[out_idx[g1]])) {
            g1++;
        }
        for (size_t k = g1 - 1; k > g0; k--) { // Fisher-Yates
            size_t m = g0 + (size_t)(rng_next(dns) % (k - g0 + 1));
            size_t v = out_idx[k];
            out_idx[k] = out_idx[m];
            out_idx[m] = v;
        }
        for (size_t k = g0; k < g1; k++) { // zero weights first (order among them: random)
            if (targets[out_idx[k]].weight == 0) {
                size_t v = out_idx[k];
                out_idx[k] = out_idx[zeros];
                out_idx[zeros++] = v;
            }
        }
        for (size_t k = g0; k + 1 < g1; k++) {
            uint64_t sum = 0;
            for (size_t m = k; m < g1; m++) {
                sum += targets[out_idx[m]].weight;
            }
            uint64_t r = rng_next(dns) % (sum + 1);
            uint64_t run = 0;
            size_t pick = g1 - 1;
            for (size_t m = k; m < g1; m++) {
                run += targets[out_idx[m]].weight;
                if (run >= r) {
                    pick = m;
                    break;
                }
            }
            size_t v = out_idx[pick];
            core_memmove(&out_idx[k + 1], &out_idx[k], (pick - k) * sizeof(size_t));
            out_idx[k] = v;
        }
        g0 = g1;
    }
}

static void add_addr(rt_dns_job_t *job, const dns_target_t *t, int family, const uint8_t *ip) {
    rt_dns_addr_t *a;
    if (job->num_addrs >= DNS_MAX_ADDRS) {
        return;
    }
    a = &job->addrs[job->num_addrs++];
    core_memset(a, 0, sizeof(*a));
    if (family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(t->port);
        core_memcpy(&s6->sin6_addr, ip, 16);
        a->sa_len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(t->port);
        core_memcpy(&s4->sin_addr, ip, 4);
        a->sa_len = sizeof(*s4);
    }
    _Static_assert(sizeof(a->host) == sizeof(t->host), "host buffers differ");
    core_memcpy(a->host, t->host, sizeof(a->host)); // NUL-terminated within its 256 bytes
    a->direct_tls = t->direct_tls;
    a->from_srv = t->from_srv;
    a->srv_secure = t->srv_secure;
}

// build_result orders |targets| and flattens their addresses (IPv6 first, then IPv4, per target)
// into job->addrs, at most DNS_MAX_ADDRS. RC_OK if any address came out.
static void build_result(rt_dns_job_t *job, const dns_target_t *targets, size_t n) {
    size_t idx[DNS_MAX_TARGETS];
    job->num_addrs = 0;
    order_targets(job->dns, idx, targets, n);
    for (size_t i = 0; i < n; i++) {
        const dns_target_t *t = &targets[idx[i]];
        for (size_t k = 0; k < t->num_v6; k++) {
            add_addr(job, t, AF_INET6, t->v6[k]);
        }
        for (size_t k = 0; k < t->num_v4; k++) {
            add_addr(job, t, AF_INET, t->v4[k]);
        }
    }
}

static void job_ready(rt_dns_job_t *job) {
    rt_dns_t *dns = job->dns;
    char b[128];
    job->state = DNS_JOB_READY;
    list_remove(&dns->active, job);
    if (job->cancelled) {
        job_free(job);
        return;
    }
    if (job->kind != DNS_KIND_TLSA) { // tlsa_finish logged its own line
        CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_DNS, "resolved %s%s: %s, %zu address(es)",
                 job->kind == DNS_KIND_HOST ? "host " : "", esc(b, sizeof(b), job->domain),
                 rc_str(job->rc), job->num_addrs);
    }
    list_push(&dns->ready, job);
}

// job_finish_addr: all A/AAAA lookups are done; decide the result and cache it.
static void job_finish_addr(rt_dns_job_t *job) {
    bool any_fail = false;
    for (size_t i = 0; i < job->num_targets; i++) {
        dns_target_t *t = &job->targets[i];
        if (t->alias >= 0) {
            const dns_target_t *src = &job->targets[t->alias];
            t->failed = src->failed;
            t->num_v4 = src->num_v4;
            t->num_v6 = src->num_v6;
            core_memcpy(t->v4, src->v4, sizeof(t->v4));
            core_memcpy(t->v6, src->v6, sizeof(t->v6));
        }
        any_fail = any_fail || t->failed;
    }
    job->degraded = job->degraded || any_fail;
    build_result(job, job->targets, job->num_targets);
    if (job->num_addrs > 0) {
        job->rc = RC_OK;
    } else {
        job->rc = any_fail || job->dns->closing ? RC_DNS_FAIL : RC_DNS_NOT_FOUND;
    }
    cache_put(job->dns, job);
    job_ready(job);
}

// --- c-ares callbacks --------------------------------------------------------------------------

static void q_done(rt_dns_job_t *job) {
    RT_CHECK(job->pending > 0);
    if (--job->pending == 0) {
        job_step(job);
    }
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res) {
    dns_q_t *q = arg;
    rt_dns_job_t *job = q->job;
    dns_target_t *t = &job->targets[q->idx];
    (void)timeouts;
    if (status == ARES_SUCCESS && res != NULL) {
        for (struct ares_addrinfo_node *n = res->nodes; n != NULL; n = n->ai_next) {
            if (n->ai_family == AF_INET6 && n->ai_addrlen >= sizeof(struct sockaddr_in6) &&
                t->num_v6 < DNS_TARGET_ADDRS) {
                const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)n->ai_addr;
                core_memcpy(t->v6[t->num_v6++], &s6->sin6_addr, 16);
            } else if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(struct sockaddr_in) &&
                       t->num_v4 < DNS_TARGET_ADDRS) {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *)n->ai_addr;
                core_memcpy(t->v4[t->num_v4++], &s4->sin_addr, 4);
            } else {
                continue;
            }
            job_ttl(job, n->ai_ttl > 0 ? (uint32_t)n->ai_ttl : 0);
        }
    } else if (is_fail_status(status)) {
        t->failed = true;
    }
    if (res != NULL) {
        ares_freeaddrinfo(res);
    }
    if (!job->cancelled) {
        char b1[128], b2[128];
        CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_DNS, "%s: target %s: %s (%u+%u addresses)",
                 esc(b1, sizeof(b1), job->domain), esc(b2, sizeof(b2), t->host),
                 ares_strerror(status), (unsigned)t->num_v6, (unsigned)t->num_v4);
    }
    q_done(job);
}

// srv_add keeps at most DNS_MAX_TARGETS records, preferring the lowest priority values. Returns
// false for a "." target (service not offered), true for any other record, kept or not.
static bool srv_add(rt_dns_job_t *job, const dna_dnsmsg_srv_t *r, bool direct_tls, bool secure) {
    size_t host_len = strnlen(r->target, sizeof(r->target));
    dns_target_t *t = NULL;
    if (host_len == 0 || (host_len == 1 && r->target[0] == '.')) {
        return false;
    }
    if (host_len >= sizeof(t->host)) {
        return true; // cannot be a valid name: a record, but not a usable target
    }
    if (job->num_targets < DNS_MAX_TARGETS) {
        t = &job->targets[job->num_targets++];
    } else {
        for (size_t i = 0; i < job->num_targets; i++) {
            if (t == NULL || job->targets[i].prio > t->prio) {
                t = &job->targets[i];
            }
        }
        if (t->prio <= r->priority) {
            return true;
        }
    }
    core_memset(t, 0, sizeof(*t));
    core_memcpy(t->host, r->target, host_len + 1);
    t->port = r->port;
    t->prio = r->priority;
    t->weight = r->weight;
    t->direct_tls = direct_tls;
    t->from_srv = true;
    t->srv_secure = secure;
    t->alias = -1;
    return true;
}

// srv_qname writes the SRV owner name of service |idx| for |domain| into |out| (capacity
// DNS_NAME_MAX + 32, enough for any |domain| of at most DNS_NAME_MAX bytes).
static void srv_qname(char *out, size_t out_cap, size_t idx, const char *domain) {
    int n = snprintf(out, out_cap, "%s.%s",
                     idx == DNS_SVC_XMPPS ? "_xmpps-server._tcp" : "_xmpp-server._tcp", domain);
    RT_CHECK(n > 0 && (size_t)n < out_cap);
}

// answer_id returns the ID of the DNS message |abuf| (at least 2 bytes): c-ares already matched
// it against the ID it put into the query.
static uint16_t answer_id(const uint8_t *abuf) {
    return (uint16_t)((uint16_t)abuf[0] << 8 | abuf[1]);
}

// srv_answer turns the c-ares |status| and answer |abuf| (|alen| bytes, untrusted) of the SRV
// query for service |idx| into its result, adding the targets to |job| (marked srv_secure when
// the answer had AD set) and lowering job->ttl_s to the answer's TTL. |*out_why| gets a static
// note for the log. Pure apart from |job|: unit-tested through test_dns_order.c.
static dns_srv_res_t srv_answer(rt_dns_job_t *job, size_t idx, int status, const uint8_t *abuf,
                                size_t alen, const char **out_why) {
    char qname[DNS_NAME_MAX + 32];
    dna_dnsmsg_t msg;
    size_t num = 0, usable = 0, bad = 0;
    bool direct_tls = idx == DNS_SVC_XMPPS;
    *out_why = ares_strerror(status);
    if (status == ARES_ENODATA || status == ARES_ENOTFOUND || status == ARES_EBADNAME) {
        return DNS_SRV_NONE; // EBADNAME: the SRV owner name would exceed 255 bytes
    }
    if (status != ARES_SUCCESS || abuf == NULL || alen < 2) {
        return DNS_SRV_FAIL;
    }
    srv_qname(qname, sizeof(qname), idx, job->domain);
    if (dna_dnsmsg_parse(&msg, abuf, alen, answer_id(abuf), qname, DNA_DNS_TYPE_SRV) != RC_OK) {
        *out_why = "malformed answer";
        return DNS_SRV_FAIL;
    }
    if (msg.tc) {
        *out_why = "truncated answer (TC=1)";
        return DNS_SRV_FAIL;
    }
    if (msg.rcode == DNA_DNS_RCODE_NXDOMAIN) {
        *out_why = msg.ad ? "NXDOMAIN (secure)" : "NXDOMAIN";
        return DNS_SRV_NONE;
    }
    if (msg.rcode == DNA_DNS_RCODE_SERVFAIL) {
        *out_why = "SERVFAIL"; // the validating resolver's "bogus" (or indeterminate)
        return DNS_SRV_BOGUS;
    }
    if (msg.rcode != DNA_DNS_RCODE_NOERROR) {
        *out_why = "error rcode";
        return DNS_SRV_FAIL;
    }
    *out_why = msg.ad ? "secure (AD)" : "insecure (no AD)";
    for (size_t i = 0; i < msg.num_answers; i++) {
        dna_dnsmsg_srv_t srv;
        if (dna_dnsmsg_srv(&srv, &msg, &msg.answers[i]) != RC_OK) {
            bad++;
            continue;
        }
        num++;
        usable += srv_add(job, &srv, direct_tls, msg.ad) ? 1u : 0u;
    }
    if (msg.num_answers > 0) {
        job_ttl(job, msg.min_ttl);
    }
    if (bad > 0 && num == 0) {
        *out_why = "malformed SRV records";
        return DNS_SRV_FAIL; // nothing but malformed records: not "no service"
    }
    // RFC 2782 / CORE-2: a lone "." record means "not offered"; "." among other records is
    // ignored. Malformed records next to good ones are ignored.
    return usable > 0 ? DNS_SRV_RECORDS : (num > 0 ? DNS_SRV_DOT : DNS_SRV_NONE);
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
    dns_q_t *q = arg;
    rt_dns_job_t *job = q->job;
    const char *why = NULL;
    dns_srv_res_t res;
    (void)timeouts;
    res = srv_answer(job, q->idx, status, abuf, alen > 0 ? (size_t)alen : 0, &why);
    job->srv[q->idx] = res;
    if (!job->cancelled) {
        char b[128];
        CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_DNS, "%s: SRV %s: %s: %s",
                 esc(b, sizeof(b), job->domain),
                 q->idx == DNS_SVC_XMPPS ? "_xmpps-server" : "_xmpp-server", why,
                 dns_srv_res_names[res]);
    }
    q_done(job);
}

// --- TLSA --------------------------------------------------------------------------------------

static const char *dnssec_name(dna_dnssec_t d) {
    switch (d) {
    case DNA_DNSSEC_SECURE:
        return "secure";
    case DNA_DNSSEC_INSECURE:
        return "insecure";
    case DNA_DNSSEC_BOGUS:
        return "bogus";
    case DNA_DNSSEC_TEMPFAIL:
        return "temporary failure";
    default:
        return "unknown";
    }
}

// tlsa_answer sets job->dnssec, job->tlsa_ttl and (SECURE only) job->set from the c-ares
// |status| and answer |abuf| (|alen| bytes, untrusted) of the TLSA query job->domain. Returns a
// static note for the log. Records of an answer without AD are never parsed (DANE-1/DANE-2).
static const char *tlsa_answer(rt_dns_job_t *job, int status, const uint8_t *abuf, size_t alen) {
    dna_dnsmsg_t msg;
    job->dnssec = DNA_DNSSEC_TEMPFAIL;
    job->tlsa_ttl = 0;
    dna_tlsa_set_cleanup(&job->set);
    if (status == ARES_ESERVFAIL) {
        job->dnssec = DNA_DNSSEC_BOGUS;
        job->tlsa_ttl = DNS_NEG_TTL_S;
        return "SERVFAIL from the validating resolver";
    }
    if (status != ARES_SUCCESS || abuf == NULL || alen < 2) {
        return ares_strerror(status);
    }
    if (dna_dnsmsg_parse(&msg, abuf, alen, answer_id(abuf), job->domain, DNA_DNS_TYPE_TLSA) !=
        RC_OK) {
        return "malformed answer";
    }
    if (msg.tc) {
        return "truncated answer (TC=1)"; // c-ares retried over TCP already
    }
    if (msg.rcode == DNA_DNS_RCODE_SERVFAIL) {
        job->dnssec = DNA_DNSSEC_BOGUS;
        job->tlsa_ttl = DNS_NEG_TTL_S;
        return "SERVFAIL from the validating resolver";
    }
    if (msg.rcode != DNA_DNS_RCODE_NOERROR && msg.rcode != DNA_DNS_RCODE_NXDOMAIN) {
        return "error rcode";
    }
    job->tlsa_ttl = msg.num_answers > 0 ? msg.min_ttl : DNS_NEG_TTL_S;
    job->tlsa_ttl = job->tlsa_ttl > DNS_TTL_MAX_S ? DNS_TTL_MAX_S : job->tlsa_ttl;
    if (!msg.ad) {
        job->dnssec = DNA_DNSSEC_INSECURE;
        return msg.rcode == DNA_DNS_RCODE_NXDOMAIN ? "NXDOMAIN" : "NOERROR";
    }
    job->dnssec = DNA_DNSSEC_SECURE;
    for (size_t i = 0; i < msg.num_answers; i++) {
        // RC_PROTO / RC_ENOBUFS are counted in the set (num_malformed / num_dropped)
        rc_t rc = dna_tlsa_set_add(&job->set, msg.answers[i].rdata, msg.answers[i].rdata_len);
        (void)rc;
    }
    job->set.num_dropped += msg.num_dropped; // over DNA_DNSMSG_MAX_ANSWERS: fail closed
    return msg.rcode == DNA_DNS_RCODE_NXDOMAIN ? "NXDOMAIN" : "NOERROR";
}

// tlsa_set_copy fills |out| (zeroed or cleaned up) with owned copies of |in|'s records and its
// counts.
static void tlsa_set_copy(dna_tlsa_set_t *out, const dna_tlsa_set_t *in) {
    uint8_t *buf = core_xmalloc(3 + DNA_TLSA_FULL_MAX);
    dna_tlsa_set_init(out);
    for (size_t i = 0; i < in->num_recs; i++) {
        const dna_tlsa_rr_t *r = &in->recs[i];
        RT_CHECK(r->data_len <= DNA_TLSA_FULL_MAX);
        buf[0] = r->usage;
        buf[1] = r->selector;
        buf[2] = r->mtype;
        core_memcpy(buf + 3, r->data, r->data_len);
        rc_t rc = dna_tlsa_set_add(out, buf, 3 + r->data_len);
        RT_CHECK(rc == RC_OK); // it was accepted into |in| the same way
    }
    out->num_unusable = in->num_unusable;
    out->num_malformed = in->num_malformed;
    out->num_dropped = in->num_dropped;
    free(buf);
}

// tlsa_log writes the one line of a TLSA result; |why| says what the answer was, |hit| whether
// it came from the cache. Fresh results: BOGUS and a malformed or truncated answer at warn, a
// secure set with malformed or dropped records at info, the rest at debug. Cache hits at debug
// (their fresh result was logged at its level already).
static void tlsa_log(const rt_dns_job_t *job, const char *why, bool hit) {
    char b[300];
    const char *owner = esc(b, sizeof(b), job->domain);
    const dna_tlsa_set_t *set = &job->set;
    if (hit) {
        CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_DNS,
                 "TLSA %s: %s (cache hit), %zu usable record(s), %zu malformed, %zu unusable, "
                 "ttl %u",
                 owner, dnssec_name(job->dnssec), set->num_recs, set->num_malformed,
                 set->num_unusable, (unsigned)job->tlsa_ttl);
    } else if (job->dnssec == DNA_DNSSEC_BOGUS) {
        CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_DNS,
                 "TLSA %s: DNSSEC bogus or indeterminate (%s): do not connect to this endpoint",
                 owner, why);
    } else if (job->dnssec == DNA_DNSSEC_TEMPFAIL && why != NULL &&
               (strncmp(why, "malformed", 9) == 0 || strncmp(why, "truncated", 9) == 0)) {
        CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_DNS,
                 "TLSA %s: %s from the resolver: temporary failure", owner, why);
    } else if (job->dnssec == DNA_DNSSEC_SECURE &&
               (set->num_malformed > 0 || set->num_dropped > 0)) {
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_DNS,
                 "TLSA %s: secure, %zu usable record(s), %zu malformed (ignored), %zu unusable, "
                 "%zu dropped (over the limit), ttl %u",
                 owner, set->num_recs, set->num_malformed, set->num_unusable, set->num_dropped,
                 (unsigned)job->tlsa_ttl);
    } else if (job->dnssec == DNA_DNSSEC_SECURE) {
        CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_DNS,
                 "TLSA %s: secure (%s), %zu usable record(s), %zu unusable, ttl %u", owner, why,
                 set->num_recs, set->num_unusable, (unsigned)job->tlsa_ttl);
    } else {
        CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_DNS, "TLSA %s: %s (%s), ttl %u", owner,
                 dnssec_name(job->dnssec), why, (unsigned)job->tlsa_ttl);
    }
}

// tlsa_finish caches, logs and queues the result of a TLSA job.
static void tlsa_finish(rt_dns_job_t *job, const char *why) {
    rt_dns_t *dns = job->dns;
    if (job->dns->closing) {
        job->dnssec = DNA_DNSSEC_TEMPFAIL;
        job->tlsa_ttl = 0;
        dna_tlsa_set_cleanup(&job->set);
        why = "resolver shutting down";
    }
    if (dns->cache_max > 0 && job->tlsa_ttl > 0 &&
        (job->dnssec == DNA_DNSSEC_SECURE || job->dnssec == DNA_DNSSEC_INSECURE ||
         job->dnssec == DNA_DNSSEC_BOGUS)) {
        dns_cache_ent_t *e = cache_insert(dns, DNS_KIND_TLSA, job->domain, job->tlsa_ttl);
        e->dnssec = job->dnssec;
        if (job->dnssec == DNA_DNSSEC_SECURE) {
            e->set = core_xcalloc(1, sizeof(*e->set));
            tlsa_set_copy(e->set, &job->set);
        }
    }
    if (!job->cancelled) {
        tlsa_log(job, why, false);
    }
    job_ready(job);
}

static void on_tlsa(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
    dns_q_t *q = arg;
    rt_dns_job_t *job = q->job;
    (void)timeouts;
    job->tlsa_why = tlsa_answer(job, status, abuf, alen > 0 ? (size_t)alen : 0);
    q_done(job);
}

// send_query builds a query for |qname| |qtype| (AD=1, DO=1) and hands it to c-ares, whose
// callback |cb| may run before this returns. False (nothing sent, |cb| will not run) when the
// name is refused by dna_dnsmsg_query.
RT_MUSTCHECK static bool send_query(rt_dns_t *dns, const char *qname, uint16_t qtype,
                                    ares_callback cb, void *arg) {
    core_bld_t b;
    bool ok = false;
    core_bld_init(&b, DNS_QUERY_MAX);
    if (dna_dnsmsg_query(&b, (uint16_t)rng_next(dns), qname, qtype) != RC_OK ||
        core_bld_finish(&b) != RC_OK || b.len > INT32_MAX) {
        goto out;
    }
    ok = true;
    ares_send(dns->sec, b.data, (int)b.len, cb, arg);
out:
    core_bld_cleanup(&b);
    return ok;
}

// --- job driver --------------------------------------------------------------------------------

// start_addr resolves every target of |job| (one query per distinct host name).
static void start_addr(rt_dns_job_t *job) {
    rt_dns_t *dns = job->dns;
    struct ares_addrinfo_hints hints;
    core_memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = ARES_AI_NOSORT;
    job->state = DNS_JOB_ADDR;
    job->pending++; // hold: c-ares may call back synchronously
    for (size_t i = 0; i < job->num_targets; i++) {
        dns_target_t *t = &job->targets[i];
        t->alias = -1;
        for (size_t j = 0; j < i; j++) {
            if (job->targets[j].alias < 0 &&
                core_ascii_lower_eq(t->host, strlen(t->host), job->targets[j].host,
                                    strlen(job->targets[j].host))) {
                t->alias = (int)j;
                break;
            }
        }
        if (t->alias >= 0) {
            continue;
        }
        if (dns->closing) {
            t->failed = true;
            continue;
        }
        t->q.job = job;
        t->q.idx = i;
        job->pending++;
        ares_getaddrinfo(dns->ch, t->host, NULL, &hints, on_addrinfo, &t->q);
    }
    q_done(job);
}

// set_single_target makes |host| the job's only target; false if |host| is too long.
RT_MUSTCHECK static bool set_single_target(rt_dns_job_t *job, const char *host, uint16_t port,
                                           bool direct_tls) {
    dns_target_t *t = &job->targets[0];
    size_t len = strlen(host); // |host| is NUL-terminated by every caller
    if (len == 0 || len >= sizeof(t->host)) {
        return false;
    }
    core_memset(t, 0, sizeof(*t));
    core_memcpy(t->host, host, len + 1);
    t->port = port;
    t->direct_tls = direct_tls;
    t->from_srv = false;
    t->alias = -1;
    job->num_targets = 1;
    return true;
}

// job_step runs when a job has no outstanding query: decide what the SRV answers mean.
static void job_step(rt_dns_job_t *job) {
    if (job->state == DNS_JOB_TLSA) {
        tlsa_finish(job, job->tlsa_why);
        return;
    }
    if (job->state == DNS_JOB_ADDR) {
        job_finish_addr(job);
        return;
    }
    RT_CHECK(job->state == DNS_JOB_SRV);
    dns_srv_res_t a = job->srv[DNS_SVC_XMPPS], b = job->srv[DNS_SVC_XMPP];
    job->degraded = a == DNS_SRV_FAIL || b == DNS_SRV_FAIL || a == DNS_SRV_BOGUS ||
                    b == DNS_SRV_BOGUS;
    if (a == DNS_SRV_RECORDS || b == DNS_SRV_RECORDS) {
        // One service's failure does not hide the other's records; no A/AAAA fallback (CORE-3).
        start_addr(job);
    } else if (job->dns->closing || a == DNS_SRV_FAIL || b == DNS_SRV_FAIL) {
        job->rc = RC_DNS_FAIL;
        job_ready(job);
    } else if (a == DNS_SRV_BOGUS || b == DNS_SRV_BOGUS) {
        job->rc = RC_DNS_BOGUS; // RFC 7673 §3.1: must not connect; not cached
        job_ready(job);
    } else if (a == DNS_SRV_DOT || b == DNS_SRV_DOT) {
        job->rc = RC_DNS_NOT_FOUND; // CORE-2, DTLS-4: SRV in use, service not offered
        cache_put(job->dns, job);
        job_ready(job);
    } else {
        if (set_single_target(job, job->domain, DNS_DEFAULT_PORT, false)) { // CORE-4
            start_addr(job);
        } else {
            job->rc = RC_DNS_NOT_FOUND;
            job_ready(job);
        }
    }
}

// --- public API --------------------------------------------------------------------------------

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable) {
    rt_dns_t *dns = data;
    if (dns->watch != NULL) {
        dns->watch(dns->loop_ctx, fd, readable != 0, writable != 0);
    }
}

rt_dns_t *rt_dns_new(const rt_dns_conf_t *conf, rt_dns_watch_cb watch, void *loop_ctx) {
    rt_dns_t *dns = NULL;
    struct ares_options opts;
    char lookups[] = "b";
    int rc;
    dns = core_xcalloc(1, sizeof(*dns));
    dns->watch = watch;
    dns->loop_ctx = loop_ctx;
    dns->routes = conf->routes;
    dns->num_routes = conf->num_routes;
    dns->cache_max = conf->cache_max != 0 ? conf->cache_max : DNS_DEFAULT_CACHE_MAX;
    dns->num_buckets = 16;
    while (dns->num_buckets < dns->cache_max && dns->num_buckets < (1u << 20)) {
        dns->num_buckets <<= 1;
    }
    dns->buckets = core_xcalloc(dns->num_buckets, sizeof(*dns->buckets));
    if (getrandom(&dns->rng, sizeof(dns->rng), GRND_NONBLOCK) != (ssize_t)sizeof(dns->rng)) {
        dns->rng = now_ms() ^ (uint64_t)(uintptr_t)dns;
    }
    dns->rng |= 1; // xorshift state must not be 0

    core_memset(&opts, 0, sizeof(opts));
    opts.timeout =
        (int)(conf->timeout_ms != 0 && conf->timeout_ms <= 60000 ? conf->timeout_ms
                                                                 : DNS_DEFAULT_TIMEOUT_MS);
    opts.tries = (int)(conf->tries != 0 && conf->tries <= 10 ? conf->tries : DNS_DEFAULT_TRIES);
    opts.ndots = 1;
    opts.domains = NULL; // never append search domains to a peer's name
    opts.ndomains = 0;
    opts.lookups = lookups; // DNS only, not /etc/hosts
    opts.sock_state_cb = on_sock_state;
    opts.sock_state_cb_data = dns;
    // Two channels on the same servers: |ch| for A/AAAA as before; |sec| for the queries we
    // build, with ARES_FLAG_NOCHECKRESP so that a SERVFAIL (the validator's "bogus") reaches us
    // as an answer instead of c-ares' generic "could not contact DNS servers". The flag also means
    // that |sec| does not try the next server after a SERVFAIL/REFUSED: the validating resolver's
    // SERVFAIL is its verdict. |sec| also has ARES_FLAG_EDNS with our UDP size: without it c-ares
    // 1.18 takes every UDP answer over 512 bytes (most signed ones) for truncated and asks again
    // over TCP; with it only TC=1 answers are (the query already carries its OPT record, which
    // c-ares strips if a server answers FORMERR without one). Both retry TC=1 over TCP.
    for (int i = 0; i < 2; i++) {
        ares_channel *chp = i == 0 ? &dns->ch : &dns->sec;
        opts.flags = i == 0 ? 0 : ARES_FLAG_NOCHECKRESP | ARES_FLAG_EDNS;
        opts.ednspsz = DNA_DNSMSG_UDP_SIZE;
        rc = ares_init_options(chp, &opts,
                               ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
                                   ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB |
                                   (i == 0 ? 0 : ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ));
        if (rc != ARES_SUCCESS) {
            CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_DNS, "ares_init_options: %s", ares_strerror(rc));
            *chp = NULL;
            goto err;
        }
        if (conf->servers != NULL) {
            rc = ares_set_servers_ports_csv(*chp, conf->servers);
            if (rc != ARES_SUCCESS) {
                char b[128];
                CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_DNS, "resolver servers \"%s\": %s",
                         esc(b, sizeof(b), conf->servers), ares_strerror(rc));
                goto err;
            }
        }
    }
    return dns;
err:
    rt_dns_free(dns);
    return NULL;
}

// deliver runs the callbacks of the ready queue, one job at a time (a callback may resolve or
// cancel; a newly ready job is delivered in the same pass).
static void deliver(rt_dns_t *dns) {
    rt_dns_job_t *job;
    while ((job = dns->ready.head) != NULL) {
        list_remove(&dns->ready, job);
        if (!job->cancelled && job->kind == DNS_KIND_TLSA) {
            rt_dns_tlsa_t res;
            core_memset(&res, 0, sizeof(res));
            res.dnssec = job->dnssec;
            res.set = job->dnssec == DNA_DNSSEC_SECURE ? &job->set : NULL;
            res.ttl = job->tlsa_ttl;
            _Static_assert(sizeof(res.owner) >= sizeof(job->domain), "owner buffer too small");
            core_memcpy(res.owner, job->domain, sizeof(job->domain));
            job->tlsa_cb(job->ctx, &res);
        } else if (!job->cancelled) {
            job->cb(job->ctx, job->rc, job->num_addrs > 0 ? job->addrs : NULL, job->num_addrs);
        }
        job_free(job);
    }
}

void rt_dns_free(rt_dns_t *dns) {
    if (dns == NULL) {
        return;
    }
    dns->closing = true;
    if (dns->sec != NULL) {
        ares_destroy(dns->sec); // pending queries call back with ARES_EDESTRUCTION
        dns->sec = NULL;
    }
    if (dns->ch != NULL) {
        ares_destroy(dns->ch);
        dns->ch = NULL;
    }
    RT_CHECK(dns->active.head == NULL);
    deliver(dns);
    while (dns->lru_head != NULL) {
        cache_unlink(dns, dns->lru_head);
    }
    free(dns->buckets);
    free(dns);
}

// job_new allocates a job of |kind| for the normalised |name| (at most DNS_NAME_MAX bytes) and
// puts it on the active list.
static rt_dns_job_t *job_new(rt_dns_t *dns, dns_kind_t kind, const char *name, void *ctx) {
    size_t len = strlen(name);
    rt_dns_job_t *job = core_xcalloc(1, sizeof(*job));
    RT_CHECK(len < sizeof(job->domain));
    dns->num_jobs++;
    job->dns = dns;
    job->kind = kind;
    job->ctx = ctx;
    job->ttl_s = DNS_TTL_MAX_S;
    core_memcpy(job->domain, name, len + 1);
    list_push(&dns->active, job);
    return job;
}

static const rt_dns_route_t *route_find(const rt_dns_t *dns, const char *domain) {
    for (size_t i = 0; i < dns->num_routes; i++) {
        const rt_dns_route_t *r = &dns->routes[i];
        if (r->domain != NULL &&
            core_ascii_lower_eq(r->domain, strlen(r->domain), domain, strlen(domain))) {
            return r;
        }
    }
    return NULL;
}

rc_t rt_dns_resolve_s2s(rt_dns_t *dns, const char *domain, rt_dns_cb cb, void *ctx) {
    char name[DNS_NAME_MAX + 1];
    char b[128];
    rt_dns_job_t *job = NULL;
    const rt_dns_route_t *route;
    const dns_cache_ent_t *ent;
    uint8_t ip[16];
    if (dns == NULL || domain == NULL || cb == NULL || dns->closing) {
        return RC_EINVAL;
    }
    if (!domain_normalize(name, domain)) {
        CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_DNS, "refusing to resolve bad name %s",
                 esc(b, sizeof(b), domain));
        return RC_EINVAL;
    }
    // The limit bounds queries in flight: static routes to an IP and cached answers, which send
    // no query, are always served (a flood of lookups must not stop configured routing).
    route = route_find(dns, name);
    bool no_query = (route != NULL && route->host != NULL &&
                     (inet_pton(AF_INET6, route->host, ip) == 1 ||
                      inet_pton(AF_INET, route->host, ip) == 1)) ||
                    cache_get(dns, DNS_KIND_S2S, name) != NULL;
    if (dns->num_jobs >= DNS_MAX_JOBS && !no_query) {
        return RC_ENOBUFS;
    }
    job = job_new(dns, DNS_KIND_S2S, name, ctx);
    job->cb = cb;
    job->cacheable = true;
    job->state = DNS_JOB_SRV;

    if (route != NULL && route->host != NULL) {
        dns_target_t *t = &job->targets[0];
        if (!set_single_target(job, route->host, route->port, route->direct_tls)) {
            job->rc = RC_DNS_NOT_FOUND;
            job_ready(job);
            return RC_OK;
        }
        if (inet_pton(AF_INET6, route->host, ip) == 1) {
            core_memcpy(t->v6[0], ip, 16);
            t->num_v6 = 1;
        } else if (inet_pton(AF_INET, route->host, ip) == 1) {
            core_memcpy(t->v4[0], ip, 4);
            t->num_v4 = 1;
        }
        if (t->num_v4 + t->num_v6 > 0) {
            job->cacheable = false;
            build_result(job, job->targets, 1);
            job->rc = RC_OK;
            job_ready(job);
            return RC_OK;
        }
    }
    ent = cache_get(dns, DNS_KIND_S2S, name);
    if (ent != NULL) {
        job->cacheable = false;
        job->rc = ent->rc;
        if (ent->rc == RC_OK) {
            build_result(job, ent->targets, ent->num_targets);
        }
        CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_DNS, "cache hit %s", esc(b, sizeof(b), name));
        job_ready(job);
        return RC_OK;
    }
    if (route != NULL && route->host != NULL) {
        start_addr(job); // static route to a host name: its A/AAAA only (CORE-5)
        return RC_OK;
    }
    // Both SRV names at once (DTLS-1). c-ares may call back synchronously: hold the job.
    job->pending = 1;
    for (size_t i = 0; i < DNS_NUM_SVC; i++) {
        char qname[DNS_NAME_MAX + 32];
        srv_qname(qname, sizeof(qname), i, name);
        job->srv_q[i].job = job;
        job->srv_q[i].idx = i;
        job->pending++;
        if (!send_query(dns, qname, DNA_DNS_TYPE_SRV, on_srv, &job->srv_q[i])) {
            job->pending--;
            job->srv[i] = DNS_SRV_NONE; // the owner name would exceed 255 wire bytes
        }
    }
    q_done(job);
    return RC_OK;
}

rc_t rt_dns_resolve_tlsa(rt_dns_t *dns, const char *host, uint16_t port, rt_dns_tlsa_cb cb,
                         void *ctx) {
    char name[DNS_NAME_MAX + 1];
    char owner[DNA_TLSA_OWNER_MAX];
    char b[128];
    rt_dns_job_t *job = NULL;
    const dns_cache_ent_t *ent;
    if (dns == NULL || host == NULL || cb == NULL || port == 0 || dns->closing) {
        return RC_EINVAL;
    }
    if (!domain_normalize(name, host) ||
        dna_tlsa_owner_name(owner, sizeof(owner), port, name) != RC_OK ||
        strlen(owner) > DNS_NAME_MAX) {
        CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_DNS, "refusing TLSA lookup for bad name %s",
                 esc(b, sizeof(b), host));
        return RC_EINVAL;
    }
    ent = cache_get(dns, DNS_KIND_TLSA, owner);
    if (dns->num_jobs >= DNS_MAX_JOBS && ent == NULL) {
        return RC_ENOBUFS;
    }
    job = job_new(dns, DNS_KIND_TLSA, owner, ctx);
    job->tlsa_cb = cb;
    job->state = DNS_JOB_TLSA;
    if (ent != NULL) {
        uint64_t now = now_ms();
        job->dnssec = ent->dnssec;
        job->tlsa_ttl = (uint32_t)(ent->expires_ms > now ? (ent->expires_ms - now) / 1000u : 0);
        if (ent->set != NULL) {
            tlsa_set_copy(&job->set, ent->set);
        }
        tlsa_log(job, "cache hit", true);
        job_ready(job);
        return RC_OK;
    }
    job->tlsa_q.job = job;
    job->tlsa_q.idx = 0;
    job->tlsa_why = "not sent";
    job->dnssec = DNA_DNSSEC_TEMPFAIL;
    job->pending = 2; // hold (c-ares may call back synchronously) + the query
    if (!send_query(dns, owner, DNA_DNS_TYPE_TLSA, on_tlsa, &job->tlsa_q)) {
        job->pending--;
    }
    q_done(job);
    return RC_OK;
}

rc_t rt_dns_resolve_host(rt_dns_t *dns, const char *host, uint16_t port, rt_dns_cb cb,
                         void *ctx) {
    char name[DNS_NAME_MAX + 1];
    char b[128];
    rt_dns_job_t *job = NULL;
    if (dns == NULL || host == NULL || cb == NULL || port == 0 || dns->closing) {
        return RC_EINVAL;
    }
    if (!domain_normalize(name, host)) {
        CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_DNS, "refusing to resolve bad host name %s",
                 esc(b, sizeof(b), host));
        return RC_EINVAL;
    }
    if (dns->num_jobs >= DNS_MAX_JOBS) {
        return RC_ENOBUFS;
    }
    job = job_new(dns, DNS_KIND_HOST, name, ctx);
    job->cb = cb;
    job->cacheable = false;
    if (!set_single_target(job, name, port, false)) { // cannot fail: name <= 253 bytes
        job->rc = RC_DNS_NOT_FOUND;
        job_ready(job);
        return RC_OK;
    }
    start_addr(job);
    return RC_OK;
}

void rt_dns_cancel(rt_dns_t *dns, void *ctx) {
    if (dns == NULL) {
        return;
    }
    for (rt_dns_job_t *j = dns->active.head; j != NULL; j = j->next) {
        if (j->ctx == ctx) {
            j->cancelled = true;
        }
    }
    for (rt_dns_job_t *j = dns->ready.head; j != NULL; j = j->next) {
        if (j->ctx == ctx) {
            j->cancelled = true;
        }
    }
}

void rt_dns_process(rt_dns_t *dns, int fd, bool readable, bool writable) {
    // |fd| belongs to one of the two channels; the other ignores it
    ares_process_fd(dns->ch, readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
    ares_process_fd(dns->sec, readable ? fd : ARES_SOCKET_BAD, writable ? fd : ARES_SOCKET_BAD);
    deliver(dns);
}

void rt_dns_tick(rt_dns_t *dns) {
    ares_process_fd(dns->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    ares_process_fd(dns->sec, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    deliver(dns);
}

uint32_t rt_dns_next_timeout_ms(rt_dns_t *dns, uint32_t max_ms) {
    struct timeval maxtv, tv, *tvp;
    uint64_t ms;
    if (dns->ready.head != NULL) {
        return 0;
    }
    maxtv.tv_sec = max_ms / 1000;
    maxtv.tv_usec = (max_ms % 1000) * 1000;
    tvp = ares_timeout(dns->ch, &maxtv, &tv);
    maxtv = *tvp;
    tvp = ares_timeout(dns->sec, &maxtv, &tv);
    ms = (uint64_t)tvp->tv_sec * 1000u + ((uint64_t)tvp->tv_usec + 999u) / 1000u;
    return ms > max_ms ? max_ms : (uint32_t)ms;
}
