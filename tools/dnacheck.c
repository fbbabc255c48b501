// dnacheck: why does (or doesn't) fedrouter accept a peer as the server of DOMAIN?
//
//   dnacheck [options] DOMAIN
//
// Gathers the evidence fedrouter gathers on a live stream (router/proof.c) and shows it:
//   1. SRV _xmpps-server._tcp.D (XEP-0368) and _xmpp-server._tcp.D, queried with AD=1/DO=1 at the
//      resolver (dna_dnsmsg_query + ares_send, parsed by dna_dnsmsg_parse/srv: the raw records
//      with priorities and weights and the AD bit), then rt_dns_resolve_s2s: the addresses in the
//      router's order with their srv_secure flag (or the A/AAAA fallback);
//   2. TLSA at _port._tcp.target for each DNSSEC-secure SRV target (at most 4, as the router),
//      through rt_dns_resolve_tlsa (the evidence) and a raw query (the records, unusable and
//      malformed ones included, for display);
//   3. the POSH document (rt_posh_fetch, RFC 7711), through a small adapter onto rt_dns;
//   4. the certificate chain the peer presents: TCP to the first reachable address (or
//      --connect), an XMPP stream header and STARTTLS (or direct TLS for an xmpps target), chain
//      validated against the trust store exactly as router/tls.c does;
//   5. per prooftype whether it proves D, and the policy's verdict (dna_prooftype_decide) with the
//      router's rules: DANE only with a configured validating resolver (s2s.resolver), reference
//      identities D plus the secure SRV targets, POSH consulted only when nothing decided before.
// One difference from the router, on purpose: an SRV answer that fails DNSSEC validation (SERVFAIL
// from the validating resolver) is reported as DANE "bogus" (refused). The router cannot resolve
// such a domain at all (no outbound stream; inbound: temporary failure, "the SRV lookup failed").
//
// Exit status: 0 PROVEN, 1 not proven (dialback, refused, temporary failure), 2 usage errors.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ares.h>
#include <jansson.h>
#include <openssl/base64.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dna/dnsmsg.h"
#include "dna/domain.h"
#include "dna/pkix.h"
#include "dna/posh.h"
#include "dna/prooftype.h"
#include "dna/tlsa.h"
#include "router/conf.h"
#include "router/core/bytes.h"
#include "router/core/log.h"
#include "router/core/mem.h"
#include "router/dns.h"
#include "router/posh_dns.h"
#include "router/posh_fetch.h"
#include "router/xml_stream.h"

#define DC_EXIT_PROVEN 0
#define DC_EXIT_NOT_PROVEN 1
#define DC_EXIT_USAGE 2

#define DC_MAX_SRV_RRS 32
#define DC_MAX_TARGETS 4 // TLSA sets consulted per domain, as router/proof.c
#define DC_MAX_ADDRS 16
#define DC_MAX_CERTS 10
#define DC_MAX_TLSA_RRS 32
#define DC_MAX_WATCH 64
#define DC_READ_MAX (64u * 1024u) // bytes read from the peer before TLS
#define DC_TEXT 512

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_STREAMS "http://etherx.jabber.org/streams"

// ---- collected results --------------------------------------------------------------------------

typedef struct dc_srv_rr {
    uint16_t priority;
    uint16_t weight;
    uint16_t port;
    char target[DNA_DNSMSG_NAME_TEXT_MAX];
} dc_srv_rr_t;

typedef struct dc_srv {
    char name[DNA_DNSMSG_NAME_TEXT_MAX + 32];
    bool direct_tls;
    // "records", "nxdomain", "nodata", "bogus", "error"
    const char *status;
    bool ad;
    char why[128];
    dc_srv_rr_t rrs[DC_MAX_SRV_RRS];
    size_t num_rrs;
} dc_srv_t;

typedef struct dc_addr {
    char host[256];
    char ip[INET6_ADDRSTRLEN];
    uint16_t port;
    bool direct_tls;
    bool from_srv;
    bool srv_secure;
    struct sockaddr_storage sa;
    socklen_t sa_len;
} dc_addr_t;

typedef struct dc_tlsa_rr {
    uint8_t usage;
    uint8_t selector;
    uint8_t mtype;
    const char *state; // "usable", "unusable", "malformed"
    char *hex;         // association data, owned
} dc_tlsa_rr_t;

typedef struct dc_target {
    struct dc *dc;
    char host[DNA_DOMAIN_MAX];
    uint16_t port;
    char owner[DNA_TLSA_OWNER_MAX];
    bool done;
    dna_dnssec_t dnssec;
    uint32_t ttl;
    size_t num_usable, num_unusable, num_malformed, num_dropped;
    bool matched; // dna_tlsa_match ran
    dna_tlsa_result_t result;
    const char *why;
    dc_tlsa_rr_t rrs[DC_MAX_TLSA_RRS];
    size_t num_rrs;
} dc_target_t;

typedef struct dc_cert {
    char subject[DC_TEXT];
    char issuer[DC_TEXT];
    char names[1024];
    char not_before[64];
    char not_after[64];
    char sha256[65];
    char spki_sha256[65];
} dc_cert_t;

typedef struct dc_watch {
    int fd;
    bool r, w;
    int owner; // 0 rt_dns, 1 rt_posh
} dc_watch_t;

typedef struct dc {
    // Options.
    const char *domain_in;
    char domain[DNA_DOMAIN_MAX];
    const char *resolver; // NULL: system resolver (no DANE)
    const char *ca_file;
    const char *config;
    const char *connect;
    bool connect_direct_tls;
    uint16_t posh_port;
    uint32_t timeout_s;
    bool json;
    // From the configuration (or the defaults).
    rt_conf_t *conf;
    dna_policy_t policy_default;
    const dna_policy_t *policy;
    bool cn_fallback;
    bool dane_pkix_usages;
    // Loop.
    rt_dns_t *dns;
    rt_posh_t *posh;
    dc_watch_t watch[DC_MAX_WATCH];
    size_t num_watch;
    rt_posh_dns_t *posh_dns; // the fetcher's resolver on |dns| (router/posh_dns.h)
    // 1. DNS.
    dc_srv_t srv[2]; // [0] _xmpps-server (direct TLS), [1] _xmpp-server
    bool s2s_done;
    rc_t s2s_rc;
    dc_addr_t addrs[DC_MAX_ADDRS];
    size_t num_addrs;
    bool fallback; // A/AAAA fallback (no SRV)
    // 2. DANE.
    bool dane_resolver; // a validating resolver is configured
    bool dane_enabled;  // ... and the policy enables DANE
    const char *dane_na; // why TLSA was not looked up at all (NULL: it was)
    dc_target_t targets[DC_MAX_TARGETS];
    size_t num_targets;
    size_t tlsa_pending;
    bool tlsa_all_done;
    bool srv_insecure; // some SRV target came from an insecure answer
    bool tlsa_secure, tlsa_insecure, tlsa_bogus, tlsa_temp, tlsa_match, tlsa_mismatch;
    const char *dane_why;
    // 3. POSH.
    bool posh_done;
    const char *posh_status; // "found", "none", "invalid", "unreachable", "not checked"
    char posh_why[DC_TEXT];
    char posh_source[RT_POSH_SOURCE_URL_MAX + 1];
    char posh_url[DNA_DOMAIN_MAX + 64];
    uint64_t posh_ttl;
    dna_posh_doc_t *posh_doc; // FOUND: owned copy
    bool posh_matched;
    dna_posh_result_t posh_result;
    const char *posh_match_why;
    // 4. Connection and certificate.
    bool connected;
    char conn_host[256];
    char conn_ip[INET6_ADDRSTRLEN];
    uint16_t conn_port;
    bool conn_direct_tls;
    char conn_error[1024];
    char tls_version[32];
    char tls_cipher[64];
    STACK_OF(X509) *chain; // owned
    dc_cert_t certs[DC_MAX_CERTS];
    size_t num_certs;
    bool chain_ok;
    char chain_err[DC_TEXT];
    // 5. Evidence and verdict.
    dna_evidence_t ev;
    const char *pkix_why;
    char pkix_why_buf[1536];
    bool posh_consulted;
    const char *posh_skip_why;
    dna_verdict_t verdict;
} dc_t;

// ---- small helpers ------------------------------------------------------------------------------

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool policy_has(const dna_policy_t *p, dna_prooftype_t pt) {
    for (size_t i = 0; i < p->num_order; i++) {
        if (p->order[i] == pt) {
            return true;
        }
    }
    return false;
}

static void hex_encode(char *out, const uint8_t *in, size_t len) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

// copy_printable copies |len| bytes of peer text into |out| (capacity |cap| > 0), writing bytes
// outside printable ASCII as '?'.
static void copy_printable(char *out, size_t cap, const uint8_t *in, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap; i++) {
        out[n++] = in[i] >= 0x20 && in[i] < 0x7f ? (char)in[i] : '?';
    }
    out[n] = '\0';
}

static void bio_text(BIO *b, char *out, size_t cap) {
    const uint8_t *p = NULL;
    size_t n = 0;
    if (b == NULL || !BIO_mem_contents(b, &p, &n)) {
        snprintf(out, cap, "?");
        return;
    }
    copy_printable(out, cap, p, n);
}

static const char *dnssec_name(dna_dnssec_t s) {
    switch (s) {
    case DNA_DNSSEC_INSECURE:
        return "insecure";
    case DNA_DNSSEC_SECURE:
        return "secure";
    case DNA_DNSSEC_BOGUS:
        return "bogus";
    case DNA_DNSSEC_TEMPFAIL:
        return "tempfail";
    default:
        return "unknown";
    }
}

static const char *ev_name(dna_ev_t e) {
    switch (e) {
    case DNA_EV_MATCH:
        return "match";
    case DNA_EV_MISMATCH:
        return "mismatch";
    case DNA_EV_TEMPFAIL:
        return "tempfail";
    default:
        return "none";
    }
}

static const char *tlsa_result_name(dna_tlsa_result_t r) {
    return r == DNA_TLSA_MATCH ? "match" : r == DNA_TLSA_MISMATCH ? "mismatch" : "none_usable";
}

static const char *verdict_name(dna_verdict_kind_t k) {
    switch (k) {
    case DNA_VERDICT_PROVEN:
        return "proven";
    case DNA_VERDICT_DIALBACK:
        return "dialback";
    case DNA_VERDICT_REFUSED:
        return "refused";
    default:
        return "tempfail";
    }
}

static void sa_text(const struct sockaddr_storage *sa, char *ip, size_t ip_cap, uint16_t *port) {
    ip[0] = '\0';
    *port = 0;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)ip_cap);
        *port = ntohs(s4->sin_port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)ip_cap);
        *port = ntohs(s6->sin6_port);
    }
}

// ---- the poll loop (rt_dns and rt_posh watch callbacks) -----------------------------------------

static void watch_set(dc_t *dc, int owner, int fd, bool r, bool w) {
    for (size_t i = 0; i < dc->num_watch; i++) {
        if (dc->watch[i].fd == fd && dc->watch[i].owner == owner) {
            if (!r && !w) {
                dc->watch[i] = dc->watch[--dc->num_watch];
            } else {
                dc->watch[i].r = r;
                dc->watch[i].w = w;
            }
            return;
        }
    }
    if ((r || w) && dc->num_watch < DC_MAX_WATCH) {
        dc->watch[dc->num_watch++] = (dc_watch_t){.fd = fd, .r = r, .w = w, .owner = owner};
    }
}

static void dns_watch(void *ctx, int fd, bool r, bool w) {
    watch_set(ctx, 0, fd, r, w);
}

static void posh_watch(void *ctx, int fd, bool r, bool w) {
    watch_set(ctx, 1, fd, r, w);
}

static bool watched(const dc_t *dc, int owner, int fd) {
    for (size_t i = 0; i < dc->num_watch; i++) {
        if (dc->watch[i].fd == fd && dc->watch[i].owner == owner) {
            return true;
        }
    }
    return false;
}

// run_until drives rt_dns and rt_posh until |*done| or |deadline_ms| (monotonic) passes.
static void run_until(dc_t *dc, const bool *done, uint64_t deadline_ms) {
    while (!*done) {
        uint64_t now = mono_ms();
        if (now >= deadline_ms) {
            return;
        }
        uint32_t wait = rt_dns_next_timeout_ms(dc->dns, 100);
        if (dc->posh != NULL) {
            wait = rt_posh_next_timeout_ms(dc->posh, wait);
        }
        if (deadline_ms - now < wait) {
            wait = (uint32_t)(deadline_ms - now);
        }
        struct pollfd pfd[DC_MAX_WATCH];
        int owner[DC_MAX_WATCH];
        size_t n = dc->num_watch;
        for (size_t i = 0; i < n; i++) {
            pfd[i] = (struct pollfd){.fd = dc->watch[i].fd,
                                     .events = (short)((dc->watch[i].r ? POLLIN : 0) |
                                                       (dc->watch[i].w ? POLLOUT : 0))};
            owner[i] = dc->watch[i].owner;
        }
        int pr = poll(pfd, (nfds_t)n, (int)wait);
        for (size_t i = 0; pr > 0 && i < n; i++) {
            if (pfd[i].revents == 0 || !watched(dc, owner[i], pfd[i].fd)) {
                continue;
            }
            bool rd = (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
            bool wr = (pfd[i].revents & (POLLOUT | POLLERR)) != 0;
            if (owner[i] == 0) {
                rt_dns_process(dc->dns, pfd[i].fd, rd, wr);
            } else if (dc->posh != NULL) {
                rt_posh_process(dc->posh, pfd[i].fd, rd, wr);
            }
        }
        rt_dns_tick(dc->dns);
        if (dc->posh != NULL) {
            rt_posh_tick(dc->posh, mono_ms());
        }
    }
}

// ---- 1. raw SRV and TLSA records (own c-ares channel, blocking) ---------------------------------

typedef struct raw_answer {
    bool done;
    int status;
    uint8_t *buf; // owned copy of the answer
    size_t len;
} raw_answer_t;

static void raw_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
    raw_answer_t *a = arg;
    (void)timeouts;
    a->done = true;
    a->status = status;
    if (abuf != NULL && alen > 0) {
        a->buf = malloc((size_t)alen);
        if (a->buf != NULL) {
            core_memcpy(a->buf, abuf, (size_t)alen);
            a->len = (size_t)alen;
        }
    }
}

// raw_query sends |qname| |qtype| (AD=1, DO=1) to the resolver and waits for the answer. Returns
// RC_OK with |*out_msg| parsed (borrowing |out_ans->buf|, which the caller frees), or an error
// with a reason in |why|.
static rc_t raw_query(dc_t *dc, const char *qname, uint16_t qtype, raw_answer_t *out_ans,
                      dna_dnsmsg_t *out_msg, char *why, size_t why_cap) {
    ares_channel ch = NULL;
    core_bld_t b;
    rc_t rc = RC_DNS_FAIL;
    core_bld_init(&b, 1024);
    struct ares_options opts;
    core_memset(&opts, 0, sizeof(opts));
    opts.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_EDNS;
    opts.ednspsz = DNA_DNSMSG_UDP_SIZE;
    opts.timeout = (int)(dc->timeout_s * 1000u / 2u);
    opts.tries = 2;
    if (ares_init_options(&ch, &opts,
                          ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ | ARES_OPT_TIMEOUTMS |
                              ARES_OPT_TRIES) != ARES_SUCCESS) {
        snprintf(why, why_cap, "c-ares initialisation failed");
        ch = NULL;
        goto out;
    }
    if (dc->resolver != NULL && ares_set_servers_ports_csv(ch, dc->resolver) != ARES_SUCCESS) {
        snprintf(why, why_cap, "bad resolver address");
        goto out;
    }
    uint16_t id = (uint16_t)(mono_ms() ^ (uint64_t)getpid());
    if (dna_dnsmsg_query(&b, id, qname, qtype) != RC_OK || core_bld_finish(&b) != RC_OK) {
        snprintf(why, why_cap, "name not valid in a query");
        rc = RC_DNA_BAD_NAME;
        goto out;
    }
    ares_send(ch, b.data, (int)b.len, raw_cb, out_ans);
    while (!out_ans->done) {
        fd_set rfds, wfds;
        FD_ZERO(&rfds);
        FD_ZERO(&wfds);
        int nfds = ares_fds(ch, &rfds, &wfds);
        if (nfds == 0) {
            break;
        }
        struct timeval tv, *tvp;
        tvp = ares_timeout(ch, NULL, &tv);
        if (select(nfds, &rfds, &wfds, NULL, tvp) < 0 && errno != EINTR) {
            break;
        }
        ares_process(ch, &rfds, &wfds);
    }
    if (!out_ans->done || out_ans->status != ARES_SUCCESS || out_ans->len < 2) {
        snprintf(why, why_cap, "%s",
                 out_ans->done ? ares_strerror(out_ans->status) : "no answer");
        goto out;
    }
    uint16_t got_id = (uint16_t)((out_ans->buf[0] << 8) | out_ans->buf[1]);
    if (dna_dnsmsg_parse(out_msg, out_ans->buf, out_ans->len, got_id, qname, qtype) != RC_OK) {
        snprintf(why, why_cap, "malformed answer");
        rc = RC_PROTO;
        goto out;
    }
    if (out_msg->tc) {
        snprintf(why, why_cap, "truncated answer");
        goto out;
    }
    rc = RC_OK;
out:
    if (ch != NULL) {
        ares_destroy(ch); // runs raw_cb with ARES_EDESTRUCTION when still pending
    }
    core_bld_cleanup(&b);
    return rc;
}

static void query_srv(dc_t *dc, size_t idx) {
    dc_srv_t *s = &dc->srv[idx];
    raw_answer_t ans;
    dna_dnsmsg_t msg;
    core_memset(&ans, 0, sizeof(ans));
    s->direct_tls = idx == 0;
    snprintf(s->name, sizeof(s->name), "%s._tcp.%s", idx == 0 ? "_xmpps-server" : "_xmpp-server",
             dc->domain);
    if (raw_query(dc, s->name, DNA_DNS_TYPE_SRV, &ans, &msg, s->why, sizeof(s->why)) != RC_OK) {
        s->status = "error";
        goto out;
    }
    s->ad = msg.ad;
    if (msg.rcode == DNA_DNS_RCODE_SERVFAIL) {
        s->status = "bogus";
        snprintf(s->why, sizeof(s->why), "SERVFAIL from the resolver%s",
                 dc->resolver != NULL ? " (DNSSEC validation failed, or indeterminate)" : "");
        goto out;
    }
    if (msg.rcode == DNA_DNS_RCODE_NXDOMAIN) {
        s->status = "nxdomain";
        goto out;
    }
    if (msg.rcode != DNA_DNS_RCODE_NOERROR) {
        s->status = "error";
        snprintf(s->why, sizeof(s->why), "rcode %u", (unsigned)msg.rcode);
        goto out;
    }
    s->status = msg.num_answers == 0 ? "nodata" : "records";
    for (size_t i = 0; i < msg.num_answers && s->num_rrs < DC_MAX_SRV_RRS; i++) {
        dna_dnsmsg_srv_t srv;
        if (dna_dnsmsg_srv(&srv, &msg, &msg.answers[i]) != RC_OK) {
            continue;
        }
        dc_srv_rr_t *r = &s->rrs[s->num_rrs++];
        r->priority = srv.priority;
        r->weight = srv.weight;
        r->port = srv.port;
        snprintf(r->target, sizeof(r->target), "%s", srv.target);
    }
out:
    free(ans.buf);
}

// query_tlsa_records lists the TLSA RRset of |t| for display (all records, usable or not).
static void query_tlsa_records(dc_t *dc, dc_target_t *t) {
    raw_answer_t ans;
    dna_dnsmsg_t msg;
    char why[128];
    core_memset(&ans, 0, sizeof(ans));
    if (raw_query(dc, t->owner, DNA_DNS_TYPE_TLSA, &ans, &msg, why, sizeof(why)) != RC_OK ||
        msg.rcode != DNA_DNS_RCODE_NOERROR) {
        goto out;
    }
    for (size_t i = 0; i < msg.num_answers && t->num_rrs < DC_MAX_TLSA_RRS; i++) {
        const dna_dnsmsg_rr_t *rr = &msg.answers[i];
        dc_tlsa_rr_t *o = &t->rrs[t->num_rrs++];
        dna_tlsa_rr_t p;
        if (rr->rdata_len < 3) {
            o->state = "malformed";
            o->hex = strdup("");
            continue;
        }
        o->usage = rr->rdata[0];
        o->selector = rr->rdata[1];
        o->mtype = rr->rdata[2];
        if (dna_tlsa_parse(&p, rr->rdata, rr->rdata_len) != RC_OK) {
            o->state = "malformed";
        } else if (!p.usable) {
            o->state = "unusable";
        } else if ((p.usage == DNA_TLSA_USAGE_PKIX_TA || p.usage == DNA_TLSA_USAGE_PKIX_EE) &&
                   !dc->dane_pkix_usages) {
            o->state = "unusable (PKIX usages are off: s2s.dane_pkix_usages)";
        } else {
            o->state = "usable";
        }
        size_t n = rr->rdata_len - 3;
        o->hex = malloc(2 * n + 1);
        if (o->hex != NULL) {
            hex_encode(o->hex, rr->rdata + 3, n);
        }
    }
out:
    free(ans.buf);
}

// ---- 1b. rt_dns: addresses in the router's order ------------------------------------------------

static void s2s_done(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num) {
    dc_t *dc = ctx;
    dc->s2s_done = true;
    dc->s2s_rc = rc;
    for (size_t i = 0; rc == RC_OK && i < num && dc->num_addrs < DC_MAX_ADDRS; i++) {
        dc_addr_t *a = &dc->addrs[dc->num_addrs++];
        snprintf(a->host, sizeof(a->host), "%s", addrs[i].host);
        sa_text(&addrs[i].sa, a->ip, sizeof(a->ip), &a->port);
        a->direct_tls = addrs[i].direct_tls;
        a->from_srv = addrs[i].from_srv;
        a->srv_secure = addrs[i].srv_secure;
        a->sa = addrs[i].sa;
        a->sa_len = addrs[i].sa_len;
        if (!a->from_srv) {
            dc->fallback = true;
        }
    }
}

// ---- 2. TLSA through rt_dns (the evidence, as router/proof.c tlsa_done) -------------------------


static void tlsa_done(void *ctx, const rt_dns_tlsa_t *res) {
    dc_target_t *t = ctx;
    dc_t *dc = t->dc;
    dc->tlsa_pending--;
    dc->tlsa_all_done = dc->tlsa_pending == 0;
    t->done = true;
    t->dnssec = res->dnssec;
    t->ttl = res->ttl;
    snprintf(t->owner, sizeof(t->owner), "%s", res->owner);
    switch (res->dnssec) {
    case DNA_DNSSEC_SECURE: {
        dc->tlsa_secure = true;
        if (res->set == NULL) {
            break;
        }
        t->num_usable = res->set->num_recs;
        t->num_unusable = res->set->num_unusable;
        t->num_malformed = res->set->num_malformed;
        t->num_dropped = res->set->num_dropped;
        if (res->set->num_recs == 0) {
            t->why = "no usable TLSA record: as without DANE (RFC 7673 §4.1)";
            break;
        }
        if (dc->chain == NULL || sk_X509_num(dc->chain) == 0) {
            dc->tlsa_mismatch = true;
            t->matched = true;
            t->result = DNA_TLSA_MISMATCH;
            t->why = "usable TLSA records and the peer presented no certificate";
            if (!dc->tlsa_match) {
                dc->dane_why = t->why;
            }
            break;
        }
        // Reference identities: the domain plus the secure SRV targets (router/proof.c).
        const char *refs[DC_MAX_TARGETS + 1];
        size_t nrefs = 0;
        refs[nrefs++] = dc->domain;
        for (size_t i = 0; i < dc->num_targets; i++) {
            refs[nrefs++] = dc->targets[i].host;
        }
        dna_tlsa_match_opts_t opts = {.ref_ids = refs,
                                      .num_ref_ids = nrefs,
                                      .cn_fallback = dc->cn_fallback,
                                      .allow_pkix_usages = dc->dane_pkix_usages,
                                      .pkix_chain_ok = dc->chain_ok,
                                      .now = time(NULL)};
        dna_tlsa_match_t m;
        if (dna_tlsa_match(&m, res->set, dc->chain, &opts) != RC_OK) {
            m.result = DNA_TLSA_MISMATCH;
            m.why = "TLSA matching failed";
        }
        t->matched = true;
        t->result = m.result;
        t->why = m.why;
        if (m.result == DNA_TLSA_MATCH) {
            dc->tlsa_match = true;
            dc->dane_why = m.why;
        } else if (m.result == DNA_TLSA_MISMATCH) {
            dc->tlsa_mismatch = true;
            if (!dc->tlsa_match) {
                dc->dane_why = m.why;
            }
        }
        break;
    }
    case DNA_DNSSEC_INSECURE:
        dc->tlsa_insecure = true;
        t->why = "the TLSA answer is not DNSSEC-secure (no AD bit): records unusable";
        break;
    case DNA_DNSSEC_BOGUS:
        dc->tlsa_bogus = true;
        t->why = "the TLSA answer failed DNSSEC validation (bogus)";
        dc->dane_why = t->why;
        break;
    default:
        dc->tlsa_temp = true;
        t->why = "the TLSA lookup failed";
        dc->dane_why = t->why;
        break;
    }
}

// add_target records a DNSSEC-secure SRV target (one port per host, at most DC_MAX_TARGETS), as
// router/proof.c start_tlsa.
static void add_target(dc_t *dc, const char *host, uint16_t port) {
    for (size_t i = 0; i < dc->num_targets; i++) {
        if (strcmp(dc->targets[i].host, host) == 0) {
            return;
        }
    }
    if (dc->num_targets == DC_MAX_TARGETS) {
        return;
    }
    dc_target_t *t = &dc->targets[dc->num_targets++];
    t->dc = dc;
    snprintf(t->host, sizeof(t->host), "%s", host);
    t->port = port;
    if (dna_tlsa_owner_name(t->owner, sizeof(t->owner), port, host) != RC_OK) {
        snprintf(t->owner, sizeof(t->owner), "_%u._tcp.%s", (unsigned)port, host);
    }
}

static void phase_dane(dc_t *dc) {
    if (!dc->dane_resolver) {
        dc->dane_na = "no validating resolver configured (--resolver or s2s.resolver): DANE does "
                      "not apply";
        return;
    }
    if (!dc->s2s_done) {
        dc->tlsa_temp = true;
        dc->dane_why = "the SRV lookup timed out";
        dc->dane_na = dc->dane_why;
        return;
    }
    if (dc->s2s_rc == RC_OK) {
        for (size_t i = 0; i < dc->num_addrs; i++) {
            const dc_addr_t *a = &dc->addrs[i];
            if (!a->from_srv) {
                continue;
            }
            if (a->srv_secure) {
                add_target(dc, a->host, a->port);
            } else {
                dc->tlsa_insecure = true;
                dc->srv_insecure = true;
            }
        }
        if (dc->fallback) {
            dc->dane_na = "no SRV records (A/AAAA fallback): DANE does not apply (RFC 7673)";
        } else if (dc->num_targets == 0) {
            dc->dane_na = "the SRV answer is not DNSSEC-secure (no AD bit): TLSA is not looked up "
                          "(RFC 7673 §3.1)";
        }
    } else if (dc->s2s_rc != RC_DNS_NOT_FOUND) {
        dc->tlsa_temp = true;
        dc->dane_why = "the SRV lookup failed";
        dc->dane_na = dc->dane_why;
    } else {
        dc->dane_na = "no SRV records and no address: DANE does not apply";
    }
    // An SRV answer that failed validation: do not connect (RFC 7673 §3.1), refuse.
    for (size_t i = 0; i < 2; i++) {
        if (strcmp(dc->srv[i].status, "bogus") == 0) {
            dc->tlsa_bogus = true;
            dc->dane_why = "the SRV answer failed DNSSEC validation (bogus)";
            dc->dane_na = dc->dane_why;
        }
    }
    for (size_t i = 0; i < dc->num_targets; i++) {
        if (rt_dns_resolve_tlsa(dc->dns, dc->targets[i].host, dc->targets[i].port, tlsa_done,
                                &dc->targets[i]) == RC_OK) {
            dc->tlsa_pending++;
        } else {
            dc->tlsa_temp = true;
            dc->dane_why = "the TLSA lookup could not start";
        }
    }
    dc->tlsa_all_done = dc->tlsa_pending == 0;
    run_until(dc, &dc->tlsa_all_done, mono_ms() + (uint64_t)dc->timeout_s * 1000u);
    for (size_t i = 0; i < dc->num_targets; i++) {
        if (!dc->targets[i].done) {
            dc->tlsa_temp = true;
            dc->dane_why = "the TLSA lookup timed out";
        } else if (dc->targets[i].dnssec == DNA_DNSSEC_SECURE) {
            query_tlsa_records(dc, &dc->targets[i]);
        }
    }
    for (size_t i = 0; dc->tlsa_pending > 0 && i < dc->num_targets; i++) {
        rt_dns_cancel(dc->dns, &dc->targets[i]);
    }
}

// dane_evidence maps the flags to evidence exactly as router/proof.c dane_evidence.
static void dane_evidence(dc_t *dc) {
    if (!dc->dane_enabled) {
        return;
    }
    if (dc->tlsa_bogus) {
        dc->ev.dane_dnssec = DNA_DNSSEC_BOGUS;
    } else if (dc->tlsa_temp) {
        dc->ev.dane_dnssec = DNA_DNSSEC_TEMPFAIL;
    } else if (dc->tlsa_secure) {
        dc->ev.dane_dnssec = DNA_DNSSEC_SECURE;
        dc->ev.dane = dc->tlsa_match      ? DNA_TLSA_MATCH
                      : dc->tlsa_mismatch ? DNA_TLSA_MISMATCH
                                          : DNA_TLSA_NONE_USABLE;
    } else if (dc->tlsa_insecure) {
        dc->ev.dane_dnssec = DNA_DNSSEC_INSECURE;
    }
}

// ---- 3. POSH (rt_posh_fetch resolving through rt_dns, as router/proof.c) -------------------------

static void posh_cb(void *ctx, const rt_posh_result_t *res) {
    dc_t *dc = ctx;
    dc->posh_done = true;
    snprintf(dc->posh_why, sizeof(dc->posh_why), "%s", res->why != NULL ? res->why : "");
    snprintf(dc->posh_source, sizeof(dc->posh_source), "%s", res->source_url);
    dc->posh_ttl = res->ttl_s;
    switch (res->status) {
    case RT_POSH_FOUND:
        dc->posh_status = "found";
        if (res->doc != NULL) {
            dc->posh_doc = core_xmalloc(sizeof(*dc->posh_doc));
            *dc->posh_doc = *res->doc;
        }
        break;
    case RT_POSH_NONE:
        dc->posh_status = "none";
        break;
    case RT_POSH_INVALID:
        dc->posh_status = "invalid";
        break;
    default:
        dc->posh_status = "unreachable";
        break;
    }
}

static void phase_posh(dc_t *dc) {
    if (dc->posh_port == 443) {
        snprintf(dc->posh_url, sizeof(dc->posh_url),
                 "https://%s/.well-known/posh/xmpp-server.json", dc->domain);
    } else {
        snprintf(dc->posh_url, sizeof(dc->posh_url),
                 "https://%s:%u/.well-known/posh/xmpp-server.json", dc->domain,
                 (unsigned)dc->posh_port);
    }
    dc->posh_status = "not checked";
    if (dc->ca_file == NULL) {
        snprintf(dc->posh_why, sizeof(dc->posh_why),
                 "no trust store for HTTPS (--ca-file or s2s.ca_file): the router cannot fetch "
                 "POSH documents either");
        return;
    }
    // The operator asks: any address of the POSH host may be tried (the router skips
    // non-global ones unless s2s.posh_private_addresses).
    dc->posh_dns = rt_posh_dns_new(dc->dns, true);
    rt_posh_conf_t pc = {.ca_file = dc->ca_file,
                         .port = dc->posh_port,
                         .timeout_ms = dc->timeout_s * 1000u,
                         .resolver = rt_posh_dns_resolver(dc->posh_dns)};
    dc->posh = rt_posh_new(&pc, posh_watch, dc);
    if (dc->posh == NULL) {
        snprintf(dc->posh_why, sizeof(dc->posh_why), "the POSH fetcher is not available");
        return;
    }
    rc_t rc = rt_posh_fetch(dc->posh, dc->domain, posh_cb, dc);
    if (rc != RC_OK) {
        snprintf(dc->posh_why, sizeof(dc->posh_why), "fetch not started: %s", rc_str(rc));
        return;
    }
    // rt_posh's own timeout covers the fetch; one more second for its callback.
    run_until(dc, &dc->posh_done, mono_ms() + (uint64_t)dc->timeout_s * 1000u + 1000u);
    if (!dc->posh_done) {
        rt_posh_cancel(dc->posh, dc);
        dc->posh_status = "unreachable";
        snprintf(dc->posh_why, sizeof(dc->posh_why), "timeout");
    }
    if (dc->posh_doc != NULL && dc->chain != NULL && sk_X509_num(dc->chain) > 0) {
        dc->posh_matched = true;
        if (dna_posh_match(&dc->posh_result, &dc->posh_match_why, dc->posh_doc,
                           sk_X509_value(dc->chain, 0), time(NULL)) != RC_OK) {
            dc->posh_result = DNA_POSH_MISMATCH;
            dc->posh_match_why = "POSH matching failed";
        }
    }
}

// ---- 4. the peer's certificate ------------------------------------------------------------------

typedef struct xs_state {
    bool opened;
    bool features;
    bool starttls_offered;
    bool proceed;
    bool failure;
    bool closed;
    char error[128];
} xs_state_t;

static bool xs_open(void *ctx, const rt_xs_header_t *hdr) {
    xs_state_t *st = ctx;
    (void)hdr;
    st->opened = true;
    return true;
}

static bool xs_elem(void *ctx, const rt_xs_elem_t *el) {
    xs_state_t *st = ctx;
    if (strcmp(el->ns, NS_STREAMS) == 0 && strcmp(el->name, "features") == 0) {
        st->features = true;
        st->starttls_offered = rt_xs_child(el, 0, NS_TLS, "starttls") != RT_XS_NONE;
        return false;
    }
    if (strcmp(el->ns, NS_TLS) == 0 && strcmp(el->name, "proceed") == 0) {
        st->proceed = true;
        return false;
    }
    if (strcmp(el->ns, NS_TLS) == 0 && strcmp(el->name, "failure") == 0) {
        st->failure = true;
        snprintf(st->error, sizeof(st->error), "the peer answered <failure/> to <starttls/>");
        return false;
    }
    if (strcmp(el->ns, NS_STREAMS) == 0 && strcmp(el->name, "error") == 0) {
        st->failure = true;
        const char *cond = el->num_nodes > 1 ? el->nodes[1].name : "?";
        char c[64];
        copy_printable(c, sizeof(c), (const uint8_t *)cond, strlen(cond));
        snprintf(st->error, sizeof(st->error), "stream error <%s/>", c);
        return false;
    }
    return true;
}

static bool xs_close(void *ctx) {
    xs_state_t *st = ctx;
    st->closed = true;
    return false;
}

static bool send_all(int fd, const char *s) {
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        s += n;
        len -= (size_t)n;
    }
    return true;
}

// tcp_connect connects to |sa| within the timeout and leaves the socket blocking with send and
// receive timeouts. Returns the fd or -1 with |err| filled.
static int tcp_connect(const dc_t *dc, const struct sockaddr_storage *sa, socklen_t len, char *err,
                       size_t err_cap) {
    int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, err_cap, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)sa, len) != 0 && errno != EINPROGRESS) {
        snprintf(err, err_cap, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (poll(&p, 1, (int)(dc->timeout_s * 1000u)) != 1) {
        snprintf(err, err_cap, "connect: timeout");
        close(fd);
        return -1;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
        snprintf(err, err_cap, "connect: %s", strerror(soerr != 0 ? soerr : errno));
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = (time_t)dc->timeout_s};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

// starttls opens the XMPP stream on |fd| and negotiates STARTTLS up to <proceed/>.
static bool starttls(dc_t *dc, int fd, char *err, size_t err_cap) {
    xs_state_t st;
    core_memset(&st, 0, sizeof(st));
    rt_xs_cbs_t cbs = {.on_open = xs_open, .on_elem = xs_elem, .on_close = xs_close};
    rt_xs_t *xs = rt_xs_new(NULL, &cbs, &st);
    bool ok = false;
    char hdr[DNA_DOMAIN_MAX + 256];
    size_t total = 0;
    bool sent_starttls = false;
    if (xs == NULL) {
        snprintf(err, err_cap, "out of memory");
        goto out;
    }
    snprintf(hdr, sizeof(hdr),
             "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
             "xmlns:stream='http://etherx.jabber.org/streams' "
             "xmlns:db='jabber:server:dialback' to='%s' version='1.0'>",
             dc->domain);
    if (!send_all(fd, hdr)) {
        snprintf(err, err_cap, "send: %s", strerror(errno));
        goto out;
    }
    for (;;) {
        uint8_t buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            snprintf(err, err_cap, "%s before %s", n == 0 ? "connection closed" : "receive failed",
                     sent_starttls ? "<proceed/>" : "the stream features");
            goto out;
        }
        total += (size_t)n;
        if (total > DC_READ_MAX) {
            snprintf(err, err_cap, "more than %u bytes before TLS", DC_READ_MAX);
            goto out;
        }
        size_t off = 0;
        while (off < (size_t)n) {
            size_t used = 0;
            rc_t rc = rt_xs_feed(xs, buf + off, (size_t)n - off, &used);
            if (rc != RC_OK) {
                snprintf(err, err_cap, "the peer's stream is not valid XMPP: %s",
                         rt_xs_error_condition(rc));
                goto out;
            }
            off += used;
            if (st.failure || st.closed) {
                snprintf(err, err_cap, "%s", st.closed ? "the peer closed the stream" : st.error);
                goto out;
            }
            if (st.features && !sent_starttls) {
                if (!st.starttls_offered) {
                    snprintf(err, err_cap, "the peer does not offer STARTTLS");
                    goto out;
                }
                if (!send_all(fd, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")) {
                    snprintf(err, err_cap, "send: %s", strerror(errno));
                    goto out;
                }
                sent_starttls = true;
            }
            if (st.proceed) {
                ok = true;
                goto out;
            }
            if (used == 0) {
                break;
            }
        }
    }
out:
    rt_xs_free(xs);
    return ok;
}

static enum ssl_verify_result_t accept_any(SSL *ssl, uint8_t *out_alert) {
    (void)ssl;
    (void)out_alert;
    return ssl_verify_ok; // the chain is judged afterwards, as router/tls.c does
}

// tls_handshake runs the TLS client on |fd| (SNI = the domain) and keeps the peer's chain.
static bool tls_handshake(dc_t *dc, int fd, bool direct, char *err, size_t err_cap) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    SSL *ssl = NULL;
    bool ok = false;
    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
        snprintf(err, err_cap, "TLS initialisation failed");
        goto out;
    }
    SSL_CTX_set_custom_verify(ctx, SSL_VERIFY_PEER, accept_any);
    ssl = SSL_new(ctx);
    if (ssl == NULL || !SSL_set_tlsext_host_name(ssl, dc->domain) || !SSL_set_fd(ssl, fd)) {
        snprintf(err, err_cap, "TLS initialisation failed");
        goto out;
    }
    if (direct) {
        static const uint8_t alpn[] = "\x0bxmpp-server";
        if (SSL_set_alpn_protos(ssl, alpn, sizeof(alpn) - 1) != 0) {
            snprintf(err, err_cap, "TLS initialisation failed");
            goto out;
        }
    }
    ERR_clear_error();
    if (SSL_connect(ssl) != 1) {
        char e[160];
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        snprintf(err, err_cap, "TLS handshake failed: %s", e);
        goto out;
    }
    snprintf(dc->tls_version, sizeof(dc->tls_version), "%s", SSL_get_version(ssl));
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    snprintf(dc->tls_cipher, sizeof(dc->tls_cipher), "%s", c != NULL ? SSL_CIPHER_get_name(c) : "");
    STACK_OF(X509) *chain = SSL_get_peer_full_cert_chain(ssl);
    if (chain != NULL && sk_X509_num(chain) > 0) {
        dc->chain = X509_chain_up_ref(chain);
    }
    (void)SSL_shutdown(ssl);
    ok = true;
out:
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return ok;
}

// try_addr connects to one address and gets the chain. False (with conn_error) when it failed.
static bool try_addr(dc_t *dc, const char *host, const struct sockaddr_storage *sa, socklen_t len,
                     bool direct) {
    char err[DC_TEXT] = "";
    bool ok = false;
    snprintf(dc->conn_host, sizeof(dc->conn_host), "%s", host);
    sa_text(sa, dc->conn_ip, sizeof(dc->conn_ip), &dc->conn_port);
    dc->conn_direct_tls = direct;
    int fd = tcp_connect(dc, sa, len, err, sizeof(err));
    if (fd < 0) {
        goto out;
    }
    dc->connected = true;
    if (!direct && !starttls(dc, fd, err, sizeof(err))) {
        goto out;
    }
    ok = tls_handshake(dc, fd, direct, err, sizeof(err));
out:
    if (fd >= 0) {
        close(fd);
    }
    if (!ok) {
        snprintf(dc->conn_error, sizeof(dc->conn_error), "%s [%s]:%u: %s", host, dc->conn_ip,
                 (unsigned)dc->conn_port, err);
    } else {
        dc->conn_error[0] = '\0';
    }
    return ok;
}

// parse_hostport splits "host:port" / "[v6]:port". False when malformed.
static bool parse_hostport(const char *s, char *host, size_t host_cap, uint16_t *port) {
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s) {
        return false;
    }
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= host_cap) {
        return false;
    }
    char *end = NULL;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (errno != 0 || end == colon + 1 || *end != '\0' || p == 0 || p > 65535) {
        return false;
    }
    core_memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return true;
}

typedef struct host_wait {
    bool done;
    rc_t rc;
    struct sockaddr_storage sa[DC_MAX_ADDRS];
    socklen_t len[DC_MAX_ADDRS];
    size_t num;
} host_wait_t;

static void host_done(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num) {
    host_wait_t *hw = ctx;
    hw->done = true;
    hw->rc = rc;
    for (size_t i = 0; rc == RC_OK && i < num && hw->num < DC_MAX_ADDRS; i++) {
        hw->sa[hw->num] = addrs[i].sa;
        hw->len[hw->num] = addrs[i].sa_len;
        hw->num++;
    }
}

static void phase_connect(dc_t *dc) {
    if (dc->connect != NULL) {
        char host[256];
        uint16_t port = 0;
        host_wait_t hw;
        core_memset(&hw, 0, sizeof(hw));
        (void)parse_hostport(dc->connect, host, sizeof(host), &port); // checked in main
        struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(port)};
        struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
        if (inet_pton(AF_INET, host, &s4.sin_addr) == 1) {
            core_memcpy(&hw.sa[0], &s4, sizeof(s4));
            hw.len[0] = sizeof(s4);
            hw.num = 1;
        } else if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1) {
            core_memcpy(&hw.sa[0], &s6, sizeof(s6));
            hw.len[0] = sizeof(s6);
            hw.num = 1;
        } else {
            char norm[DNA_DOMAIN_MAX];
            if (dna_domain_normalize(norm, sizeof(norm), host, strlen(host)) != RC_OK ||
                rt_dns_resolve_host(dc->dns, norm, port, host_done, &hw) != RC_OK) {
                snprintf(dc->conn_error, sizeof(dc->conn_error), "%s: not a valid host name",
                         host);
                return;
            }
            run_until(dc, &hw.done, mono_ms() + (uint64_t)dc->timeout_s * 1000u);
            if (!hw.done) {
                rt_dns_cancel(dc->dns, &hw);
            }
            if (hw.num == 0) {
                snprintf(dc->conn_error, sizeof(dc->conn_error), "%s: no address (%s)", host,
                         hw.done ? rc_str(hw.rc) : "timeout");
                return;
            }
        }
        for (size_t i = 0; i < hw.num; i++) {
            if (try_addr(dc, host, &hw.sa[i], hw.len[i], dc->connect_direct_tls)) {
                return;
            }
        }
        return;
    }
    if (dc->num_addrs == 0) {
        snprintf(dc->conn_error, sizeof(dc->conn_error), "no address to connect to (%s)",
                 dc->s2s_done ? rc_str(dc->s2s_rc) : "DNS timeout");
        return;
    }
    for (size_t i = 0; i < dc->num_addrs; i++) {
        const dc_addr_t *a = &dc->addrs[i];
        if (try_addr(dc, a->host, &a->sa, a->sa_len, a->direct_tls)) {
            return;
        }
    }
}

static void sha256_hex(char out[65], const uint8_t *der, size_t len) {
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(der, len, md);
    hex_encode(out, md, sizeof(md));
}

static void describe_cert(dc_cert_t *out, X509 *x) {
    BIO *b = BIO_new(BIO_s_mem());
    uint8_t *der = NULL;
    int n;
    if (b != NULL && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        bio_text(b, out->subject, sizeof(out->subject));
    }
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    if (b != NULL && X509_NAME_print_ex(b, X509_get_issuer_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        bio_text(b, out->issuer, sizeof(out->issuer));
    }
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    if (b != NULL && ASN1_TIME_print(b, X509_get0_notBefore(x))) {
        bio_text(b, out->not_before, sizeof(out->not_before));
    }
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    if (b != NULL && ASN1_TIME_print(b, X509_get0_notAfter(x))) {
        bio_text(b, out->not_after, sizeof(out->not_after));
    }
    BIO_free(b);
    (void)dna_pkix_names(x, out->names, sizeof(out->names));
    n = i2d_X509(x, &der);
    if (n > 0) {
        sha256_hex(out->sha256, der, (size_t)n);
    }
    OPENSSL_free(der);
    der = NULL;
    n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    if (n > 0) {
        sha256_hex(out->spki_sha256, der, (size_t)n);
    }
    OPENSSL_free(der);
}

// validate_chain is router/tls.c verify_peer: the chain as presented, the trust store from
// |ca_file|, serverAuth then clientAuth purpose.
static void validate_chain(dc_t *dc) {
    X509_STORE *store = NULL;
    X509_STORE_CTX *sctx = NULL;
    dc->chain_ok = false;
    if (dc->chain == NULL) {
        snprintf(dc->chain_err, sizeof(dc->chain_err), "no certificate");
        goto out;
    }
    if (dc->ca_file == NULL) {
        snprintf(dc->chain_err, sizeof(dc->chain_err),
                 "no trust store (--ca-file or s2s.ca_file)");
        goto out;
    }
    store = X509_STORE_new();
    if (store == NULL || !X509_STORE_load_locations(store, dc->ca_file, NULL)) {
        snprintf(dc->chain_err, sizeof(dc->chain_err), "cannot read the trust store %s",
                 dc->ca_file);
        goto out;
    }
    sctx = X509_STORE_CTX_new();
    if (sctx == NULL) {
        snprintf(dc->chain_err, sizeof(dc->chain_err), "out of memory");
        goto out;
    }
    static const int purposes[] = {X509_PURPOSE_SSL_SERVER, X509_PURPOSE_SSL_CLIENT};
    for (size_t p = 0; p < 2; p++) {
        if (!X509_STORE_CTX_init(sctx, store, sk_X509_value(dc->chain, 0), dc->chain)) {
            break;
        }
        X509_STORE_CTX_set_purpose(sctx, purposes[p]);
        if (X509_verify_cert(sctx) == 1) {
            dc->chain_ok = true;
            dc->chain_err[0] = '\0';
            break;
        }
        snprintf(dc->chain_err, sizeof(dc->chain_err), "%s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)));
        X509_STORE_CTX_cleanup(sctx);
    }
out:
    X509_STORE_CTX_free(sctx);
    X509_STORE_free(store);
}

static void phase_cert(dc_t *dc) {
    for (size_t i = 0; dc->chain != NULL && i < sk_X509_num(dc->chain) && i < DC_MAX_CERTS; i++) {
        describe_cert(&dc->certs[dc->num_certs++], sk_X509_value(dc->chain, i));
    }
    validate_chain(dc);
}

// ---- 5. evidence and verdict (router/proof.c rt_proof_start, after_dane, posh_done) -------------

static void decide(dc_t *dc) {
    X509 *leaf = dc->chain != NULL ? sk_X509_value(dc->chain, 0) : NULL;
    core_memset(&dc->ev, 0, sizeof(dc->ev));
    // PKIX, from the handshake.
    if (leaf == NULL) {
        dc->pkix_why = "the peer presented no certificate (no connection)";
    } else {
        dna_pkix_opts_t opts = {.cn_fallback = dc->cn_fallback};
        rc_t rc = dc->chain_ok ? dna_pkix_match(leaf, dc->domain, &opts) : RC_DNA_MISMATCH;
        dc->ev.pkix = dc->chain_ok && rc == RC_OK ? DNA_EV_MATCH : DNA_EV_MISMATCH;
        if (!dc->chain_ok) {
            snprintf(dc->pkix_why_buf, sizeof(dc->pkix_why_buf),
                     "the chain does not validate against the trust store: %s", dc->chain_err);
        } else if (rc != RC_OK) {
            snprintf(dc->pkix_why_buf, sizeof(dc->pkix_why_buf),
                     "the certificate does not name %s (RFC 6125: DNS-ID, SRV-ID or XmppAddr; "
                     "names: %s)",
                     dc->domain, dc->num_certs > 0 ? dc->certs[0].names : "?");
        } else {
            snprintf(dc->pkix_why_buf, sizeof(dc->pkix_why_buf),
                     "the chain validates and the certificate names %s", dc->domain);
        }
        dc->pkix_why = dc->pkix_why_buf;
    }
    // DANE.
    dane_evidence(dc);
    // POSH: only when nothing earlier decided (after_dane).
    bool need_posh = policy_has(dc->policy, DNA_PROOF_POSH) && leaf != NULL;
    dc->posh_skip_why = !policy_has(dc->policy, DNA_PROOF_POSH) ? "not enabled by the policy"
                        : leaf == NULL ? "no certificate to match"
                                       : NULL;
    if (need_posh) {
        dna_verdict_t v;
        if (dna_prooftype_decide(&v, dc->policy, &dc->ev) != RC_OK ||
            v.kind == DNA_VERDICT_PROVEN ||
            (v.kind == DNA_VERDICT_REFUSED && v.prooftype == DNA_PROOF_DANE) ||
            v.kind == DNA_VERDICT_TEMPFAIL) {
            need_posh = false;
            dc->posh_skip_why = "not consulted: the verdict was reached before POSH";
        }
    }
    if (need_posh) {
        dc->posh_consulted = true;
        dc->ev.posh = dc->posh_matched ? dna_posh_ev(dc->posh_result) : DNA_EV_NONE;
        // As router/proof.c posh_done: an unreachable document server is a temporary failure
        // under a policy that requires a proof.
        if (!dc->posh_matched && dc->posh_status != NULL &&
            strcmp(dc->posh_status, "unreachable") == 0 &&
            !dc->policy->allow_dialback_without_proof) {
            dc->ev.posh = DNA_EV_TEMPFAIL;
        }
    }
    if (dna_prooftype_decide(&dc->verdict, dc->policy, &dc->ev) != RC_OK) {
        dc->verdict.kind = DNA_VERDICT_REFUSED;
        dc->verdict.reason = "invalid prooftype policy";
    }
}

// ---- output -------------------------------------------------------------------------------------

static const char *policy_on_failure(const dna_policy_t *p) {
    return p->on_failure == DNA_ON_FAILURE_REFUSE ? "refuse" : "dialback";
}

static const char *pkix_line(const dc_t *dc) {
    return dc->ev.pkix == DNA_EV_MATCH ? "proves" : "does not prove";
}

// dane_text explains DANE's outcome in one line.
static void dane_text(const dc_t *dc, char *out, size_t cap) {
    if (!dc->dane_resolver) {
        snprintf(out, cap, "not applicable: %s", dc->dane_na);
    } else if (dc->tlsa_bogus) {
        snprintf(out, cap, "refuses: %s", dc->dane_why);
    } else if (dc->tlsa_temp) {
        snprintf(out, cap, "temporary failure: %s", dc->dane_why);
    } else if (dc->tlsa_match) {
        snprintf(out, cap, "proves %s: %s", dc->domain, dc->dane_why);
    } else if (dc->tlsa_mismatch) {
        snprintf(out, cap, "refuses: %s", dc->dane_why != NULL ? dc->dane_why : "mismatch");
    } else if (dc->tlsa_secure) {
        snprintf(out, cap, "not applicable: no usable TLSA record at the secure SRV targets");
    } else if (dc->dane_na != NULL) {
        snprintf(out, cap, "not applicable: %s", dc->dane_na);
    } else {
        snprintf(out, cap, "not applicable: the TLSA answers are not DNSSEC-secure");
    }
}

static void posh_text(const dc_t *dc, char *out, size_t cap) {
    if (dc->posh_matched) {
        snprintf(out, cap, "%s: %s",
                 dc->posh_result == DNA_POSH_MATCH ? "proves" : "does not prove",
                 dc->posh_match_why != NULL ? dc->posh_match_why : "");
    } else if (strcmp(dc->posh_status, "found") == 0) {
        snprintf(out, cap, "no material to match: no certificate");
    } else {
        snprintf(out, cap, "no POSH material: %s%s%s", dc->posh_status,
                 dc->posh_why[0] != '\0' ? ", " : "", dc->posh_why);
    }
}

static void print_human(const dc_t *dc) {
    char buf[DC_TEXT * 2];
    printf("dnacheck %s", dc->domain);
    if (strcmp(dc->domain, dc->domain_in) != 0) {
        printf(" (given as %s)", dc->domain_in);
    }
    printf("\nresolver: %s%s\n", dc->resolver != NULL ? dc->resolver : "system (resolv.conf)",
           dc->dane_resolver ? " (configured validating resolver: AD bits are trusted)"
                             : " (not a configured validating resolver: DANE does not apply)");
    printf("trust store: %s\n", dc->ca_file != NULL ? dc->ca_file : "(none)");

    printf("\n== DNS (SRV, RFC 6120 §3.2 / XEP-0368)\n");
    for (size_t i = 0; i < 2; i++) {
        const dc_srv_t *s = &dc->srv[i];
        printf("SRV %s (%s): %s%s%s%s\n", s->name, s->direct_tls ? "direct TLS" : "STARTTLS",
               s->status,
               strcmp(s->status, "bogus") == 0 || strcmp(s->status, "error") == 0 ? "" :
               s->ad ? ", DNSSEC secure (AD)" : ", DNSSEC insecure (no AD)",
               s->why[0] != '\0' ? ": " : "", s->why);
        for (size_t j = 0; j < s->num_rrs; j++) {
            const dc_srv_rr_t *r = &s->rrs[j];
            printf("    priority %u weight %u port %u target %s\n", (unsigned)r->priority,
                   (unsigned)r->weight, (unsigned)r->port, r->target);
        }
    }
    if (!dc->s2s_done) {
        printf("addresses: DNS timeout\n");
    } else if (dc->s2s_rc != RC_OK) {
        printf("addresses: none (%s)\n", rc_str(dc->s2s_rc));
    } else {
        printf("addresses (in the router's order)%s:\n",
               dc->fallback ? ", no SRV: A/AAAA fallback on port 5269" : "");
        for (size_t i = 0; i < dc->num_addrs; i++) {
            const dc_addr_t *a = &dc->addrs[i];
            printf("    %s [%s]:%u %s%s%s\n", a->host, a->ip, (unsigned)a->port,
                   a->direct_tls ? "direct TLS" : "STARTTLS", a->from_srv ? ", from SRV" : "",
                   a->from_srv ? (a->srv_secure ? ", SRV secure" : ", SRV insecure") : "");
        }
    }

    printf("\n== TLSA (DANE, RFC 7673)\n");
    if (dc->num_targets == 0) {
        printf("TLSA: not looked up: %s\n",
               dc->dane_na != NULL ? dc->dane_na : "no DNSSEC-secure SRV target");
    }
    if (dc->srv_insecure && dc->num_targets > 0) {
        printf("(some SRV targets come from an insecure answer: no TLSA for them)\n");
    }
    for (size_t i = 0; i < dc->num_targets; i++) {
        const dc_target_t *t = &dc->targets[i];
        printf("TLSA %s: %s", t->owner, t->done ? dnssec_name(t->dnssec) : "timeout");
        if (t->done && t->dnssec == DNA_DNSSEC_SECURE) {
            printf(", %zu usable, %zu unusable, %zu malformed", t->num_usable, t->num_unusable,
                   t->num_malformed);
        }
        printf("\n");
        for (size_t j = 0; j < t->num_rrs; j++) {
            const dc_tlsa_rr_t *r = &t->rrs[j];
            printf("    %u %u %u (%s %s %s) %s: %s\n", (unsigned)r->usage, (unsigned)r->selector,
                   (unsigned)r->mtype, dna_tlsa_usage_name(r->usage),
                   dna_tlsa_selector_name(r->selector), dna_tlsa_mtype_name(r->mtype),
                   r->hex != NULL ? r->hex : "", r->state);
        }
        if (t->matched) {
            printf("    match: %s (%s)\n", tlsa_result_name(t->result), t->why);
        } else if (t->why != NULL) {
            printf("    %s\n", t->why);
        }
    }

    printf("\n== POSH (RFC 7711)\n");
    printf("POSH %s: %s%s%s\n", dc->posh_url, dc->posh_status, dc->posh_why[0] != '\0' ? ": " : "",
           dc->posh_why);
    if (dc->posh_source[0] != '\0') {
        printf("    from %s%s\n", dc->posh_source,
               strcmp(dc->posh_source, dc->posh_url) != 0 ? " (through a redirect or reference)"
                                                          : "");
    }
    if (dc->posh_doc != NULL) {
        printf("    expires %llu s (cached %llu s)\n", (unsigned long long)dc->posh_doc->expires,
               (unsigned long long)dc->posh_ttl);
        for (size_t i = 0; i < dc->posh_doc->num_fps; i++) {
            const dna_posh_fp_t *fp = &dc->posh_doc->fps[i];
            char hex[129];
            if (fp->has_sha256) {
                hex_encode(hex, fp->sha256, 32);
                printf("    sha-256 %s\n", hex);
            }
            if (fp->has_sha512) {
                hex_encode(hex, fp->sha512, 64);
                printf("    sha-512 %s\n", hex);
            }
        }
    }

    printf("\n== Certificate\n");
    if (dc->chain == NULL) {
        printf("no certificate: %s\n",
               dc->conn_error[0] != '\0' ? dc->conn_error : "not connected");
    } else {
        printf("connected to %s [%s]:%u (%s), %s %s\n", dc->conn_host, dc->conn_ip,
               (unsigned)dc->conn_port, dc->conn_direct_tls ? "direct TLS" : "STARTTLS",
               dc->tls_version, dc->tls_cipher);
        for (size_t i = 0; i < dc->num_certs; i++) {
            const dc_cert_t *c = &dc->certs[i];
            printf("  [%zu] subject: %s\n", i, c->subject);
            printf("      names: %s\n", c->names[0] != '\0' ? c->names : "(none)");
            printf("      issuer: %s\n", c->issuer);
            printf("      valid: %s .. %s\n", c->not_before, c->not_after);
            printf("      sha-256: %s\n", c->sha256);
            printf("      spki sha-256: %s\n", c->spki_sha256);
        }
        printf("chain: %s%s\n", dc->chain_ok ? "validates against the trust store" :
               "does not validate: ", dc->chain_ok ? "" : dc->chain_err);
    }

    printf("\n== Prooftypes (policy: ");
    for (size_t i = 0; i < dc->policy->num_order; i++) {
        printf("%s%s", i > 0 ? ", " : "", dna_prooftype_name(dc->policy->order[i]));
    }
    printf("%s; dialback without proof: %s; on failure: %s)\n",
           dc->policy->num_order == 0 ? "none" : "",
           dc->policy->allow_dialback_without_proof ? "yes" : "no",
           policy_on_failure(dc->policy));
    if (dc->chain != NULL) {
        printf("PKIX: %s %s\n", pkix_line(dc), dc->domain);
    } else {
        printf("PKIX: no evidence\n");
    }
    printf("    %s%s\n", dc->pkix_why, policy_has(dc->policy, DNA_PROOF_PKIX) ? "" :
           " (not enabled by the policy)");
    dane_text(dc, buf, sizeof(buf));
    printf("DANE: %s%s\n", buf,
           policy_has(dc->policy, DNA_PROOF_DANE) ? "" : " (not enabled by the policy)");
    posh_text(dc, buf, sizeof(buf));
    printf("POSH: %s%s%s\n", buf, dc->posh_consulted ? "" : "; ",
           dc->posh_consulted ? "" : dc->posh_skip_why);
    const dna_verdict_kind_t k = dc->verdict.kind;
    printf("\nVerdict: %s", k == DNA_VERDICT_PROVEN     ? "PROVEN"
                            : k == DNA_VERDICT_DIALBACK ? "NOT PROVEN (dialback decides)"
                            : k == DNA_VERDICT_REFUSED  ? "REFUSED"
                                                        : "TEMPORARY FAILURE");
    if (dc->verdict.prooftype != DNA_PROOF_NONE) {
        printf(" by %s", dna_prooftype_name(dc->verdict.prooftype));
    }
    printf(" (%s)\n", dc->verdict.reason);
}

static json_t *jstr(const char *s) {
    return json_string(s != NULL ? s : "");
}

// names_of returns the values of |names| (dna_pkix_names output: "TYPE:value" items separated by
// ',', which it escapes inside values) whose type is |prefix| ("DNS:"), as a JSON array.
static json_t *names_of(const char *names, const char *prefix) {
    json_t *a = json_array();
    size_t plen = strlen(prefix);
    const char *p = names;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        if (n > plen && strncmp(p, prefix, plen) == 0) {
            json_array_append_new(a, json_stringn(p + plen, n - plen));
        }
        p += n;
        if (*p == ',') {
            p++;
        }
    }
    return a;
}

static json_t *json_report(const dc_t *dc) {
    char buf[DC_TEXT * 2];
    json_t *o = json_object();
    json_object_set_new(o, "domain", jstr(dc->domain));
    json_object_set_new(o, "domain_input", jstr(dc->domain_in));
    json_object_set_new(o, "resolver", dc->resolver != NULL ? jstr(dc->resolver) : json_null());
    json_object_set_new(o, "validating_resolver", json_boolean(dc->dane_resolver));
    json_object_set_new(o, "ca_file", dc->ca_file != NULL ? jstr(dc->ca_file) : json_null());

    json_t *srv = json_array();
    for (size_t i = 0; i < 2; i++) {
        const dc_srv_t *s = &dc->srv[i];
        json_t *so = json_object();
        json_object_set_new(so, "name", jstr(s->name));
        json_object_set_new(so, "direct_tls", json_boolean(s->direct_tls));
        json_object_set_new(so, "status", jstr(s->status));
        json_object_set_new(so, "secure", json_boolean(s->ad));
        json_object_set_new(so, "why", jstr(s->why));
        json_t *rrs = json_array();
        for (size_t j = 0; j < s->num_rrs; j++) {
            json_array_append_new(rrs, json_pack("{s:i,s:i,s:i,s:s}", "priority",
                                                 (int)s->rrs[j].priority, "weight",
                                                 (int)s->rrs[j].weight, "port",
                                                 (int)s->rrs[j].port, "target", s->rrs[j].target));
        }
        json_object_set_new(so, "records", rrs);
        json_array_append_new(srv, so);
    }
    json_object_set_new(o, "srv", srv);

    json_t *ad = json_object();
    json_object_set_new(ad, "status", jstr(!dc->s2s_done ? "timeout" : dc->s2s_rc == RC_OK ? "ok"
                                                   : dc->s2s_rc == RC_DNS_NOT_FOUND ? "not_found"
                                                                                    : "fail"));
    json_object_set_new(ad, "fallback", json_boolean(dc->fallback));
    json_t *al = json_array();
    for (size_t i = 0; i < dc->num_addrs; i++) {
        const dc_addr_t *a = &dc->addrs[i];
        json_array_append_new(al, json_pack("{s:s,s:s,s:i,s:b,s:b,s:b}", "host", a->host,
                                            "address", a->ip, "port", (int)a->port, "direct_tls",
                                            a->direct_tls, "from_srv", a->from_srv, "srv_secure",
                                            a->srv_secure));
    }
    json_object_set_new(ad, "list", al);
    json_object_set_new(o, "addresses", ad);

    json_t *tl = json_object();
    json_object_set_new(tl, "looked_up", json_boolean(dc->num_targets > 0));
    json_object_set_new(tl, "why", dc->dane_na != NULL ? jstr(dc->dane_na) : json_null());
    json_t *ts = json_array();
    for (size_t i = 0; i < dc->num_targets; i++) {
        const dc_target_t *t = &dc->targets[i];
        json_t *to = json_object();
        json_object_set_new(to, "owner", jstr(t->owner));
        json_object_set_new(to, "host", jstr(t->host));
        json_object_set_new(to, "port", json_integer(t->port));
        json_object_set_new(to, "dnssec", jstr(t->done ? dnssec_name(t->dnssec) : "timeout"));
        json_object_set_new(to, "num_usable", json_integer((json_int_t)t->num_usable));
        json_object_set_new(to, "num_unusable", json_integer((json_int_t)t->num_unusable));
        json_object_set_new(to, "num_malformed", json_integer((json_int_t)t->num_malformed));
        json_object_set_new(to, "match", t->matched ? jstr(tlsa_result_name(t->result))
                                                    : json_null());
        json_object_set_new(to, "why", t->why != NULL ? jstr(t->why) : json_null());
        json_t *rl = json_array();
        for (size_t j = 0; j < t->num_rrs; j++) {
            const dc_tlsa_rr_t *r = &t->rrs[j];
            json_array_append_new(
                rl, json_pack("{s:i,s:s,s:i,s:s,s:i,s:s,s:s,s:s}", "usage", (int)r->usage,
                              "usage_name", dna_tlsa_usage_name(r->usage), "selector",
                              (int)r->selector, "selector_name",
                              dna_tlsa_selector_name(r->selector), "mtype", (int)r->mtype,
                              "mtype_name", dna_tlsa_mtype_name(r->mtype), "data",
                              r->hex != NULL ? r->hex : "", "state", r->state));
        }
        json_object_set_new(to, "records", rl);
        json_array_append_new(ts, to);
    }
    json_object_set_new(tl, "targets", ts);
    json_object_set_new(o, "tlsa", tl);

    json_t *po = json_object();
    json_object_set_new(po, "url", jstr(dc->posh_url));
    json_object_set_new(po, "status", jstr(dc->posh_status));
    json_object_set_new(po, "why", jstr(dc->posh_why));
    json_object_set_new(po, "source_url", jstr(dc->posh_source));
    if (dc->posh_doc != NULL) {
        json_object_set_new(po, "expires", json_integer((json_int_t)dc->posh_doc->expires));
        json_object_set_new(po, "ttl", json_integer((json_int_t)dc->posh_ttl));
        json_t *fl = json_array();
        for (size_t i = 0; i < dc->posh_doc->num_fps; i++) {
            const dna_posh_fp_t *fp = &dc->posh_doc->fps[i];
            json_t *fo = json_object();
            uint8_t b64[129];
            if (fp->has_sha256) {
                EVP_EncodeBlock(b64, fp->sha256, 32);
                json_object_set_new(fo, "sha-256", jstr((const char *)b64));
            }
            if (fp->has_sha512) {
                EVP_EncodeBlock(b64, fp->sha512, 64);
                json_object_set_new(fo, "sha-512", jstr((const char *)b64));
            }
            json_array_append_new(fl, fo);
        }
        json_object_set_new(po, "fingerprints", fl);
    }
    json_object_set_new(po, "match",
                        !dc->posh_matched ? json_null()
                        : dc->posh_result == DNA_POSH_MATCH    ? jstr("match")
                        : dc->posh_result == DNA_POSH_MISMATCH ? jstr("mismatch")
                                                               : jstr("no_material"));
    json_object_set_new(po, "match_why",
                        dc->posh_match_why != NULL ? jstr(dc->posh_match_why) : json_null());
    json_object_set_new(o, "posh", po);

    json_t *co = json_object();
    json_object_set_new(co, "ok", json_boolean(dc->chain != NULL));
    json_object_set_new(co, "host", jstr(dc->conn_host));
    json_object_set_new(co, "address", jstr(dc->conn_ip));
    json_object_set_new(co, "port", json_integer(dc->conn_port));
    json_object_set_new(co, "direct_tls", json_boolean(dc->conn_direct_tls));
    json_object_set_new(co, "tls_version", jstr(dc->tls_version));
    json_object_set_new(co, "error", dc->conn_error[0] != '\0' ? jstr(dc->conn_error)
                                                               : json_null());
    json_object_set_new(o, "connection", co);
    json_t *cl = json_array();
    for (size_t i = 0; i < dc->num_certs; i++) {
        const dc_cert_t *c = &dc->certs[i];
        json_t *co2 = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "subject", c->subject, "issuer",
                                c->issuer, "names", c->names, "not_before", c->not_before,
                                "not_after", c->not_after, "sha256", c->sha256, "spki_sha256",
                                c->spki_sha256);
        json_object_set_new(co2, "dns", names_of(c->names, "DNS:"));
        json_object_set_new(co2, "xmppaddr", names_of(c->names, "XmppAddr:"));
        json_object_set_new(co2, "srvid", names_of(c->names, "SRV:"));
        json_array_append_new(cl, co2);
    }
    json_object_set_new(o, "certificates", cl);
    json_object_set_new(o, "chain", json_pack("{s:b,s:s}", "validated", dc->chain_ok, "error",
                                              dc->chain_err));

    json_t *pt = json_object();
    json_object_set_new(pt, "PKIX", json_pack("{s:b,s:s,s:s}", "enabled",
                                              policy_has(dc->policy, DNA_PROOF_PKIX), "result",
                                              ev_name(dc->ev.pkix), "why", dc->pkix_why));
    dane_text(dc, buf, sizeof(buf));
    json_object_set_new(pt, "DANE",
                        json_pack("{s:b,s:b,s:s,s:s,s:s}", "enabled",
                                  policy_has(dc->policy, DNA_PROOF_DANE), "applicable",
                                  dc->dane_resolver && (dc->num_targets > 0 || dc->tlsa_bogus),
                                  "dnssec", dnssec_name(dc->ev.dane_dnssec), "result",
                                  dc->ev.dane_dnssec == DNA_DNSSEC_SECURE
                                      ? tlsa_result_name(dc->ev.dane)
                                      : "none",
                                  "why", buf));
    posh_text(dc, buf, sizeof(buf));
    json_object_set_new(pt, "POSH", json_pack("{s:b,s:b,s:s,s:s,s:s}", "enabled",
                                              policy_has(dc->policy, DNA_PROOF_POSH), "consulted",
                                              dc->posh_consulted, "result",
                                              !dc->posh_matched ? "none"
                                              : dc->posh_result == DNA_POSH_MATCH ? "match"
                                                                                  : "mismatch",
                                              "why", buf, "note",
                                              dc->posh_skip_why != NULL ? dc->posh_skip_why : ""));
    json_object_set_new(o, "prooftypes", pt);

    json_t *pol = json_object();
    json_t *order = json_array();
    for (size_t i = 0; i < dc->policy->num_order; i++) {
        json_array_append_new(order, jstr(dna_prooftype_name(dc->policy->order[i])));
    }
    json_object_set_new(pol, "order", order);
    json_object_set_new(pol, "dialback_without_proof",
                        json_boolean(dc->policy->allow_dialback_without_proof));
    json_object_set_new(pol, "on_failure", jstr(policy_on_failure(dc->policy)));
    json_object_set_new(pol, "source", jstr(dc->config != NULL ? dc->config : "default"));
    json_object_set_new(o, "policy", pol);
    json_object_set_new(o, "verdict",
                        json_pack("{s:s,s:s,s:s}", "kind", verdict_name(dc->verdict.kind),
                                  "prooftype", dna_prooftype_name(dc->verdict.prooftype), "reason",
                                  dc->verdict.reason));
    return o;
}

// ---- main ---------------------------------------------------------------------------------------

static void usage(FILE *f) {
    fprintf(f,
            "usage: dnacheck [options] DOMAIN\n"
            "Shows why fedrouter does or does not accept a peer as the server of DOMAIN:\n"
            "SRV (DNSSEC), TLSA (DANE), POSH, the certificate the peer presents, and the verdict\n"
            "of the prooftype policy. Exit status: 0 proven, 1 not proven or refused, 2 usage.\n"
            "  --resolver IP:PORT  validating resolver (as s2s.resolver; DANE needs one)\n"
            "  --ca-file FILE      trust store (as s2s.ca_file) for PKIX and POSH's HTTPS\n"
            "  --config FILE       fedrouter.conf: s2s.resolver, s2s.ca_file, policies, routes\n"
            "  --connect HOST:PORT connect there instead of the DNS targets (STARTTLS)\n"
            "  --direct-tls        with --connect: TLS from the first byte (XEP-0368)\n"
            "  --posh-port N       HTTPS port of POSH documents (default 443, or s2s.posh_port)\n"
            "  --timeout S         seconds per step (default 5, or s2s.dna_timeout)\n"
            "  --json              one JSON object on stdout\n"
            "  -v, --verbose       router log lines on stderr (default: errors only)\n"
            "  --help\n");
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out) {
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > max) {
        return false;
    }
    *out = v;
    return true;
}

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"resolver", required_argument, NULL, 'r'}, {"ca-file", required_argument, NULL, 'a'},
        {"config", required_argument, NULL, 'c'},   {"connect", required_argument, NULL, 'C'},
        {"direct-tls", no_argument, NULL, 'D'},     {"posh-port", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 't'},  {"json", no_argument, NULL, 'j'},
        {"verbose", no_argument, NULL, 'v'},        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    dc_t *dc = core_xcalloc(1, sizeof(*dc));
    int ret = DC_EXIT_USAGE;
    unsigned long posh_port = 0, timeout = 0;
    bool verbose = false;
    char err[512];
    int ch;
    while ((ch = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            dc->resolver = optarg;
            break;
        case 'a':
            dc->ca_file = optarg;
            break;
        case 'c':
            dc->config = optarg;
            break;
        case 'C':
            dc->connect = optarg;
            break;
        case 'D':
            dc->connect_direct_tls = true;
            break;
        case 'p':
            if (!parse_uint(optarg, 65535, &posh_port)) {
                fprintf(stderr, "dnacheck: --posh-port: not a port: %s\n", optarg);
                goto out;
            }
            break;
        case 't':
            if (!parse_uint(optarg, 600, &timeout)) {
                fprintf(stderr, "dnacheck: --timeout: 1..600 seconds: %s\n", optarg);
                goto out;
            }
            break;
        case 'j':
            dc->json = true;
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            usage(stdout);
            ret = DC_EXIT_PROVEN; // asked for: not an error
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        goto out;
    }
    dc->domain_in = argv[optind];
    if (dna_domain_normalize(dc->domain, sizeof(dc->domain), dc->domain_in,
                             strlen(dc->domain_in)) != RC_OK) {
        fprintf(stderr, "dnacheck: not a valid domain name: %s\n", dc->domain_in);
        goto out;
    }
    if (dc->connect != NULL) {
        char host[256];
        uint16_t port;
        if (!parse_hostport(dc->connect, host, sizeof(host), &port)) {
            fprintf(stderr, "dnacheck: --connect: expected HOST:PORT: %s\n", dc->connect);
            goto out;
        }
    } else if (dc->connect_direct_tls) {
        fprintf(stderr, "dnacheck: --direct-tls needs --connect\n");
        goto out;
    }
    core_log_set_level(verbose ? CORE_LOG_DEBUG : CORE_LOG_ERROR);

    // Configuration: the router's view (command-line options override it).
    dna_policy_default(&dc->policy_default);
    dc->policy = &dc->policy_default;
    dc->posh_port = 443;
    dc->timeout_s = 5;
    if (dc->config != NULL) {
        if (rt_conf_load(dc->config, &dc->conf, err, sizeof(err)) != RC_OK) {
            fprintf(stderr, "dnacheck: %s\n", err);
            goto out;
        }
        if (dc->resolver == NULL) {
            dc->resolver = dc->conf->resolver;
        }
        if (dc->ca_file == NULL) {
            dc->ca_file = dc->conf->ca_file;
        }
        dc->policy = rt_conf_policy(dc->conf, dc->domain);
        dc->cn_fallback = dc->conf->cn_fallback;
        dc->dane_pkix_usages = dc->conf->dane_pkix_usages;
        if (dc->conf->posh_port != 0) {
            dc->posh_port = dc->conf->posh_port;
        }
        if (dc->conf->dna_timeout_s != 0) {
            dc->timeout_s = dc->conf->dna_timeout_s;
        }
    }
    if (posh_port != 0) {
        dc->posh_port = (uint16_t)posh_port;
    }
    if (timeout != 0) {
        dc->timeout_s = (uint32_t)timeout;
    }
    dc->dane_resolver = dc->resolver != NULL;
    dc->dane_enabled = dc->dane_resolver && policy_has(dc->policy, DNA_PROOF_DANE);

    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
        fprintf(stderr, "dnacheck: c-ares initialisation failed\n");
        ret = DC_EXIT_NOT_PROVEN;
        goto out;
    }
    rt_dns_conf_t dconf = {.servers = dc->resolver,
                           .routes = dc->conf != NULL ? dc->conf->routes : NULL,
                           .num_routes = dc->conf != NULL ? dc->conf->num_routes : 0,
                           .timeout_ms = dc->timeout_s * 1000u / 2u,
                           .tries = 2};
    dc->dns = rt_dns_new(&dconf, dns_watch, dc);
    if (dc->dns == NULL) {
        fprintf(stderr, "dnacheck: resolver setup failed (--resolver %s)\n",
                dc->resolver != NULL ? dc->resolver : "system");
        ret = DC_EXIT_USAGE;
        goto out;
    }

    // 1. SRV records and the router's addresses.
    query_srv(dc, 0);
    query_srv(dc, 1);
    if (rt_dns_resolve_s2s(dc->dns, dc->domain, s2s_done, dc) == RC_OK) {
        run_until(dc, &dc->s2s_done, mono_ms() + (uint64_t)dc->timeout_s * 1000u * 2u);
        if (!dc->s2s_done) {
            rt_dns_cancel(dc->dns, dc);
        }
    } else {
        dc->s2s_done = true;
        dc->s2s_rc = RC_DNS_FAIL;
    }
    // 4. The certificate (needed by the TLSA and POSH matching).
    phase_connect(dc);
    phase_cert(dc);
    // 2. DANE, 3. POSH.
    phase_dane(dc);
    phase_posh(dc);
    // 5. The verdict.
    decide(dc);

    if (dc->json) {
        json_t *o = json_report(dc);
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s != NULL) {
            printf("%s\n", s);
        }
        free(s);
        json_decref(o);
    } else {
        print_human(dc);
    }
    ret = dc->verdict.kind == DNA_VERDICT_PROVEN ? DC_EXIT_PROVEN : DC_EXIT_NOT_PROVEN;
out:
    rt_posh_free(dc->posh);
    rt_posh_dns_free(dc->posh_dns);
    rt_dns_free(dc->dns);
    for (size_t i = 0; i < dc->num_targets; i++) {
        for (size_t j = 0; j < dc->targets[i].num_rrs; j++) {
            free(dc->targets[i].rrs[j].hex);
        }
    }
    free(dc->posh_doc);
    sk_X509_pop_free(dc->chain, X509_free);
    rt_conf_free(dc->conf);
    free(dc);
    fflush(stdout);
    return ret;
}
