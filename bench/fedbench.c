// fedbench: a load generator that plays both ends around an XMPP router under test.
//
//   components (XEP-0114, L local domains) ──► router under test ──► simulated remote s2s servers
//                                                                    (P addresses, R remote domains)
//
// Component side: one XEP-0114 stream per local domain to the router's component port. Each
// stanza is a <message/> from u@L to u@R whose id carries a sequence number and its send time
// (µs since the bench started), so the receiving peer (same process, same clock) measures the
// one-way latency. Stanzas go out at a target rate (--rate) or closed loop (--window stanzas in
// flight). Bounces (type='error') coming back to a component are counted per stanza.
//
// Remote side: a listener on each of P loopback addresses (127.0.0.x). Each accepted stream is a
// real receiving server: stream header, STARTTLS (required), TLS (BoringSSL through memory BIOs,
// the peer's certificate names every remote domain hosted at that address, the initiator's
// certificate is requested and checked against the CA), SASL EXTERNAL (offered when the
// initiator's certificate validated; success when it proves the claimed domain), dialback with
// <errors/> advertised: a piggybacked <db:result/> for a hosted target is answered 'valid' at once
// (the stream's TLS is the trust, as in XEP-0344; the bench is not testing the router's keys), for
// a target not hosted at this address with a dialback error (item-not-found). <db:verify/> is
// answered as authoritative server with XEP-0185 keys and --dialback-secret. Stanzas are sunk:
// counted once per sequence number, checked for duplicates, for their target being hosted at this
// address, and for their pair having been authenticated on this stream.
//
// Phases: connect (components authenticate) → setup (one stanza per initial pair; the pair set-up
// time is until each pair's first stanza arrived) → load (--duration seconds of traffic; churn
// adds new pairs meanwhile) → drain (nothing new is sent; slow peers read at full speed) until
// every stanza is delivered or bounced, or --drain-timeout passes.
//
// Measured at the router process (--router-pid): CPU seconds (utime+stime from /proc/PID/stat)
// during the load phase and in total, peak RSS (VmHWM from /proc/PID/status), RSS sampled during
// the run. Counted at the simulated peers (not taken from the router's word): TCP connects, TLS
// handshakes, EXTERNAL and dialback authentications. With --metrics the router's Prometheus
// counters are scraped at the end and cross-checked.
//
// Output: a human table on stdout, --json FILE, --csv FILE (one header line and one row).
// Exit status: 0 when the counts are consistent (sent = delivered + bounced, no duplicates, no
// misrouted stanza, connects at the peers = the router's outbound connects when --metrics is
// given, every setup pair established); 1 otherwise; 2 on usage errors.
//
// One thread, one io_uring: readiness (poll) for reads, io_uring sends, accepts and connects.
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "dna/dbkey.h"
#include "dna/pkix.h"
#include "dna/domain.h"
#include "router/core/bytes.h"
#include "router/core/log.h"
#include "router/core/mem.h"
#include "router/core/rc.h"
#include "router/xml_stream.h"

#define BENCH_MAX_DOMAINS 100000
#define BENCH_MAX_PEERS 200
#define BENCH_READ_CHUNK 65536
#define BENCH_OUT_CAP (256u * 1024u) // component output buffered before generation pauses
#define BENCH_RING_ENTRIES 4096
#define BENCH_HIST_BUCKETS 1400
#define BENCH_CONNECT_RETRY_US 5000000u
#define BENCH_SLOW_CHUNK 4096

// ---------------------------------------------------------------------------------------------
// Options

typedef struct bench_opts {
    struct sockaddr_in comp_addr; // router's component listener
    struct sockaddr_in metrics_addr;
    bool have_metrics;
    const char *local_fmt;  // printf pattern with one %zu, e.g. "l%zu.bench.example"
    const char *remote_fmt; // likewise for remote domains
    size_t num_local;
    size_t num_remote;
    size_t num_remote_initial; // remote domains active from the start (churn adds the rest)
    size_t num_peers;
    struct in_addr peer_base; // first peer address; peer i is base + i
    uint16_t peer_port;
    const char *certdir; // ca.pem, peer<i>.pem, peer<i>.key
    const char *secrets_file;
    const char *dialback_secret;
    pid_t router_pid;
    double rate;          // stanzas/s in the load phase; 0: closed loop
    uint64_t window;      // stanzas in flight at most
    double duration_s;    // load phase
    double churn;         // new pairs per second during the load phase
    size_t body_bytes;    // body characters per stanza
    size_t num_slow_peers;
    double slow_bps;      // read rate of a slow peer during setup and load
    double setup_timeout_s;
    double drain_timeout_s;
    double connect_timeout_s;
    const char *json_file;
    const char *csv_file;
    const char *label;
    bool verbose;
} bench_opts_t;

// ---------------------------------------------------------------------------------------------
// Connections

typedef enum bench_op_kind {
    BENCH_OP_POLL = 1,
    BENCH_OP_SEND,
    BENCH_OP_CONNECT,
    BENCH_OP_ACCEPT,
} bench_op_kind_t;

struct bench_conn;

typedef struct bench_op {
    bench_op_kind_t kind;
    struct bench_conn *conn;
    size_t listener; // BENCH_OP_ACCEPT: the peer index
} bench_op_t;

typedef enum bench_conn_kind {
    BENCH_CONN_COMP = 1,
    BENCH_CONN_PEER,
} bench_conn_kind_t;

typedef enum bench_state {
    BENCH_ST_CONNECTING = 1, // component: TCP connect in flight
    BENCH_ST_RETRY,          // component: connect refused, retry later
    BENCH_ST_OPENING,        // component: header sent; peer: waiting for the initiator's header
    BENCH_ST_HANDSHAKING,    // component: <handshake/> sent
    BENCH_ST_PLAIN,          // peer: features sent before TLS, waiting for <starttls/>
    BENCH_ST_TLS,            // peer: TLS handshake running
    BENCH_ST_SECURED,        // peer: TLS up, features sent, waiting for auth/dialback/stanzas
    BENCH_ST_READY,          // component: authenticated
    BENCH_ST_CLOSED,
} bench_state_t;

typedef struct bench_conn {
    bench_conn_kind_t kind;
    bench_state_t state;
    int fd;
    uint64_t serial; // unique per connection, for pair bookkeeping
    size_t index;    // component: local domain index; peer: peer address index
    rt_xs_t *xs;
    SSL *ssl;
    BIO *rbio; // ciphertext in (owned by ssl)
    BIO *wbio; // ciphertext out (owned by ssl)
    bool ext_ok;      // peer: the initiator's certificate validated against the CA
    bool restarts;    // peer: a stream restart is due (after TLS or SASL)
    bool tls_pending; // peer: <proceed/> queued, TLS starts with the next bytes
    core_buf_t out;      // bytes waiting to be sent
    core_buf_t inflight; // bytes handed to io_uring
    bool send_busy;
    bool poll_busy;
    bool dirty; // on the flush list
    bool paused; // slow peer: reading again at |resume_us|
    uint64_t resume_us;
    uint64_t connect_start_us;
    uint64_t retry_at_us;
    size_t ops_in_flight;
    bench_op_t op_poll;
    bench_op_t op_send;
    bench_op_t op_connect;
    char stream_id[40];
    char hdr_to[256];   // peer: the initiator's last stream header
    char hdr_from[256];
    struct bench_conn *next_dirty;
} bench_conn_t;

// Latency histogram: exact below 64 µs, then 32 buckets per power of two (~3 % resolution).
typedef struct bench_hist {
    uint64_t counts[BENCH_HIST_BUCKETS];
    uint64_t num;
    uint64_t max;
    double sum;
} bench_hist_t;

typedef struct bench_name_table {
    char **names; // index → name (owned)
    size_t num;
    uint32_t *slots; // open addressing: index + 1, 0 empty
    size_t num_slots;
} bench_name_table_t;

typedef struct bench_pair {
    uint64_t first_sent_us;  // 0: never sent
    uint64_t first_deliv_us; // 0: not delivered yet
    uint64_t auth_conn;      // serial of the peer stream that authenticated it last (0: none)
    bool authed;
} bench_pair_t;

typedef enum bench_phase {
    BENCH_PH_CONNECT = 0,
    BENCH_PH_SETUP,
    BENCH_PH_LOAD,
    BENCH_PH_DRAIN,
    BENCH_PH_DONE,
} bench_phase_t;

typedef struct bench_cpu {
    uint64_t ticks; // utime + stime
    bool ok;
} bench_cpu_t;

typedef struct bench_run {
    const bench_opts_t *o;
    struct io_uring ring;
    bench_name_table_t local;
    bench_name_table_t remote;
    char **secrets;
    dna_dbkey_secret_t db_secret;
    SSL_CTX **peer_ctx;
    int *listen_fds;
    bench_op_t *accept_ops;
    bench_conn_t *comps;
    bench_conn_t **peer_conns; // every accepted peer connection (owned)
    size_t num_peer_conns;
    size_t cap_peer_conns;
    bench_conn_t *dirty;
    uint64_t next_serial;
    uint64_t t0_ns;
    // Sequences: one bit each for delivered and bounced.
    uint8_t *deliv_bits;
    uint8_t *bounce_bits;
    size_t bits_cap; // bytes
    bench_pair_t *pairs;
    size_t num_pairs;     // L × R
    size_t active_pairs;  // pairs in the round robin
    size_t setup_pairs;   // pairs of the setup phase
    uint64_t rr;          // round-robin position in the load phase
    size_t setup_next;    // next setup pair to send
    double tokens;
    uint64_t last_refill_us;
    double churn_credit;
    bench_phase_t phase;
    size_t comps_ready;
    // Counters.
    uint64_t generated; // stanzas put in an output buffer
    uint64_t sent;      // == generated once flushed; kept as generated (the router owns them once written)
    uint64_t delivered;
    uint64_t bounced;
    uint64_t bounced_conditions[8];
    uint64_t duplicates;
    uint64_t deliv_and_bounced;
    uint64_t misrouted;
    uint64_t unauthorized;
    uint64_t unknown_stanzas;
    uint64_t peer_connects;
    uint64_t peer_handshakes;
    uint64_t peer_ext_ok;
    uint64_t peer_ext_refused;
    uint64_t peer_db_results;
    uint64_t peer_db_errors;
    uint64_t peer_db_verify;
    uint64_t peer_stream_errors; // stream errors the peers sent or received
    uint64_t comp_stream_errors;
    uint64_t comp_failures;
    uint64_t pairs_authed;
    uint64_t pairs_delivered;
    uint64_t load_sent_first; // first sequence of the load phase
    uint64_t load_delivered;  // delivered stanzas sent in the load phase
    // Times (µs since t0).
    uint64_t connect_done_us;
    uint64_t setup_start_us;
    uint64_t setup_auth_done_us;
    uint64_t setup_done_us;
    uint64_t load_start_us;
    uint64_t load_end_us;
    uint64_t drain_end_us;
    bench_cpu_t cpu_start;
    bench_cpu_t cpu_load_start;
    bench_cpu_t cpu_load_end;
    bench_cpu_t cpu_end;
    uint64_t rss_max_sampled_kb;
    uint64_t rss_end_kb;
    uint64_t hwm_kb;
    uint64_t last_sample_us;
    bench_hist_t lat;       // load-phase stanzas, one-way
    bench_hist_t pair_lat;  // pair set-up: first stanza sent → delivered
    core_bld_t bld;
    char *body; // body_bytes of filler
    bool timed_out;
    // Router metrics (scraped at the end).
    bool have_metrics;
    double m_connects_out;
    double m_tls_out;
    double m_bounces;
    double m_routed;
    double m_verif;
    double m_piggy;
} bench_run_t;

static volatile sig_atomic_t bench_stop;

// The parser callbacks get the connection as context; the run is the one of this process.
static bench_run_t *bench_g_run;

static void bench_on_signal(int sig) {
    (void)sig;
    bench_stop = 1;
}

static uint64_t bench_now_us(const bench_run_t *run) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return (ns - run->t0_ns) / 1000u + 1; // never 0: 0 means "not yet"
}

// ---------------------------------------------------------------------------------------------
// Histogram

static size_t bench_hist_idx(uint64_t v) {
    if (v < 64) {
        return (size_t)v;
    }
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 5u;
    size_t idx = 64u + (size_t)(msb - 6u) * 32u + (size_t)((v >> shift) - 32u);
    return idx < BENCH_HIST_BUCKETS ? idx : BENCH_HIST_BUCKETS - 1;
}

// bench_hist_value returns the upper bound of bucket |idx|.
static uint64_t bench_hist_value(size_t idx) {
    if (idx < 64) {
        return idx;
    }
    size_t k = idx - 64u;
    unsigned msb = (unsigned)(k / 32u) + 6u;
    uint64_t sub = k % 32u + 32u;
    unsigned shift = msb - 5u;
    return ((sub + 1u) << shift) - 1u;
}

static void bench_hist_add(bench_hist_t *h, uint64_t v) {
    h->counts[bench_hist_idx(v)]++;
    h->num++;
    h->sum += (double)v;
    if (v > h->max) {
        h->max = v;
    }
}

static uint64_t bench_hist_pct(const bench_hist_t *h, double pct) {
    if (h->num == 0) {
        return 0;
    }
    uint64_t want = (uint64_t)ceil((double)h->num * pct / 100.0);
    if (want == 0) {
        want = 1;
    }
    uint64_t acc = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        acc += h->counts[i];
        if (acc >= want) {
            uint64_t v = bench_hist_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

// ---------------------------------------------------------------------------------------------
// Names

static uint64_t bench_hash(const void *data, size_t len) {
    const uint8_t *p = data;
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211u;
    }
    return h;
}

// bench_names_init expands |fmt| for 1..|num| into |t|.
static void bench_names_init(bench_name_table_t *t, const char *fmt, size_t num) {
    t->names = core_xcalloc(num, sizeof(*t->names));
    t->num = num;
    t->num_slots = 16;
    while (t->num_slots < num * 2) {
        t->num_slots *= 2;
    }
    t->slots = core_xcalloc(t->num_slots, sizeof(*t->slots));
    for (size_t i = 0; i < num; i++) {
        char name[256];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        int n = snprintf(name, sizeof(name), fmt, i + 1);
#pragma GCC diagnostic pop
        RT_CHECK(n > 0 && (size_t)n < sizeof(name));
        t->names[i] = core_xstrdup(name);
        size_t s = (size_t)bench_hash(name, (size_t)n) & (t->num_slots - 1);
        while (t->slots[s] != 0) {
            s = (s + 1) & (t->num_slots - 1);
        }
        t->slots[s] = (uint32_t)i + 1;
    }
}

static void bench_names_cleanup(bench_name_table_t *t) {
    for (size_t i = 0; i < t->num && t->names != NULL; i++) {
        free(t->names[i]);
    }
    free(t->names);
    free(t->slots);
    core_memset(t, 0, sizeof(*t));
}

// bench_names_find returns the index of the name equal to |len| bytes at |s|, or SIZE_MAX.
static size_t bench_names_find(const bench_name_table_t *t, const void *s, size_t len) {
    if (t->num_slots == 0) {
        return SIZE_MAX;
    }
    size_t slot = (size_t)bench_hash(s, len) & (t->num_slots - 1);
    while (t->slots[slot] != 0) {
        size_t i = t->slots[slot] - 1u;
        const char *n = t->names[i];
        if (strlen(n) == len && core_memcmp(n, s, len) == 0) {
            return i;
        }
        slot = (slot + 1) & (t->num_slots - 1);
    }
    return SIZE_MAX;
}

// bench_jid_domain sets |out| to the domain part of |jid| (dna_jid_domain). False when malformed.
static bool bench_jid_domain(core_cur_t *out, const char *jid) {
    const char *dom = NULL;
    size_t dom_len = 0;
    if (jid == NULL || !dna_jid_domain(jid, strlen(jid), &dom, &dom_len)) {
        return false;
    }
    core_cur_init(out, dom, dom_len);
    return true;
}

// bench_peer_of returns the peer address index hosting remote domain |r|.
static size_t bench_peer_of(const bench_run_t *run, size_t r) {
    return r % run->o->num_peers;
}

// ---------------------------------------------------------------------------------------------
// Sequence bitmaps

static void bench_bits_reserve(bench_run_t *run, uint64_t seq) {
    size_t need = (size_t)(seq / 8u) + 1u;
    if (need <= run->bits_cap) {
        return;
    }
    size_t cap = run->bits_cap == 0 ? 65536 : run->bits_cap;
    while (cap < need) {
        cap *= 2;
    }
    run->deliv_bits = core_xrealloc(run->deliv_bits, cap);
    run->bounce_bits = core_xrealloc(run->bounce_bits, cap);
    core_memset(run->deliv_bits + run->bits_cap, 0, cap - run->bits_cap);
    core_memset(run->bounce_bits + run->bits_cap, 0, cap - run->bits_cap);
    run->bits_cap = cap;
}

// bench_parse_id reads "fb<seq>.<t_us>" from a stanza id (peer data, bounded). False if not ours.
static bool bench_parse_id(const char *id, uint64_t *out_seq, uint64_t *out_t) {
    if (id == NULL) {
        return false;
    }
    core_cur_t cur;
    core_cur_init(&cur, id, strlen(id));
    core_cur_t seq_cur;
    uint64_t seq = 0;
    uint64_t t = 0;
    if (!core_cur_match(&cur, "fb", 2) || !core_cur_get_until(&cur, &seq_cur, '.') ||
        !core_cur_get_decimal(&seq_cur, UINT64_MAX, &seq) || !core_cur_empty(&seq_cur) ||
        !core_cur_get_decimal(&cur, UINT64_MAX, &t) || !core_cur_empty(&cur)) {
        return false;
    }
    *out_seq = seq;
    *out_t = t;
    return true;
}

// ---------------------------------------------------------------------------------------------
// I/O plumbing

static void bench_conn_close(bench_run_t *run, bench_conn_t *c, const char *why);

static struct io_uring_sqe *bench_sqe(bench_run_t *run) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&run->ring);
    if (sqe == NULL) {
        (void)io_uring_submit(&run->ring);
        sqe = io_uring_get_sqe(&run->ring);
    }
    RT_CHECK(sqe != NULL);
    return sqe;
}

static void bench_arm_poll(bench_run_t *run, bench_conn_t *c) {
    if (c->poll_busy || c->fd < 0 || c->state == BENCH_ST_CLOSED || c->paused) {
        return;
    }
    struct io_uring_sqe *sqe = bench_sqe(run);
    io_uring_prep_poll_add(sqe, c->fd, POLLIN);
    c->op_poll.kind = BENCH_OP_POLL;
    c->op_poll.conn = c;
    io_uring_sqe_set_data(sqe, &c->op_poll);
    c->poll_busy = true;
    c->ops_in_flight++;
}

static void bench_mark_dirty(bench_run_t *run, bench_conn_t *c) {
    if (!c->dirty) {
        c->dirty = true;
        c->next_dirty = run->dirty;
        run->dirty = c;
    }
}

// bench_conn_write queues plaintext |data| on |c|, through TLS when it is up.
static void bench_conn_write(bench_run_t *run, bench_conn_t *c, const void *data, size_t len) {
    if (c->state == BENCH_ST_CLOSED) {
        return;
    }
    if (c->ssl != NULL && !c->tls_pending) {
        if (len > 0 && SSL_write(c->ssl, data, (int)len) != (int)len) {
            bench_conn_close(run, c, "SSL_write failed");
            return;
        }
        size_t pend;
        while ((pend = BIO_pending(c->wbio)) > 0) {
            uint8_t *dst = core_buf_reserve(&c->out, pend);
            int n = BIO_read(c->wbio, dst, (int)pend);
            if (n <= 0) {
                break;
            }
            core_buf_commit(&c->out, (size_t)n);
        }
    } else {
        core_buf_append(&c->out, data, len);
    }
    if (core_buf_len(&c->out) > 0) {
        bench_mark_dirty(run, c);
    }
}

static void bench_conn_write_str(bench_run_t *run, bench_conn_t *c, const char *s) {
    bench_conn_write(run, c, s, strlen(s));
}

// bench_tls_drain moves ciphertext the TLS engine produced (handshake, alerts) to |c->out|.
static void bench_tls_drain(bench_run_t *run, bench_conn_t *c) {
    bench_conn_write(run, c, NULL, 0);
}

static void bench_conn_flush(bench_run_t *run, bench_conn_t *c) {
    if (c->send_busy || c->fd < 0 || c->state == BENCH_ST_CLOSED ||
        c->state == BENCH_ST_CONNECTING || c->state == BENCH_ST_RETRY) {
        return;
    }
    if (core_buf_len(&c->inflight) == 0) {
        if (core_buf_len(&c->out) == 0) {
            return;
        }
        core_buf_t tmp = c->inflight;
        c->inflight = c->out;
        c->out = tmp;
    }
    struct io_uring_sqe *sqe = bench_sqe(run);
    io_uring_prep_send(sqe, c->fd, core_buf_head(&c->inflight), core_buf_len(&c->inflight),
                       MSG_NOSIGNAL);
    c->op_send.kind = BENCH_OP_SEND;
    c->op_send.conn = c;
    io_uring_sqe_set_data(sqe, &c->op_send);
    c->send_busy = true;
    c->ops_in_flight++;
}

static void bench_conn_free(bench_conn_t *c) {
    rt_xs_free(c->xs);
    c->xs = NULL;
    SSL_free(c->ssl); // frees the BIOs
    c->ssl = NULL;
    core_buf_cleanup(&c->out);
    core_buf_cleanup(&c->inflight);
}

// bench_conn_close ends |c|: shutdown now (in-flight operations complete), close later.
static void bench_conn_close(bench_run_t *run, bench_conn_t *c, const char *why) {
    if (c->state == BENCH_ST_CLOSED) {
        return;
    }
    if (why != NULL && (run->o->verbose || run->phase < BENCH_PH_DRAIN)) {
        fprintf(stderr, "fedbench: %s %zu closed: %s\n",
                c->kind == BENCH_CONN_COMP ? "component" : "peer", c->index, why);
    }
    c->state = BENCH_ST_CLOSED;
    if (c->fd >= 0) {
        (void)shutdown(c->fd, SHUT_RDWR);
        if (c->ops_in_flight == 0) {
            close(c->fd);
            c->fd = -1;
        }
    }
}

// bench_op_done is called once per completion; closes the fd of a closed connection when its last
// operation completed.
static void bench_op_done(bench_conn_t *c) {
    RT_CHECK(c->ops_in_flight > 0);
    c->ops_in_flight--;
    if (c->state == BENCH_ST_CLOSED && c->ops_in_flight == 0 && c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

// ---------------------------------------------------------------------------------------------
// Component side

static const char *const bench_conditions[] = {
    "remote-server-not-found", "remote-server-timeout", "internal-server-error",
    "resource-constraint",     "service-unavailable",   "policy-violation",
    "not-authorized",
};
#define BENCH_NUM_CONDITIONS RT_ARRAY_LEN(bench_conditions) // [7] = other

static size_t bench_classify(const uint8_t *raw, size_t raw_len) {
    for (size_t i = 0; i < BENCH_NUM_CONDITIONS; i++) {
        char tag[64];
        int n = snprintf(tag, sizeof(tag), "<%s", bench_conditions[i]);
        if (n > 0 && memmem(raw, raw_len, tag, (size_t)n) != NULL) {
            return i;
        }
    }
    return BENCH_NUM_CONDITIONS;
}

static void bench_comp_on_bounce(bench_run_t *run, const rt_xs_elem_t *el) {
    uint64_t seq = 0;
    uint64_t t = 0;
    if (!bench_parse_id(el->id, &seq, &t) || seq >= run->generated) {
        run->unknown_stanzas++;
        return;
    }
    uint8_t mask = (uint8_t)(1u << (seq & 7));
    if (run->bounce_bits[seq >> 3] & mask) {
        run->duplicates++;
        return;
    }
    run->bounce_bits[seq >> 3] |= mask;
    if (run->deliv_bits[seq >> 3] & mask) {
        run->deliv_and_bounced++;
    }
    run->bounced++;
    run->bounced_conditions[bench_classify(el->raw, el->raw_len)]++;
}

static bool bench_comp_on_open(void *ctx, const rt_xs_header_t *hdr) {
    bench_conn_t *c = ctx;
    if (c->state != BENCH_ST_OPENING || hdr->id == NULL || hdr->id[0] == '\0' ||
        strcmp(hdr->ns_default, RT_XS_NS_COMPONENT) != 0) {
        bench_conn_close(bench_g_run, c, "bad stream header from the router");
        return false;
    }
    snprintf(c->stream_id, sizeof(c->stream_id), "%.39s", hdr->id);
    c->state = BENCH_ST_HANDSHAKING;
    return true;
}

static bool bench_comp_on_elem(void *ctx, const rt_xs_elem_t *el) {
    bench_conn_t *c = ctx;
    bench_run_t *run = bench_g_run;
    if (strcmp(el->ns, RT_XS_NS_STREAMS) == 0 && strcmp(el->name, "error") == 0) {
        run->comp_stream_errors++;
        bench_conn_close(run, c, "stream error from the router");
        return false;
    }
    if (c->state == BENCH_ST_HANDSHAKING) {
        if (strcmp(el->name, "handshake") == 0) {
            c->state = BENCH_ST_READY;
            run->comps_ready++;
            return true;
        }
        bench_conn_close(run, c, "unexpected element before <handshake/>");
        return false;
    }
    if (!el->is_stanza) {
        run->unknown_stanzas++;
        return true;
    }
    if (el->type != NULL && strcmp(el->type, "error") == 0) {
        bench_comp_on_bounce(run, el);
        return true;
    }
    run->unknown_stanzas++;
    return true;
}

static bool bench_comp_on_close(void *ctx) {
    bench_conn_t *c = ctx;
    bench_conn_close(bench_g_run, c, bench_g_run->phase < BENCH_PH_DONE ? "router closed" : NULL);
    return false;
}

static const rt_xs_cbs_t bench_comp_cbs = {
    .on_open = bench_comp_on_open,
    .on_elem = bench_comp_on_elem,
    .on_close = bench_comp_on_close,
};

static void bench_comp_connect(bench_run_t *run, bench_conn_t *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        bench_conn_close(run, c, strerror(errno));
        return;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->fd = fd;
    c->state = BENCH_ST_CONNECTING;
    struct io_uring_sqe *sqe = bench_sqe(run);
    io_uring_prep_connect(sqe, fd, (const struct sockaddr *)&run->o->comp_addr,
                          sizeof(run->o->comp_addr));
    c->op_connect.kind = BENCH_OP_CONNECT;
    c->op_connect.conn = c;
    io_uring_sqe_set_data(sqe, &c->op_connect);
    c->ops_in_flight++;
}

static void bench_comp_on_connect(bench_run_t *run, bench_conn_t *c, int res) {
    uint64_t now = bench_now_us(run);
    if (c->state != BENCH_ST_CONNECTING) {
        return;
    }
    if (res < 0) {
        if (res == -ECONNREFUSED && now - c->connect_start_us < BENCH_CONNECT_RETRY_US) {
            close(c->fd);
            c->fd = -1;
            c->state = BENCH_ST_RETRY;
            c->retry_at_us = now + 100000u;
            return;
        }
        run->comp_failures++;
        bench_conn_close(run, c, strerror(-res));
        return;
    }
    const char *name = run->local.names[c->index];
    core_bld_t *b = &run->bld;
    core_bld_reset(b);
    core_bld_add_str(b, "<?xml version='1.0'?><stream:stream xmlns='" RT_XS_NS_COMPONENT
                        "' xmlns:stream='" RT_XS_NS_STREAMS "' to='");
    core_bld_add_xml_attr(b, name, strlen(name));
    core_bld_add_str(b, "'>");
    RT_CHECK(core_bld_finish(b) == RC_OK);
    c->state = BENCH_ST_OPENING;
    bench_conn_write(run, c, b->data, b->len);
    bench_arm_poll(run, c);
}

// bench_comp_after_parse sends the handshake once the router's header arrived.
static void bench_comp_after_parse(bench_run_t *run, bench_conn_t *c) {
    if (c->state == BENCH_ST_HANDSHAKING && c->stream_id[0] != '\0') {
        char digest[41];
        dna_handshake_compute(digest, c->stream_id, run->secrets[c->index]);
        char msg[80];
        int n = snprintf(msg, sizeof(msg), "<handshake>%s</handshake>", digest);
        RT_CHECK(n > 0 && (size_t)n < sizeof(msg));
        bench_conn_write(run, c, msg, (size_t)n);
        c->stream_id[0] = '\0'; // sent once
    }
}

// bench_gen_one appends the stanza of pair |p| with sequence |seq| to its component stream.
static void bench_gen_one(bench_run_t *run, size_t p) {
    const bench_opts_t *o = run->o;
    size_t l = p % o->num_local;
    size_t r = p / o->num_local;
    bench_conn_t *c = &run->comps[l];
    uint64_t now = bench_now_us(run);
    uint64_t seq = run->generated;
    bench_bits_reserve(run, seq);
    const char *ln = run->local.names[l];
    const char *rn = run->remote.names[r];
    char head[600];
    int n = snprintf(head, sizeof(head),
                     "<message from='u@%s' to='u@%s' id='fb%" PRIu64 ".%" PRIu64
                     "' type='chat'><body>",
                     ln, rn, seq, now);
    RT_CHECK(n > 0 && (size_t)n < sizeof(head));
    static const char tail[] = "</body></message>";
    core_buf_append(&c->out, head, (size_t)n);
    core_buf_append(&c->out, run->body, o->body_bytes);
    core_buf_append(&c->out, tail, sizeof(tail) - 1);
    bench_mark_dirty(run, c);
    run->generated++;
    bench_pair_t *pr = &run->pairs[p];
    if (pr->first_sent_us == 0) {
        pr->first_sent_us = now;
    }
}

static bool bench_comp_can_take(const bench_run_t *run, size_t p) {
    const bench_conn_t *c = &run->comps[p % run->o->num_local];
    return c->state == BENCH_ST_READY && core_buf_len(&c->out) < BENCH_OUT_CAP;
}

static uint64_t bench_in_flight(const bench_run_t *run) {
    return run->generated - run->delivered - run->bounced + run->deliv_and_bounced;
}

// bench_generate produces stanzas for the current phase within the window and the rate.
static void bench_generate(bench_run_t *run, uint64_t now) {
    const bench_opts_t *o = run->o;
    if (run->phase == BENCH_PH_SETUP) {
        while (run->setup_next < run->setup_pairs && bench_in_flight(run) < o->window) {
            if (!bench_comp_can_take(run, run->setup_next)) {
                break;
            }
            bench_gen_one(run, run->setup_next++);
        }
        return;
    }
    if (run->phase != BENCH_PH_LOAD) {
        return;
    }
    double dt = (double)(now - run->last_refill_us) / 1e6;
    run->last_refill_us = now;
    // Churn: new pairs join; each new pair gets its first stanza before anything else.
    if (o->churn > 0 && run->active_pairs < run->num_pairs) {
        run->churn_credit += o->churn * dt;
        while (run->churn_credit >= 1.0 && run->active_pairs < run->num_pairs &&
               bench_in_flight(run) < o->window && bench_comp_can_take(run, run->active_pairs)) {
            bench_gen_one(run, run->active_pairs++);
            run->churn_credit -= 1.0;
        }
        if (run->churn_credit > o->churn) {
            run->churn_credit = o->churn; // at most one second of backlog
        }
    }
    uint64_t budget = UINT64_MAX;
    if (o->rate > 0) {
        run->tokens += o->rate * dt;
        double cap = o->rate / 20.0 < 1.0 ? 1.0 : o->rate / 20.0;
        if (run->tokens > cap) {
            run->tokens = cap;
        }
        budget = (uint64_t)run->tokens;
    }
    uint64_t made = 0;
    size_t blocked = 0;
    while (made < budget && bench_in_flight(run) < o->window && blocked < o->num_local) {
        size_t p = (size_t)(run->rr % run->active_pairs);
        run->rr++;
        if (!bench_comp_can_take(run, p)) {
            blocked++;
            continue;
        }
        blocked = 0;
        bench_gen_one(run, p);
        made++;
    }
    if (o->rate > 0) {
        run->tokens -= (double)made;
    }
}

// ---------------------------------------------------------------------------------------------
// Peer side (simulated remote servers)

static void bench_peer_stream_error(bench_run_t *run, bench_conn_t *c, const char *cond) {
    char msg[256];
    snprintf(msg, sizeof(msg),
             "<stream:error><%s xmlns='" RT_XS_NS_STREAM_ERRORS "'/></stream:error></stream:stream>",
             cond);
    bench_conn_write_str(run, c, msg);
    run->peer_stream_errors++;
    bench_conn_flush(run, c);
    c->state = BENCH_ST_CLOSED; // no more input; the queued bytes still go (send is in flight)
    if (c->fd >= 0) {
        (void)shutdown(c->fd, SHUT_RD);
    }
}

// bench_peer_hosts is true when remote domain |name| is served at |c|'s address.
static size_t bench_peer_domain(const bench_run_t *run, const bench_conn_t *c, const char *name) {
    if (name == NULL) {
        return SIZE_MAX;
    }
    core_cur_t d;
    if (!bench_jid_domain(&d, name)) {
        return SIZE_MAX;
    }
    size_t r = bench_names_find(&run->remote, d.ptr, d.len);
    if (r == SIZE_MAX || bench_peer_of(run, r) != c->index) {
        return SIZE_MAX;
    }
    return r;
}

static size_t bench_local_domain(const bench_run_t *run, const char *name) {
    core_cur_t d;
    if (!bench_jid_domain(&d, name)) {
        return SIZE_MAX;
    }
    return bench_names_find(&run->local, d.ptr, d.len);
}

static void bench_pair_authed(bench_run_t *run, bench_conn_t *c, size_t l, size_t r) {
    bench_pair_t *p = &run->pairs[r * run->o->num_local + l];
    if (!p->authed) {
        p->authed = true;
        run->pairs_authed++;
    }
    p->auth_conn = c->serial;
}

static bool bench_peer_on_open(void *ctx, const rt_xs_header_t *hdr) {
    bench_conn_t *c = ctx;
    bench_run_t *run = bench_g_run;
    if (strcmp(hdr->ns_default, RT_XS_NS_SERVER) != 0) {
        bench_peer_stream_error(run, c, "invalid-namespace");
        return false;
    }
    if (bench_peer_domain(run, c, hdr->to) == SIZE_MAX) {
        bench_peer_stream_error(run, c, "host-unknown");
        return false;
    }
    snprintf(c->stream_id, sizeof(c->stream_id), "fb%016" PRIx64 "%08" PRIx64, c->serial,
             (uint64_t)random());
    core_bld_t *b = &run->bld;
    core_bld_reset(b);
    core_bld_add_str(b, "<?xml version='1.0'?><stream:stream xmlns='" RT_XS_NS_SERVER
                        "' xmlns:stream='" RT_XS_NS_STREAMS "' xmlns:db='" RT_XS_NS_DIALBACK
                        "' version='1.0' id='");
    core_bld_add_str(b, c->stream_id);
    core_bld_add_str(b, "' from='");
    core_bld_add_xml_attr(b, hdr->to, strlen(hdr->to));
    if (hdr->from != NULL) {
        core_bld_add_str(b, "' to='");
        core_bld_add_xml_attr(b, hdr->from, strlen(hdr->from));
    }
    core_bld_add_str(b, "'><stream:features>");
    if (c->ssl == NULL) {
        core_bld_add_str(b, "<starttls xmlns='" RT_XS_NS_TLS "'><required/></starttls>");
    } else if (c->state == BENCH_ST_TLS && c->ext_ok) {
        core_bld_add_str(b, "<mechanisms xmlns='" RT_XS_NS_SASL
                            "'><mechanism>EXTERNAL</mechanism></mechanisms>");
    }
    core_bld_add_str(b, "<dialback xmlns='" RT_XS_NS_DIALBACK_FEATURE
                        "'><errors/></dialback></stream:features>");
    RT_CHECK(core_bld_finish(b) == RC_OK);
    bench_conn_write(run, c, b->data, b->len);
    c->state = c->ssl == NULL ? BENCH_ST_PLAIN : BENCH_ST_SECURED;
    return true;
}

static void bench_peer_on_stanza(bench_run_t *run, bench_conn_t *c, const rt_xs_elem_t *el) {
    uint64_t now = bench_now_us(run);
    uint64_t seq = 0;
    uint64_t t = 0;
    size_t r = bench_peer_domain(run, c, el->to);
    size_t l = bench_local_domain(run, el->from);
    if (!bench_parse_id(el->id, &seq, &t) || seq >= run->generated || l == SIZE_MAX) {
        run->unknown_stanzas++;
        return;
    }
    if (r == SIZE_MAX) {
        run->misrouted++;
        return;
    }
    bench_pair_t *p = &run->pairs[r * run->o->num_local + l];
    if (p->auth_conn != c->serial) {
        run->unauthorized++;
    }
    uint8_t mask = (uint8_t)(1u << (seq & 7));
    if (run->deliv_bits[seq >> 3] & mask) {
        run->duplicates++;
        return;
    }
    run->deliv_bits[seq >> 3] |= mask;
    if (run->bounce_bits[seq >> 3] & mask) {
        run->deliv_and_bounced++;
    }
    run->delivered++;
    if (p->first_deliv_us == 0) {
        p->first_deliv_us = now;
        run->pairs_delivered++;
        bench_hist_add(&run->pair_lat, now - p->first_sent_us);
    }
    if (seq >= run->load_sent_first && run->load_start_us != 0) {
        bench_hist_add(&run->lat, now > t ? now - t : 0);
        if (t < run->load_end_us || run->load_end_us == 0) {
            run->load_delivered++;
        }
    }
}

static void bench_peer_on_auth(bench_run_t *run, bench_conn_t *c, const rt_xs_elem_t *el,
                               const char *hdr_to, const char *hdr_from) {
    const char *mech = rt_xs_attr_get(el, 0, "mechanism");
    bool ok = false;
    char authz[256] = "";
    if (mech != NULL && strcmp(mech, "EXTERNAL") == 0 && c->ext_ok) {
        const rt_xs_node_t *n = &el->nodes[0];
        size_t len = 0;
        if (n->text_len > 0 && !(n->text_len == 1 && n->text[0] == '=')) {
            ok = core_b64_decode((uint8_t *)authz, sizeof(authz) - 1, &len, n->text, n->text_len);
            authz[ok ? len : 0] = '\0';
        } else if (hdr_from != NULL) {
            snprintf(authz, sizeof(authz), "%s", hdr_from);
            ok = true;
        }
        size_t l = ok ? bench_local_domain(run, authz) : SIZE_MAX;
        size_t r = bench_peer_domain(run, c, hdr_to);
        X509 *cert = ok ? SSL_get_peer_certificate(c->ssl) : NULL;
        dna_pkix_opts_t po = {0};
        ok = cert != NULL && l != SIZE_MAX && r != SIZE_MAX && dna_pkix_match(cert, authz, &po) == RC_OK;
        X509_free(cert);
        if (ok) {
            bench_pair_authed(run, c, l, r);
        }
    }
    if (ok) {
        run->peer_ext_ok++;
        bench_conn_write_str(run, c, "<success xmlns='" RT_XS_NS_SASL "'/>");
        rt_xs_reset(c->xs);
        c->state = BENCH_ST_SECURED;
    } else {
        run->peer_ext_refused++;
        bench_conn_write_str(run, c, "<failure xmlns='" RT_XS_NS_SASL "'><not-authorized/></failure>");
    }
}

static void bench_peer_on_db_result(bench_run_t *run, bench_conn_t *c, const rt_xs_elem_t *el) {
    run->peer_db_results++;
    size_t r = bench_peer_domain(run, c, el->to);
    size_t l = el->from != NULL ? bench_local_domain(run, el->from) : SIZE_MAX;
    core_bld_t *b = &run->bld;
    core_bld_reset(b);
    core_bld_add_str(b, "<db:result from='");
    if (el->to != NULL) {
        core_bld_add_xml_attr(b, el->to, strlen(el->to));
    }
    core_bld_add_str(b, "' to='");
    if (el->from != NULL) {
        core_bld_add_xml_attr(b, el->from, strlen(el->from));
    }
    if (r == SIZE_MAX || l == SIZE_MAX) {
        run->peer_db_errors++;
        core_bld_add_str(b, "' type='error'><error type='cancel'><item-not-found xmlns='" RT_XS_NS_STANZA_ERRORS
                            "'/></error></db:result>");
    } else {
        bench_pair_authed(run, c, l, r);
        core_bld_add_str(b, "' type='valid'/>");
    }
    RT_CHECK(core_bld_finish(b) == RC_OK);
    bench_conn_write(run, c, b->data, b->len);
}

static void bench_peer_on_db_verify(bench_run_t *run, bench_conn_t *c, const rt_xs_elem_t *el) {
    run->peer_db_verify++;
    const rt_xs_node_t *n = &el->nodes[0];
    bool valid = el->from != NULL && el->to != NULL && el->id != NULL &&
                 dna_dbkey_verify(&run->db_secret, n->text, n->text_len, el->from, el->to, el->id);
    core_bld_t *b = &run->bld;
    core_bld_reset(b);
    core_bld_add_str(b, "<db:verify from='");
    if (el->to != NULL) {
        core_bld_add_xml_attr(b, el->to, strlen(el->to));
    }
    core_bld_add_str(b, "' to='");
    if (el->from != NULL) {
        core_bld_add_xml_attr(b, el->from, strlen(el->from));
    }
    core_bld_add_str(b, "' id='");
    if (el->id != NULL) {
        core_bld_add_xml_attr(b, el->id, strlen(el->id));
    }
    core_bld_add_str(b, valid ? "' type='valid'/>" : "' type='invalid'/>");
    RT_CHECK(core_bld_finish(b) == RC_OK);
    bench_conn_write(run, c, b->data, b->len);
}

static bool bench_peer_on_elem(void *ctx, const rt_xs_elem_t *el) {
    bench_conn_t *c = ctx;
    bench_run_t *run = bench_g_run;
    if (c->state == BENCH_ST_CLOSED) {
        return false;
    }
    if (strcmp(el->ns, RT_XS_NS_STREAMS) == 0 && strcmp(el->name, "error") == 0) {
        run->peer_stream_errors++;
        bench_conn_close(run, c, "stream error from the router");
        return false;
    }
    if (c->state == BENCH_ST_PLAIN) {
        if (strcmp(el->ns, RT_XS_NS_TLS) == 0 && strcmp(el->name, "starttls") == 0) {
            bench_conn_write_str(run, c, "<proceed xmlns='" RT_XS_NS_TLS "'/>");
            c->tls_pending = true;
            rt_xs_reset(c->xs);
            return false;
        }
        bench_peer_stream_error(run, c, "policy-violation"); // STARTTLS is required
        return false;
    }
    if (strcmp(el->ns, RT_XS_NS_SASL) == 0 && strcmp(el->name, "auth") == 0) {
        bench_peer_on_auth(run, c, el, c->hdr_to, c->hdr_from[0] != '\0' ? c->hdr_from : NULL);
        return true;
    }
    if (strcmp(el->ns, RT_XS_NS_DIALBACK) == 0 && strcmp(el->name, "result") == 0) {
        bench_peer_on_db_result(run, c, el);
        return true;
    }
    if (strcmp(el->ns, RT_XS_NS_DIALBACK) == 0 && strcmp(el->name, "verify") == 0) {
        bench_peer_on_db_verify(run, c, el);
        return true;
    }
    if (el->is_stanza) {
        if (strcmp(el->name, "message") == 0) {
            bench_peer_on_stanza(run, c, el);
        } else {
            run->unknown_stanzas++;
        }
        return true;
    }
    return true; // anything else (e.g. SM, bidi) is ignored
}

static bool bench_peer_on_open_hdr(void *ctx, const rt_xs_header_t *hdr) {
    bench_conn_t *c = ctx;
    snprintf(c->hdr_to, sizeof(c->hdr_to), "%s", hdr->to != NULL ? hdr->to : "");
    snprintf(c->hdr_from, sizeof(c->hdr_from), "%s", hdr->from != NULL ? hdr->from : "");
    return bench_peer_on_open(ctx, hdr);
}

static bool bench_peer_on_close(void *ctx) {
    bench_conn_t *c = ctx;
    bench_conn_write_str(bench_g_run, c, "</stream:stream>");
    bench_conn_flush(bench_g_run, c);
    c->state = BENCH_ST_CLOSED;
    if (c->fd >= 0) {
        (void)shutdown(c->fd, SHUT_RD);
    }
    return false;
}

static const rt_xs_cbs_t bench_peer_cbs = {
    .on_open = bench_peer_on_open_hdr,
    .on_elem = bench_peer_on_elem,
    .on_close = bench_peer_on_close,
};

static int bench_verify_cb(int ok, X509_STORE_CTX *ctx) {
    (void)ok;
    (void)ctx;
    return 1; // decide after the handshake with SSL_get_verify_result
}

static void bench_peer_start_tls(bench_run_t *run, bench_conn_t *c) {
    c->ssl = SSL_new(run->peer_ctx[c->index]);
    RT_CHECK(c->ssl != NULL);
    c->rbio = BIO_new(BIO_s_mem());
    c->wbio = BIO_new(BIO_s_mem());
    RT_CHECK(c->rbio != NULL && c->wbio != NULL);
    BIO_set_mem_eof_return(c->rbio, -1);
    BIO_set_mem_eof_return(c->wbio, -1);
    SSL_set_bio(c->ssl, c->rbio, c->wbio);
    SSL_set_accept_state(c->ssl);
    c->tls_pending = false;
    c->state = BENCH_ST_TLS;
}

// bench_feed_xml feeds plaintext to |c|'s parser, handling stops (STARTTLS, restarts).
static void bench_feed_xml(bench_run_t *run, bench_conn_t *c, const uint8_t *data, size_t len);

// bench_tls_input handles ciphertext from the socket.
static void bench_tls_input(bench_run_t *run, bench_conn_t *c, const uint8_t *data, size_t len) {
    if (len > 0 && BIO_write(c->rbio, data, (int)len) != (int)len) {
        bench_conn_close(run, c, "BIO_write failed");
        return;
    }
    if (!SSL_is_init_finished(c->ssl)) {
        int r = SSL_do_handshake(c->ssl);
        bench_tls_drain(run, c);
        if (r != 1) {
            int err = SSL_get_error(c->ssl, r);
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                char msg[200];
                snprintf(msg, sizeof(msg), "TLS handshake failed: %s",
                         ERR_reason_error_string(ERR_peek_last_error()));
                ERR_clear_error();
                bench_conn_close(run, c, msg);
            }
            return;
        }
        run->peer_handshakes++;
        X509 *cert = SSL_get_peer_certificate(c->ssl);
        c->ext_ok = cert != NULL && SSL_get_verify_result(c->ssl) == X509_V_OK;
        X509_free(cert);
    }
    uint8_t buf[16384];
    for (;;) {
        int n = SSL_read(c->ssl, buf, (int)sizeof(buf));
        if (n <= 0) {
            int err = SSL_get_error(c->ssl, n);
            if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                ERR_clear_error();
                bench_conn_close(run, c, err == SSL_ERROR_ZERO_RETURN ? NULL : "TLS read failed");
            }
            break;
        }
        bench_feed_xml(run, c, buf, (size_t)n);
        if (c->state == BENCH_ST_CLOSED) {
            break;
        }
    }
    bench_tls_drain(run, c);
}

static void bench_feed_xml(bench_run_t *run, bench_conn_t *c, const uint8_t *data, size_t len) {
    while (len > 0 && c->state != BENCH_ST_CLOSED) {
        size_t used = 0;
        rc_t rc = rt_xs_feed(c->xs, data, len, &used);
        if (c->state == BENCH_ST_CLOSED) {
            return;
        }
        if (rc != RC_OK) {
            char msg[120];
            snprintf(msg, sizeof(msg), "XML: %s", rc_str(rc));
            if (c->kind == BENCH_CONN_PEER) {
                bench_peer_stream_error(run, c, rt_xs_error_condition(rc));
            } else {
                bench_conn_close(run, c, msg);
            }
            return;
        }
        if (c->kind == BENCH_CONN_COMP) {
            bench_comp_after_parse(run, c);
        }
        data += used;
        len -= used;
        if (c->tls_pending) {
            bench_peer_start_tls(run, c);
            if (len > 0) {
                bench_tls_input(run, c, data, len);
            }
            return;
        }
    }
}

// bench_conn_readable reads what |c|'s socket holds (slow peers: one small chunk, then pause).
static void bench_conn_readable(bench_run_t *run, bench_conn_t *c) {
    static uint8_t buf[BENCH_READ_CHUNK];
    const bench_opts_t *o = run->o;
    bool slow = c->kind == BENCH_CONN_PEER && c->index < o->num_slow_peers && o->slow_bps > 0 &&
                run->phase < BENCH_PH_DRAIN;
    size_t total = 0;
    for (int rounds = 0; rounds < 16 && c->state != BENCH_ST_CLOSED; rounds++) {
        ssize_t n = recv(c->fd, buf, slow ? BENCH_SLOW_CHUNK : sizeof(buf), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                bench_conn_close(run, c, strerror(errno));
            }
            break;
        }
        if (n == 0) {
            bench_conn_close(run, c, run->phase < BENCH_PH_DRAIN && c->kind == BENCH_CONN_COMP
                                         ? "connection closed by the router"
                                         : NULL);
            break;
        }
        total += (size_t)n;
        if (c->ssl != NULL) {
            bench_tls_input(run, c, buf, (size_t)n);
        } else {
            bench_feed_xml(run, c, buf, (size_t)n);
        }
        if (slow) {
            c->paused = true;
            c->resume_us = bench_now_us(run) + (uint64_t)((double)n * 1e6 / o->slow_bps);
            break;
        }
        if ((size_t)n < sizeof(buf)) {
            break;
        }
    }
    (void)total;
    bench_arm_poll(run, c);
}

static void bench_peer_accepted(bench_run_t *run, size_t peer, int fd) {
    if (run->num_peer_conns == run->cap_peer_conns) {
        size_t cap = run->cap_peer_conns == 0 ? 64 : run->cap_peer_conns * 2;
        run->peer_conns = core_xrealloc(run->peer_conns, cap * sizeof(*run->peer_conns));
        run->cap_peer_conns = cap;
    }
    bench_conn_t *c = core_xcalloc(1, sizeof(*c));
    run->peer_conns[run->num_peer_conns++] = c;
    c->kind = BENCH_CONN_PEER;
    c->index = peer;
    c->fd = fd;
    c->serial = ++run->next_serial;
    c->state = BENCH_ST_OPENING;
    c->xs = rt_xs_new(NULL, &bench_peer_cbs, c);
    RT_CHECK(c->xs != NULL);
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    run->peer_connects++;
    bench_arm_poll(run, c);
}

static void bench_arm_accept(bench_run_t *run, size_t peer) {
    struct io_uring_sqe *sqe = bench_sqe(run);
    io_uring_prep_accept(sqe, run->listen_fds[peer], NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    run->accept_ops[peer].kind = BENCH_OP_ACCEPT;
    run->accept_ops[peer].listener = peer;
    io_uring_sqe_set_data(sqe, &run->accept_ops[peer]);
}

// ---------------------------------------------------------------------------------------------
// Completions

static void bench_on_cqe(bench_run_t *run, struct io_uring_cqe *cqe) {
    bench_op_t *op = io_uring_cqe_get_data(cqe);
    if (op == NULL) {
        return;
    }
    int res = cqe->res;
    if (op->kind == BENCH_OP_ACCEPT) {
        if (res >= 0) {
            bench_peer_accepted(run, op->listener, res);
        } else if (res != -EAGAIN && res != -EINTR && res != -ECONNABORTED) {
            fprintf(stderr, "fedbench: accept on peer %zu: %s\n", op->listener, strerror(-res));
            if (res == -EMFILE || res == -ENFILE) {
                usleep(1000);
            }
        }
        bench_arm_accept(run, op->listener);
        return;
    }
    bench_conn_t *c = op->conn;
    switch (op->kind) {
    case BENCH_OP_CONNECT:
        bench_op_done(c);
        if (c->state != BENCH_ST_CLOSED) {
            bench_comp_on_connect(run, c, res);
        }
        break;
    case BENCH_OP_POLL:
        c->poll_busy = false;
        bench_op_done(c);
        if (c->state != BENCH_ST_CLOSED) {
            bench_conn_readable(run, c);
        }
        break;
    case BENCH_OP_SEND:
        c->send_busy = false;
        bench_op_done(c);
        if (res < 0) {
            if (res == -EAGAIN || res == -EINTR) {
                bench_mark_dirty(run, c);
                break;
            }
            bench_conn_close(run, c, strerror(-res));
            break;
        }
        core_buf_consume(&c->inflight, (size_t)res);
        if (core_buf_len(&c->inflight) == 0) {
            core_buf_shrink(&c->inflight, 2 * BENCH_OUT_CAP);
        }
        if (core_buf_len(&c->inflight) > 0 || core_buf_len(&c->out) > 0) {
            bench_mark_dirty(run, c);
        }
        break;
    default:
        break;
    }
}

// ---------------------------------------------------------------------------------------------
// Router process measurements

static bench_cpu_t bench_read_cpu(pid_t pid) {
    bench_cpu_t out = {0};
    if (pid <= 0) {
        return out;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return out;
    }
    char line[2048];
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    // Fields after the command name (which may hold spaces) start after the last ')'.
    char *p = strrchr(line, ')');
    if (p == NULL) {
        return out;
    }
    p += 2;
    // p is at field 3 (state); utime is field 14, stime 15.
    unsigned long long ut = 0;
    unsigned long long st = 0;
    int field = 3;
    char *save = NULL;
    for (char *tok = strtok_r(p, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        if (field == 14) {
            ut = strtoull(tok, NULL, 10);
        } else if (field == 15) {
            st = strtoull(tok, NULL, 10);
            out.ok = true;
            break;
        }
        field++;
    }
    out.ticks = (uint64_t)(ut + st);
    return out;
}

// bench_read_status reads VmHWM and VmRSS (kB) of |pid|.
static bool bench_read_status(pid_t pid, uint64_t *out_hwm, uint64_t *out_rss) {
    if (pid <= 0) {
        return false;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return false;
    }
    char line[256];
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long v = 0;
        if (sscanf(line, "VmHWM: %llu", &v) == 1) {
            *out_hwm = v;
        } else if (sscanf(line, "VmRSS: %llu", &v) == 1) {
            *out_rss = v;
        }
    }
    fclose(f);
    return true;
}

static double bench_cpu_s(bench_cpu_t a, bench_cpu_t b) {
    if (!a.ok || !b.ok) {
        return NAN;
    }
    return (double)(b.ticks - a.ticks) / (double)sysconf(_SC_CLK_TCK);
}

// bench_metric finds the value of |name| (with labels, as printed) in a Prometheus text body.
static double bench_metric(const char *body, const char *name) {
    size_t name_len = strlen(name);
    const char *p = body;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, name, name_len) == 0 && p[name_len] == ' ') {
            return strtod(p + name_len + 1, NULL);
        }
        p = strchr(p, '\n');
        if (p != NULL) {
            p++;
        }
    }
    return NAN;
}

static double bench_metric_sum(const char *body, const char *prefix) {
    // Sum of every series whose name starts with |prefix| followed by '{' or ' '.
    size_t len = strlen(prefix);
    double sum = 0;
    bool found = false;
    const char *p = body;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, prefix, len) == 0 && (p[len] == '{' || p[len] == ' ')) {
            const char *sp = strchr(p, ' ');
            const char *nl = strchr(p, '\n');
            if (sp != NULL && (nl == NULL || sp < nl)) {
                sum += strtod(sp + 1, NULL);
                found = true;
            }
        }
        p = strchr(p, '\n');
        if (p != NULL) {
            p++;
        }
    }
    return found ? sum : NAN;
}

// bench_scrape GETs /metrics from the router (blocking, 2 s timeouts). Returns owned text or NULL.
static char *bench_scrape(const struct sockaddr_in *addr) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return NULL;
    }
    struct timeval tv = {.tv_sec = 2};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char *body = NULL;
    size_t len = 0;
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
        goto out;
    }
    static const char req[] = "GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
        goto out;
    }
    size_t cap = 65536;
    body = core_xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            cap *= 2;
            body = core_xrealloc(body, cap);
        }
        ssize_t n = recv(fd, body + len, cap - len - 1, 0);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    body[len] = '\0';
out:
    close(fd);
    return body;
}

// ---------------------------------------------------------------------------------------------
// Set-up

static bool bench_parse_addr(const char *text, struct sockaddr_in *out) {
    char host[64];
    const char *colon = strrchr(text, ':');
    if (colon == NULL || (size_t)(colon - text) >= sizeof(host)) {
        return false;
    }
    core_memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    core_cur_t cur;
    core_cur_init(&cur, colon + 1, strlen(colon + 1));
    uint64_t port = 0;
    if (!core_cur_get_decimal(&cur, 65535, &port) || port == 0 || !core_cur_empty(&cur)) {
        return false;
    }
    core_memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &out->sin_addr) == 1;
}

static bool bench_load_secrets(bench_run_t *run, const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "fedbench: %s: %s\n", path, strerror(errno));
        return false;
    }
    char line[1024];
    while (fgets(line, sizeof(line), f) != NULL) {
        size_t len = strlen(line);
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }
        char *sp = memchr(line, ' ', len);
        if (sp == NULL || line[0] == '#') {
            continue;
        }
        size_t l = bench_names_find(&run->local, line, (size_t)(sp - line));
        if (l != SIZE_MAX) {
            free(run->secrets[l]);
            run->secrets[l] = core_xstrdup(sp + 1);
        }
    }
    fclose(f);
    for (size_t i = 0; i < run->local.num; i++) {
        if (run->secrets[i] == NULL) {
            fprintf(stderr, "fedbench: no secret for %s in %s\n", run->local.names[i], path);
            return false;
        }
    }
    return true;
}

static bool bench_setup_peers(bench_run_t *run) {
    const bench_opts_t *o = run->o;
    run->peer_ctx = core_xcalloc(o->num_peers, sizeof(*run->peer_ctx));
    run->listen_fds = core_xcalloc(o->num_peers, sizeof(*run->listen_fds));
    run->accept_ops = core_xcalloc(o->num_peers, sizeof(*run->accept_ops));
    char ca[4096];
    snprintf(ca, sizeof(ca), "%s/ca.pem", o->certdir);
    for (size_t i = 0; i < o->num_peers; i++) {
        run->listen_fds[i] = -1;
    }
    for (size_t i = 0; i < o->num_peers; i++) {
        char cert[4096];
        char key[4096];
        snprintf(cert, sizeof(cert), "%s/peer%zu.pem", o->certdir, i);
        snprintf(key, sizeof(key), "%s/peer%zu.key", o->certdir, i);
        SSL_CTX *ctx = SSL_CTX_new(TLS_method());
        RT_CHECK(ctx != NULL);
        run->peer_ctx[i] = ctx;
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
            fprintf(stderr, "fedbench: cannot load %s / %s / %s\n", cert, key, ca);
            return false;
        }
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, bench_verify_cb);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            return false;
        }
        run->listen_fds[i] = fd;
        int one = 1;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(o->peer_port)};
        sa.sin_addr.s_addr = htonl(ntohl(o->peer_base.s_addr) + (uint32_t)i);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 4096) != 0) {
            char ip[32];
            inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
            fprintf(stderr, "fedbench: cannot listen on %s:%u: %s\n", ip, o->peer_port,
                    strerror(errno));
            return false;
        }
        bench_arm_accept(run, i);
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Main loop

static void bench_sample(bench_run_t *run, uint64_t now) {
    if (now - run->last_sample_us < 100000u) {
        return;
    }
    run->last_sample_us = now;
    uint64_t hwm = 0;
    uint64_t rss = 0;
    if (bench_read_status(run->o->router_pid, &hwm, &rss)) {
        if (rss > run->rss_max_sampled_kb) {
            run->rss_max_sampled_kb = rss;
        }
    }
}

static void bench_phase_step(bench_run_t *run, uint64_t now) {
    const bench_opts_t *o = run->o;
    switch (run->phase) {
    case BENCH_PH_CONNECT:
        if (run->comps_ready == o->num_local) {
            run->connect_done_us = now;
            run->setup_start_us = now;
            run->phase = BENCH_PH_SETUP;
            if (o->verbose) {
                fprintf(stderr, "fedbench: %zu components ready after %.3f s\n", o->num_local,
                        (double)now / 1e6);
            }
        } else if ((double)now > o->connect_timeout_s * 1e6) {
            fprintf(stderr, "fedbench: only %zu of %zu components authenticated\n",
                    run->comps_ready, o->num_local);
            run->timed_out = true;
            run->phase = BENCH_PH_DONE;
        }
        break;
    case BENCH_PH_SETUP:
        if (run->setup_auth_done_us == 0 && run->pairs_authed >= run->setup_pairs) {
            run->setup_auth_done_us = now;
        }
        if (run->setup_next == run->setup_pairs &&
            run->pairs_delivered + 0 >= run->setup_pairs) {
            run->setup_done_us = now;
        } else if (run->setup_next == run->setup_pairs && bench_in_flight(run) == 0) {
            run->setup_done_us = now; // everything answered, some bounced
        } else if ((double)(now - run->setup_start_us) > o->setup_timeout_s * 1e6) {
            fprintf(stderr, "fedbench: setup: %" PRIu64 " of %zu pairs delivered after %.0f s\n",
                    run->pairs_delivered, run->setup_pairs, o->setup_timeout_s);
            run->timed_out = true;
            run->phase = BENCH_PH_DRAIN;
            run->load_end_us = now;
            break;
        }
        if (run->setup_done_us != 0) {
            if (o->verbose) {
                fprintf(stderr, "fedbench: setup done in %.3f s\n",
                        (double)(run->setup_done_us - run->setup_start_us) / 1e6);
            }
            run->phase = o->duration_s > 0 ? BENCH_PH_LOAD : BENCH_PH_DRAIN;
            run->load_start_us = now;
            run->last_refill_us = now;
            run->load_sent_first = run->generated;
            run->cpu_load_start = bench_read_cpu(o->router_pid);
            if (run->phase == BENCH_PH_DRAIN) {
                run->load_end_us = now;
                run->cpu_load_end = run->cpu_load_start;
            }
        }
        break;
    case BENCH_PH_LOAD:
        if ((double)(now - run->load_start_us) >= o->duration_s * 1e6 || bench_stop) {
            run->load_end_us = now;
            run->cpu_load_end = bench_read_cpu(o->router_pid);
            run->phase = BENCH_PH_DRAIN;
            // Slow peers read at full speed from now on.
            for (size_t i = 0; i < run->num_peer_conns; i++) {
                bench_conn_t *c = run->peer_conns[i];
                if (c->paused) {
                    c->paused = false;
                    bench_arm_poll(run, c);
                }
            }
        }
        break;
    case BENCH_PH_DRAIN:
        if (run->drain_end_us == 0) {
            run->drain_end_us = now + (uint64_t)(o->drain_timeout_s * 1e6);
        }
        if (bench_in_flight(run) == 0) {
            run->phase = BENCH_PH_DONE;
        } else if (now >= run->drain_end_us) {
            fprintf(stderr, "fedbench: drain: %" PRIu64 " stanzas neither delivered nor bounced\n",
                    bench_in_flight(run));
            run->timed_out = true;
            run->phase = BENCH_PH_DONE;
        }
        break;
    case BENCH_PH_DONE:
        break;
    }
}

static void bench_loop(bench_run_t *run) {
    const bench_opts_t *o = run->o;
    for (size_t i = 0; i < o->num_local; i++) {
        bench_conn_t *c = &run->comps[i];
        c->connect_start_us = bench_now_us(run);
        bench_comp_connect(run, c);
    }
    while (run->phase != BENCH_PH_DONE) {
        uint64_t now = bench_now_us(run);
        if (bench_stop && run->phase < BENCH_PH_DRAIN) {
            run->phase = BENCH_PH_LOAD;
        }
        bench_phase_step(run, now);
        bench_generate(run, now);
        bench_sample(run, now);
        for (size_t i = 0; i < o->num_local; i++) {
            bench_conn_t *c = &run->comps[i];
            if (c->state == BENCH_ST_RETRY && now >= c->retry_at_us) {
                bench_comp_connect(run, c);
            }
        }
        // Resume slow peers.
        if (o->num_slow_peers > 0) {
            for (size_t i = 0; i < run->num_peer_conns; i++) {
                bench_conn_t *c = run->peer_conns[i];
                if (c->paused && now >= c->resume_us) {
                    c->paused = false;
                    bench_arm_poll(run, c);
                }
            }
        }
        while (run->dirty != NULL) {
            bench_conn_t *c = run->dirty;
            run->dirty = c->next_dirty;
            c->dirty = false;
            c->next_dirty = NULL;
            bench_conn_flush(run, c);
        }
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 1000000};
        struct io_uring_cqe *cqe = NULL;
        int r = io_uring_submit_and_wait_timeout(&run->ring, &cqe, 1, &ts, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR) {
            fprintf(stderr, "fedbench: io_uring: %s\n", strerror(-r));
            run->timed_out = true;
            break;
        }
        unsigned head;
        unsigned seen = 0;
        io_uring_for_each_cqe(&run->ring, head, cqe) {
            bench_on_cqe(run, cqe);
            seen++;
        }
        io_uring_cq_advance(&run->ring, seen);
    }
    run->cpu_end = bench_read_cpu(o->router_pid);
    uint64_t rss = 0;
    (void)bench_read_status(o->router_pid, &run->hwm_kb, &rss);
    run->rss_end_kb = rss;
    if (rss > run->rss_max_sampled_kb) {
        run->rss_max_sampled_kb = rss;
    }
}

// ---------------------------------------------------------------------------------------------
// Report

typedef struct bench_result {
    double setup_s;
    double auth_s;
    double load_s;
    double rate;
    double cpu_load_s;
    double cpu_total_s;
    double cpu_per_m;
    uint64_t lost;
    bool consistent;
    char why[512];
} bench_result_t;

static void bench_why(bench_result_t *res, const char *fmt, ...) RT_PRINTF(2, 3);
static void bench_why(bench_result_t *res, const char *fmt, ...) {
    size_t len = strlen(res->why);
    if (len + 3 >= sizeof(res->why)) {
        return;
    }
    if (len > 0) {
        res->why[len++] = ';';
        res->why[len++] = ' ';
        res->why[len] = '\0';
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->why + len, sizeof(res->why) - len, fmt, ap);
    va_end(ap);
}

static void bench_compute(const bench_run_t *run, bench_result_t *res) {
    const bench_opts_t *o = run->o;
    core_memset(res, 0, sizeof(*res));
    res->setup_s = run->setup_done_us ? (double)(run->setup_done_us - run->setup_start_us) / 1e6 : NAN;
    res->auth_s = run->setup_auth_done_us
                      ? (double)(run->setup_auth_done_us - run->setup_start_us) / 1e6
                      : NAN;
    res->load_s = run->load_end_us > run->load_start_us && run->load_start_us != 0
                      ? (double)(run->load_end_us - run->load_start_us) / 1e6
                      : 0;
    res->rate = res->load_s > 0 ? (double)run->load_delivered / res->load_s : NAN;
    res->cpu_load_s = bench_cpu_s(run->cpu_load_start, run->cpu_load_end);
    res->cpu_total_s = bench_cpu_s(run->cpu_start, run->cpu_end);
    res->cpu_per_m = run->load_delivered > 0 ? res->cpu_load_s * 1e6 / (double)run->load_delivered : NAN;
    res->lost = bench_in_flight(run);
    res->consistent = true;
    if (run->generated != run->delivered + run->bounced - run->deliv_and_bounced) {
        bench_why(res, "sent %" PRIu64 " != delivered %" PRIu64 " + bounced %" PRIu64, run->generated,
                  run->delivered, run->bounced);
    }
    if (run->duplicates != 0) {
        bench_why(res, "%" PRIu64 " duplicates", run->duplicates);
    }
    if (run->deliv_and_bounced != 0) {
        bench_why(res, "%" PRIu64 " stanzas both delivered and bounced", run->deliv_and_bounced);
    }
    if (run->misrouted != 0) {
        bench_why(res, "%" PRIu64 " misrouted", run->misrouted);
    }
    if (run->unknown_stanzas != 0) {
        bench_why(res, "%" PRIu64 " unknown stanzas", run->unknown_stanzas);
    }
    if (run->comps_ready != o->num_local) {
        bench_why(res, "%zu of %zu components authenticated", run->comps_ready, o->num_local);
    }
    if (run->setup_done_us == 0) {
        bench_why(res, "setup did not finish");
    }
    if (run->have_metrics && !isnan(run->m_connects_out) &&
        (double)run->peer_connects != run->m_connects_out) {
        bench_why(res, "peer connects %" PRIu64 " != router tcp_connects_total{out} %.0f",
                  run->peer_connects, run->m_connects_out);
    }
    if (run->have_metrics && !isnan(run->m_tls_out) &&
        (double)run->peer_handshakes != run->m_tls_out) {
        bench_why(res, "peer TLS handshakes %" PRIu64 " != router tls_handshakes_total{out} %.0f",
                  run->peer_handshakes, run->m_tls_out);
    }
    if (run->have_metrics && !isnan(run->m_bounces) && (double)run->bounced != run->m_bounces) {
        bench_why(res, "bounces %" PRIu64 " != router bounces_total %.0f", run->bounced,
                  run->m_bounces);
    }
    if (run->timed_out) {
        bench_why(res, "timed out");
    }
    res->consistent = res->why[0] == '\0';
}

// The report's fields, in order: name, format, value (as double).
typedef struct bench_field {
    const char *name;
    double value;
    int decimals;
} bench_field_t;

static size_t bench_fields(const bench_run_t *run, const bench_result_t *res, bench_field_t *f) {
    const bench_opts_t *o = run->o;
    size_t n = 0;
#define BENCH_F(nm, v, d) f[n++] = (bench_field_t){(nm), (double)(v), (d)}
    BENCH_F("local_domains", o->num_local, 0);
    BENCH_F("remote_domains", o->num_remote, 0);
    BENCH_F("peer_addresses", o->num_peers, 0);
    BENCH_F("pairs_setup", run->setup_pairs, 0);
    BENCH_F("pairs_total", run->active_pairs, 0);
    BENCH_F("pairs_authenticated", run->pairs_authed, 0);
    BENCH_F("pairs_delivered", run->pairs_delivered, 0);
    BENCH_F("setup_s", res->setup_s, 3);
    BENCH_F("setup_auth_s", res->auth_s, 3);
    BENCH_F("pair_setup_p50_ms", (double)bench_hist_pct(&run->pair_lat, 50) / 1e3, 3);
    BENCH_F("pair_setup_max_ms", (double)run->pair_lat.max / 1e3, 3);
    BENCH_F("load_s", res->load_s, 3);
    BENCH_F("sent", run->generated, 0);
    BENCH_F("delivered", run->delivered, 0);
    BENCH_F("bounced", run->bounced, 0);
    BENCH_F("lost", res->lost, 0);
    BENCH_F("duplicates", run->duplicates, 0);
    BENCH_F("misrouted", run->misrouted, 0);
    BENCH_F("unauthorized", run->unauthorized, 0);
    BENCH_F("load_delivered", run->load_delivered, 0);
    BENCH_F("stanzas_per_s", res->rate, 0);
    BENCH_F("latency_p50_ms", (double)bench_hist_pct(&run->lat, 50) / 1e3, 3);
    BENCH_F("latency_p90_ms", (double)bench_hist_pct(&run->lat, 90) / 1e3, 3);
    BENCH_F("latency_p99_ms", (double)bench_hist_pct(&run->lat, 99) / 1e3, 3);
    BENCH_F("latency_max_ms", (double)run->lat.max / 1e3, 3);
    BENCH_F("router_cpu_load_s", res->cpu_load_s, 3);
    BENCH_F("router_cpu_total_s", res->cpu_total_s, 3);
    BENCH_F("router_cpu_s_per_mstanza", res->cpu_per_m, 3);
    BENCH_F("router_rss_peak_kb", run->hwm_kb, 0);
    BENCH_F("router_rss_max_sampled_kb", run->rss_max_sampled_kb, 0);
    BENCH_F("router_rss_end_kb", run->rss_end_kb, 0);
    BENCH_F("tcp_connects", run->peer_connects, 0);
    BENCH_F("tls_handshakes", run->peer_handshakes, 0);
    BENCH_F("sasl_external", run->peer_ext_ok, 0);
    BENCH_F("sasl_external_refused", run->peer_ext_refused, 0);
    BENCH_F("db_results", run->peer_db_results, 0);
    BENCH_F("db_errors", run->peer_db_errors, 0);
    BENCH_F("db_verify", run->peer_db_verify, 0);
    BENCH_F("peer_stream_errors", run->peer_stream_errors, 0);
    BENCH_F("component_stream_errors", run->comp_stream_errors, 0);
    for (size_t i = 0; i <= BENCH_NUM_CONDITIONS; i++) {
        static const char *const names[] = {
            "bounced_remote_server_not_found", "bounced_remote_server_timeout",
            "bounced_internal_server_error",   "bounced_resource_constraint",
            "bounced_service_unavailable",     "bounced_policy_violation",
            "bounced_not_authorized",          "bounced_other",
        };
        BENCH_F(names[i], run->bounced_conditions[i], 0);
    }
    BENCH_F("router_metric_connects_out", run->have_metrics ? run->m_connects_out : NAN, 0);
    BENCH_F("router_metric_tls_out", run->have_metrics ? run->m_tls_out : NAN, 0);
    BENCH_F("router_metric_bounces", run->have_metrics ? run->m_bounces : NAN, 0);
    BENCH_F("router_metric_routed", run->have_metrics ? run->m_routed : NAN, 0);
    BENCH_F("router_metric_verification_connections", run->have_metrics ? run->m_verif : NAN, 0);
    BENCH_F("router_metric_piggybacked_out", run->have_metrics ? run->m_piggy : NAN, 0);
    BENCH_F("consistent", res->consistent ? 1 : 0, 0);
#undef BENCH_F
    return n;
}

static void bench_print_value(FILE *f, double v, int decimals, bool json) {
    if (isnan(v)) {
        fputs(json ? "null" : "", f);
    } else {
        fprintf(f, "%.*f", decimals, v);
    }
}

static bool bench_report(const bench_run_t *run, const bench_result_t *res) {
    const bench_opts_t *o = run->o;
    bench_field_t fields[80];
    size_t n = bench_fields(run, res, fields);
    RT_CHECK(n <= RT_ARRAY_LEN(fields));
    printf("fedbench %s\n", o->label);
    for (size_t i = 0; i < n; i++) {
        printf("  %-40s ", fields[i].name);
        if (isnan(fields[i].value)) {
            printf("-");
        } else {
            bench_print_value(stdout, fields[i].value, fields[i].decimals, false);
        }
        printf("\n");
    }
    if (!res->consistent) {
        printf("  INCONSISTENT: %s\n", res->why);
    }
    fflush(stdout);
    bool ok = true;
    if (o->json_file != NULL) {
        FILE *f = fopen(o->json_file, "w");
        if (f == NULL) {
            return false;
        }
        fprintf(f, "{\n  \"label\": \"%s\",\n", o->label);
        for (size_t i = 0; i < n; i++) {
            fprintf(f, "  \"%s\": ", fields[i].name);
            bench_print_value(f, fields[i].value, fields[i].decimals, true);
            fprintf(f, ",\n");
        }
        fprintf(f, "  \"why\": \"");
        for (const char *p = res->why; *p != '\0'; p++) {
            fputc(*p == '"' || *p == '\\' ? '\'' : *p, f);
        }
        fprintf(f, "\"\n}\n");
        ok = fclose(f) == 0 && ok;
    }
    if (o->csv_file != NULL) {
        FILE *f = fopen(o->csv_file, "w");
        if (f == NULL) {
            return false;
        }
        fprintf(f, "label");
        for (size_t i = 0; i < n; i++) {
            fprintf(f, ",%s", fields[i].name);
        }
        fprintf(f, "\n%s", o->label);
        for (size_t i = 0; i < n; i++) {
            fputc(',', f);
            bench_print_value(f, fields[i].value, fields[i].decimals, false);
        }
        fputc('\n', f);
        ok = fclose(f) == 0 && ok;
    }
    return ok;
}

// ---------------------------------------------------------------------------------------------
// Command line

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: fedbench --router-comp IP:PORT --secrets FILE --certdir DIR --peer-port PORT\n"
            "                [--local-fmt FMT] [--local N] [--remote-fmt FMT] [--remote N]\n"
            "                [--remote-initial N] [--peers P] [--peer-base IP]\n"
            "                [--router-pid PID] [--metrics IP:PORT] [--dialback-secret S]\n"
            "                [--rate R | --window W] [--duration S] [--churn PAIRS_PER_S]\n"
            "                [--body BYTES] [--slow-peers K --slow-bps B]\n"
            "                [--setup-timeout S] [--drain-timeout S] [--connect-timeout S]\n"
            "                [--json FILE] [--csv FILE] [--label NAME] [--verbose]\n"
            "FMT is a printf pattern with one %%zu (default l%%zu.bench.example, r%%zu.bench.example).\n"
            "Remote domain j (1-based) is hosted at peer address (j-1) mod P: peer-base + that.\n"
            "DIR holds ca.pem and peer<i>.pem / peer<i>.key for each peer address i.\n");
}

static bool bench_num(const char *text, double min, double max, double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !(v >= min && v <= max)) {
        return false;
    }
    *out = v;
    return true;
}

static bool bench_fmt_ok(const char *fmt) {
    // Exactly one conversion, and it is %zu.
    const char *p = strstr(fmt, "%zu");
    if (p == NULL || strchr(fmt, '%') != p || strchr(p + 1, '%') != NULL) {
        return false;
    }
    return strlen(fmt) < 200;
}

int main(int argc, char **argv) {
    enum {
        O_COMP = 256, O_SECRETS, O_CERTDIR, O_PEER_PORT, O_LOCAL_FMT, O_LOCAL, O_REMOTE_FMT,
        O_REMOTE, O_REMOTE_INIT, O_PEERS, O_PEER_BASE, O_PID, O_METRICS, O_DBSECRET, O_RATE,
        O_WINDOW, O_DURATION, O_CHURN, O_BODY, O_SLOW, O_SLOW_BPS, O_SETUP_TO, O_DRAIN_TO,
        O_CONNECT_TO, O_JSON, O_CSV, O_LABEL, O_VERBOSE, O_HELP,
    };
    static const struct option longopts[] = {
        {"router-comp", required_argument, NULL, O_COMP},
        {"secrets", required_argument, NULL, O_SECRETS},
        {"certdir", required_argument, NULL, O_CERTDIR},
        {"peer-port", required_argument, NULL, O_PEER_PORT},
        {"local-fmt", required_argument, NULL, O_LOCAL_FMT},
        {"local", required_argument, NULL, O_LOCAL},
        {"remote-fmt", required_argument, NULL, O_REMOTE_FMT},
        {"remote", required_argument, NULL, O_REMOTE},
        {"remote-initial", required_argument, NULL, O_REMOTE_INIT},
        {"peers", required_argument, NULL, O_PEERS},
        {"peer-base", required_argument, NULL, O_PEER_BASE},
        {"router-pid", required_argument, NULL, O_PID},
        {"metrics", required_argument, NULL, O_METRICS},
        {"dialback-secret", required_argument, NULL, O_DBSECRET},
        {"rate", required_argument, NULL, O_RATE},
        {"window", required_argument, NULL, O_WINDOW},
        {"duration", required_argument, NULL, O_DURATION},
        {"churn", required_argument, NULL, O_CHURN},
        {"body", required_argument, NULL, O_BODY},
        {"slow-peers", required_argument, NULL, O_SLOW},
        {"slow-bps", required_argument, NULL, O_SLOW_BPS},
        {"setup-timeout", required_argument, NULL, O_SETUP_TO},
        {"drain-timeout", required_argument, NULL, O_DRAIN_TO},
        {"connect-timeout", required_argument, NULL, O_CONNECT_TO},
        {"json", required_argument, NULL, O_JSON},
        {"csv", required_argument, NULL, O_CSV},
        {"label", required_argument, NULL, O_LABEL},
        {"verbose", no_argument, NULL, O_VERBOSE},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    bench_opts_t o = {
        .local_fmt = "l%zu.bench.example",
        .remote_fmt = "r%zu.bench.example",
        .num_local = 1,
        .num_remote = 1,
        .num_peers = 1,
        .window = 1000,
        .duration_s = 5,
        .body_bytes = 200,
        .setup_timeout_s = 60,
        .drain_timeout_s = 20,
        .connect_timeout_s = 15,
        .dialback_secret = "fedbench",
        .label = "run",
    };
    bench_run_t run = {0};
    int status = 2;
    bool have_comp = false;
    inet_pton(AF_INET, "127.0.0.10", &o.peer_base);
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        double v = 0;
        bool good = true;
        switch (ch) {
        case O_COMP:
            good = have_comp = bench_parse_addr(optarg, &o.comp_addr);
            break;
        case O_METRICS:
            good = o.have_metrics = bench_parse_addr(optarg, &o.metrics_addr);
            break;
        case O_SECRETS:
            o.secrets_file = optarg;
            break;
        case O_CERTDIR:
            o.certdir = optarg;
            break;
        case O_PEER_PORT:
            good = bench_num(optarg, 1, 65535, &v);
            o.peer_port = (uint16_t)v;
            break;
        case O_LOCAL_FMT:
            good = bench_fmt_ok(optarg);
            o.local_fmt = optarg;
            break;
        case O_REMOTE_FMT:
            good = bench_fmt_ok(optarg);
            o.remote_fmt = optarg;
            break;
        case O_LOCAL:
            good = bench_num(optarg, 1, BENCH_MAX_DOMAINS, &v);
            o.num_local = (size_t)v;
            break;
        case O_REMOTE:
            good = bench_num(optarg, 1, BENCH_MAX_DOMAINS, &v);
            o.num_remote = (size_t)v;
            break;
        case O_REMOTE_INIT:
            good = bench_num(optarg, 1, BENCH_MAX_DOMAINS, &v);
            o.num_remote_initial = (size_t)v;
            break;
        case O_PEERS:
            good = bench_num(optarg, 1, BENCH_MAX_PEERS, &v);
            o.num_peers = (size_t)v;
            break;
        case O_PEER_BASE:
            good = inet_pton(AF_INET, optarg, &o.peer_base) == 1;
            break;
        case O_PID:
            good = bench_num(optarg, 1, 4194304, &v);
            o.router_pid = (pid_t)v;
            break;
        case O_DBSECRET:
            o.dialback_secret = optarg;
            break;
        case O_RATE:
            good = bench_num(optarg, 0, 1e8, &o.rate);
            break;
        case O_WINDOW:
            good = bench_num(optarg, 1, 1e8, &v);
            o.window = (uint64_t)v;
            break;
        case O_DURATION:
            good = bench_num(optarg, 0, 86400, &o.duration_s);
            break;
        case O_CHURN:
            good = bench_num(optarg, 0, 1e7, &o.churn);
            break;
        case O_BODY:
            good = bench_num(optarg, 0, 1 << 20, &v);
            o.body_bytes = (size_t)v;
            break;
        case O_SLOW:
            good = bench_num(optarg, 0, BENCH_MAX_PEERS, &v);
            o.num_slow_peers = (size_t)v;
            break;
        case O_SLOW_BPS:
            good = bench_num(optarg, 0, 1e10, &o.slow_bps);
            break;
        case O_SETUP_TO:
            good = bench_num(optarg, 0.1, 86400, &o.setup_timeout_s);
            break;
        case O_DRAIN_TO:
            good = bench_num(optarg, 0.1, 86400, &o.drain_timeout_s);
            break;
        case O_CONNECT_TO:
            good = bench_num(optarg, 0.1, 86400, &o.connect_timeout_s);
            break;
        case O_JSON:
            o.json_file = optarg;
            break;
        case O_CSV:
            o.csv_file = optarg;
            break;
        case O_LABEL:
            o.label = optarg;
            break;
        case O_VERBOSE:
            o.verbose = true;
            break;
        case O_HELP:
            bench_usage(stdout);
            status = 0;
            goto out;
        default:
            good = false;
            break;
        }
        if (!good) {
            fprintf(stderr, "fedbench: bad option value: %s\n", optarg != NULL ? optarg : "");
            bench_usage(stderr);
            goto out;
        }
    }
    if (optind != argc || !have_comp || o.secrets_file == NULL || o.certdir == NULL ||
        o.peer_port == 0) {
        bench_usage(stderr);
        goto out;
    }
    if (o.num_remote_initial == 0 || o.num_remote_initial > o.num_remote) {
        o.num_remote_initial = o.num_remote;
    }
    if (o.num_slow_peers > o.num_peers) {
        o.num_slow_peers = o.num_peers;
    }
    if ((uint64_t)o.num_local * o.num_remote > 10000000u) {
        fprintf(stderr, "fedbench: too many pairs\n");
        goto out;
    }
    status = 1;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, bench_on_signal);
    signal(SIGTERM, bench_on_signal);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct timespec ts0;
    clock_gettime(CLOCK_MONOTONIC, &ts0);
    run.t0_ns = (uint64_t)ts0.tv_sec * 1000000000u + (uint64_t)ts0.tv_nsec;
    srandom((unsigned)(run.t0_ns ^ (uint64_t)getpid()));
    run.o = &o;
    bench_g_run = &run;
    bench_names_init(&run.local, o.local_fmt, o.num_local);
    bench_names_init(&run.remote, o.remote_fmt, o.num_remote);
    run.secrets = core_xcalloc(o.num_local, sizeof(*run.secrets));
    if (!bench_load_secrets(&run, o.secrets_file)) {
        goto out;
    }
    dna_dbkey_secret_init(&run.db_secret, o.dialback_secret, strlen(o.dialback_secret));
    run.num_pairs = o.num_local * o.num_remote;
    run.pairs = core_xcalloc(run.num_pairs, sizeof(*run.pairs));
    run.setup_pairs = o.num_local * o.num_remote_initial;
    run.active_pairs = run.setup_pairs;
    run.body = core_xmalloc(o.body_bytes + 1);
    for (size_t i = 0; i < o.body_bytes; i++) {
        run.body[i] = (char)('a' + i % 26);
    }
    core_bld_init(&run.bld, 1u << 20);
    bench_bits_reserve(&run, 0);
    if (io_uring_queue_init(BENCH_RING_ENTRIES, &run.ring, 0) != 0) {
        fprintf(stderr, "fedbench: io_uring_queue_init failed\n");
        status = 77;
        goto out;
    }
    run.comps = core_xcalloc(o.num_local, sizeof(*run.comps));
    for (size_t i = 0; i < o.num_local; i++) {
        bench_conn_t *c = &run.comps[i];
        c->kind = BENCH_CONN_COMP;
        c->index = i;
        c->fd = -1;
        c->serial = ++run.next_serial;
        c->state = BENCH_ST_CLOSED;
        c->xs = rt_xs_new(NULL, &bench_comp_cbs, c);
        RT_CHECK(c->xs != NULL);
        c->state = BENCH_ST_RETRY;
    }
    if (!bench_setup_peers(&run)) {
        goto out_ring;
    }
    run.cpu_start = bench_read_cpu(o.router_pid);
    bench_loop(&run);
    if (o.have_metrics) {
        char *body = bench_scrape(&o.metrics_addr);
        if (body != NULL) {
            run.have_metrics = true;
            run.m_connects_out = bench_metric(body, "fedrouter_tcp_connects_total{direction=\"out\"}");
            run.m_tls_out = bench_metric(body, "fedrouter_tls_handshakes_total{direction=\"out\"}");
            run.m_bounces = bench_metric_sum(body, "fedrouter_bounces_total");
            if (isnan(run.m_bounces)) {
                run.m_bounces = 0; // no series printed until the first bounce
            }
            run.m_routed = bench_metric(body, "fedrouter_stanzas_routed_total");
            run.m_verif = bench_metric(body, "fedrouter_verification_connections_total");
            run.m_piggy = bench_metric(body, "fedrouter_pairs_piggybacked_total{direction=\"out\"}");
            free(body);
        } else {
            fprintf(stderr, "fedbench: cannot scrape the router's /metrics\n");
        }
    }
    bench_result_t res;
    bench_compute(&run, &res);
    if (!bench_report(&run, &res)) {
        fprintf(stderr, "fedbench: cannot write the report files\n");
        goto out_ring;
    }
    status = res.consistent ? 0 : 1;
out_ring:
    io_uring_queue_exit(&run.ring);
out:
    if (run.comps != NULL) {
        for (size_t i = 0; i < o.num_local; i++) {
            if (run.comps[i].fd >= 0) {
                close(run.comps[i].fd);
            }
            bench_conn_free(&run.comps[i]);
        }
    }
    free(run.comps);
    for (size_t i = 0; i < run.num_peer_conns; i++) {
        if (run.peer_conns[i]->fd >= 0) {
            close(run.peer_conns[i]->fd);
        }
        bench_conn_free(run.peer_conns[i]);
        free(run.peer_conns[i]);
    }
    free(run.peer_conns);
    for (size_t i = 0; run.peer_ctx != NULL && i < o.num_peers; i++) {
        SSL_CTX_free(run.peer_ctx[i]);
        if (run.listen_fds[i] >= 0) {
            close(run.listen_fds[i]);
        }
    }
    free(run.peer_ctx);
    free(run.listen_fds);
    free(run.accept_ops);
    for (size_t i = 0; run.secrets != NULL && i < o.num_local; i++) {
        free(run.secrets[i]);
    }
    free(run.secrets);
    free(run.pairs);
    free(run.deliv_bits);
    free(run.bounce_bits);
    free(run.body);
    core_bld_cleanup(&run.bld);
    bench_names_cleanup(&run.local);
    bench_names_cleanup(&run.remote);
    return status;
}
