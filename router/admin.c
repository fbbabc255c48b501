// admin.c: the admin socket (admin.h). One thread, one request at a time: accept, read one line,
// answer one JSON object, close. Worker state is only read by the workers themselves, on request.
#include "router/admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "router/core/mem.h"
#include "router/internal.h"

#define ADMIN_LINE_MAX 512
#define ADMIN_WAIT_MS 3000               // how long a request waits for every worker
#define ADMIN_IO_TIMEOUT_S 2             // a client that does not send its line is dropped
#define ADMIN_PART_MAX (64u * 1024 * 1024) // bytes of JSON one worker may append

#define ADMIN_VERDICTS_MAX 10000u // verdict entries one answer lists ("total" counts them all)

typedef enum admin_what {
    ADMIN_PEERS = 1,
    ADMIN_PAIRS,
    ADMIN_PEER_OP, // flush-peer, drain-peer, undrain-peer: |op| on the peers at |sa|
} admin_what_t;

// A request posted to every worker. The workers only decrement |pending| (under |lock|); the
// admin thread alone frees it: once pending is 0, or at rt_admin_stop for abandoned ones.
typedef struct rt_admin_req {
    struct rt_admin_req *next; // abandoned list
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint32_t pending;
    admin_what_t what;
    rt_admin_peer_op_t op;      // ADMIN_PEER_OP
    struct sockaddr_storage sa; // ADMIN_PEER_OP
    uint32_t num_parts;
    core_bld_t *parts; // [num_parts]: part i is written by worker i only
} admin_req_t;

struct rt_admin {
    rt_router_t *rt;
    char *path;
    int fd;
    int wake[2]; // pipe: rt_admin_stop writes, the thread's poll sees it
    pthread_t thread;
    bool started;
    admin_req_t *abandoned;
};

void rt_admin_json_str(core_bld_t *b, const char *s) {
    if (s == NULL) {
        core_bld_add_str(b, "null");
        return;
    }
    core_bld_add_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            core_bld_printf(b, "\\%c", *p);
        } else if (*p < 0x20 || *p == 0x7f) {
            core_bld_printf(b, "\\u%04x", *p);
        } else {
            core_bld_add(b, p, 1);
        }
    }
    core_bld_add_str(b, "\"");
}

static admin_req_t *req_new(admin_what_t what, uint32_t num_workers) {
    admin_req_t *r = core_xcalloc(1, sizeof(*r));
    pthread_mutex_init(&r->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &ca);
    pthread_condattr_destroy(&ca);
    r->what = what;
    r->num_parts = num_workers;
    r->pending = num_workers;
    r->parts = core_xcalloc(num_workers, sizeof(core_bld_t));
    for (uint32_t i = 0; i < num_workers; i++) {
        core_bld_init(&r->parts[i], ADMIN_PART_MAX);
    }
    return r;
}

static void req_free(admin_req_t *r) {
    for (uint32_t i = 0; i < r->num_parts; i++) {
        core_bld_cleanup(&r->parts[i]);
    }
    free(r->parts);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void rt_admin_worker_answer(rt_worker_t *w, rt_msg_t *m) {
    admin_req_t *r = m->admin;
    if (r != NULL && w->idx < r->num_parts) {
        if (r->what == ADMIN_PEER_OP) {
            rt_pool_admin_peer(w, r->op, &r->sa, &r->parts[w->idx]);
        } else {
            rt_pool_admin_dump(w, r->what == ADMIN_PAIRS, &r->parts[w->idx]);
        }
        pthread_mutex_lock(&r->lock);
        r->pending--;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock); // |r| may be freed by the admin thread from here on
    }
    rt_msg_free(m);
}

// sweep_abandoned frees the timed-out requests every worker has answered since.
static void sweep_abandoned(rt_admin_t *a) {
    admin_req_t **pp = &a->abandoned;
    while (*pp != NULL) {
        admin_req_t *r = *pp;
        pthread_mutex_lock(&r->lock);
        bool done = r->pending == 0;
        pthread_mutex_unlock(&r->lock);
        if (done) {
            *pp = r->next;
            req_free(r);
        } else {
            pp = &r->next;
        }
    }
}

// ask_workers_op posts a |what| request (with |op| on address |sa| for ADMIN_PEER_OP) to every
// worker and appends their parts to |out| as one JSON array body. Returns false (request
// abandoned) when a worker did not answer in time.
static bool ask_workers_op(rt_admin_t *a, admin_what_t what, rt_admin_peer_op_t op,
                           const struct sockaddr_storage *sa, core_bld_t *out, bool *overflow) {
    rt_router_t *rt = a->rt;
    admin_req_t *r = req_new(what, rt->num_workers);
    r->op = op;
    if (sa != NULL) {
        r->sa = *sa;
    }
    for (uint32_t i = 0; i < rt->num_workers; i++) {
        rt_msg_t *m = core_xcalloc(1, sizeof(*m));
        m->kind = RT_MSG_ADMIN;
        m->admin = r;
        m->size = sizeof(*m);
        m->next = NULL;
        rt_worker_deliver(&rt->workers[i], m, m);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ADMIN_WAIT_MS / 1000;
    pthread_mutex_lock(&r->lock);
    while (r->pending > 0) {
        if (pthread_cond_timedwait(&r->cond, &r->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    bool done = r->pending == 0;
    pthread_mutex_unlock(&r->lock);
    if (!done) {
        r->next = a->abandoned;
        a->abandoned = r;
        return false;
    }
    bool first = true;
    for (uint32_t i = 0; i < r->num_parts; i++) {
        if (core_bld_finish(&r->parts[i]) != RC_OK) {
            *overflow = true;
            continue;
        }
        if (r->parts[i].len == 0) {
            continue;
        }
        core_bld_add_str(out, first ? "" : ",");
        first = false;
        core_bld_add(out, r->parts[i].data, r->parts[i].len);
    }
    req_free(r);
    return true;
}

// ask_workers: ask_workers_op for a dump.
static bool ask_workers(rt_admin_t *a, admin_what_t what, core_bld_t *out, bool *overflow) {
    return ask_workers_op(a, what, 0, NULL, out, overflow);
}

// answer_error_as replaces |b| with the error answer |msg|; |usage| adds "usage":true, which marks
// a request the router cannot take as written (unknown command, bad arguments): fedctl exits 2.
static void answer_error_as(core_bld_t *b, bool usage, const char *msg) {
    core_bld_reset(b);
    core_bld_add_str(b, usage ? "{\"ok\":false,\"usage\":true,\"error\":"
                              : "{\"ok\":false,\"error\":");
    rt_admin_json_str(b, msg);
    core_bld_add_str(b, "}\n");
}

static void answer_error(core_bld_t *b, const char *msg) {
    answer_error_as(b, false, msg);
}

// answer_usage: an error answer for a malformed request (see answer_error_as).
static void answer_usage(core_bld_t *b, const char *msg) {
    answer_error_as(b, true, msg);
}

// parse_addr reads "a.b.c.d:port" or "[v6]:port" (bounded, no libc number parsing).
static bool parse_addr(const char *s, size_t len, struct sockaddr_storage *out) {
    size_t colon = len;
    for (size_t i = len; i > 0; i--) {
        if (s[i - 1] == ':') {
            colon = i - 1;
            break;
        }
    }
    if (colon == len || colon == 0 || len - colon - 1 == 0 || len - colon - 1 > 5) {
        return false;
    }
    uint32_t port = 0;
    for (size_t i = colon + 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        port = port * 10 + (uint32_t)(s[i] - '0');
    }
    if (port == 0 || port > 65535) {
        return false;
    }
    char host[INET6_ADDRSTRLEN + 1];
    size_t hs = 0, he = colon;
    bool v6 = s[0] == '[';
    if (v6) {
        if (s[colon - 1] != ']') {
            return false;
        }
        hs = 1;
        he = colon - 1;
    }
    if (he <= hs || he - hs >= sizeof(host)) {
        return false;
    }
    memcpy(host, s + hs, he - hs);
    host[he - hs] = '\0';
    memset(out, 0, sizeof(*out));
    if (v6) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        return inet_pton(AF_INET6, host, &a6->sin6_addr) == 1;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &a4->sin_addr) == 1;
}

static void answer_stats(rt_admin_t *a, core_bld_t *b) {
    rt_router_t *rt = a->rt;
    rt_stats_t **blocks = core_xcalloc(rt->num_workers, sizeof(*blocks));
    for (uint32_t i = 0; i < rt->num_workers; i++) {
        blocks[i] = &rt->workers[i].stats;
    }
    int64_t *tot = core_xcalloc(RT_STAT__COUNT, sizeof(*tot));
    rt_stats_sum(tot, blocks, rt->num_workers);
    static const struct {
        const char *name;
        const char *labels;
    } names[] = {
#define RT_STAT(id, kind, name, labels, help) {name, labels},
#include "router/stats_list.h"
#undef RT_STAT
    };
    core_bld_add_str(b, "{\"ok\":true,\"stats\":[");
    for (size_t i = 0; i < RT_ARRAY_LEN(names); i++) {
        core_bld_add_str(b, i == 0 ? "{\"name\":" : ",{\"name\":");
        rt_admin_json_str(b, names[i].name);
        core_bld_add_str(b, ",\"labels\":");
        rt_admin_json_str(b, names[i].labels);
        core_bld_printf(b, ",\"value\":%lld}", (long long)tot[i]);
    }
    core_bld_add_str(b, "]}\n");
    free(tot);
    free(blocks);
}

// parse_ip reads a bare address ("a.b.c.d", "v6" or "[v6]") as port 0 (bounded).
static bool parse_ip(const char *s, size_t len, struct sockaddr_storage *out) {
    char host[INET6_ADDRSTRLEN + 1];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(host)) {
        return false;
    }
    memcpy(host, s, len);
    host[len] = '\0';
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        return true;
    }
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

// addr_text writes |sa| as "ip:port" ("[v6]:port"); port 0 (an inbound peer) as "ip".
static void addr_text(const struct sockaddr_storage *sa, char *out, size_t cap) {
    char ip[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    bool v6 = sa->ss_family == AF_INET6;
    if (v6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
        port = ntohs(a6->sin6_port);
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
        port = ntohs(a4->sin_port);
    }
    if (port == 0) {
        snprintf(out, cap, "%s", ip);
    } else {
        snprintf(out, cap, v6 ? "[%s]:%u" : "%s:%u", ip, port);
    }
}

// next_token splits the next space-separated token off [*p, end).
static bool next_token(const char **p, const char *end, const char **tok, size_t *tok_len) {
    while (*p < end && **p == ' ') {
        (*p)++;
    }
    if (*p >= end) {
        return false;
    }
    *tok = *p;
    while (*p < end && **p != ' ') {
        (*p)++;
    }
    *tok_len = (size_t)(*p - *tok);
    return true;
}

// answer_verdicts lists the verdict table, filtered by "--domain D" and "--peer IP[:PORT]" in
// |args|. The table has its own shard locks: the admin thread reads it directly.
static void answer_verdicts(rt_admin_t *a, const char *args, size_t args_len, core_bld_t *b) {
    static const char usage[] = "usage: verdicts [--domain DOMAIN] [--peer IP[:PORT]]";
    const char *p = args, *end = args + args_len, *tok, *val;
    size_t tok_len, val_len;
    char domain[254] = "";
    struct sockaddr_storage sa;
    pool_verdict_filter_t filter = {0};
    while (next_token(&p, end, &tok, &tok_len)) {
        bool is_domain = tok_len == 8 && memcmp(tok, "--domain", 8) == 0;
        bool is_peer = tok_len == 6 && memcmp(tok, "--peer", 6) == 0;
        if ((!is_domain && !is_peer) || !next_token(&p, end, &val, &val_len)) {
            answer_usage(b, usage);
            return;
        }
        if (is_domain) {
            if (val_len >= sizeof(domain)) {
                answer_usage(b, usage);
                return;
            }
            memcpy(domain, val, val_len);
            domain[val_len] = '\0';
            for (size_t i = 0; i < val_len; i++) { // stored as lower-case A-labels
                if (domain[i] >= 'A' && domain[i] <= 'Z') {
                    domain[i] = (char)(domain[i] - 'A' + 'a');
                }
            }
            filter.domain = domain;
        } else {
            if (!parse_addr(val, val_len, &sa) && !parse_ip(val, val_len, &sa)) {
                answer_usage(b, usage);
                return;
            }
            filter.addr = &sa;
        }
    }
    pool_verdict_entry_t *e = core_xcalloc(ADMIN_VERDICTS_MAX, sizeof(*e));
    uint64_t now = rt_now_ms();
    size_t total = pool_verdicts_dump(a->rt->verdicts, &filter, now, e, ADMIN_VERDICTS_MAX);
    size_t n = total < ADMIN_VERDICTS_MAX ? total : ADMIN_VERDICTS_MAX;
    core_bld_printf(b, "{\"ok\":true,\"total\":%zu,\"truncated\":%s,\"verdicts\":[", total,
                    n < total ? "true" : "false");
    for (size_t i = 0; i < n; i++) {
        char at[INET6_ADDRSTRLEN + 16];
        addr_text(&e[i].addr, at, sizeof(at));
        core_bld_printf(b, "%s{\"peer\":", i == 0 ? "" : ",");
        rt_admin_json_str(b, at);
        bool has_fp = false;
        for (size_t k = 0; k < POOL_FP_LEN; k++) {
            has_fp |= e[i].fp[k] != 0;
        }
        if (has_fp) {
            core_bld_add_str(b, ",\"fp\":\"");
            for (size_t k = 0; k < POOL_FP_LEN; k++) {
                core_bld_printf(b, "%02x", e[i].fp[k]);
            }
            core_bld_add_str(b, "\"");
        } else {
            core_bld_add_str(b, ",\"fp\":null");
        }
        core_bld_add_str(b, ",\"domain\":");
        rt_admin_json_str(b, e[i].domain);
        uint64_t left = e[i].v.expires_ms > now ? (e[i].v.expires_ms - now + 999) / 1000 : 0;
        core_bld_printf(b, ",\"positive\":%s,\"prooftype\":\"%s\",\"expires_in_s\":%llu}",
                        e[i].v.positive ? "true" : "false", pool_prooftype_name(e[i].v.proof),
                        (unsigned long long)left);
    }
    core_bld_add_str(b, "]}\n");
    free(e);
}

// answer_peer_op runs flush-peer / drain-peer / undrain-peer for |arg| on every worker.
static void answer_peer_op(rt_admin_t *a, rt_admin_peer_op_t op, const char *cmd, const char *arg,
                           size_t arg_len, core_bld_t *b) {
    struct sockaddr_storage sa;
    if (arg_len == 0 || !parse_addr(arg, arg_len, &sa)) {
        char msg[96];
        snprintf(msg, sizeof(msg), "usage: %s IP:PORT (IPv6 as [addr]:port)", cmd);
        answer_usage(b, msg);
        return;
    }
    size_t flushed = 0;
    if (op == RT_ADMIN_PEER_FLUSH) {
        // Before the streams end, so the new ones prove everything afresh: the outbound verdicts
        // at IP:PORT and the inbound ones of that IP (keyed with port 0).
        struct sockaddr_storage ip = sa;
        if (ip.ss_family == AF_INET) {
            ((struct sockaddr_in *)&ip)->sin_port = 0;
        } else {
            ((struct sockaddr_in6 *)&ip)->sin6_port = 0;
        }
        flushed = pool_verdicts_flush_addr(a->rt->verdicts, &sa) +
                  pool_verdicts_flush_addr(a->rt->verdicts, &ip);
    }
    core_bld_t peers;
    core_bld_init(&peers, ADMIN_PART_MAX);
    bool overflow = false;
    if (!ask_workers_op(a, ADMIN_PEER_OP, op, &sa, &peers, &overflow) || overflow ||
        core_bld_finish(&peers) != RC_OK) {
        core_bld_cleanup(&peers);
        answer_error(b, overflow ? "answer too large" : "timed out waiting for the workers");
        return;
    }
    char nflushed[48] = "";
    if (op == RT_ADMIN_PEER_FLUSH) {
        snprintf(nflushed, sizeof(nflushed), " (%zu verdicts flushed)", flushed);
    }
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN, "admin: %s %.*s%s%s", cmd, (int)arg_len, arg,
             nflushed, peers.len == 0 ? ": no such peer" : "");
    if (peers.len == 0 && op != RT_ADMIN_PEER_FLUSH) {
        core_bld_cleanup(&peers);
        char msg[128];
        snprintf(msg, sizeof(msg), "no peer at %.*s (fedctl peers lists them)",
                 (int)(arg_len > 60 ? 60 : arg_len), arg);
        answer_error(b, msg);
        return;
    }
    core_bld_printf(b, "{\"ok\":true,\"command\":\"%s\",\"flushed\":%zu,\"affected\":[", cmd,
                    flushed);
    core_bld_add(b, peers.data, peers.len);
    core_bld_add_str(b, "]}\n");
    core_bld_cleanup(&peers);
}

// handle_line answers request |line| (|len| bytes, no newline) into |b|.
static void handle_line(rt_admin_t *a, const char *line, size_t len, core_bld_t *b) {
    size_t cmd_len = 0;
    while (cmd_len < len && line[cmd_len] != ' ') {
        cmd_len++;
    }
    const char *arg = cmd_len < len ? line + cmd_len + 1 : line + len;
    size_t arg_len = (size_t)(line + len - arg);
#define IS(s) (cmd_len == sizeof(s) - 1 && memcmp(line, s, cmd_len) == 0)
    if (IS("peers") || IS("pairs")) {
        bool peers = IS("peers");
        bool overflow = false;
        core_bld_printf(b, "{\"ok\":true,\"workers\":%u,\"%s\":[", a->rt->num_workers,
                        peers ? "peers" : "pairs");
        if (!ask_workers(a, peers ? ADMIN_PEERS : ADMIN_PAIRS, b, &overflow)) {
            answer_error(b, "timed out waiting for the workers");
            return;
        }
        if (overflow) {
            answer_error(b, "answer too large");
            return;
        }
        core_bld_add_str(b, "]}\n");
    } else if (IS("verdicts-flush")) {
        struct sockaddr_storage sa;
        if (arg_len == 0 || !parse_addr(arg, arg_len, &sa)) {
            answer_usage(b, "usage: verdicts-flush IP:PORT (IPv6 as [addr]:port)");
            return;
        }
        size_t n = pool_verdicts_flush_addr(a->rt->verdicts, &sa);
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN, "admin: flushed %zu verdicts for %.*s", n,
                 (int)arg_len, arg);
        core_bld_printf(b, "{\"ok\":true,\"flushed\":%zu}\n", n);
    } else if (IS("verdicts")) {
        answer_verdicts(a, arg, arg_len, b);
    } else if (IS("flush-peer")) {
        answer_peer_op(a, RT_ADMIN_PEER_FLUSH, "flush-peer", arg, arg_len, b);
    } else if (IS("drain-peer")) {
        answer_peer_op(a, RT_ADMIN_PEER_DRAIN, "drain-peer", arg, arg_len, b);
    } else if (IS("undrain-peer")) {
        answer_peer_op(a, RT_ADMIN_PEER_UNDRAIN, "undrain-peer", arg, arg_len, b);
    } else if (IS("stats")) {
        answer_stats(a, b);
    } else if (IS("reload")) {
        char err[512] = "";
        if (rt_reload_run(a->rt, err, sizeof(err)) != RC_OK) {
            answer_error(b, err); // logged by rt_reload_run
            return;
        }
        core_bld_printf(b, "{\"ok\":true,\"reloaded\":true}\n");
    } else {
        char msg[192];
        snprintf(msg, sizeof(msg),
                 "unknown command '%.*s' (peers, pairs, verdicts, verdicts-flush, flush-peer, "
                 "drain-peer, undrain-peer, stats, reload)",
                 (int)(cmd_len > 40 ? 40 : cmd_len), line);
        answer_usage(b, msg);
    }
#undef IS
}

static void serve_one(rt_admin_t *a, int cfd) {
    struct timeval tv = {.tv_sec = ADMIN_IO_TIMEOUT_S};
    setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char line[ADMIN_LINE_MAX];
    size_t len = 0;
    bool complete = false;
    while (len < sizeof(line) && !complete) {
        ssize_t n = recv(cfd, line + len, sizeof(line) - len, 0);
        if (n <= 0) {
            complete = n == 0 && len > 0; // EOF ends the line too
            break;
        }
        for (size_t i = len; i < len + (size_t)n; i++) {
            if (line[i] == '\n') {
                complete = true;
                n = (ssize_t)(i - len);
                break;
            }
        }
        len += (size_t)n;
    }
    core_bld_t b;
    core_bld_init(&b, (size_t)ADMIN_PART_MAX * 2);
    if (!complete) {
        answer_error(&b, "request line missing or too long");
    } else {
        if (len > 0 && line[len - 1] == '\r') {
            len--;
        }
        handle_line(a, line, len, &b);
    }
    if (core_bld_finish(&b) != RC_OK) {
        core_bld_cleanup(&b);
        core_bld_init(&b, 256);
        answer_error(&b, "answer too large");
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t n = send(cfd, b.data + off, b.len - off, MSG_NOSIGNAL);
        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    core_bld_cleanup(&b);
}

static void *admin_main(void *arg) {
    rt_admin_t *a = arg;
    pthread_setname_np(pthread_self(), "fr-admin");
    for (;;) {
        struct pollfd pfd[2] = {{.fd = a->fd, .events = POLLIN}, {.fd = a->wake[0], .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (pfd[1].revents != 0) {
            break;
        }
        if (pfd[0].revents == 0) {
            continue;
        }
        int cfd = accept4(a->fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) {
            continue;
        }
        sweep_abandoned(a);
        serve_one(a, cfd);
        close(cfd);
    }
    return NULL;
}

rt_admin_t *rt_admin_start(rt_router_t *rt, const char *path, char *err, size_t err_len) {
    rt_admin_t *a = core_xcalloc(1, sizeof(*a));
    a->rt = rt;
    a->fd = -1;
    a->wake[0] = a->wake[1] = -1;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t plen = strlen(path);
    if (plen == 0 || plen >= sizeof(sun.sun_path)) {
        snprintf(err, err_len, "admin socket path must be 1..%zu bytes", sizeof(sun.sun_path) - 1);
        goto fail;
    }
    memcpy(sun.sun_path, path, plen + 1);
    a->path = core_xstrdup(path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, err_len, "admin socket %s exists and is not a socket", path);
            goto fail;
        }
        unlink(path); // stale socket from a previous run
    }
    a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (a->fd < 0 || pipe2(a->wake, O_CLOEXEC) != 0) {
        snprintf(err, err_len, "admin socket: %s", strerror(errno));
        goto fail;
    }
    mode_t old = umask(0177); // created 0600: the socket is born owner-only
    int r = bind(a->fd, (const struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (r != 0 || chmod(path, 0600) != 0 || listen(a->fd, 16) != 0) {
        snprintf(err, err_len, "cannot listen on admin socket %s: %s", path, strerror(errno));
        goto fail;
    }
    if (pthread_create(&a->thread, NULL, admin_main, a) != 0) {
        snprintf(err, err_len, "cannot start the admin thread");
        unlink(path);
        goto fail;
    }
    a->started = true;
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN, "admin socket on %s", path);
    return a;
fail:
    if (a->fd >= 0) {
        close(a->fd);
    }
    if (a->wake[0] >= 0) {
        close(a->wake[0]);
        close(a->wake[1]);
    }
    free(a->path);
    free(a);
    return NULL;
}

void rt_admin_stop(rt_admin_t *a) {
    if (a == NULL) {
        return;
    }
    if (a->started) {
        char one = 1;
        ssize_t r = write(a->wake[1], &one, 1);
        (void)r;
        pthread_join(a->thread, NULL);
    }
    close(a->fd);
    close(a->wake[0]);
    close(a->wake[1]);
    unlink(a->path);
    while (a->abandoned != NULL) { // the workers are gone: nobody answers these any more
        admin_req_t *r = a->abandoned;
        a->abandoned = r->next;
        req_free(r);
    }
    free(a->path);
    free(a);
}
