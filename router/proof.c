// proof.c: domain ownership checks on live streams (see proof.h).
#include "router/proof.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include <openssl/ssl.h>

#include "dna/pkix.h"
#include "dna/tlsa.h"
#include "router/core/mem.h"
#include "router/internal.h"
#include "router/posh_dns.h"
#include "router/posh_fetch.h"

// One log line per check, with the stream it ran on: "w0 c12 10.0.0.2:5269 out: domain ...".
#define LOGC(lvl, c, fmt, ...)                                                                     \
    CORE_LOG(lvl, CORE_LOG_SRC_DNA, "w%u c%lu %s %s: " fmt, (c)->w->idx, (unsigned long)(c)->id,  \
             (c)->peer_text, (c)->kind == RT_CONN_S2S_OUT ? "out" : "in", __VA_ARGS__)

#define PROOF_MAX_TARGETS 4                 // TLSA sets consulted per domain (inbound, targets)
#define PROOF_TTL_CAP_MS (3600u * 1000u)     // a verdict is re-decided at least hourly
#define PROOF_NEG_TTL_MS (60u * 1000u)       // not proven / refused: decided again after a minute
#define PROOF_MAX_RUNNING 8 // checks gathering evidence at once per connection; more wait
#define PROOF_MAX_WAITING 128 // checks waiting per connection; more fail for now (try later)

struct rt_proof_job {
    rt_proof_job_t *next; // the connection's jobs
    rt_conn_t *c;
    rt_proof_use_t use;
    char domain[DNA_DOMAIN_MAX];
    char aux[DNA_DOMAIN_MAX];
    char key[DNA_DBKEY_HEX_LEN + 1];
    dna_policy_t policy; // a copy: a reload frees the snapshot it came from
    dna_evidence_t ev;
    uint64_t ttl_ms; // smallest TTL of the material used
    // DANE.
    bool dns_pending;
    unsigned tlsa_pending;
    char ref_hosts[PROOF_MAX_TARGETS][DNA_DOMAIN_MAX]; // secure SRV targets (reference ids)
    size_t num_ref_hosts;
    bool tlsa_secure, tlsa_insecure, tlsa_bogus, tlsa_temp, tlsa_match, tlsa_mismatch;
    const char *dane_why;
    const char *pkix_why; // why PKIX did not prove the domain (for the log)
    // POSH.
    bool posh_pending;
    struct rt_posh *posh; // the fetcher the pending fetch runs on (a reload replaces w->posh)
    const char *posh_why;
    bool deferred;       // waiting for one of the connection's PROOF_MAX_RUNNING slots
    uint64_t epoch;      // the worker's reload_seen when |policy| was copied: a reload makes it stale
};

// ---- helpers ---------------------------------------------------------------------------------

static bool policy_has(const dna_policy_t *p, dna_prooftype_t pt) {
    for (size_t i = 0; i < p->num_order; i++) {
        if (p->order[i] == pt) {
            return true;
        }
    }
    return false;
}

static bool is_outbound(const rt_conn_t *c) {
    return c->kind == RT_CONN_S2S_OUT;
}

// verdict_key: outbound streams are keyed by the peer address they connected to, inbound ones
// by the source address without port (an initiator's source port means nothing).
pool_verdict_key_t rt_proof_verdict_key(const rt_conn_t *c, const char *domain) {
    pool_verdict_key_t k;
    core_memset(&k, 0, sizeof(k));
    if (is_outbound(c) && c->peer != NULL) {
        k.addr = c->peer->addr.sa;
    } else {
        k.addr = c->peer_sa;
        if (k.addr.ss_family == AF_INET) {
            ((struct sockaddr_in *)&k.addr)->sin_port = 0;
        } else if (k.addr.ss_family == AF_INET6) {
            ((struct sockaddr_in6 *)&k.addr)->sin6_port = 0;
        }
    }
    if (c->tls_on && c->has_peer_fp) {
        core_memcpy(k.fp, c->peer_fp, POOL_FP_LEN);
    }
    k.domain = domain;
    return k;
}

static dna_prooftype_t from_pool(pool_prooftype_t p) {
    switch (p) {
    case POOL_PROOF_PKIX:
        return DNA_PROOF_PKIX;
    case POOL_PROOF_DANE:
        return DNA_PROOF_DANE;
    case POOL_PROOF_POSH:
        return DNA_PROOF_POSH;
    default:
        return DNA_PROOF_NONE;
    }
}

static pool_prooftype_t to_pool(dna_prooftype_t p) {
    switch (p) {
    case DNA_PROOF_PKIX:
        return POOL_PROOF_PKIX;
    case DNA_PROOF_DANE:
        return POOL_PROOF_DANE;
    case DNA_PROOF_POSH:
        return POOL_PROOF_POSH;
    default:
        return POOL_PROOF_NONE;
    }
}

// lookup_verdict answers from the verdict table: positive -> PROVEN by its prooftype; negative
// with a prooftype -> REFUSED by it; negative without -> DIALBACK (the certificate proves nothing
// and the policy let dialback decide).
static bool lookup_verdict(rt_conn_t *c, const char *domain, dna_verdict_t *out) {
    rt_worker_t *w = c->w;
    pool_verdict_key_t k = rt_proof_verdict_key(c, domain);
    pool_verdict_t v;
    switch (pool_verdicts_lookup(w->rt->verdicts, &k, w->now_ms, &v)) {
    case POOL_VERDICT_HIT:
        rt_stat_inc(&w->stats, RT_STAT_VERDICT_HIT);
        if (v.proof == POOL_PROOF_DIALBACK || v.proof == POOL_PROOF_NONE) {
            // "This address serves the domain" at DNS level: not a proof of the certificate.
            return false;
        }
        *out = (dna_verdict_t){DNA_VERDICT_PROVEN, from_pool(v.proof),
                               v.proof == POOL_PROOF_DANE   ? "cached verdict: proven by DANE"
                               : v.proof == POOL_PROOF_POSH ? "cached verdict: proven by POSH"
                                                            : "cached verdict: proven by PKIX"};
        return true;
    case POOL_VERDICT_NEGATIVE:
        rt_stat_inc(&w->stats, RT_STAT_VERDICT_NEGATIVE);
        if (v.proof == POOL_PROOF_NONE) {
            *out = (dna_verdict_t){DNA_VERDICT_DIALBACK, DNA_PROOF_NONE,
                                   "cached verdict: not proven, dialback decides"};
        } else if (v.proof == POOL_PROOF_DIALBACK) {
            return false; // a failed verification connection: the certificate is checked anew
        } else if (v.proof == POOL_PROOF_POLICY) {
            *out = (dna_verdict_t){DNA_VERDICT_REFUSED, DNA_PROOF_NONE,
                                   "cached verdict: no prooftype has material for the domain and "
                                   "policy requires a proof"};
        } else {
            *out = (dna_verdict_t){
                DNA_VERDICT_REFUSED, from_pool(v.proof),
                v.proof == POOL_PROOF_DANE   ? "cached verdict: refused by DANE (see the first check)"
                : v.proof == POOL_PROOF_POSH ? "cached verdict: refused by POSH (see the first check)"
                                             : "cached verdict: refused by PKIX (see the first check)"};
        }
        return true;
    case POOL_VERDICT_MISS:
        rt_stat_inc(&w->stats, RT_STAT_VERDICT_MISS);
        break;
    }
    return false;
}

static void store_verdict(rt_conn_t *c, const char *domain, const dna_verdict_t *v,
                          uint64_t ttl_ms) {
    rt_worker_t *w = c->w;
    if (v->kind == DNA_VERDICT_TEMPFAIL) {
        return;
    }
    pool_verdict_key_t k = rt_proof_verdict_key(c, domain);
    // Negative entries: NONE = not proven, dialback decides; a prooftype = refused by it;
    // POLICY = refused because the policy wants a proof and none had material.
    pool_prooftype_t proof = to_pool(v->prooftype);
    if (v->kind == DNA_VERDICT_DIALBACK) {
        proof = POOL_PROOF_NONE;
    } else if (v->kind == DNA_VERDICT_REFUSED && proof == POOL_PROOF_NONE) {
        proof = POOL_PROOF_POLICY;
    }
    pool_verdict_t pv = {.positive = v->kind == DNA_VERDICT_PROVEN, .proof = proof,
                         .expires_ms = 0};
    uint64_t ttl = pv.positive ? ttl_ms : (ttl_ms < PROOF_NEG_TTL_MS ? ttl_ms : PROOF_NEG_TTL_MS);
    pv.expires_ms = w->now_ms + (ttl == 0 ? 1000u : ttl);
    if (pool_verdicts_put(w->rt->verdicts, &k, &pv, w->now_ms) != RC_OK) {
        LOGC(CORE_LOG_WARN, c, "verdict for %s not stored", domain);
    }
}

static void count(rt_worker_t *w, const dna_verdict_t *v) {
    rt_stat_id_t id = RT_STAT_DNA_DIALBACK;
    switch (v->kind) {
    case DNA_VERDICT_PROVEN:
        id = v->prooftype == DNA_PROOF_DANE   ? RT_STAT_DNA_PROVEN_DANE
             : v->prooftype == DNA_PROOF_POSH ? RT_STAT_DNA_PROVEN_POSH
                                              : RT_STAT_DNA_PROVEN_PKIX;
        break;
    case DNA_VERDICT_REFUSED:
        id = v->prooftype == DNA_PROOF_DANE   ? RT_STAT_DNA_REFUSED_DANE
             : v->prooftype == DNA_PROOF_POSH ? RT_STAT_DNA_REFUSED_POSH
             : v->prooftype == DNA_PROOF_PKIX ? RT_STAT_DNA_REFUSED_PKIX
                                              : RT_STAT_DNA_REFUSED_NONE;
        break;
    case DNA_VERDICT_TEMPFAIL:
        id = RT_STAT_DNA_TEMPFAIL;
        break;
    default:
        break;
    }
    rt_stat_inc(&w->stats, id);
}

static void ttl_min(rt_proof_job_t *job, uint64_t ttl_ms) {
    if (ttl_ms < job->ttl_ms) {
        job->ttl_ms = ttl_ms;
    }
}

// ---- the job ----------------------------------------------------------------------------------

static void job_unlink(rt_proof_job_t *job) {
    rt_proof_job_t **pp = &job->c->proofs;
    while (*pp != NULL && *pp != job) {
        pp = &(*pp)->next;
    }
    if (*pp == job) {
        *pp = job->next;
    }
}

static void dispatch(rt_conn_t *c, rt_proof_use_t use, const char *domain, const char *aux,
                     const char *key, const dna_verdict_t *v) {
    switch (use) {
    case RT_PROOF_FEATURES:
        rt_sin_features_proof(c, domain, v);
        break;
    case RT_PROOF_DB_RESULT:
        rt_sin_db_result_proof(c, domain, aux, key, v);
        break;
    case RT_PROOF_OUTBOUND:
        rt_sout_proof(c, v);
        break;
    case RT_PROOF_TARGET:
        rt_pool_target_proof(c, aux, domain, v);
        break;
    }
}

static void log_verdict(rt_conn_t *c, const rt_proof_job_t *job, const dna_verdict_t *v) {
    core_log_level_t lvl = v->kind == DNA_VERDICT_REFUSED    ? CORE_LOG_WARN
                           : v->kind == DNA_VERDICT_TEMPFAIL ? CORE_LOG_WARN
                                                             : CORE_LOG_INFO;
    const char *kind = v->kind == DNA_VERDICT_PROVEN     ? "proven"
                       : v->kind == DNA_VERDICT_DIALBACK ? "not proven, dialback decides"
                       : v->kind == DNA_VERDICT_REFUSED  ? "refused"
                                                         : "temporary failure";
    bool pkix_note = job->pkix_why != NULL && v->kind != DNA_VERDICT_PROVEN;
    LOGC(lvl, c, "domain %s: %s (%s)%s%s%s%s%s%s%s%s%s", job->domain, kind, v->reason,
         pkix_note ? "; PKIX: " : "", pkix_note ? job->pkix_why : "",
         pkix_note && !c->tls.peer_chain_ok ? " (" : "",
         pkix_note && !c->tls.peer_chain_ok ? c->tls.verify_err : "",
         pkix_note && !c->tls.peer_chain_ok ? ")" : "",
         job->dane_why != NULL ? "; DANE: " : "", job->dane_why != NULL ? job->dane_why : "",
         job->posh_why != NULL ? "; POSH: " : "", job->posh_why != NULL ? job->posh_why : "");
}

static bool job_gather(rt_proof_job_t *job);
static void start_deferred(rt_conn_t *c);

// decide applies the job's policy to its evidence; logs, counts and records the verdict.
static dna_verdict_t decide(rt_proof_job_t *job) {
    rt_conn_t *c = job->c;
    dna_verdict_t v;
    if (dna_prooftype_decide(&v, &job->policy, &job->ev) != RC_OK) {
        LOGC(CORE_LOG_ERROR, c, "domain %s: invalid prooftype policy", job->domain);
    }
    count(c->w, &v);
    log_verdict(c, job, &v);
    store_verdict(c, job->domain, &v, job->ttl_ms);
    return v;
}

// finish_one ends |job| whose lookups completed after rt_proof_start returned: decides and
// hands the verdict to the use's handler, then lets a waiting check of the connection begin.
// A reload while the lookups ran made the job's policy stale: the check starts again under the
// new one, and nothing decided under the old one is recorded.
static void finish_one(rt_proof_job_t *job) {
    rt_conn_t *c = job->c;
    char domain[DNA_DOMAIN_MAX], aux[DNA_DOMAIN_MAX], key[DNA_DBKEY_HEX_LEN + 1];
    rt_proof_use_t use = job->use;
    snprintf(domain, sizeof(domain), "%s", job->domain);
    snprintf(aux, sizeof(aux), "%s", job->aux);
    snprintf(key, sizeof(key), "%s", job->key);
    bool stale = c->w->reload_seen != job->epoch;
    dna_verdict_t v;
    if (!stale) {
        v = decide(job);
    }
    job_unlink(job);
    free(job);
    if (stale) {
        LOGC(CORE_LOG_INFO, c, "domain %s: configuration reloaded during the check: checking again",
             domain);
        if (rt_proof_start(c, use, domain, aux, key, &v)) {
            dispatch(c, use, domain, aux, key, &v);
        }
    } else {
        dispatch(c, use, domain, aux, key, &v);
    }
}

static void finish_async(rt_proof_job_t *job) {
    rt_conn_t *c = job->c;
    finish_one(job);
    start_deferred(c);
}

static void posh_done(void *ctx, const rt_posh_result_t *res);

static rt_posh_t *worker_posh(rt_worker_t *w);

// start_posh fetches D's POSH document when it may still matter (nothing earlier in the policy
// decided). Returns true when the fetch runs (posh_done continues), false when the evidence is
// complete without it.
static bool start_posh(rt_proof_job_t *job) {
    rt_conn_t *c = job->c;
    bool need_posh = policy_has(&job->policy, DNA_PROOF_POSH) && c->tls_on &&
                     c->tls.peer_leaf != NULL;
    if (need_posh) {
        dna_verdict_t v;
        if (dna_prooftype_decide(&v, &job->policy, &job->ev) != RC_OK ||
            v.kind == DNA_VERDICT_PROVEN ||
            (v.kind == DNA_VERDICT_REFUSED && v.prooftype == DNA_PROOF_DANE) ||
            v.kind == DNA_VERDICT_TEMPFAIL) {
            need_posh = false; // decided without POSH
        }
    }
    if (!need_posh) {
        return false;
    }
    rt_posh_t *posh = worker_posh(c->w);
    rc_t rc = posh != NULL ? rt_posh_fetch(posh, job->domain, posh_done, job) : RC_EINVAL;
    if (rc == RC_OK) {
        job->posh_pending = true;
        job->posh = posh;
        return true;
    }
    if (posh == NULL) {
        job->posh_why = "the POSH fetcher is not available (no s2s.ca_file)";
    } else if (rc == RC_ENOBUFS) {
        job->posh_why = "the POSH fetcher is busy";
        if (!job->policy.allow_dialback_without_proof) {
            job->ev.posh = DNA_EV_TEMPFAIL; // a proof is required: try again later, not a refusal
        }
    } else {
        job->posh_why = "no POSH document for this name (an IP address or an invalid name)";
    }
    return false;
}

static void dane_evidence(rt_proof_job_t *job) {
    if (job->tlsa_bogus) {
        job->ev.dane_dnssec = DNA_DNSSEC_BOGUS;
    } else if (job->tlsa_temp) {
        job->ev.dane_dnssec = DNA_DNSSEC_TEMPFAIL;
    } else if (job->tlsa_secure) {
        job->ev.dane_dnssec = DNA_DNSSEC_SECURE;
        job->ev.dane = job->tlsa_match      ? DNA_TLSA_MATCH
                       : job->tlsa_mismatch ? DNA_TLSA_MISMATCH
                                            : DNA_TLSA_NONE_USABLE;
    } else if (job->tlsa_insecure) {
        job->ev.dane_dnssec = DNA_DNSSEC_INSECURE;
    }
}

static void tlsa_done(void *ctx, const rt_dns_tlsa_t *res) {
    rt_proof_job_t *job = ctx;
    rt_conn_t *c = job->c;
    job->tlsa_pending--;
    switch (res->dnssec) {
    case DNA_DNSSEC_SECURE: {
        job->tlsa_secure = true;
        ttl_min(job, (uint64_t)res->ttl * 1000u);
        if (res->set == NULL || res->set->num_recs == 0) {
            break; // no usable record: as without DANE (RFC 7673 §4.1)
        }
        STACK_OF(X509) *chain = c->tls_on && c->tls.ssl != NULL
                                    ? SSL_get_peer_full_cert_chain(c->tls.ssl)
                                    : NULL;
        if (chain == NULL || sk_X509_num(chain) == 0) {
            job->tlsa_mismatch = true; // usable records and no certificate: must fail
            job->dane_why = "usable TLSA records and the peer presented no certificate";
            break;
        }
        const char *refs[PROOF_MAX_TARGETS + 1];
        size_t nrefs = 0;
        refs[nrefs++] = job->domain;
        for (size_t i = 0; i < job->num_ref_hosts; i++) {
            refs[nrefs++] = job->ref_hosts[i];
        }
        dna_tlsa_match_opts_t opts = {.ref_ids = refs,
                                      .num_ref_ids = nrefs,
                                      .cn_fallback = c->w->conf->cn_fallback,
                                      .allow_pkix_usages = c->w->conf->dane_pkix_usages,
                                      .pkix_chain_ok = c->tls.peer_chain_ok,
                                      .now = time(NULL)};
        dna_tlsa_match_t m;
        if (dna_tlsa_match(&m, res->set, chain, &opts) != RC_OK) {
            m.result = DNA_TLSA_MISMATCH;
            m.why = "TLSA matching failed";
        }
        if (m.result == DNA_TLSA_MATCH) {
            job->tlsa_match = true;
            job->dane_why = m.why;
        } else if (m.result == DNA_TLSA_MISMATCH) {
            job->tlsa_mismatch = true;
            if (!job->tlsa_match) {
                job->dane_why = m.why;
            }
        }
        break;
    }
    case DNA_DNSSEC_INSECURE:
        job->tlsa_insecure = true;
        break;
    case DNA_DNSSEC_BOGUS:
        job->tlsa_bogus = true;
        job->dane_why = "the TLSA answer failed DNSSEC validation (bogus)";
        break;
    default:
        job->tlsa_temp = true;
        job->dane_why = "the TLSA lookup failed";
        break;
    }
    if (job->tlsa_pending == 0 && !job->dns_pending) {
        dane_evidence(job);
        if (!start_posh(job)) {
            finish_async(job);
        }
    }
}

static uint16_t sa_port(const struct sockaddr_storage *sa) {
    if (sa->ss_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)sa)->sin_port);
    }
    if (sa->ss_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    }
    return 0;
}

// start_tlsa queries the TLSA set of (host, port) unless it was asked already for this job.
static void start_tlsa(rt_proof_job_t *job, const char *host, uint16_t port) {
    for (size_t i = 0; i < job->num_ref_hosts; i++) {
        if (strcmp(job->ref_hosts[i], host) == 0) {
            return; // one port per target host is enough (SRV targets share their port)
        }
    }
    if (job->num_ref_hosts == PROOF_MAX_TARGETS) {
        return;
    }
    snprintf(job->ref_hosts[job->num_ref_hosts++], DNA_DOMAIN_MAX, "%s", host);
    if (rt_dns_resolve_tlsa(job->c->w->dns, host, port, tlsa_done, job) == RC_OK) {
        job->tlsa_pending++;
    } else {
        job->tlsa_temp = true;
        job->dane_why = "the TLSA lookup could not start";
    }
}

// same_addr: |a| and |b| are the same IP address and port.
static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
    if (a->ss_family != b->ss_family) {
        return false;
    }
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
        const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    return false;
}

static void srv_done(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num) {
    rt_proof_job_t *job = ctx;
    rt_conn_t *c = job->c;
    job->dns_pending = false;
    if (rc == RC_OK) {
        // On an outbound stream the TLSA records that count are those of the SRV target it is
        // connected to (RFC 7673 §3): the domain's targets at the stream's address. A peer
        // address is shared by every domain it serves, so its own host name says nothing.
        bool outbound = is_outbound(c) && c->peer != NULL;
        bool any_at_peer = false;
        for (size_t i = 0; outbound && i < num; i++) {
            any_at_peer |= addrs[i].from_srv && same_addr(&addrs[i].sa, &c->peer->addr.sa);
        }
        for (size_t i = 0; i < num; i++) {
            if (!addrs[i].from_srv) {
                continue; // no SRV (A/AAAA fallback, static route): DANE does not apply
            }
            if (any_at_peer && !same_addr(&addrs[i].sa, &c->peer->addr.sa)) {
                continue;
            }
            if (addrs[i].srv_secure) {
                start_tlsa(job, addrs[i].host, sa_port(&addrs[i].sa));
            } else {
                job->tlsa_insecure = true;
            }
        }
    } else if (rc == RC_DNS_BOGUS) {
        job->tlsa_bogus = true;
        job->dane_why = "the SRV answer failed DNSSEC validation (bogus)";
    } else if (rc != RC_DNS_NOT_FOUND) {
        job->tlsa_temp = true;
        job->dane_why = "the SRV lookup failed";
    }
    if (job->tlsa_pending == 0) {
        dane_evidence(job);
        if (!start_posh(job)) {
            finish_async(job);
        }
    }
}

static void posh_done(void *ctx, const rt_posh_result_t *res) {
    rt_proof_job_t *job = ctx;
    rt_conn_t *c = job->c;
    job->posh_pending = false;
    job->posh_why = res->why;
    if (res->status == RT_POSH_FOUND && res->doc != NULL && c->tls.peer_leaf != NULL) {
        dna_posh_result_t r = DNA_POSH_MISMATCH;
        const char *why = NULL;
        if (dna_posh_match(&r, &why, res->doc, c->tls.peer_leaf, time(NULL)) != RC_OK) {
            r = DNA_POSH_MISMATCH;
        }
        job->ev.posh = dna_posh_ev(r);
        job->posh_why = why;
        ttl_min(job, res->ttl_s * 1000u);
    } else if (res->status == RT_POSH_TEMPFAIL && !job->policy.allow_dialback_without_proof) {
        // The policy needs a proof: a server that cannot be reached now is a temporary failure
        // (try later), not a refusal.
        job->ev.posh = DNA_EV_TEMPFAIL;
    } else {
        // No document, or none could be fetched: no POSH material. Whether that is enough is the
        // policy's call (dialback_without_proof); a permissive policy must not let an
        // unreachable web server block dialback.
        job->ev.posh = DNA_EV_NONE;
    }
    finish_async(job);
}

// ---- POSH fetcher per worker -------------------------------------------------------------------
// The fetcher resolves HTTPS hosts through the worker's c-ares resolver (router/posh_dns.h).

static rt_posh_t *worker_posh(rt_worker_t *w) {
    if (w->posh == NULL && w->conf->ca_file != NULL) {
        if (w->posh_dns == NULL) {
            w->posh_dns = rt_posh_dns_new(w->dns, w->conf->posh_private_addresses);
        }
        rt_posh_conf_t pc = {.ca_file = w->conf->ca_file,
                             .port = w->conf->posh_port,
                             .timeout_ms = w->conf->dna_timeout_s * 1000u,
                             .resolver = rt_posh_dns_resolver(w->posh_dns)};
        w->posh = rt_posh_new(&pc, rt_worker_posh_watch, w);
    }
    return w->posh;
}

void rt_proof_worker_reloaded(rt_worker_t *w) {
    // The fetcher read s2s.ca_file, posh_port and dna_timeout when it was made, and caches
    // documents fetched under the old settings: the next check makes a new one.
    rt_posh_t *old = w->posh;
    w->posh = NULL;
    if (w->posh_dns != NULL) {
        rt_posh_dns_set_allow_private(w->posh_dns, w->conf->posh_private_addresses);
    }
    rt_posh_free(old); // fetches in flight call back (temporary failure): their checks restart
}

void rt_proof_worker_cleanup(rt_worker_t *w) {
    rt_posh_free(w->posh); // pending callbacks: their connections are gone already
    w->posh = NULL;
    rt_posh_dns_free(w->posh_dns);
    w->posh_dns = NULL;
}

// ---- entry points --------------------------------------------------------------------------------

// job_gather starts the lookups of |job| (linked into its connection's list). Returns true when
// the evidence is complete now, false when lookups run (their callbacks finish the job).
static bool job_gather(rt_proof_job_t *job) {
    rt_conn_t *c = job->c;
    rt_worker_t *w = c->w;
    // PKIX, from what the TLS handshake recorded.
    if (c->tls_on && c->tls.peer_leaf != NULL) {
        dna_pkix_opts_t opts = {.cn_fallback = w->conf->cn_fallback};
        if (!c->tls.peer_chain_ok) {
            job->ev.pkix = DNA_EV_MISMATCH;
            job->pkix_why = "the chain does not validate against s2s.ca_file";
        } else if (dna_pkix_match(c->tls.peer_leaf, job->domain, &opts) != RC_OK) {
            job->ev.pkix = DNA_EV_MISMATCH;
            job->pkix_why = "the certificate does not name the domain";
        } else {
            job->ev.pkix = DNA_EV_MATCH;
        }
    }
    // DANE: only with the configured validating resolver.
    if (policy_has(&job->policy, DNA_PROOF_DANE) && w->conf->resolver != NULL) {
        if (rt_dns_resolve_s2s(w->dns, job->domain, srv_done, job) == RC_OK) {
            job->dns_pending = true;
            return false;
        }
        job->tlsa_temp = true;
        job->dane_why = "the SRV lookup could not start";
    }
    dane_evidence(job);
    return !start_posh(job);
}

static size_t running(const rt_conn_t *c) {
    size_t n = 0;
    for (const rt_proof_job_t *j = c->proofs; j != NULL; j = j->next) {
        n += !j->deferred;
    }
    return n;
}

// start_deferred lets waiting checks of |c| begin while fewer than PROOF_MAX_RUNNING run.
// One loop, never recursion: a check that completes at once is finished here and the loop goes
// on (a nested call, from a handler, returns at once and leaves the work to this loop).
static void start_deferred(rt_conn_t *c) {
    if (c->proofs_starting) {
        return;
    }
    c->proofs_starting = true;
    while (!c->closing && running(c) < PROOF_MAX_RUNNING) {
        rt_proof_job_t *oldest = NULL;
        for (rt_proof_job_t *job = c->proofs; job != NULL; job = job->next) {
            if (job->deferred) {
                oldest = job; // the list is newest first: the last deferred one waited longest
            }
        }
        if (oldest == NULL) {
            break;
        }
        // It waited: the configuration may have been reloaded meanwhile.
        oldest->deferred = false;
        oldest->policy = *rt_conf_policy(c->w->conf, oldest->domain);
        oldest->epoch = c->w->reload_seen;
        if (job_gather(oldest)) {
            finish_one(oldest);
        }
    }
    c->proofs_starting = false;
}

bool rt_proof_start(rt_conn_t *c, rt_proof_use_t use, const char *domain, const char *aux,
                    const char *key, dna_verdict_t *out) {
    rt_worker_t *w = c->w;
    if (use == RT_PROOF_FEATURES && (!c->tls_on || c->tls.peer_leaf == NULL)) {
        // Only SASL EXTERNAL depends on this check, and without a certificate there is nothing to
        // offer it for: no lookups (a peer must not make us resolve names for free).
        *out = (dna_verdict_t){DNA_VERDICT_DIALBACK, DNA_PROOF_NONE, "no client certificate"};
        return true;
    }
    // The pool looked the verdict table up itself before asking about a new target (peer.c
    // prove_target, which reads the entries differently): one lookup, counted once.
    if (use != RT_PROOF_TARGET && lookup_verdict(c, domain, out)) {
        return true;
    }
    size_t waiting = 0;
    for (const rt_proof_job_t *j = c->proofs; j != NULL; j = j->next) {
        waiting += j->deferred;
    }
    if (waiting >= PROOF_MAX_WAITING) {
        *out = (dna_verdict_t){DNA_VERDICT_TEMPFAIL, DNA_PROOF_NONE,
                               "too many domain checks waiting on this connection"};
        return true;
    }
    rt_proof_job_t *job = core_xcalloc(1, sizeof(*job));
    job->c = c;
    job->use = use;
    snprintf(job->domain, sizeof(job->domain), "%s", domain);
    snprintf(job->aux, sizeof(job->aux), "%s", aux != NULL ? aux : "");
    snprintf(job->key, sizeof(job->key), "%s", key != NULL ? key : "");
    job->policy = *rt_conf_policy(w->conf, domain);
    job->epoch = w->reload_seen; // w->conf and reload_seen change together (main.c reload pause)
    job->ttl_ms = PROOF_TTL_CAP_MS;
    bool busy = running(c) >= PROOF_MAX_RUNNING;
    job->next = c->proofs; // linked first: lookups may outlive this call
    c->proofs = job;
    if (busy) {
        // A peer naming many domains at once waits for its earlier checks: each connection's
        // share of the worker's DNS and POSH capacity stays bounded.
        job->deferred = true;
        return false;
    }
    if (!job_gather(job)) {
        return false;
    }
    *out = decide(job);
    job_unlink(job);
    free(job);
    return true;
}

bool rt_proof_known_proven(rt_conn_t *c, const char *domain) {
    dna_verdict_t v;
    return lookup_verdict(c, domain, &v) && v.kind == DNA_VERDICT_PROVEN;
}

bool rt_proof_pending(const rt_conn_t *c, rt_proof_use_t use, const char *domain) {
    for (const rt_proof_job_t *j = c->proofs; j != NULL; j = j->next) {
        if (j->use == use && strcmp(j->domain, domain) == 0) {
            return true;
        }
    }
    return false;
}

void rt_proof_cancel_all(rt_conn_t *c) {
    while (c->proofs != NULL) {
        rt_proof_job_t *job = c->proofs;
        c->proofs = job->next;
        if (job->dns_pending || job->tlsa_pending > 0) {
            rt_dns_cancel(c->w->dns, job);
        }
        if (job->posh_pending && job->posh != NULL) {
            rt_posh_cancel(job->posh, job);
        }
        free(job);
    }
}
