// democomp: the demo's XEP-0114 component program (SPEC.md §13.1).
//
// One process connects one component stream per local domain to a router's component port,
// completes each handshake, then sends N chat messages for every (local L, remote R) pair:
//
//   <message from='user@L' to='user@R' id='L-R-seq' type='chat'><body>...</body></message>
//
// and at the same time receives the messages another democomp (attached to the other router)
// sends to its domains. It expects |remote| x |local| x N of them, checks that each arrives once,
// on the stream of the domain it is addressed to, and counts bounces (type='error') by condition.
// It never answers a stanza, so two democomps cannot loop. At the end it prints `name: value`
// lines on stdout and exits 0 only when every stanza was sent, every expected one arrived exactly
// once and nothing bounced; 1 otherwise (deadline passed, stream error, ...); 2 on usage errors.
//
// Synchronisation with the other side (optional): --ready FILE is created once every handshake is
// done; sending starts only when --go FILE exists. demo.sh creates the go file when both
// democomps are ready, so no stanza reaches a router before the destination component is there.
//
// Plain non-blocking sockets and poll(2): this is a load generator for a demo, not the router.
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "dna/domain.h"
#include "router/core/bytes.h"
#include "router/core/log.h"
#include "router/core/mem.h"
#include "router/core/rc.h"
#include "router/xml_stream.h"

#define DC_MAX_DOMAINS 100000
#define DC_MAX_MESSAGES 1000000
#define DC_MAX_BITS (UINT64_C(1) << 33) // seen-bitmap of at most 1 GiB
#define DC_READ_CHUNK 65536
#define DC_DEFAULT_WINDOW 65536
#define DC_DEFAULT_DEADLINE_S 120
#define DC_DEFAULT_LINGER_MS 300
#define DC_CONNECT_RETRY_MS 5000
#define DC_CLOSE_WAIT_MS 1000

typedef enum dc_state {
    DC_ST_CONNECTING = 0, // non-blocking connect in progress
    DC_ST_RETRY,          // connection refused: connect again at |retry_at_ms|
    DC_ST_OPENING,        // our header sent, waiting for the router's header
    DC_ST_HANDSHAKING,    // <handshake> sent, waiting for <handshake/>
    DC_ST_READY,          // authenticated: stanzas flow
    DC_ST_CLOSED,         // fd closed (by either side or after an error)
} dc_state_t;

// The stanza error conditions of RFC 6120 §8.3.3, to classify bounces.
static const char *const dc_conditions[] = {
    "bad-request",
    "conflict",
    "feature-not-implemented",
    "forbidden",
    "gone",
    "internal-server-error",
    "item-not-found",
    "jid-malformed",
    "not-acceptable",
    "not-allowed",
    "not-authorized",
    "policy-violation",
    "recipient-unavailable",
    "redirect",
    "registration-required",
    "remote-server-not-found",
    "remote-server-timeout",
    "resource-constraint",
    "service-unavailable",
    "subscription-required",
    "undefined-condition",
    "unexpected-request",
};
#define DC_NUM_CONDITIONS RT_ARRAY_LEN(dc_conditions)

typedef struct dc_list {
    char **names; // sorted, owned
    size_t num;
} dc_list_t;

typedef struct dc_opts {
    struct sockaddr_storage router;
    socklen_t router_len;
    const char *router_text;
    dc_list_t local;
    dc_list_t remote;
    char **secrets; // parallel to local.names, owned
    uint64_t messages;
    uint64_t expect; // stanzas this side must receive
    uint64_t deadline_ms;
    uint64_t linger_ms;
    double rate;   // stanzas per second over all streams; <= 0: as fast as the sockets take them
    size_t window; // bytes buffered per stream before democomp stops generating
    const char *ready_file;
    const char *go_file;
    bool verbose;
} dc_opts_t;

struct dc_run;

typedef struct dc_stream {
    struct dc_run *run;
    size_t local_idx;
    int fd;
    dc_state_t state;
    rt_xs_t *xs;
    core_buf_t out;
    uint64_t next;    // next stanza to generate, in [0, num_remote * messages)
    uint64_t pending; // stanzas in |out| not yet fully written
    bool close_sent;  // we wrote </stream:stream>
    bool peer_closed; // the router closed its stream
    uint64_t connect_start_ms;
    uint64_t retry_at_ms;
} dc_stream_t;

typedef struct dc_run {
    const dc_opts_t *opts;
    dc_stream_t *streams;
    size_t num_ready;
    uint8_t *seen;       // one bit per expected stanza
    uint64_t per_stream; // stanzas each stream sends
    uint64_t sent;       // stanzas fully written to the socket
    uint64_t generated;  // stanzas put in an output buffer
    uint64_t delivered;  // distinct expected stanzas received
    uint64_t duplicates;
    uint64_t unexpected;    // messages that are not one we expect (bad from/to/id)
    uint64_t misrouted;     // arrived on the stream of another domain
    uint64_t other_stanzas; // presence / iq / non-error messages we did not ask for
    uint64_t bounces;
    uint64_t bounce_by_cond[DC_NUM_CONDITIONS + 1]; // last: unknown condition
    uint64_t stream_errors;
    uint64_t streams_failed;
    bool closing_phase;
    core_bld_t bld; // scratch for one stanza
} dc_run_t;

static uint64_t dc_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *dc_local_name(const dc_stream_t *s) {
    return s->run->opts->local.names[s->local_idx];
}

// dc_fail_stream closes |s| after an unrecoverable problem, printing |why| on stderr.
static void dc_fail_stream(dc_stream_t *s, const char *why) {
    if (s->state == DC_ST_CLOSED) {
        return;
    }
    fprintf(stderr, "democomp: %s: %s\n", dc_local_name(s), why);
    s->run->streams_failed++;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    s->state = DC_ST_CLOSED;
}

static int dc_name_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// dc_list_find returns the index of the name equal to |cur| in the sorted list, or SIZE_MAX.
static size_t dc_list_find(const dc_list_t *l, const core_cur_t *cur) {
    size_t lo = 0;
    size_t hi = l->num;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *n = l->names[mid];
        size_t n_len = strlen(n);
        size_t min = n_len < cur->len ? n_len : cur->len;
        int c = core_memcmp(n, cur->ptr, min);
        if (c == 0) {
            c = n_len < cur->len ? -1 : (n_len > cur->len ? 1 : 0);
        }
        if (c == 0) {
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return SIZE_MAX;
}

// dc_jid_domain sets |out| to the domain part of JID |jid| (dna_jid_domain). False when malformed.
static bool dc_jid_domain(core_cur_t *out, const char *jid) {
    const char *dom = NULL;
    size_t dom_len = 0;
    if (!dna_jid_domain(jid, strlen(jid), &dom, &dom_len)) {
        return false;
    }
    core_cur_init(out, dom, dom_len);
    return true;
}

// dc_classify returns the index in dc_conditions of the stanza error condition inside |raw|, or
// DC_NUM_CONDITIONS when none is recognised. The condition is the first known element name after
// the <error start tag; character data cannot contain '<', so a match is a tag.
static size_t dc_classify(const uint8_t *raw, size_t raw_len) {
    static const char err_tag[] = "<error";
    const uint8_t *e = memmem(raw, raw_len, err_tag, sizeof(err_tag) - 1);
    if (e == NULL) {
        return DC_NUM_CONDITIONS;
    }
    size_t off = (size_t)(e - raw);
    const uint8_t *p = raw + off;
    size_t len = raw_len - off;
    size_t best = DC_NUM_CONDITIONS;
    size_t best_pos = SIZE_MAX;
    for (size_t i = 0; i < DC_NUM_CONDITIONS; i++) {
        size_t c_len = strlen(dc_conditions[i]);
        size_t pos = 0;
        while (pos < len) {
            const uint8_t *hit = memmem(p + pos, len - pos, dc_conditions[i], c_len);
            if (hit == NULL) {
                break;
            }
            size_t at = (size_t)(hit - p);
            bool lt_before = at > 0 && p[at - 1] == '<';
            bool end_after = at + c_len < len &&
                             (p[at + c_len] == ' ' || p[at + c_len] == '/' || p[at + c_len] == '>');
            if (lt_before && end_after) {
                if (at < best_pos) {
                    best_pos = at;
                    best = i;
                }
                break;
            }
            pos = at + 1;
        }
    }
    return best;
}

// dc_on_message checks one received non-error message addressed to stream |s|.
static void dc_on_message(dc_stream_t *s, const rt_xs_elem_t *el) {
    dc_run_t *run = s->run;
    const dc_opts_t *o = run->opts;
    core_cur_t to_dom;
    core_cur_t from_dom;
    if (el->to == NULL || el->from == NULL || el->id == NULL || !dc_jid_domain(&to_dom, el->to) ||
        !dc_jid_domain(&from_dom, el->from)) {
        run->unexpected++;
        return;
    }
    size_t l = dc_list_find(&o->local, &to_dom);
    size_t r = dc_list_find(&o->remote, &from_dom);
    if (l == SIZE_MAX || r == SIZE_MAX) {
        run->unexpected++;
        return;
    }
    if (l != s->local_idx) {
        run->misrouted++;
    }
    // id = from-domain '-' to-domain '-' seq
    core_cur_t id;
    core_cur_init(&id, el->id, strlen(el->id));
    uint64_t seq = 0;
    if (!core_cur_match(&id, o->remote.names[r], strlen(o->remote.names[r])) ||
        !core_cur_match(&id, "-", 1) ||
        !core_cur_match(&id, o->local.names[l], strlen(o->local.names[l])) ||
        !core_cur_match(&id, "-", 1) || !core_cur_get_decimal(&id, UINT64_MAX, &seq) ||
        !core_cur_empty(&id) || seq >= o->messages) {
        run->unexpected++;
        return;
    }
    uint64_t bit = ((uint64_t)r * o->local.num + l) * o->messages + seq;
    uint8_t mask = (uint8_t)(1u << (bit & 7));
    if (run->seen[bit >> 3] & mask) {
        run->duplicates++;
        return;
    }
    run->seen[bit >> 3] |= mask;
    run->delivered++;
}

static bool dc_on_open(void *ctx, const rt_xs_header_t *hdr) {
    dc_stream_t *s = ctx;
    if (s->state != DC_ST_OPENING) {
        dc_fail_stream(s, "unexpected stream header");
        return false;
    }
    if (strcmp(hdr->ns_default, RT_XS_NS_COMPONENT) != 0) {
        dc_fail_stream(s, "router answered with another stream namespace");
        return false;
    }
    if (hdr->id == NULL || hdr->id[0] == '\0') {
        dc_fail_stream(s, "router header has no id");
        return false;
    }
    // handshake = lowercase hex(SHA1(id || secret))
    const char *secret = s->run->opts->secrets[s->local_idx];
    SHA_CTX sha;
    uint8_t digest[SHA_DIGEST_LENGTH];
    char hex[2 * SHA_DIGEST_LENGTH + 1];
    SHA1_Init(&sha);
    SHA1_Update(&sha, hdr->id, strlen(hdr->id));
    SHA1_Update(&sha, secret, strlen(secret));
    SHA1_Final(digest, &sha);
    core_hex_encode(hex, digest, sizeof(digest));
    static const char open_tag[] = "<handshake>";
    static const char close_tag[] = "</handshake>";
    core_buf_append(&s->out, open_tag, sizeof(open_tag) - 1);
    core_buf_append(&s->out, hex, 2 * SHA_DIGEST_LENGTH);
    core_buf_append(&s->out, close_tag, sizeof(close_tag) - 1);
    s->state = DC_ST_HANDSHAKING;
    return true;
}

static bool dc_on_elem(void *ctx, const rt_xs_elem_t *el) {
    dc_stream_t *s = ctx;
    dc_run_t *run = s->run;
    if (strcmp(el->ns, RT_XS_NS_STREAMS) == 0 && strcmp(el->name, "error") == 0) {
        const char *cond = "(none)";
        uint32_t c = el->num_nodes > 0 ? el->nodes[0].first_child : RT_XS_NONE;
        while (c != RT_XS_NONE && c < el->num_nodes) {
            if (strcmp(el->nodes[c].ns, RT_XS_NS_STREAM_ERRORS) == 0 &&
                strcmp(el->nodes[c].name, "text") != 0) {
                cond = el->nodes[c].name;
                break;
            }
            c = el->nodes[c].next_sibling;
        }
        char why[160];
        char esc[96];
        snprintf(why, sizeof(why), "stream error from router: %s",
                 core_log_escape(esc, sizeof(esc), cond, strlen(cond)));
        run->stream_errors++;
        dc_fail_stream(s, why);
        return false;
    }
    if (s->state == DC_ST_HANDSHAKING) {
        if (strcmp(el->name, "handshake") == 0 && strcmp(el->ns, RT_XS_NS_COMPONENT) == 0) {
            s->state = DC_ST_READY;
            run->num_ready++;
            if (run->opts->verbose) {
                fprintf(stderr, "democomp: %s: handshake accepted\n", dc_local_name(s));
            }
            return true;
        }
        dc_fail_stream(s, "unexpected element before <handshake/>");
        return false;
    }
    if (s->state != DC_ST_READY) {
        dc_fail_stream(s, "element before the handshake");
        return false;
    }
    if (!el->is_stanza) {
        run->other_stanzas++;
        return true;
    }
    if (strcmp(el->name, "message") != 0) {
        run->other_stanzas++;
        return true;
    }
    if (el->type != NULL && strcmp(el->type, "error") == 0) {
        size_t cond = dc_classify(el->raw, el->raw_len);
        run->bounces++;
        run->bounce_by_cond[cond]++;
        if (run->opts->verbose) {
            char esc[128];
            const char *id = el->id != NULL ? el->id : "";
            fprintf(stderr, "democomp: %s: bounce id=%s condition=%s\n", dc_local_name(s),
                    core_log_escape(esc, sizeof(esc), id, strlen(id)),
                    cond < DC_NUM_CONDITIONS ? dc_conditions[cond] : "unknown");
        }
        return true;
    }
    dc_on_message(s, el);
    return true;
}

static bool dc_on_close(void *ctx) {
    dc_stream_t *s = ctx;
    s->peer_closed = true;
    if (!s->run->closing_phase) {
        dc_fail_stream(s, "router closed the stream");
    }
    return false;
}

static const rt_xs_cbs_t dc_cbs = {
    .on_open = dc_on_open,
    .on_elem = dc_on_elem,
    .on_close = dc_on_close,
};

// dc_connect_failed handles a failed connect: a refused connection is retried for a few seconds
// (the router may still be starting), anything else fails the stream.
static void dc_connect_failed(dc_stream_t *s, int err, uint64_t now) {
    if (err == ECONNREFUSED && now - s->connect_start_ms < DC_CONNECT_RETRY_MS) {
        close(s->fd);
        s->fd = -1;
        s->state = DC_ST_RETRY;
        s->retry_at_ms = now + 100;
        return;
    }
    char why[128];
    snprintf(why, sizeof(why), "connect %s: %s", s->run->opts->router_text, strerror(err));
    dc_fail_stream(s, why);
}

// dc_connect starts a non-blocking connect for |s|. False on an immediate hard failure.
static bool dc_connect(dc_stream_t *s) {
    const dc_opts_t *o = s->run->opts;
    int fd = socket(o->router.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        dc_fail_stream(s, strerror(errno));
        return false;
    }
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        // Latency only; go on.
    }
    s->fd = fd;
    s->state = DC_ST_CONNECTING;
    if (connect(fd, (const struct sockaddr *)&o->router, o->router_len) != 0 &&
        errno != EINPROGRESS) {
        dc_connect_failed(s, errno, dc_now_ms());
        return s->state != DC_ST_CLOSED;
    }
    return true;
}

// dc_open queues the stream header once the TCP connection is up.
static void dc_open(dc_stream_t *s) {
    core_bld_t *b = &s->run->bld;
    const char *name = dc_local_name(s);
    core_bld_reset(b);
    core_bld_add_str(b, "<?xml version='1.0'?><stream:stream xmlns='" RT_XS_NS_COMPONENT
                        "' xmlns:stream='" RT_XS_NS_STREAMS "' to='");
    core_bld_add_xml_attr(b, name, strlen(name));
    core_bld_add_str(b, "'>");
    RT_CHECK(core_bld_finish(b) == RC_OK);
    core_buf_append(&s->out, b->data, b->len);
    s->state = DC_ST_OPENING;
}

// dc_generate appends up to |budget| stanzas to |s|'s output while it is under the window.
// Returns how many it added.
static uint64_t dc_generate(dc_stream_t *s, uint64_t budget) {
    dc_run_t *run = s->run;
    const dc_opts_t *o = run->opts;
    core_bld_t *b = &run->bld;
    uint64_t added = 0;
    const char *l = dc_local_name(s);
    size_t l_len = strlen(l);
    while (added < budget && s->next < run->per_stream && core_buf_len(&s->out) < o->window) {
        uint64_t seq = s->next / o->remote.num;
        const char *r = o->remote.names[s->next % o->remote.num];
        size_t r_len = strlen(r);
        char seq_text[24];
        int n = snprintf(seq_text, sizeof(seq_text), "%" PRIu64, seq);
        RT_CHECK(n > 0 && (size_t)n < sizeof(seq_text));
        core_bld_reset(b);
        core_bld_add_str(b, "<message from='user@");
        core_bld_add_xml_attr(b, l, l_len);
        core_bld_add_str(b, "' to='user@");
        core_bld_add_xml_attr(b, r, r_len);
        core_bld_add_str(b, "' id='");
        core_bld_add_xml_attr(b, l, l_len);
        core_bld_add_str(b, "-");
        core_bld_add_xml_attr(b, r, r_len);
        core_bld_add_str(b, "-");
        core_bld_add_str(b, seq_text);
        core_bld_add_str(b, "' type='chat'><body>Hello from ");
        core_bld_add_xml_text(b, l, l_len);
        core_bld_add_str(b, " to ");
        core_bld_add_xml_text(b, r, r_len);
        core_bld_add_str(b, ", message ");
        core_bld_add_str(b, seq_text);
        core_bld_add_str(b, ".</body></message>");
        RT_CHECK(core_bld_finish(b) == RC_OK);
        core_buf_append(&s->out, b->data, b->len);
        s->next++;
        s->pending++;
        run->generated++;
        added++;
    }
    return added;
}

// dc_flush writes as much of |s|'s output as the socket takes.
static void dc_flush(dc_stream_t *s) {
    while (s->state != DC_ST_CLOSED && s->state != DC_ST_CONNECTING && core_buf_len(&s->out) > 0) {
        ssize_t n = send(s->fd, core_buf_head(&s->out), core_buf_len(&s->out), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            char why[128];
            snprintf(why, sizeof(why), "send: %s", strerror(errno));
            dc_fail_stream(s, why);
            return;
        }
        core_buf_consume(&s->out, (size_t)n);
    }
    if (s->state != DC_ST_CLOSED && core_buf_len(&s->out) == 0) {
        s->run->sent += s->pending;
        s->pending = 0;
        core_buf_shrink(&s->out, 2 * s->run->opts->window);
    }
}

// dc_read reads what is available on |s| and feeds it to the parser.
static void dc_read(dc_stream_t *s) {
    uint8_t buf[DC_READ_CHUNK];
    for (;;) {
        ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            char why[128];
            snprintf(why, sizeof(why), "recv: %s", strerror(errno));
            dc_fail_stream(s, why);
            return;
        }
        if (n == 0) {
            if (s->run->closing_phase) {
                s->peer_closed = true;
                close(s->fd);
                s->fd = -1;
                s->state = DC_ST_CLOSED;
            } else {
                dc_fail_stream(s, "router closed the connection");
            }
            return;
        }
        size_t consumed = 0;
        rc_t rc = rt_xs_feed(s->xs, buf, (size_t)n, &consumed);
        if (s->state == DC_ST_CLOSED) {
            return; // a callback closed it
        }
        if (rc != RC_OK) {
            char why[128];
            snprintf(why, sizeof(why), "XML from router: %s", rc_str(rc));
            dc_fail_stream(s, why);
            return;
        }
        if (s->peer_closed) {
            close(s->fd);
            s->fd = -1;
            s->state = DC_ST_CLOSED;
            return;
        }
        if ((size_t)n < sizeof(buf)) {
            return;
        }
    }
}

// dc_on_connected checks the result of the non-blocking connect.
static void dc_on_connected(dc_stream_t *s, uint64_t now) {
    int err = 0;
    socklen_t err_len = sizeof(err);
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) {
        err = errno;
    }
    if (err == 0) {
        dc_open(s);
        return;
    }
    dc_connect_failed(s, err, now);
}

// dc_poll_once polls every open stream for at most |timeout_ms| and handles what is ready.
static void dc_poll_once(dc_run_t *run, struct pollfd *pfds, size_t *map, int timeout_ms) {
    const dc_opts_t *o = run->opts;
    size_t n = 0;
    uint64_t now = dc_now_ms();
    for (size_t i = 0; i < o->local.num; i++) {
        dc_stream_t *s = &run->streams[i];
        if (s->state == DC_ST_RETRY && now >= s->retry_at_ms && !run->closing_phase) {
            (void)dc_connect(s);
        }
        if (s->state == DC_ST_CLOSED || s->state == DC_ST_RETRY) {
            if (s->state == DC_ST_RETRY && timeout_ms > 100) {
                timeout_ms = 100;
            }
            continue;
        }
        pfds[n].fd = s->fd;
        pfds[n].events = POLLIN;
        if (s->state == DC_ST_CONNECTING || core_buf_len(&s->out) > 0) {
            pfds[n].events |= POLLOUT;
        }
        pfds[n].revents = 0;
        map[n] = i;
        n++;
    }
    if (n == 0) {
        if (timeout_ms > 0) {
            usleep((useconds_t)timeout_ms * 1000u);
        }
        return;
    }
    int r = poll(pfds, n, timeout_ms);
    if (r <= 0) {
        return;
    }
    now = dc_now_ms();
    for (size_t k = 0; k < n; k++) {
        dc_stream_t *s = &run->streams[map[k]];
        short re = pfds[k].revents;
        if (re == 0 || s->state == DC_ST_CLOSED) {
            continue;
        }
        if (s->state == DC_ST_CONNECTING) {
            dc_on_connected(s, now);
            continue;
        }
        if (re & (POLLIN | POLLHUP | POLLERR)) {
            dc_read(s);
        }
        if (s->state != DC_ST_CLOSED && (re & POLLOUT)) {
            dc_flush(s);
        }
    }
}

static bool dc_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static bool dc_write_ready(const char *path) {
    // Write then rename, so that a reader never sees a half-made file.
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        return false;
    }
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        return false;
    }
    bool ok = fprintf(f, "%ld\n", (long)getpid()) > 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0;
}

static bool dc_all_sent(const dc_run_t *run) {
    for (size_t i = 0; i < run->opts->local.num; i++) {
        const dc_stream_t *s = &run->streams[i];
        if (s->next < run->per_stream || core_buf_len(&s->out) > 0 || s->state != DC_ST_READY) {
            return false;
        }
    }
    return true;
}

// dc_run_main drives the streams until everything is sent and received (then lingers), or the
// deadline passes, or every stream failed. Returns true when it finished in time.
static bool dc_run_main(dc_run_t *run, uint64_t *out_elapsed_ms) {
    const dc_opts_t *o = run->opts;
    struct pollfd *pfds = core_xcalloc(o->local.num, sizeof(*pfds));
    size_t *map = core_xcalloc(o->local.num, sizeof(*map));
    uint64_t start = dc_now_ms();
    uint64_t deadline = start + o->deadline_ms;
    uint64_t go_at = 0;
    uint64_t done_at = 0;
    uint64_t finished_at = 0;
    bool ready_written = false;
    bool go = o->go_file == NULL;
    bool ok = false;
    double tokens = 0;
    uint64_t last_refill = start;
    size_t rr = 0;

    for (size_t i = 0; i < o->local.num; i++) {
        run->streams[i].connect_start_ms = start;
        if (!dc_connect(&run->streams[i])) {
            goto out;
        }
    }
    for (;;) {
        uint64_t now = dc_now_ms();
        if (now >= deadline) {
            fprintf(stderr, "democomp: deadline of %" PRIu64 " ms passed\n", o->deadline_ms);
            break;
        }
        if (run->streams_failed > 0) {
            break;
        }
        if (!ready_written && run->num_ready == o->local.num) {
            if (o->verbose) {
                fprintf(stderr, "democomp: all %zu handshakes done after %" PRIu64 " ms\n",
                        o->local.num, now - start);
            }
            if (o->ready_file != NULL && !dc_write_ready(o->ready_file)) {
                fprintf(stderr, "democomp: cannot write %s: %s\n", o->ready_file, strerror(errno));
                break;
            }
            ready_written = true;
        }
        if (!go && ready_written && dc_file_exists(o->go_file)) {
            go = true;
        }
        if (go && go_at == 0 && run->num_ready == o->local.num) {
            go_at = now;
            last_refill = now;
        }
        int timeout = 1000;
        if (go_at != 0) {
            uint64_t budget = UINT64_MAX;
            if (o->rate > 0) {
                tokens += o->rate * (double)(now - last_refill) / 1000.0;
                last_refill = now;
                double cap = o->rate / 10.0 < 1.0 ? 1.0 : o->rate / 10.0;
                if (tokens > cap) {
                    tokens = cap;
                }
                budget = (uint64_t)tokens;
            }
            // Round robin, one stanza per stream per pass when rate-limited.
            bool progress = true;
            while (budget > 0 && progress) {
                progress = false;
                for (size_t k = 0; k < o->local.num && budget > 0; k++) {
                    dc_stream_t *s = &run->streams[(rr + k) % o->local.num];
                    if (s->state != DC_ST_READY) {
                        continue;
                    }
                    uint64_t added = dc_generate(s, o->rate > 0 ? 1 : budget);
                    progress = progress || added > 0;
                    if (o->rate > 0) {
                        budget -= added;
                        tokens -= (double)added;
                    }
                }
                if (o->rate <= 0) {
                    break;
                }
            }
            rr = (rr + 1) % o->local.num;
            if (o->rate > 0) {
                timeout = 5;
            }
        } else if (ready_written && !go) {
            timeout = 10;
        }
        for (size_t i = 0; i < o->local.num; i++) {
            dc_flush(&run->streams[i]);
        }
        if (go_at != 0 && done_at == 0 && run->delivered >= o->expect && dc_all_sent(run)) {
            done_at = now;
            finished_at = now;
            if (o->verbose) {
                fprintf(stderr, "democomp: all sent and all %" PRIu64 " expected received\n",
                        o->expect);
            }
        }
        if (done_at != 0) {
            if (now - done_at >= o->linger_ms) {
                ok = true;
                break;
            }
            timeout = (int)(o->linger_ms - (now - done_at));
        }
        if (deadline - now < (uint64_t)timeout) {
            timeout = (int)(deadline - now);
        }
        dc_poll_once(run, pfds, map, timeout);
    }
    // Close politely: </stream:stream>, then wait a little for the router's close.
    run->closing_phase = true;
    static const char close_tag[] = "</stream:stream>";
    for (size_t i = 0; i < o->local.num; i++) {
        dc_stream_t *s = &run->streams[i];
        if (s->state == DC_ST_RETRY) {
            s->state = DC_ST_CLOSED;
        } else if (s->state == DC_ST_READY || s->state == DC_ST_HANDSHAKING ||
                   s->state == DC_ST_OPENING) {
            core_buf_append(&s->out, close_tag, sizeof(close_tag) - 1);
            s->close_sent = true;
            dc_flush(s);
        }
    }
    uint64_t close_until = dc_now_ms() + DC_CLOSE_WAIT_MS;
    for (;;) {
        uint64_t now = dc_now_ms();
        bool open = false;
        for (size_t i = 0; i < o->local.num; i++) {
            open = open || run->streams[i].state != DC_ST_CLOSED;
        }
        if (!open || now >= close_until) {
            break;
        }
        dc_poll_once(run, pfds, map, (int)(close_until - now));
    }
out:
    for (size_t i = 0; i < o->local.num; i++) {
        dc_stream_t *s = &run->streams[i];
        if (s->fd >= 0) {
            close(s->fd);
            s->fd = -1;
            s->state = DC_ST_CLOSED;
        }
    }
    *out_elapsed_ms = go_at == 0 ? 0 : (finished_at != 0 ? finished_at : dc_now_ms()) - go_at;
    free(pfds);
    free(map);
    return ok;
}

static void dc_usage(FILE *f) {
    fprintf(f,
            "usage: democomp --router HOST:PORT --local LIST [--local-count N]\n"
            "                --remote LIST [--remote-count N] (--secret S | --secrets FILE)\n"
            "                [--messages N] [--expect N] [--deadline SECONDS] [--rate PER_S]\n"
            "                [--window BYTES] [--linger-ms MS] [--ready FILE] [--go FILE]\n"
            "                [--verbose]\n"
            "\n"
            "  --router HOST:PORT   the router's component listener ([v6]:port for IPv6)\n"
            "  --local LIST         comma-separated local domains; a name with '*' is a pattern\n"
            "                       expanded with --local-count N to *=1..N\n"
            "  --remote LIST        the same for the remote domains (--remote-count N)\n"
            "  --secret S           component secret of every local domain\n"
            "  --secrets FILE       lines 'domain secret' (overrides --secret per domain)\n"
            "  --messages N         messages per (local, remote) pair (default 10)\n"
            "  --expect N           messages to receive (default remote x local x messages)\n"
            "  --deadline SECONDS   give up (exit 1) after this long (default %d)\n"
            "  --rate PER_S         send at most this many stanzas per second (default: as fast\n"
            "                       as the sockets take them)\n"
            "  --window BYTES       bytes buffered per stream before generating more (default "
            "%d)\n"
            "  --linger-ms MS       after success, keep reading this long to catch duplicates\n"
            "                       (default %d)\n"
            "  --ready FILE         create FILE once every handshake is done\n"
            "  --go FILE            start sending only once FILE exists\n"
            "Prints 'name: value' lines. Exit 0: everything arrived once and nothing bounced.\n",
            DC_DEFAULT_DEADLINE_S, DC_DEFAULT_WINDOW, DC_DEFAULT_LINGER_MS);
}

// dc_parse_u64 parses a strict decimal command-line value in [min, max].
static bool dc_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *out) {
    core_cur_t cur;
    core_cur_init(&cur, text, strlen(text));
    uint64_t v = 0;
    if (!core_cur_get_decimal(&cur, max, &v) || !core_cur_empty(&cur) || v < min) {
        return false;
    }
    *out = v;
    return true;
}

// dc_parse_addr parses "ip:port" or "[ip6]:port" into |o->router|.
static bool dc_parse_addr(dc_opts_t *o, const char *text) {
    char host[128];
    const char *colon = strrchr(text, ':');
    if (colon == NULL) {
        return false;
    }
    const char *h = text;
    size_t h_len = (size_t)(colon - text);
    if (h_len >= 2 && h[0] == '[' && h[h_len - 1] == ']') {
        h++;
        h_len -= 2;
    }
    uint64_t port = 0;
    if (h_len == 0 || h_len >= sizeof(host) || !dc_parse_u64(colon + 1, 1, 65535, &port)) {
        return false;
    }
    core_memcpy(host, h, h_len);
    host[h_len] = '\0';
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char port_text[8];
    snprintf(port_text, sizeof(port_text), "%u", (unsigned)port);
    if (getaddrinfo(host, port_text, &hints, &ai) != 0 || ai == NULL) {
        return false;
    }
    core_memcpy(&o->router, ai->ai_addr, ai->ai_addrlen);
    o->router_len = ai->ai_addrlen;
    o->router_text = text;
    freeaddrinfo(ai);
    return true;
}

static void dc_list_add(dc_list_t *l, char *name) {
    l->names = core_xrealloc(l->names, (l->num + 1) * sizeof(*l->names));
    l->names[l->num++] = name;
}

static void dc_list_cleanup(dc_list_t *l) {
    for (size_t i = 0; i < l->num; i++) {
        free(l->names[i]);
    }
    free(l->names);
    l->names = NULL;
    l->num = 0;
}

// dc_list_build expands |spec| (comma-separated, '*' replaced by 1..count) into |l|, sorted and
// lower-cased. False on an empty name, a pattern without a count, duplicates or too many names.
static bool dc_list_build(dc_list_t *l, const char *spec, uint64_t count, const char *what) {
    core_cur_t cur;
    core_cur_init(&cur, spec, strlen(spec));
    while (!core_cur_empty(&cur)) {
        core_cur_t item;
        if (!core_cur_get_until(&cur, &item, ',')) {
            item = cur;
            cur.ptr += cur.len;
            cur.len = 0;
        }
        if (item.len == 0 || item.len > 200) {
            fprintf(stderr, "democomp: %s: empty or overlong name\n", what);
            return false;
        }
        const uint8_t *star = memchr(item.ptr, '*', item.len);
        if (star == NULL) {
            dc_list_add(l, core_xstrndup((const char *)item.ptr, item.len));
        } else {
            if (count == 0) {
                fprintf(stderr, "democomp: %s: pattern needs a count\n", what);
                return false;
            }
            size_t pre = (size_t)(star - item.ptr);
            for (uint64_t k = 1; k <= count; k++) {
                char name[256];
                int n = snprintf(name, sizeof(name), "%.*s%" PRIu64 "%.*s", (int)pre,
                                 (const char *)item.ptr, k, (int)(item.len - pre - 1),
                                 (const char *)star + 1);
                if (n < 0 || (size_t)n >= sizeof(name)) {
                    return false;
                }
                dc_list_add(l, core_xstrdup(name));
            }
        }
        if (l->num > DC_MAX_DOMAINS) {
            fprintf(stderr, "democomp: %s: more than %d domains\n", what, DC_MAX_DOMAINS);
            return false;
        }
    }
    if (l->num == 0) {
        fprintf(stderr, "democomp: %s: no domains\n", what);
        return false;
    }
    for (size_t i = 0; i < l->num; i++) {
        for (char *p = l->names[i]; *p != '\0'; p++) {
            if (*p >= 'A' && *p <= 'Z') {
                *p = (char)(*p - 'A' + 'a');
            }
        }
    }
    qsort(l->names, l->num, sizeof(*l->names), dc_name_cmp);
    for (size_t i = 1; i < l->num; i++) {
        if (strcmp(l->names[i - 1], l->names[i]) == 0) {
            fprintf(stderr, "democomp: %s: duplicate domain %s\n", what, l->names[i]);
            return false;
        }
    }
    return true;
}

// dc_load_secrets reads 'domain secret' lines from |path| into the secrets of matching local
// domains. Lines starting with '#' and blank lines are skipped.
static bool dc_load_secrets(dc_opts_t *o, const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "democomp: %s: %s\n", path, strerror(errno));
        return false;
    }
    bool ok = true;
    char line[1024];
    size_t lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }
        if (len == 0 || line[0] == '#') {
            continue;
        }
        core_cur_t cur;
        core_cur_init(&cur, line, len);
        core_cur_t dom;
        if (!core_cur_get_until(&cur, &dom, ' ') || dom.len == 0 || core_cur_empty(&cur)) {
            fprintf(stderr, "democomp: %s:%zu: expected 'domain secret'\n", path, lineno);
            ok = false;
            break;
        }
        size_t idx = dc_list_find(&o->local, &dom);
        if (idx == SIZE_MAX) {
            continue; // a domain served by another democomp
        }
        free(o->secrets[idx]);
        o->secrets[idx] = core_xstrndup((const char *)cur.ptr, cur.len);
    }
    fclose(f);
    return ok;
}

static void dc_print(const dc_run_t *run, uint64_t elapsed_ms) {
    const dc_opts_t *o = run->opts;
    printf("local domains: %zu\n", o->local.num);
    printf("remote domains: %zu\n", o->remote.num);
    printf("pairs: %" PRIu64 "\n", (uint64_t)o->local.num * o->remote.num);
    printf("stanzas planned: %" PRIu64 "\n", run->per_stream * o->local.num);
    printf("stanzas sent: %" PRIu64 "\n", run->sent);
    printf("stanzas expected: %" PRIu64 "\n", o->expect);
    printf("stanzas delivered: %" PRIu64 "\n", run->delivered);
    printf("duplicates: %" PRIu64 "\n", run->duplicates);
    printf("unexpected: %" PRIu64 "\n", run->unexpected);
    printf("misrouted: %" PRIu64 "\n", run->misrouted);
    printf("other stanzas: %" PRIu64 "\n", run->other_stanzas);
    printf("bounces: %" PRIu64 "\n", run->bounces);
    for (size_t i = 0; i <= DC_NUM_CONDITIONS; i++) {
        if (run->bounce_by_cond[i] != 0) {
            printf("bounces %s: %" PRIu64 "\n",
                   i < DC_NUM_CONDITIONS ? dc_conditions[i] : "unknown-condition",
                   run->bounce_by_cond[i]);
        }
    }
    printf("stream errors: %" PRIu64 "\n", run->stream_errors);
    printf("streams failed: %" PRIu64 "\n", run->streams_failed);
    printf("elapsed: %" PRIu64 ".%03" PRIu64 " s\n", elapsed_ms / 1000, elapsed_ms % 1000);
    if (elapsed_ms > 0) {
        printf("rate: %" PRIu64 " stanzas/s\n", (run->sent + run->delivered) * 1000u / elapsed_ms);
    }
    fflush(stdout);
}

enum {
    DC_OPT_ROUTER = 256,
    DC_OPT_LOCAL,
    DC_OPT_LOCAL_COUNT,
    DC_OPT_REMOTE,
    DC_OPT_REMOTE_COUNT,
    DC_OPT_SECRET,
    DC_OPT_SECRETS,
    DC_OPT_MESSAGES,
    DC_OPT_EXPECT,
    DC_OPT_DEADLINE,
    DC_OPT_RATE,
    DC_OPT_WINDOW,
    DC_OPT_LINGER,
    DC_OPT_READY,
    DC_OPT_GO,
    DC_OPT_VERBOSE,
    DC_OPT_HELP,
};

int main(int argc, char **argv) {
    static const struct option longopts[] = {
        {"router", required_argument, NULL, DC_OPT_ROUTER},
        {"local", required_argument, NULL, DC_OPT_LOCAL},
        {"local-count", required_argument, NULL, DC_OPT_LOCAL_COUNT},
        {"remote", required_argument, NULL, DC_OPT_REMOTE},
        {"remote-count", required_argument, NULL, DC_OPT_REMOTE_COUNT},
        {"secret", required_argument, NULL, DC_OPT_SECRET},
        {"secrets", required_argument, NULL, DC_OPT_SECRETS},
        {"messages", required_argument, NULL, DC_OPT_MESSAGES},
        {"expect", required_argument, NULL, DC_OPT_EXPECT},
        {"deadline", required_argument, NULL, DC_OPT_DEADLINE},
        {"rate", required_argument, NULL, DC_OPT_RATE},
        {"window", required_argument, NULL, DC_OPT_WINDOW},
        {"linger-ms", required_argument, NULL, DC_OPT_LINGER},
        {"ready", required_argument, NULL, DC_OPT_READY},
        {"go", required_argument, NULL, DC_OPT_GO},
        {"verbose", no_argument, NULL, DC_OPT_VERBOSE},
        {"help", no_argument, NULL, DC_OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    dc_opts_t o = {0};
    dc_run_t run = {0};
    int status = 2;
    const char *local_spec = NULL;
    const char *remote_spec = NULL;
    const char *secret = NULL;
    const char *secrets_file = NULL;
    uint64_t local_count = 0;
    uint64_t remote_count = 0;
    uint64_t deadline_s = DC_DEFAULT_DEADLINE_S;
    uint64_t rate = 0;
    uint64_t window = DC_DEFAULT_WINDOW;
    bool have_router = false;
    bool have_expect = false;
    o.messages = 10;
    o.linger_ms = DC_DEFAULT_LINGER_MS;

    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        bool good = true;
        switch (c) {
        case DC_OPT_ROUTER:
            good = dc_parse_addr(&o, optarg);
            have_router = good;
            break;
        case DC_OPT_LOCAL:
            local_spec = optarg;
            break;
        case DC_OPT_LOCAL_COUNT:
            good = dc_parse_u64(optarg, 1, DC_MAX_DOMAINS, &local_count);
            break;
        case DC_OPT_REMOTE:
            remote_spec = optarg;
            break;
        case DC_OPT_REMOTE_COUNT:
            good = dc_parse_u64(optarg, 1, DC_MAX_DOMAINS, &remote_count);
            break;
        case DC_OPT_SECRET:
            secret = optarg;
            break;
        case DC_OPT_SECRETS:
            secrets_file = optarg;
            break;
        case DC_OPT_MESSAGES:
            good = dc_parse_u64(optarg, 1, DC_MAX_MESSAGES, &o.messages);
            break;
        case DC_OPT_EXPECT:
            good = dc_parse_u64(optarg, 0, UINT64_MAX, &o.expect);
            have_expect = good;
            break;
        case DC_OPT_DEADLINE:
            good = dc_parse_u64(optarg, 1, 86400, &deadline_s);
            break;
        case DC_OPT_RATE:
            good = dc_parse_u64(optarg, 1, 100000000, &rate);
            break;
        case DC_OPT_WINDOW:
            good = dc_parse_u64(optarg, 256, 64u << 20, &window);
            break;
        case DC_OPT_LINGER:
            good = dc_parse_u64(optarg, 0, 600000, &o.linger_ms);
            break;
        case DC_OPT_READY:
            o.ready_file = optarg;
            break;
        case DC_OPT_GO:
            o.go_file = optarg;
            break;
        case DC_OPT_VERBOSE:
            o.verbose = true;
            break;
        case DC_OPT_HELP:
            dc_usage(stdout);
            status = 0;
            goto out;
        default:
            good = false;
            break;
        }
        if (!good) {
            if (c != '?') {
                fprintf(stderr, "democomp: bad value for --%s: %s\n",
                        longopts[c - DC_OPT_ROUTER].name, optarg);
            }
            dc_usage(stderr);
            goto out;
        }
    }
    if (optind != argc || !have_router || local_spec == NULL || remote_spec == NULL ||
        (secret == NULL && secrets_file == NULL)) {
        dc_usage(stderr);
        goto out;
    }
    if (!dc_list_build(&o.local, local_spec, local_count, "--local") ||
        !dc_list_build(&o.remote, remote_spec, remote_count, "--remote")) {
        goto out;
    }
    for (size_t i = 0; i < o.local.num; i++) {
        core_cur_t name;
        core_cur_init(&name, o.local.names[i], strlen(o.local.names[i]));
        if (dc_list_find(&o.remote, &name) != SIZE_MAX) {
            fprintf(stderr, "democomp: %s is both local and remote\n", o.local.names[i]);
            goto out;
        }
    }
    o.secrets = core_xcalloc(o.local.num, sizeof(*o.secrets));
    if (secrets_file != NULL && !dc_load_secrets(&o, secrets_file)) {
        goto out;
    }
    for (size_t i = 0; i < o.local.num; i++) {
        if (o.secrets[i] == NULL) {
            if (secret == NULL) {
                fprintf(stderr, "democomp: no secret for %s\n", o.local.names[i]);
                goto out;
            }
            o.secrets[i] = core_xstrdup(secret);
        }
    }
    uint64_t bits = (uint64_t)o.local.num * o.remote.num; // both <= 1e5: no overflow
    if (bits > DC_MAX_BITS / o.messages) {
        fprintf(stderr, "democomp: too many stanzas to track\n");
        goto out;
    }
    bits *= o.messages;
    if (!have_expect) {
        o.expect = bits;
    }
    o.deadline_ms = deadline_s * 1000u;
    o.rate = (double)rate;
    o.window = (size_t)window;

    run.opts = &o;
    run.per_stream = (uint64_t)o.remote.num * o.messages;
    run.seen = core_xcalloc((size_t)((bits + 7) / 8), 1);
    core_bld_init(&run.bld, 4096);
    run.streams = core_xcalloc(o.local.num, sizeof(*run.streams));
    for (size_t i = 0; i < o.local.num; i++) {
        dc_stream_t *s = &run.streams[i];
        s->run = &run;
        s->local_idx = i;
        s->fd = -1;
        s->state = DC_ST_CLOSED;
        s->xs = rt_xs_new(NULL, &dc_cbs, s);
        if (s->xs == NULL) {
            fprintf(stderr, "democomp: cannot create an XML parser\n");
            status = 1;
            goto out;
        }
    }

    uint64_t elapsed_ms = 0;
    bool finished = dc_run_main(&run, &elapsed_ms);
    dc_print(&run, elapsed_ms);
    status = finished && run.delivered == o.expect && run.sent == run.per_stream * o.local.num &&
                     run.duplicates == 0 && run.unexpected == 0 && run.misrouted == 0 &&
                     run.bounces == 0 && run.stream_errors == 0 && run.streams_failed == 0
                 ? 0
                 : 1;

out:
    if (run.streams != NULL) {
        for (size_t i = 0; i < o.local.num; i++) {
            rt_xs_free(run.streams[i].xs);
            core_buf_cleanup(&run.streams[i].out);
        }
    }
    free(run.streams);
    free(run.seen);
    core_bld_cleanup(&run.bld);
    if (o.secrets != NULL) {
        for (size_t i = 0; i < o.local.num; i++) {
            free(o.secrets[i]);
        }
    }
    free(o.secrets);
    dc_list_cleanup(&o.local);
    dc_list_cleanup(&o.remote);
    return status;
}
