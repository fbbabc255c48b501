// posh_fetch.c: asynchronous POSH retrieval over HTTPS (see posh_fetch.h).
//
// One job per source domain being fetched; a job walks hops (URL -> resolve -> TCP connect ->
// TLS handshake -> send GET -> read response) until it has an outcome. Outcomes are delivered
// from rt_posh_process/rt_posh_tick (never from rt_posh_fetch or the resolver callback): a
// finished job stays in the list with state JOB_DONE until the next delivery point.
#include "router/posh_fetch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dna/domain.h"
#include "router/core/bytes.h"
#include "router/core/log.h"
#include "router/http_resp.h"

#define POSH_PATH "/.well-known/posh/xmpp-server.json"
#define POSH_ADDRS_MAX 16
#define POSH_REDIRECTS_CAP 10 // RFC 7711 recommends following at most 10
#define POSH_VISITED_MAX (POSH_REDIRECTS_CAP + 2)
#define POSH_WAITERS_MAX 4096 // callers waiting on one retrieval
#define POSH_WHY_MAX 200
#define POSH_IN_CAP (RT_HTTP_HEAD_MAX + DNA_POSH_DOC_MAX + 1)

typedef struct posh_url {
    char host[DNA_DOMAIN_MAX];
    uint16_t port;
    char path[DNA_POSH_URL_MAX + 1];
    char text[RT_POSH_SOURCE_URL_MAX + 1]; // normalised, for logs, loop detection, source_url
} posh_url_t;

typedef struct posh_waiter {
    struct posh_waiter *next;
    rt_posh_cb cb; // NULL once cancelled
    void *ctx;
} posh_waiter_t;

typedef enum posh_job_state {
    JOB_RESOLVE,
    JOB_CONNECT,
    JOB_TLS,
    JOB_SEND,
    JOB_READ,
    JOB_DONE,
} posh_job_state_t;

typedef struct posh_job {
    struct posh_job *next;
    rt_posh_t *p;
    char domain[DNA_DOMAIN_MAX];
    posh_waiter_t *waiters;
    posh_waiter_t **waiters_tail;
    size_t num_waiters;
    posh_job_state_t st;
    uint64_t deadline_ms;
    posh_url_t url;
    char *visited[POSH_VISITED_MAX];
    size_t num_visited;
    uint32_t redirects;
    dna_posh_doc_t *ref; // the reference document followed, if any (owned)
    dna_posh_doc_t *doc; // parse target (owned)
    bool resolving;
    struct sockaddr_storage addrs[POSH_ADDRS_MAX];
    socklen_t lens[POSH_ADDRS_MAX];
    size_t num_addrs;
    size_t next_addr;
    int fd;
    SSL *ssl;
    char req[DNA_POSH_URL_MAX + DNA_DOMAIN_MAX + 160];
    size_t req_len;
    uint8_t *in; // POSH_IN_CAP bytes (owned)
    size_t in_len;
    bool head_done;
    size_t head_scan; // bytes of |in| already searched for the end of the head
    rt_http_resp_t resp;
    // Outcome (JOB_DONE).
    rt_posh_status_t status;
    uint64_t ttl_s;
    char why[POSH_WHY_MAX];
} posh_job_t;

typedef struct posh_ready {
    struct posh_ready *next;
    rt_posh_cb cb; // NULL once cancelled
    void *ctx;
    rt_posh_result_t res;
    dna_posh_doc_t *doc; // owned, FOUND only
    char domain[DNA_DOMAIN_MAX];
    char why[POSH_WHY_MAX];
} posh_ready_t;

typedef struct posh_cent {
    struct posh_cent *prev;
    struct posh_cent *next;
    char domain[DNA_DOMAIN_MAX];
    rt_posh_status_t status;
    uint64_t expires_ms;
    uint64_t doc_expires;
    dna_posh_fp_t *fps; // owned, FOUND only
    size_t num_fps;
    size_t num_fps_unsupported;
    char source_url[RT_POSH_SOURCE_URL_MAX + 1];
    char why[POSH_WHY_MAX];
} posh_cent_t;

struct rt_posh {
    rt_posh_conf_t conf;
    SSL_CTX *ctx;
    rt_posh_watch_cb watch;
    void *loop_ctx;
    posh_job_t *jobs;
    size_t num_jobs;
    posh_ready_t *ready;
    posh_ready_t **ready_tail;
    posh_waiter_t *delivering; // waiters of the job being delivered (cancel reaches them)
    posh_cent_t *lru_head;     // most recently used
    posh_cent_t *lru_tail;
    size_t num_cache;
    bool freeing;
};

static uint64_t posh_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *status_name(rt_posh_status_t s) {
    switch (s) {
    case RT_POSH_FOUND:
        return "found";
    case RT_POSH_NONE:
        return "none";
    case RT_POSH_TEMPFAIL:
        return "tempfail";
    case RT_POSH_INVALID:
        return "invalid";
    }
    return "?";
}

// is_ip_literal: a host that dna_domain_normalize accepted but that is an address, not a name.
static bool is_ip_literal(const char *host) {
    if (host[0] == '[') {
        return true;
    }
    for (const char *c = host; *c != '\0'; c++) {
        if (!((*c >= '0' && *c <= '9') || *c == '.')) {
            return false;
        }
    }
    return true;
}

// url_set builds |u| from a normalised host, port and path (path already validated).
static void url_set(posh_url_t *u, uint16_t port) {
    u->port = port;
    if (port == 443) {
        snprintf(u->text, sizeof(u->text), "https://%s%s", u->host, u->path);
    } else {
        snprintf(u->text, sizeof(u->text), "https://%s:%u%s", u->host, (unsigned)port, u->path);
    }
}

// url_path_ok: printable ASCII without SP, starting with '/'.
static bool url_path_ok(const uint8_t *s, size_t len) {
    if (len == 0 || s[0] != '/' || len > DNA_POSH_URL_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f) {
            return false;
        }
    }
    return true;
}

// url_parse parses the peer-supplied URL |s| (|len| bytes): an absolute "https://host[:port]
// [/path][?query][#fragment]" or, when |base| is not NULL, an absolute path "/path" relative to
// |base|. The fragment is dropped. Returns RC_OK, RC_PROTO (not https, malformed, userinfo, IP
// literal host) with |*why| set.
static rc_t url_parse(posh_url_t *out, const char **why, const uint8_t *s, size_t len,
                      const posh_url_t *base, uint16_t default_port) {
    core_cur_t cur;
    core_cur_init(&cur, s, len);
    posh_url_t u = {0};
    uint16_t port = default_port;
    if (len > DNA_POSH_URL_MAX) {
        *why = "URL longer than 2048 bytes";
        return RC_PROTO;
    }
    // Drop a fragment.
    for (size_t i = 0; i < cur.len; i++) {
        if (cur.ptr[i] == '#') {
            cur.len = i;
            break;
        }
    }
    if (base != NULL && cur.len > 0 && cur.ptr[0] == '/' && !(cur.len > 1 && cur.ptr[1] == '/')) {
        if (!url_path_ok(cur.ptr, cur.len)) {
            *why = "malformed redirect path";
            return RC_PROTO;
        }
        u = *base;
        core_memcpy(u.path, cur.ptr, cur.len);
        u.path[cur.len] = '\0';
        url_set(&u, base->port);
        *out = u;
        return RC_OK;
    }
    if (cur.len < 8 || !core_ascii_lower_eq((const char *)cur.ptr, 8, "https://", 8)) {
        *why = "URL is not https://";
        return RC_PROTO;
    }
    cur.ptr += 8;
    cur.len -= 8;
    size_t auth_len = 0;
    while (auth_len < cur.len && cur.ptr[auth_len] != '/' && cur.ptr[auth_len] != '?') {
        auth_len++;
    }
    core_cur_t auth;
    if (!core_cur_get_bytes(&cur, &auth, auth_len)) {
        *why = "malformed URL";
        return RC_PROTO;
    }
    for (size_t i = 0; i < auth.len; i++) {
        if (auth.ptr[i] == '@') {
            *why = "URL with userinfo";
            return RC_PROTO;
        }
        if (auth.ptr[i] == '[') {
            *why = "URL host is an IP literal";
            return RC_PROTO;
        }
    }
    core_cur_t host = auth;
    for (size_t i = 0; i < auth.len; i++) {
        if (auth.ptr[i] == ':') {
            host.len = i;
            core_cur_t pc;
            uint64_t v = 0;
            core_cur_init(&pc, auth.ptr + i + 1, auth.len - i - 1);
            if (!core_cur_get_decimal(&pc, 65535, &v) || !core_cur_empty(&pc) || v == 0) {
                *why = "malformed URL port";
                return RC_PROTO;
            }
            port = (uint16_t)v;
            break;
        }
    }
    if (host.len == 0 ||
        dna_domain_normalize(u.host, sizeof(u.host), (const char *)host.ptr, host.len) != RC_OK ||
        is_ip_literal(u.host)) {
        *why = "URL host is not a valid domain name";
        return RC_PROTO;
    }
    if (cur.len == 0) {
        u.path[0] = '/';
        u.path[1] = '\0';
    } else if (cur.ptr[0] == '?') {
        if (cur.len + 1 > DNA_POSH_URL_MAX) {
            *why = "URL too long";
            return RC_PROTO;
        }
        u.path[0] = '/';
        core_memcpy(u.path + 1, cur.ptr, cur.len);
        u.path[cur.len + 1] = '\0';
        if (!url_path_ok((const uint8_t *)u.path, cur.len + 1)) {
            *why = "malformed URL path";
            return RC_PROTO;
        }
    } else {
        if (!url_path_ok(cur.ptr, cur.len)) {
            *why = "malformed URL path";
            return RC_PROTO;
        }
        core_memcpy(u.path, cur.ptr, cur.len);
        u.path[cur.len] = '\0';
    }
    url_set(&u, port);
    *out = u;
    return RC_OK;
}

// ---- cache ------------------------------------------------------------------------------------

static void cent_unlink(rt_posh_t *p, posh_cent_t *e) {
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        p->lru_head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        p->lru_tail = e->prev;
    }
    e->prev = e->next = NULL;
}

static void cent_push_front(rt_posh_t *p, posh_cent_t *e) {
    e->prev = NULL;
    e->next = p->lru_head;
    if (p->lru_head != NULL) {
        p->lru_head->prev = e;
    }
    p->lru_head = e;
    if (p->lru_tail == NULL) {
        p->lru_tail = e;
    }
}

static void cent_free(rt_posh_t *p, posh_cent_t *e) {
    cent_unlink(p, e);
    p->num_cache--;
    free(e->fps);
    free(e);
}

// cache_find returns the live entry for |domain| (moved to the front), dropping an expired one.
static posh_cent_t *cache_find(rt_posh_t *p, const char *domain, uint64_t now) {
    for (posh_cent_t *e = p->lru_head; e != NULL; e = e->next) {
        if (strcmp(e->domain, domain) == 0) {
            if (e->expires_ms <= now) {
                cent_free(p, e);
                return NULL;
            }
            cent_unlink(p, e);
            cent_push_front(p, e);
            return e;
        }
    }
    return NULL;
}

static void cache_put(rt_posh_t *p, const posh_job_t *job, uint64_t ttl_s) {
    uint64_t now = posh_now_ms();
    for (posh_cent_t *e = p->lru_head; e != NULL; e = e->next) {
        if (strcmp(e->domain, job->domain) == 0) {
            cent_free(p, e);
            break;
        }
    }
    if (ttl_s == 0 || p->conf.cache_max == 0) {
        return;
    }
    while (p->num_cache >= p->conf.cache_max && p->lru_tail != NULL) {
        cent_free(p, p->lru_tail);
    }
    posh_cent_t *e = core_xcalloc(1, sizeof(*e));
    snprintf(e->domain, sizeof(e->domain), "%s", job->domain);
    e->status = job->status;
    e->expires_ms = now + ttl_s * 1000u;
    snprintf(e->source_url, sizeof(e->source_url), "%s",
             job->status == RT_POSH_FOUND ? job->url.text : "");
    snprintf(e->why, sizeof(e->why), "%s", job->why);
    if (job->status == RT_POSH_FOUND) {
        e->doc_expires = job->doc->expires;
        e->num_fps = job->doc->num_fps;
        e->num_fps_unsupported = job->doc->num_fps_unsupported;
        e->fps = core_xcalloc(e->num_fps == 0 ? 1 : e->num_fps, sizeof(*e->fps));
        core_memcpy(e->fps, job->doc->fps, e->num_fps * sizeof(*e->fps));
    }
    cent_push_front(p, e);
    p->num_cache++;
}

// ---- job plumbing -----------------------------------------------------------------------------

static void job_close_conn(posh_job_t *job) {
    rt_posh_t *p = job->p;
    if (job->resolving) {
        if (p->conf.resolver.cancel != NULL) {
            p->conf.resolver.cancel(p->conf.resolver.rctx, job);
        }
        job->resolving = false;
    }
    if (job->ssl != NULL) {
        SSL_free(job->ssl);
        job->ssl = NULL;
    }
    if (job->fd >= 0) {
        p->watch(p->loop_ctx, job->fd, false, false);
        close(job->fd);
        job->fd = -1;
    }
}

// job_finish records the outcome; delivery happens at the next delivery point.
static void job_finish(posh_job_t *job, rt_posh_status_t status, uint64_t ttl_s, const char *fmt,
                       ...) RT_PRINTF(4, 5);
static void job_finish(posh_job_t *job, rt_posh_status_t status, uint64_t ttl_s, const char *fmt,
                       ...) {
    if (job->st == JOB_DONE) {
        return;
    }
    job_close_conn(job);
    job->st = JOB_DONE;
    job->status = status;
    job->ttl_s = ttl_s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(job->why, sizeof(job->why), fmt, ap);
    va_end(ap);
}

static void job_free(posh_job_t *job) {
    if (job == NULL) {
        return;
    }
    job_close_conn(job);
    posh_waiter_t *w = job->waiters;
    while (w != NULL) {
        posh_waiter_t *n = w->next;
        free(w);
        w = n;
    }
    for (size_t i = 0; i < job->num_visited; i++) {
        free(job->visited[i]);
    }
    free(job->ref);
    free(job->doc);
    free(job->in);
    free(job);
}

static void job_start_hop(posh_job_t *job);
static void job_drive(posh_job_t *job);

static void job_on_resolved(void *cbctx, rc_t rc, const struct sockaddr_storage *addrs,
                            const socklen_t *lens, size_t num);

// job_try_connect starts a non-blocking connect to the next address; finishes on exhaustion.
static void job_try_connect(posh_job_t *job) {
    rt_posh_t *p = job->p;
    int last_err = 0;
    while (job->next_addr < job->num_addrs) {
        size_t i = job->next_addr++;
        struct sockaddr_storage *sa = &job->addrs[i];
        if (sa->ss_family == AF_INET) {
            ((struct sockaddr_in *)sa)->sin_port = htons(job->url.port);
        } else if (sa->ss_family == AF_INET6) {
            ((struct sockaddr_in6 *)sa)->sin6_port = htons(job->url.port);
        } else {
            continue;
        }
        int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last_err = errno;
            continue;
        }
        if (connect(fd, (struct sockaddr *)sa, job->lens[i]) == 0 || errno == EINPROGRESS) {
            job->fd = fd;
            job->st = JOB_CONNECT;
            p->watch(p->loop_ctx, fd, false, true);
            return;
        }
        last_err = errno;
        close(fd);
    }
    job_finish(job, RT_POSH_TEMPFAIL, 0, "cannot connect to %s port %u: %s", job->url.host,
               (unsigned)job->url.port, last_err != 0 ? strerror(last_err) : "no usable address");
}

static void job_on_resolved(void *cbctx, rc_t rc, const struct sockaddr_storage *addrs,
                            const socklen_t *lens, size_t num) {
    posh_job_t *job = cbctx;
    job->resolving = false;
    if (job->st != JOB_RESOLVE) {
        return;
    }
    if (rc == RC_DNS_NOT_FOUND && job->redirects == 0 && job->ref == NULL) {
        // The domain itself has no address (NXDOMAIN, no A/AAAA): it has no POSH document. That
        // is an answer, not a temporary failure (RFC 7712 §5.2: fall back to other methods).
        job_finish(job, RT_POSH_NONE, job->p->conf.neg_ttl_s, "%s has no address: no POSH document",
                   job->url.host);
        return;
    }
    if (rc != RC_OK || num == 0) {
        job_finish(job, RT_POSH_TEMPFAIL, 0, "cannot resolve %s: %s", job->url.host,
                   rc != RC_OK ? rc_str(rc) : "no address");
        return;
    }
    job->num_addrs = 0;
    for (size_t i = 0; i < num && job->num_addrs < POSH_ADDRS_MAX; i++) {
        if (lens[i] > sizeof(job->addrs[0])) {
            continue;
        }
        core_memcpy(&job->addrs[job->num_addrs], &addrs[i], lens[i]);
        job->lens[job->num_addrs] = lens[i];
        job->num_addrs++;
    }
    job->next_addr = 0;
    job_try_connect(job);
}

// job_start_hop fetches job->url from scratch (new resolution and connection).
static void job_start_hop(posh_job_t *job) {
    rt_posh_t *p = job->p;
    job_close_conn(job);
    job->in_len = 0;
    job->head_done = false;
    job->head_scan = 0;
    core_memset(&job->resp, 0, sizeof(job->resp));
    if (job->url.port == 443) {
        job->req_len = (size_t)snprintf(job->req, sizeof(job->req),
                                        "GET %s HTTP/1.0\r\nHost: %s\r\n", job->url.path,
                                        job->url.host);
    } else {
        job->req_len = (size_t)snprintf(job->req, sizeof(job->req),
                                        "GET %s HTTP/1.0\r\nHost: %s:%u\r\n", job->url.path,
                                        job->url.host, (unsigned)job->url.port);
    }
    static const char tail[] = "User-Agent: fedrouter-posh\r\nAccept: application/json\r\n"
                               "Connection: close\r\n\r\n";
    RT_CHECK(job->req_len + sizeof(tail) <= sizeof(job->req));
    core_memcpy(job->req + job->req_len, tail, sizeof(tail) - 1);
    job->req_len += sizeof(tail) - 1;
    job->st = JOB_RESOLVE;
    job->resolving = true;
    rc_t rc = p->conf.resolver.resolve(p->conf.resolver.rctx, job->url.host, job->url.port,
                                       job_on_resolved, job);
    if (rc != RC_OK) {
        job->resolving = false;
        job_finish(job, RT_POSH_TEMPFAIL, 0, "cannot resolve %s: %s", job->url.host, rc_str(rc));
    }
}

// job_visit records |u| as visited; false when it was visited before (a loop).
static bool job_visit(posh_job_t *job, const posh_url_t *u) {
    for (size_t i = 0; i < job->num_visited; i++) {
        if (strcmp(job->visited[i], u->text) == 0) {
            return false;
        }
    }
    if (job->num_visited < POSH_VISITED_MAX) {
        job->visited[job->num_visited++] = core_xstrdup(u->text);
    }
    return true;
}

static void job_redirect(posh_job_t *job) {
    rt_posh_t *p = job->p;
    const rt_http_resp_t *r = &job->resp;
    posh_url_t next;
    const char *why = NULL;
    if (!r->has_location) {
        job_finish(job, RT_POSH_INVALID, 0, "HTTP %u redirect without Location", r->status);
        return;
    }
    if (job->redirects >= p->conf.max_redirects) {
        job_finish(job, RT_POSH_INVALID, 0, "more than %u redirects", p->conf.max_redirects);
        return;
    }
    if (url_parse(&next, &why, r->location, r->location_len, &job->url, p->conf.port) != RC_OK) {
        char esc[128];
        job_finish(job, RT_POSH_INVALID, 0, "bad redirect to \"%s\": %s",
                   core_log_escape(esc, sizeof(esc), (const char *)r->location, r->location_len),
                   why);
        return;
    }
    if (!job_visit(job, &next)) {
        job_finish(job, RT_POSH_INVALID, 0, "redirect loop back to %s", next.text);
        return;
    }
    job->redirects++;
    job->url = next;
    job_start_hop(job);
}

// job_body handles a complete 200 body.
static void job_body(posh_job_t *job, const uint8_t *body, size_t len) {
    rt_posh_t *p = job->p;
    unsigned flags = job->ref != NULL ? DNA_POSH_VIA_REFERENCE : 0;
    rc_t rc = dna_posh_parse(job->doc, body, len, flags);
    if (rc != RC_OK) {
        if (rc == RC_ENOBUFS) {
            job_finish(job, RT_POSH_INVALID, 0, "POSH document too large or too many fingerprints");
            return;
        }
        if (job->ref != NULL && dna_posh_parse(job->doc, body, len, 0) == RC_OK &&
            job->doc->kind == DNA_POSH_KIND_REFERENCE) {
            job_finish(job, RT_POSH_INVALID, 0, "reference document points to another reference");
            return;
        }
        job_finish(job, RT_POSH_INVALID, 0, "malformed POSH document (%zu bytes)", len);
        return;
    }
    if (job->doc->kind == DNA_POSH_KIND_REFERENCE) {
        posh_url_t next;
        const char *why = NULL;
        if (job->doc->expires == 0) {
            job_finish(job, RT_POSH_NONE, p->conf.neg_ttl_s,
                       "reference document with expires 0 (delegation withdrawn)");
            return;
        }
        if (url_parse(&next, &why, (const uint8_t *)job->doc->url, strlen(job->doc->url), NULL,
                      p->conf.port) != RC_OK) {
            job_finish(job, RT_POSH_INVALID, 0, "bad reference URL: %s", why);
            return;
        }
        job->ref = core_xmalloc(sizeof(*job->ref));
        *job->ref = *job->doc;
        (void)job_visit(job, &next);
        job->url = next;
        job_start_hop(job);
        return;
    }
    if (job->doc->expires == 0) {
        job_finish(job, RT_POSH_NONE, p->conf.neg_ttl_s,
                   "fingerprints document with expires 0 (material withdrawn)");
        return;
    }
    uint64_t ttl = dna_posh_cache_ttl(job->ref, job->doc, p->conf.max_ttl_s);
    job_finish(job, RT_POSH_FOUND, ttl, "%zu fingerprint(s)%s", job->doc->num_fps,
               job->ref != NULL ? " via reference" : "");
}

// job_head acts on a complete response head. Returns true when the body is still wanted.
static bool job_head(posh_job_t *job) {
    rt_posh_t *p = job->p;
    const rt_http_resp_t *r = &job->resp;
    switch (r->status) {
    case 200:
        if (r->has_transfer_encoding) {
            job_finish(job, RT_POSH_INVALID, 0, "Transfer-Encoding in an HTTP/1.0 response");
            return false;
        }
        if (r->has_content_length && r->content_length > DNA_POSH_DOC_MAX) {
            job_finish(job, RT_POSH_INVALID, 0, "document of %llu bytes over the %u byte limit",
                       (unsigned long long)r->content_length, (unsigned)DNA_POSH_DOC_MAX);
            return false;
        }
        return true;
    case 301:
    case 302:
    case 303:
    case 307:
    case 308:
        job_redirect(job);
        return false;
    case 404:
        if (job->ref != NULL) {
            job_finish(job, RT_POSH_INVALID, 0, "referenced document not found (HTTP 404)");
        } else {
            job_finish(job, RT_POSH_NONE, p->conf.neg_ttl_s, "no POSH document (HTTP 404)");
        }
        return false;
    default:
        if (r->status >= 500) {
            job_finish(job, RT_POSH_TEMPFAIL, 0, "HTTP %u", r->status);
        } else {
            job_finish(job, RT_POSH_INVALID, 0, "unexpected HTTP status %u", r->status);
        }
        return false;
    }
}

// job_input examines the bytes read so far. |eof|: the server closed (|clean|: with
// close_notify).
static void job_input(posh_job_t *job, bool eof, bool clean) {
    if (!job->head_done) {
        // Parse the head once, when its end has arrived: a server that sends one byte per read
        // must not make us parse it again each time (quadratic). Only new bytes are searched.
        size_t from = job->head_scan >= 3 ? job->head_scan - 3 : 0;
        bool complete = false;
        for (size_t i = from; i + 4 <= job->in_len && !complete; i++) {
            complete = memcmp(job->in + i, "\r\n\r\n", 4) == 0;
        }
        job->head_scan = job->in_len;
        if (!complete && !eof && job->in_len <= RT_HTTP_HEAD_MAX) {
            return;
        }
        rc_t rc = rt_http_resp_parse(&job->resp, job->in, job->in_len);
        if (rc == RC_EAGAIN) {
            if (eof) {
                job_finish(job, RT_POSH_TEMPFAIL, 0, "connection closed before the response head");
            }
            return;
        }
        if (rc == RC_ENOBUFS) {
            job_finish(job, RT_POSH_INVALID, 0, "HTTP response head over %u bytes",
                       (unsigned)RT_HTTP_HEAD_MAX);
            return;
        }
        if (rc != RC_OK) {
            job_finish(job, RT_POSH_INVALID, 0, "malformed HTTP response head");
            return;
        }
        job->head_done = true;
        if (!job_head(job)) {
            return;
        }
    }
    const rt_http_resp_t *r = &job->resp;
    size_t body_len = job->in_len - r->head_len;
    const uint8_t *body = job->in + r->head_len;
    if (body_len > DNA_POSH_DOC_MAX) {
        job_finish(job, RT_POSH_INVALID, 0, "document over the %u byte limit",
                   (unsigned)DNA_POSH_DOC_MAX);
        return;
    }
    if (r->has_content_length && body_len >= r->content_length) {
        job_body(job, body, (size_t)r->content_length);
        return;
    }
    if (eof) {
        if (r->has_content_length) {
            job_finish(job, RT_POSH_TEMPFAIL, 0, "connection closed after %zu of %llu bytes",
                       body_len, (unsigned long long)r->content_length);
        } else if (!clean) {
            job_finish(job, RT_POSH_TEMPFAIL, 0, "connection closed without close_notify");
        } else {
            job_body(job, body, body_len);
        }
    }
}

static void tls_err_text(char *out, size_t out_len) {
    uint32_t e = ERR_get_error();
    if (e == 0) {
        snprintf(out, out_len, "connection closed");
    } else {
        ERR_error_string_n(e, out, out_len);
    }
    ERR_clear_error();
}

// job_tls_fail turns a handshake failure into INVALID (certificate) or TEMPFAIL (other).
static void job_tls_fail(posh_job_t *job) {
    long vr = SSL_get_verify_result(job->ssl);
    if (vr != X509_V_OK) {
        ERR_clear_error();
        job_finish(job, RT_POSH_INVALID, 0, "HTTPS certificate of %s not accepted: %s",
                   job->url.host, X509_verify_cert_error_string(vr));
        return;
    }
    char e[160];
    tls_err_text(e, sizeof(e));
    job_finish(job, RT_POSH_TEMPFAIL, 0, "TLS with %s failed: %s", job->url.host, e);
}

static void job_start_tls(posh_job_t *job) {
    rt_posh_t *p = job->p;
    job->ssl = SSL_new(p->ctx);
    if (job->ssl == NULL || !SSL_set_fd(job->ssl, job->fd) ||
        !SSL_set_tlsext_host_name(job->ssl, job->url.host)) {
        job_finish(job, RT_POSH_TEMPFAIL, 0, "TLS setup failed");
        return;
    }
    X509_VERIFY_PARAM *param = SSL_get0_param(job->ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
    if (!X509_VERIFY_PARAM_set1_host(param, job->url.host, strlen(job->url.host))) {
        job_finish(job, RT_POSH_TEMPFAIL, 0, "TLS setup failed (host name)");
        return;
    }
    SSL_set_connect_state(job->ssl);
    job->st = JOB_TLS;
}

// job_want asks the loop for the readiness TLS is waiting for; false for a real error.
static bool job_want(posh_job_t *job, int err) {
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        return false;
    }
    job->p->watch(job->p->loop_ctx, job->fd, err == SSL_ERROR_WANT_READ,
                  err == SSL_ERROR_WANT_WRITE);
    return true;
}

// job_drive advances the connection as far as it goes without blocking.
static void job_drive(posh_job_t *job) {
    for (;;) {
        int r;
        int err;
        switch (job->st) {
        case JOB_TLS:
            ERR_clear_error();
            r = SSL_do_handshake(job->ssl);
            if (r == 1) {
                job->st = JOB_SEND;
                continue;
            }
            err = SSL_get_error(job->ssl, r);
            if (job_want(job, err)) {
                return;
            }
            job_tls_fail(job);
            return;
        case JOB_SEND:
            ERR_clear_error();
            r = SSL_write(job->ssl, job->req, (int)job->req_len);
            if (r > 0) {
                job->st = JOB_READ;
                continue;
            }
            err = SSL_get_error(job->ssl, r);
            if (job_want(job, err)) {
                return;
            }
            {
                char e[160];
                tls_err_text(e, sizeof(e));
                job_finish(job, RT_POSH_TEMPFAIL, 0, "sending to %s failed: %s", job->url.host,
                           e);
            }
            return;
        case JOB_READ: {
            size_t room = POSH_IN_CAP - job->in_len;
            if (room == 0) { // not reached: job_input refuses a full buffer first
                job_finish(job, RT_POSH_INVALID, 0, "response too large");
                return;
            }
            ERR_clear_error();
            r = SSL_read(job->ssl, job->in + job->in_len, room > INT32_MAX ? INT32_MAX : (int)room);
            if (r > 0) {
                job->in_len += (size_t)r;
                job_input(job, false, false);
                if (job->st != JOB_READ) {
                    return; // finished, or moved on to another hop (which never resolves
                            // synchronously, so it cannot be back in JOB_READ here)
                }
                continue;
            }
            err = SSL_get_error(job->ssl, r);
            if (job_want(job, err)) {
                return;
            }
            if (err == SSL_ERROR_ZERO_RETURN) {
                job_input(job, true, true);
            } else if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
                job_input(job, true, false);
            } else {
                char e[160];
                tls_err_text(e, sizeof(e));
                job_finish(job, RT_POSH_TEMPFAIL, 0, "reading from %s failed: %s",
                           job->url.host, e);
            }
            if (job->st == JOB_READ) {
                // EOF with an incomplete answer that job_input left open cannot happen; be safe.
                job_finish(job, RT_POSH_TEMPFAIL, 0, "connection closed early");
            }
            return;
        }
        default:
            return;
        }
    }
}

static void job_on_connected(posh_job_t *job) {
    rt_posh_t *p = job->p;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (getsockopt(job->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
        soerr = errno;
    }
    if (soerr != 0) {
        p->watch(p->loop_ctx, job->fd, false, false);
        close(job->fd);
        job->fd = -1;
        if (job->next_addr < job->num_addrs) {
            job_try_connect(job);
        } else {
            job_finish(job, RT_POSH_TEMPFAIL, 0, "cannot connect to %s port %u: %s",
                       job->url.host, (unsigned)job->url.port, strerror(soerr));
        }
        return;
    }
    job_start_tls(job);
    if (job->st == JOB_TLS) {
        job_drive(job);
    }
}

// ---- delivery ---------------------------------------------------------------------------------

static void deliver_job(rt_posh_t *p, posh_job_t *job) {
    rt_posh_result_t res = {0};
    res.status = job->status;
    res.doc = job->status == RT_POSH_FOUND ? job->doc : NULL;
    res.why = job->why;
    res.domain = job->domain;
    if (job->status == RT_POSH_FOUND || job->status == RT_POSH_NONE) {
        res.ttl_s = job->ttl_s;
    } else {
        res.ttl_s = p->conf.fail_ttl_s;
    }
    snprintf(res.source_url, sizeof(res.source_url), "%s",
             job->status == RT_POSH_FOUND ? job->url.text : "");
    CORE_LOG(job->status == RT_POSH_FOUND || job->status == RT_POSH_NONE ? CORE_LOG_INFO
                                                                         : CORE_LOG_WARN,
             CORE_LOG_SRC_DNA, "posh %s: %s at %s: %s (cache %llus)", job->domain,
             status_name(job->status), job->url.text, job->why, (unsigned long long)res.ttl_s);
    if (!p->freeing) {
        cache_put(p, job, res.ttl_s);
    }
    posh_waiter_t *w = job->waiters;
    job->waiters = NULL;
    job->waiters_tail = &job->waiters;
    p->delivering = w;
    while (w != NULL) {
        if (w->cb != NULL) {
            rt_posh_cb cb = w->cb;
            w->cb = NULL;
            cb(w->ctx, &res);
        }
        posh_waiter_t *n = w->next;
        p->delivering = n;
        free(w);
        w = n;
    }
    p->delivering = NULL;
}

// deliver runs the callbacks of finished jobs and deferred results.
static void deliver(rt_posh_t *p) {
    for (;;) {
        posh_job_t **pj = &p->jobs;
        while (*pj != NULL && (*pj)->st != JOB_DONE) {
            pj = &(*pj)->next;
        }
        if (*pj == NULL) {
            break;
        }
        posh_job_t *job = *pj;
        *pj = job->next;
        p->num_jobs--;
        deliver_job(p, job);
        job_free(job);
    }
    while (p->ready != NULL) {
        posh_ready_t *r = p->ready;
        p->ready = r->next;
        if (p->ready == NULL) {
            p->ready_tail = &p->ready;
        }
        r->next = NULL;
        // Keep |r| reachable by rt_posh_cancel while its callback runs (it is off the list, so
        // a cancel inside the callback has nothing left to do for it).
        if (r->cb != NULL) {
            r->cb(r->ctx, &r->res);
        }
        free(r->doc);
        free(r);
    }
}

// ---- public API -------------------------------------------------------------------------------

rt_posh_t *rt_posh_new(const rt_posh_conf_t *conf, rt_posh_watch_cb watch, void *loop_ctx) {
    rt_posh_t *p = NULL;
    if (conf == NULL || watch == NULL || conf->ca_file == NULL ||
        conf->resolver.resolve == NULL) {
        CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_DNA, "posh: no trust store or resolver configured");
        return NULL;
    }
    p = core_xcalloc(1, sizeof(*p));
    p->conf = *conf;
    p->conf.ca_file = NULL; // read now, not kept
    if (p->conf.port == 0) {
        p->conf.port = 443;
    }
    if (p->conf.timeout_ms == 0) {
        p->conf.timeout_ms = 5000;
    }
    if (p->conf.max_redirects == 0) {
        p->conf.max_redirects = 3;
    } else if (p->conf.max_redirects == RT_POSH_NO_REDIRECTS) {
        p->conf.max_redirects = 0;
    } else if (p->conf.max_redirects > POSH_REDIRECTS_CAP) {
        p->conf.max_redirects = POSH_REDIRECTS_CAP;
    }
    if (p->conf.max_ttl_s == 0) {
        p->conf.max_ttl_s = 86400;
    }
    if (p->conf.neg_ttl_s == 0) {
        p->conf.neg_ttl_s = 300;
    }
    if (p->conf.fail_ttl_s == 0) {
        p->conf.fail_ttl_s = 30;
    }
    if (p->conf.cache_max == 0) {
        p->conf.cache_max = 4096;
    }
    if (p->conf.pending_max == 0) {
        p->conf.pending_max = 256;
    }
    p->watch = watch;
    p->loop_ctx = loop_ctx;
    p->ready_tail = &p->ready;
    p->ctx = SSL_CTX_new(TLS_method());
    if (p->ctx == NULL || !SSL_CTX_set_min_proto_version(p->ctx, TLS1_2_VERSION) ||
        !SSL_CTX_load_verify_locations(p->ctx, conf->ca_file, NULL)) {
        char e[160];
        tls_err_text(e, sizeof(e));
        CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_DNA, "posh: cannot load trust store %s: %s",
                 conf->ca_file, e);
        SSL_CTX_free(p->ctx);
        free(p);
        return NULL;
    }
    SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER, NULL);
    return p;
}

void rt_posh_free(rt_posh_t *p) {
    if (p == NULL) {
        return;
    }
    p->freeing = true;
    for (posh_job_t *job = p->jobs; job != NULL; job = job->next) {
        job_finish(job, RT_POSH_TEMPFAIL, 0, "shutting down");
    }
    deliver(p);
    while (p->lru_head != NULL) {
        cent_free(p, p->lru_head);
    }
    SSL_CTX_free(p->ctx);
    free(p);
}

rc_t rt_posh_fetch(rt_posh_t *p, const char *domain, rt_posh_cb cb, void *ctx) {
    char dom[DNA_DOMAIN_MAX];
    posh_job_t *job = NULL;
    if (p == NULL || domain == NULL || cb == NULL || p->freeing) {
        return RC_EINVAL;
    }
    if (dna_domain_normalize(dom, sizeof(dom), domain, strlen(domain)) != RC_OK ||
        is_ip_literal(dom)) {
        return RC_DNA_BAD_NAME;
    }
    uint64_t now = posh_now_ms();
    posh_cent_t *e = cache_find(p, dom, now);
    if (e != NULL) {
        posh_ready_t *r = core_xcalloc(1, sizeof(*r));
        r->cb = cb;
        r->ctx = ctx;
        snprintf(r->domain, sizeof(r->domain), "%s", e->domain);
        snprintf(r->why, sizeof(r->why), "%s", e->why);
        r->res.status = e->status;
        r->res.ttl_s = (e->expires_ms - now + 999) / 1000u;
        r->res.from_cache = true;
        r->res.why = r->why;
        r->res.domain = r->domain;
        snprintf(r->res.source_url, sizeof(r->res.source_url), "%s", e->source_url);
        if (e->status == RT_POSH_FOUND) {
            r->doc = core_xcalloc(1, sizeof(*r->doc));
            r->doc->kind = DNA_POSH_KIND_FINGERPRINTS;
            r->doc->expires = e->doc_expires;
            r->doc->num_fps = e->num_fps;
            r->doc->num_fps_unsupported = e->num_fps_unsupported;
            core_memcpy(r->doc->fps, e->fps, e->num_fps * sizeof(*e->fps));
            r->res.doc = r->doc;
        }
        *p->ready_tail = r;
        p->ready_tail = &r->next;
        CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_DNA, "posh %s: %s (cached)", dom,
                 status_name(e->status));
        return RC_OK;
    }
    for (job = p->jobs; job != NULL; job = job->next) {
        if (job->st != JOB_DONE && strcmp(job->domain, dom) == 0) {
            break;
        }
    }
    if (job == NULL) {
        if (p->num_jobs >= p->conf.pending_max) {
            return RC_ENOBUFS;
        }
        job = core_xcalloc(1, sizeof(*job));
        job->p = p;
        job->fd = -1;
        job->waiters_tail = &job->waiters;
        snprintf(job->domain, sizeof(job->domain), "%s", dom);
        snprintf(job->url.host, sizeof(job->url.host), "%s", dom);
        snprintf(job->url.path, sizeof(job->url.path), "%s", POSH_PATH);
        url_set(&job->url, p->conf.port);
        job->doc = core_xcalloc(1, sizeof(*job->doc));
        job->in = core_xmalloc(POSH_IN_CAP);
        job->deadline_ms = now + p->conf.timeout_ms;
        (void)job_visit(job, &job->url);
        job->next = p->jobs;
        p->jobs = job;
        p->num_jobs++;
        job_start_hop(job); // may finish the job at once: delivered at the next tick
    } else if (job->num_waiters >= POSH_WAITERS_MAX) {
        return RC_ENOBUFS;
    }
    posh_waiter_t *w = core_xcalloc(1, sizeof(*w));
    w->cb = cb;
    w->ctx = ctx;
    *job->waiters_tail = w;
    job->waiters_tail = &w->next;
    job->num_waiters++;
    return RC_OK;
}

void rt_posh_cancel(rt_posh_t *p, void *ctx) {
    if (p == NULL) {
        return;
    }
    for (posh_job_t *job = p->jobs; job != NULL; job = job->next) {
        for (posh_waiter_t *w = job->waiters; w != NULL; w = w->next) {
            if (w->ctx == ctx) {
                w->cb = NULL;
            }
        }
    }
    for (posh_waiter_t *w = p->delivering; w != NULL; w = w->next) {
        if (w->ctx == ctx) {
            w->cb = NULL;
        }
    }
    for (posh_ready_t *r = p->ready; r != NULL; r = r->next) {
        if (r->ctx == ctx) {
            r->cb = NULL;
        }
    }
}

void rt_posh_process(rt_posh_t *p, int fd, bool readable, bool writable) {
    if (p == NULL) {
        return;
    }
    for (posh_job_t *job = p->jobs; job != NULL; job = job->next) {
        if (job->fd != fd || job->st == JOB_DONE) {
            continue;
        }
        if (job->st == JOB_CONNECT) {
            if (writable || readable) {
                job_on_connected(job);
            }
        } else if (readable || writable) {
            job_drive(job);
        }
        break;
    }
    deliver(p);
}

void rt_posh_tick(rt_posh_t *p, uint64_t now_ms) {
    if (p == NULL) {
        return;
    }
    for (posh_job_t *job = p->jobs; job != NULL; job = job->next) {
        if (job->st != JOB_DONE && job->deadline_ms <= now_ms) {
            static const char *const names[] = {"resolving", "connecting", "in TLS handshake",
                                                "sending", "reading", "done"};
            job_finish(job, RT_POSH_TEMPFAIL, 0, "timed out after %u ms while %s %s",
                       p->conf.timeout_ms, names[job->st], job->url.host);
        }
    }
    deliver(p);
}

uint32_t rt_posh_next_timeout_ms(rt_posh_t *p, uint32_t max_ms) {
    if (p == NULL) {
        return max_ms;
    }
    if (p->ready != NULL) {
        return 0;
    }
    uint64_t now = posh_now_ms();
    uint64_t best = max_ms;
    for (posh_job_t *job = p->jobs; job != NULL; job = job->next) {
        if (job->st == JOB_DONE || job->deadline_ms <= now) {
            return 0;
        }
        if (job->deadline_ms - now < best) {
            best = job->deadline_ms - now;
        }
    }
    return (uint32_t)best;
}
