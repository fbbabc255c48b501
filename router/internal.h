// internal.h: the daemon's private types (router/ only; never included outside router/).
//
// Ownership model (DESIGN.md "Threads and ownership"):
// - N workers, each owning one io_uring and every connection it accepted or opened. A connection
//   never migrates; nothing on the data path takes a lock.
// - A hosted domain's component lives on one worker; rt_router_t.comp_worker[] (atomic, indexed
//   like conf->domains) says which. A remote domain's outbound pairs, and the peer streams they
//   use, live on the worker picked from the domain's address set (peer.c), so one peer address
//   is served by one worker.
// - Work for another worker travels as an rt_msg_t through that worker's inbox (a mutex-protected
//   list plus an eventfd doorbell). Messages are batched per target worker and handed over once
//   per loop iteration. A message has exactly one owner: the sender gives it up when it posts it.
#ifndef RT_ROUTER_INTERNAL_H
#define RT_ROUTER_INTERNAL_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dna/dbkey.h"
#include "pool/addrcount.h"
#include "pool/backoff.h"
#include "pool/pairset.h"
#include "pool/verdict.h"
#include "dna/domain.h"
#include "dna/prooftype.h"
#include "router/conf.h"
#include "router/core/bytes.h"
#include "router/core/log.h"
#include "router/dns.h"
#include "router/stats.h"
#include "router/tls.h"
#include "router/xml_stream.h"

typedef struct rt_router rt_router_t;
typedef struct rt_worker rt_worker_t;
typedef struct rt_conn rt_conn_t;
typedef struct rt_msg rt_msg_t;
typedef struct rt_peer rt_peer_t;
typedef struct rt_opair rt_opair_t;
typedef struct rt_proof_job rt_proof_job_t;
struct rt_posh;

// ---- io_uring operations -------------------------------------------------------------------
// Every SQE's user_data is an rt_op_t * (STYLE.md §6.2); user_data 0 marks CQEs to ignore
// (cancel requests).
typedef enum rt_op_kind {
    RT_OP_ACCEPT = 1,
    RT_OP_RECV,
    RT_OP_SEND,
    RT_OP_CONNECT,
    RT_OP_TIMER,
    RT_OP_INBOX,
    RT_OP_DNS_POLL,
} rt_op_kind_t;

typedef struct rt_op {
    rt_op_kind_t kind;
    void *owner;
} rt_op_t;

// ---- cross-worker messages -------------------------------------------------------------------
typedef enum rt_msg_kind {
    RT_MSG_STANZA = 1, // route this stanza (deliver to a component or send over s2s)
    RT_MSG_VERIFY_REQ, // send a db:verify for (ldom=receiving, rdom=originating) to rdom's server
    RT_MSG_VERIFY_RES, // the answer for an inbound stream's pending db:result
    RT_MSG_ADMIN,      // an admin socket request (admin.c): dump this worker's pool as JSON
} rt_msg_kind_t;

typedef enum rt_verdict {
    RT_VERDICT_VALID = 1,
    RT_VERDICT_INVALID,
    RT_VERDICT_ERROR,
} rt_verdict_t;

// One allocation: the struct, then every string and the raw bytes. Strings are NUL-terminated;
// NULL when absent.
struct rt_msg {
    rt_msg_t *next;
    rt_msg_kind_t kind;
    uint64_t enq_ms;
    uint64_t enq_us; // stanza: rt_stats_now_us() at creation, for the routing-time histogram
    // Stanza: top-level name, addressing attributes, normalised domains of from/to.
    const char *name;
    const char *from;
    const char *to;
    const char *id;
    const char *type;
    const char *fdom; // domain of 'from' (stanza) / receiving domain (verify: our hosted domain)
    const char *tdom; // domain of 'to' (stanza) / originating domain (verify: the remote domain)
    // Verify request/answer.
    const char *stream_id;
    const char *key;
    uint32_t reply_worker;
    uint64_t reply_conn;
    rt_verdict_t verdict;
    const char *error_cond; // with RT_VERDICT_ERROR
    const uint8_t *raw;
    size_t raw_len;
    size_t size; // bytes of this allocation, for queue budgets
    struct rt_admin_req *admin; // RT_MSG_ADMIN: the request (not owned; admin.c frees it)
    uint64_t wire_end; // stanza written to a stream: the stream's plaintext output offset past it
    bool from_s2s; // stanza: it arrived over s2s (never relayed to a domain we do not host)
    bool for_comp; // stanza: posted to the worker of a hosted domain's component (route.c)
};

// rt_msg_stanza_new copies a stanza (|raw| plus its addressing) into one owned message.
rt_msg_t *rt_msg_stanza_new(const char *name, const char *from, const char *to, const char *id,
                            const char *type, const char *fdom, const char *tdom,
                            const uint8_t *raw, size_t raw_len);
// rt_msg_verify_new builds a VERIFY_REQ or VERIFY_RES message.
rt_msg_t *rt_msg_verify_new(rt_msg_kind_t kind, const char *local, const char *remote,
                            const char *stream_id, const char *key, uint32_t reply_worker,
                            uint64_t reply_conn, rt_verdict_t verdict, const char *error_cond);
void rt_msg_free(rt_msg_t *m);
// rt_msg_list_free frees a list of messages linked by |next|.
void rt_msg_list_free(rt_msg_t *head);
// rt_msg_append links |m| at the tail of the list (|*head|, |*tail|). Takes |m|.
void rt_msg_append(rt_msg_t **head, rt_msg_t **tail, rt_msg_t *m);
// rt_msg_pop unlinks and returns the head of a non-empty list (|*head|, |*tail|).
rt_msg_t *rt_msg_pop(rt_msg_t **head, rt_msg_t **tail);

// ---- connections -------------------------------------------------------------------------------
typedef enum rt_conn_kind {
    RT_CONN_S2S_IN = 1,
    RT_CONN_S2S_OUT,
    RT_CONN_COMP,
} rt_conn_kind_t;

#define RT_RX_BUF 16384
#define RT_MAX_PAIRS 65536     // domain pairs per inbound stream
#define RT_UNAUTH_CERT_FACTOR 8 // chain-valid peers: 8 x s2s.max_unauth_per_ip per address
#define RT_STREAM_ID_LEN 32     // the ids we generate: 128 random bits in hex
#define RT_PEER_ID_MAX 128      // the longest peer stream id we accept (Prosody's are 36-byte UUIDs)

// A db:verify request we carry to a remote domain's authoritative server for one of our inbound
// streams (on any worker).
typedef struct rt_out_verify {
    struct rt_out_verify *next;
    char local[DNA_DOMAIN_MAX];  // our hosted domain (the receiving server)
    char remote[DNA_DOMAIN_MAX]; // the domain being verified (originating server)
    char stream_id[RT_PEER_ID_MAX + 1];
    char key[DNA_DBKEY_HEX_LEN + 1];
    uint32_t reply_worker;
    uint64_t reply_conn;
    uint64_t deadline_ms;
} rt_out_verify_t;

// Outbound domain pair (local L -> remote R) states.
typedef enum rt_opair_state {
    RT_OPAIR_RESOLVING = 1, // waiting for R's addresses
    RT_OPAIR_WAITING,       // on a peer, waiting for a stream, a proof or the back-off
    RT_OPAIR_PENDING,       // on a stream: authentication (EXTERNAL or db:result) in flight
    RT_OPAIR_VALID,         // on a stream: stanzas flow
} rt_opair_state_t;

// An outbound domain pair; lives on the worker that owns R's peer address.
struct rt_opair {
    rt_opair_t *hash_next; // worker pair table
    rt_opair_t *list_next; // peer's waiting list or stream's pair list
    char local[DNA_DOMAIN_MAX];
    char remote[DNA_DOMAIN_MAX];
    rt_opair_state_t state;
    rt_peer_t *peer;   // set from WAITING on
    rt_conn_t *stream; // set in PENDING and VALID
    bool piggybacked;  // added to an existing stream by db:result (not its primary pair)
    uint8_t retries;   // resource-constraint answers so far
    size_t addr_idx;   // which of R's addresses (worker dom cache) this pair uses
    rt_msg_t *q_head, *q_tail; // stanzas waiting for VALID
    size_t q_bytes;
    uint64_t deadline_ms; // the oldest queued stanza bounces at this time (0: none queued)
    uint64_t created_us;  // rt_stats_now_us() at creation; 0 once the set-up time is observed
};

// A refusal a peer gave us for one target domain (any sender) or one pair: remembered for a
// while so that stanzas for it bounce at once instead of costing a connection each.
typedef struct rt_refusal {
    struct rt_refusal *next;
    char local[DNA_DOMAIN_MAX]; // "" for the whole target domain
    char remote[DNA_DOMAIN_MAX];
    const char *cond; // static bounce condition and type
    const char *etype;
    uint64_t until_ms;
} rt_refusal_t;

// A peer address (IP, port, transport): owns the streams to it and the pairs waiting for one.
struct rt_peer {
    rt_peer_t *hash_next;
    rt_dns_addr_t addr;
    char text[80];
    pool_backoff_t backoff;
    bool ever_connected;
    bool no_db_errors; // its stream features lacked <dialback><errors/></dialback>
    bool no_external;  // it refused our SASL EXTERNAL: later streams go straight to dialback
    rt_conn_t *streams;        // via rt_conn.peer_next (pooled streams and verification conns)
    rt_opair_t *waiting;       // via list_next
    rt_out_verify_t *verifies; // db:verify requests not yet sent on a stream
    rt_refusal_t *refusals;
    bool draining;           // fedctl drain-peer: no new pairs; streams end once quiet (peer.c)
    uint64_t drain_until_ms; // ... or at this time, quiet or not
};

struct rt_conn {
    rt_worker_t *w;
    uint64_t id;
    rt_conn_kind_t kind;
    int fd;
    rt_conn_t *prev, *next;       // worker's connection list
    rt_conn_t *dirty_next;        // worker's list of connections with output to flush
    rt_conn_t *hash_next;         // worker's outbound (L,R) table
    rt_op_t op_recv, op_send, op_connect;
    uint32_t ops_in_flight;
    bool in_dirty_list;
    bool recv_armed;
    bool rx_paused;       // not reading: our output to this peer is over the limit
    bool drain_wanted;    // stanzas wait for this stream's output to drain (pool)
    bool send_armed;
    bool closing;         // no more input is processed; freed when no op is in flight
    // Output offsets: plaintext bytes written (rt_conn_write), bytes the kernel accepted, and
    // with TLS, checkpoints (plaintext end, ciphertext end) taken when plaintext is sealed.
    uint64_t out_plain, out_sent;
    struct rt_out_ckpt {
        uint64_t plain, wire;
    } *ckpt;
    size_t ckpt_head, ckpt_len, ckpt_cap;
    bool close_after_flush; // our </stream:stream> is written: nothing more may be (CORE-50)
    bool peer_ended;        // the peer's </stream:stream> arrived
    bool ended_in_error;    // a stream error (ours or theirs): nothing more of theirs is processed
    bool lingering;         // both closed, FIN sent: reading (and dropping) until the peer's FIN
    bool header_sent;     // our stream header for the current stream is out
    bool counted_unauth;  // holds a slot in the per-address unauthenticated table
    bool unauth_cert;     // ... in the larger one for certificates from the trust store
    bool parked;          // accepted over its address's unauthenticated budget: not read until
                          // a slot frees (or auth_timeout); holds a slot in rt->unauth_parked
    struct sockaddr_storage peer_sa;
    char peer_text[80];
    uint8_t *rxbuf;
    core_buf_t wbuf;    // bytes ready to send (ciphertext when TLS is on)
    core_buf_t sending; // bytes handed to the kernel
    core_buf_t pout;    // plaintext waiting to be sealed (TLS on)
    core_buf_t pin;     // plaintext waiting for the XML parser (TLS on)
    bool tls_on;
    bool tls_ready;     // handshake finished and handled
    bool direct_tls;
    rt_tls_conn_t tls;
    rt_xs_t *xs;
    uint64_t deadline_ms;   // 0: none
    uint64_t last_rx_ms;
    uint64_t last_tx_ms;
    char stream_id[RT_PEER_ID_MAX + 1]; // ours (inbound/component) or the peer's (outbound)
    int state;              // rt_sin_state_t / rt_sout_state_t / rt_comp_state_t

    // Inbound s2s.
    char hdr_to[DNA_DOMAIN_MAX];   // local domain the peer asked for
    char hdr_from[DNA_DOMAIN_MAX]; // peer's asserted domain (post-TLS header only)
    bool sasl_done;
    bool features_pending; // our post-TLS features wait for the check of 'from' (proof.c)
    pool_pairset_t pairs; // (remote, local) pairs authorised or being verified

    // Outbound s2s: the stream's primary pair (header from/to), its peer and the pairs on it.
    char local[DNA_DOMAIN_MAX];
    char remote[DNA_DOMAIN_MAX];
    rt_peer_t *peer;
    rt_conn_t *peer_next;
    rt_opair_t *opairs;        // pairs attached to this stream (primary first)
    rt_out_verify_t *verifies; // db:verify sent on this stream, waiting for the answer
    bool vconn;                // verification connection: closed once its work is done
    uint32_t piggy_pending;    // piggybacked db:result sent and not answered yet
    bool bidi;                 // XEP-0288 on: the peer sends its stanzas to us on this stream
    uint64_t connected_ms;     // TCP connected (0: never)
    // Stream management (XEP-0198) as initiator: acks only, no resumption. Stanzas written since
    // <enable/> stay here until the peer's <a h='…'/> covers them; when the stream dies they bounce.
    bool sm_offered, sm_on, sm_r_pending;
    uint32_t sm_sent, sm_acked;
    rt_msg_t *sm_head, *sm_tail;
    size_t sm_count, sm_bytes;
    // Without XEP-0198: stanzas written but not yet handed to the kernel, oldest first (their
    // bytes are in our output buffers). They bounce if the connection goes first: a peer that
    // stopped reading must not make them vanish (rt_sout_unsent_release).
    rt_msg_t *unsent_head, *unsent_tail;
    bool refused_domain;       // the peer refused the stream's domain, not the connection
    bool backoff_done;         // this stream's outcome has been given to the back-off
    char prove[DNA_DOMAIN_MAX]; // vconn: the target domain whose authority it checks ("" none)
    rt_conn_t *prove_for;      // vconn: the pooled stream the proof is recorded against
    bool feat_starttls, feat_external, feat_dialback, feat_db_errors;
    bool tried_external;
    uint8_t peer_fp[POOL_FP_LEN]; // SHA-256 of the peer's DER certificate
    bool has_peer_fp;
    uint64_t establish_deadline_ms;
    dna_verdict_kind_t proof_kind; // outbound: what the remote domain's check found (0: not yet)
    dna_prooftype_t proof_type;

    rt_proof_job_t *proofs; // domain checks running for this connection (proof.c)
    bool proofs_starting;   // proof.c's start_deferred loop runs (no recursion)

    // Component.
    size_t dom_idx; // index into conf->domains
};

// ---- workers and the router ----------------------------------------------------------------------
typedef struct rt_listener {
    rt_op_t op;
    rt_worker_t *w;
    int fd;
    rt_conn_kind_t kind;
    bool direct_tls;
    bool armed;
} rt_listener_t;

typedef struct rt_dns_watch {
    rt_op_t op;
    struct rt_dns_watch *next;
    int fd;
    bool want_r, want_w;
    bool armed;
    bool removing;
    bool posh; // the POSH fetcher's fd (else c-ares')
} rt_dns_watch_t;

#define RT_OUT_BUCKETS 1024

struct rt_worker {
    rt_router_t *rt;
    // The configuration this worker runs on. Worker code reads it here, never through rt->conf:
    // a reload swaps it between two loop iterations.
    const rt_conf_t *conf;
    uint32_t idx;
    pthread_t thread;
    struct io_uring ring;
    rt_stats_t stats;
    uint64_t now_ms;
    uint64_t next_conn_id;
    rt_conn_t *conns;
    rt_conn_t *dirty;
    rt_listener_t *listeners;
    size_t num_listeners;
    rt_op_t op_timer;
    struct __kernel_timespec timer_ts;
    rt_op_t op_inbox;
    int efd;
    uint64_t efd_val;
    pthread_mutex_t inbox_lock;
    rt_msg_t *inbox_head, *inbox_tail;
    rt_msg_t **outbox_head, **outbox_tail; // per target worker, flushed once per iteration
    rt_dns_t *dns;
    rt_dns_watch_t *dns_watches;
    struct rt_posh *posh; // POSH fetcher (proof.c), created on first use
    struct rt_posh_dns *posh_dns; // its resolver on |dns| (proof.c)
    rt_conn_t **comp_by_domain; // [conf->num_domains]: this worker's bound component
    rt_opair_t *pair_table[RT_OUT_BUCKETS];
    rt_peer_t *peer_table[RT_OUT_BUCKETS];
    struct rt_route_entry *route_table[RT_OUT_BUCKETS]; // remote domain -> owning worker
    struct rt_dom_entry *dom_table[RT_OUT_BUCKETS];     // remote domain -> addresses (owner side)
    uint64_t rnd_state;
    uint64_t next_pool_tick_ms;
    size_t q_bytes; // stanza bytes queued in this worker's outbound pairs
    bool stopping;
    uint64_t stop_deadline_ms;
    _Atomic uint64_t heartbeat; // bumped by the worker on each tick; read by the watchdog (notify.c)
    uint64_t reload_seen;  // last rt_router_t.reload_epoch this worker paused for (main.c)
    bool draining;         // shutdown phase 1: listeners closed, queues drain (stopping: close phase)
    atomic_bool drained;   // shutdown: nothing queued or unsent here (read by main.c)
    uint8_t close_step;    // shutdown close phase (loop.c): 0 draining, 1 queues bounced,
                           // 2 s2s streams ended (remote stanzas bounce), 3 components ended
};

struct rt_router {
    const rt_conf_t *conf;
    rt_tls_t *tls;
    dna_dbkey_secret_t db_secret;
    rt_worker_t *workers;
    uint32_t num_workers;
    _Atomic int32_t *comp_worker; // [conf->num_domains]: worker serving the component, -1 none
    pool_addrcount_t *unauth; // unauthenticated inbound connections per source address
    pool_addrcount_t *unauth_cert; // ... of those whose certificate chains to the trust store
    pool_addrcount_t *unauth_parked; // ... accepted over the budget, waiting for a slot
    atomic_bool stop;
    pool_verdicts_t *verdicts;
    pool_backoff_conf_t backoff;
    struct rt_reload *reload;       // main.c: configuration reload (SIGHUP, fedctl reload)
    _Atomic uint64_t reload_epoch;  // bumped to ask every worker to pause for a reload
    atomic_bool stop_close;         // shutdown: the drain is over, close every stream now
};

// ---- functions shared inside router/ ---------------------------------------------------------------
uint64_t rt_now_ms(void);

// main.c: reload. rt_reload_run re-reads the configuration file and certificates and swaps
// them in while every worker is paused between two loop iterations; on failure the running
// configuration stays and |err| says why. Thread: main or admin (serialised inside).
RT_MUSTCHECK rc_t rt_reload_run(rt_router_t *rt, char *err, size_t err_len);
void rt_reload_worker_pause(rt_worker_t *w); // worker: rt->reload_epoch moved

// loop.c
int rt_worker_run(rt_worker_t *w);
void rt_worker_post(rt_worker_t *from, uint32_t to, rt_msg_t *m); // takes |m|
// rt_worker_deliver splices the list |head|..|tail| into worker |t|'s inbox and rings its
// doorbell when the inbox was empty. Takes the list. Thread: any.
void rt_worker_deliver(rt_worker_t *t, rt_msg_t *head, rt_msg_t *tail);
void rt_worker_dns_watch(void *loop_ctx, int fd, bool r, bool w);
void rt_worker_posh_watch(void *loop_ctx, int fd, bool r, bool w);
void rt_conn_start_connect(rt_conn_t *c);
void rt_conn_arm_recv(rt_conn_t *c); // starts reading (a parked connection got its slot)

// conn.c
rt_conn_t *rt_conn_new(rt_worker_t *w, rt_conn_kind_t kind, int fd);
void rt_conn_write(rt_conn_t *c, const void *data, size_t len);
void rt_conn_write_str(rt_conn_t *c, const char *s);
void rt_conn_write_bld(rt_conn_t *c, const core_bld_t *b);
// rt_conn_write_header writes our stream header: the XML declaration and <stream:stream> in the
// connection's content namespace (components: jabber:component:accept; s2s: jabber:server with
// xmlns:db, version 1.0 and xml:lang), with |from|, |to| (left out when NULL or empty) and the
// connection's stream id when |with_id| (the receiving side). Marks the header sent.
void rt_conn_write_header(rt_conn_t *c, const char *from, const char *to, bool with_id);
void rt_conn_mark_dirty(rt_conn_t *c);
// rt_conn_congested: output waiting for this peer exceeds s2s.max_queue_bytes; writers then
// queue (bounded) or bounce instead of buffering more, and the connection stops reading.
bool rt_conn_congested(const rt_conn_t *c);
size_t rt_conn_out_bytes(const rt_conn_t *c);
void rt_conn_flush(rt_conn_t *c);
void rt_conn_on_connected(rt_conn_t *c);
void rt_conn_on_recv(rt_conn_t *c, const uint8_t *data, size_t len);
void rt_conn_close(rt_conn_t *c);
void rt_conn_end_stream(rt_conn_t *c); // </stream:stream>, close_notify, close after flush
// rt_conn_peer_ended records the peer's </stream:stream>; once ours is out too the connection
// closes (at once if it already is).
void rt_conn_peer_ended(rt_conn_t *c);
// rt_conn_finish ends the connection once both streams are closed and its output is written
// (else it does nothing): FIN first, then what the peer still sends is read and dropped until
// its FIN (or a deadline), so that closing with unread input cannot reset the connection and
// destroy our last bytes in the peer's receive buffer. The connection closes (rt_conn_close)
// then.
void rt_conn_finish(rt_conn_t *c);
void rt_conn_stream_error(rt_conn_t *c, const char *cond, const char *text);
rc_t rt_conn_start_tls(rt_conn_t *c, bool server, const char *cert_domain);
void rt_conn_new_stream_id(rt_conn_t *c);
void rt_conn_tick(rt_conn_t *c);
void rt_conn_release_unauth(rt_conn_t *c);
void rt_conn_free(rt_conn_t *c);

// s2s_in.c
extern const rt_xs_cbs_t rt_sin_cbs;
void rt_sin_accepted(rt_conn_t *c);
void rt_sin_timeout(rt_conn_t *c);
void rt_sin_unpark(rt_conn_t *c); // a parked connection tries again for a slot (each tick)
void rt_sin_verify_result(rt_worker_t *w, rt_msg_t *m);
void rt_sin_closed(rt_conn_t *c);
// The inbound half of a stream, also used on an outbound stream with bidi (XEP-0288): the peer
// sends db:result, db:verify and stanzas to us on it.
bool rt_sin_handle_db_result(rt_conn_t *c, const rt_xs_elem_t *el);
bool rt_sin_handle_db_verify(rt_conn_t *c, const rt_xs_elem_t *el);
bool rt_sin_handle_stanza(rt_conn_t *c, const rt_xs_elem_t *el);
void rt_sin_add_reverse_pair(rt_conn_t *c, const char *remote, const char *local);
// Verdicts of proof.c's checks (see router/proof.h).
void rt_sin_features_proof(rt_conn_t *c, const char *domain, const dna_verdict_t *v);
void rt_sin_db_result_proof(rt_conn_t *c, const char *from, const char *to, const char *key,
                            const dna_verdict_t *v);

// s2s_out.c: the outbound stream machine.
extern const rt_xs_cbs_t rt_sout_cbs;
rt_conn_t *rt_sout_open(rt_worker_t *w, rt_peer_t *peer, const char *local, const char *remote,
                        bool vconn);
void rt_sout_connected(rt_conn_t *c, int res);
void rt_sout_tls_ready(rt_conn_t *c);
void rt_sout_proof(rt_conn_t *c, const dna_verdict_t *v);
void rt_sout_timeout(rt_conn_t *c);
void rt_sout_detach(rt_conn_t *c);
void rt_sout_closed(rt_conn_t *c);
void rt_sout_send_db_result(rt_conn_t *c, const char *local, const char *remote);
void rt_sout_send_verify(rt_conn_t *c, rt_out_verify_t *v); // takes |v|
// rt_sout_send_stanza writes stanza |m| on established stream |c|; takes |m| (kept until acked
// when stream management is on).
void rt_sout_send_stanza(rt_conn_t *c, rt_msg_t *m);
// rt_sout_sm_bounce bounces the stanzas the peer never acknowledged (the stream is ending).
void rt_sout_sm_bounce(rt_conn_t *c);
// rt_sout_unsent_release frees the stanzas whose bytes the kernel has accepted (after a send
// completion); rt_sout_unsent_bounce bounces the others (the connection is going).
void rt_sout_unsent_release(rt_conn_t *c);
void rt_sout_unsent_bounce(rt_conn_t *c);
bool rt_sout_can_verify(const rt_conn_t *c);
bool rt_sout_established(const rt_conn_t *c);

// peer.c: the pool on the router side: routes, peers, pairs, verdicts, back-off.
void rt_pool_submit(rt_worker_t *w, rt_msg_t *m); // owner worker; takes |m|
void rt_pool_route(rt_worker_t *w, rt_msg_t *m);  // any worker: send |m| to R's owner; takes |m|
void rt_pool_stream_ready(rt_conn_t *c);      // post-TLS features seen (verifies may go)
void rt_pool_stream_established(rt_conn_t *c); // primary pair valid
void rt_pool_stream_closed(rt_conn_t *c);
void rt_pool_stream_drained(rt_conn_t *c);   // output fell below the limit again
// rt_pool_stream_refused: the peer closed |c| with host-unknown/host-gone; before establishment
// that refuses c->remote, after it only the pending piggybacked targets.
void rt_pool_stream_refused(rt_conn_t *c, const char *cond, bool established);     // the stream is going away (pairs detach)
void rt_pool_stream_failed(rt_conn_t *c); // before establishment
void rt_pool_pair_answer(rt_conn_t *c, const char *from, const char *to, const char *type,
                         const char *cond);   // db:result answer on stream |c|
void rt_pool_vconn_proof(rt_conn_t *v, bool proven); // a verification connection's verdict
// rt_pool_target_proof: the check of |remote| on pooled stream |s| ended (proof.c).
void rt_pool_target_proof(rt_conn_t *s, const char *local, const char *remote,
                          const dna_verdict_t *v);
// rt_pool_stream_unproven: the remote domain of outbound stream |c| failed its check.
void rt_pool_stream_unproven(rt_conn_t *c, const dna_verdict_t *v);
void rt_pool_verify_answer(rt_worker_t *w, rt_out_verify_t *v, rt_verdict_t verdict,
                           const char *cond); // takes |v|
void rt_pool_tick(rt_worker_t *w);
void rt_pool_fail_all(rt_worker_t *w);
void rt_pool_cleanup(rt_worker_t *w); // frees the tables after the loop ended
uint32_t rt_pool_rand(rt_worker_t *w);
// rt_pool_admin_dump appends this worker's peers (|pairs| false) or outbound pairs (|pairs|
// true) to |b| as comma-separated JSON objects (no brackets). Thread: the owning worker.
void rt_pool_admin_dump(rt_worker_t *w, bool pairs, core_bld_t *b);

// comp.c
extern const rt_xs_cbs_t rt_comp_cbs;
void rt_comp_accepted(rt_conn_t *c);
void rt_comp_timeout(rt_conn_t *c);
void rt_comp_deliver(rt_worker_t *w, size_t dom_idx, rt_msg_t *m); // to hosted domain dom_idx; takes |m|
void rt_comp_closed(rt_conn_t *c);
// rt_comp_remap moves worker |w|'s per-domain component state (comp_by_domain, each component's
// dom_idx) from w->conf to |next| by domain name; components of removed domains get SIZE_MAX.
// Thread: the reloading thread while |w| is paused.
void rt_comp_remap(rt_worker_t *w, const rt_conf_t *next);
// rt_comp_close_removed ends the streams of |w|'s components whose domain a reload removed
// (<system-shutdown/> after what is queued for them). Thread: worker |w|.
void rt_comp_close_removed(rt_worker_t *w);

// route.c
void rt_route_stanza(rt_worker_t *w, rt_msg_t *m); // takes |m|
void rt_route_bounce(rt_worker_t *w, rt_msg_t *m, const char *cond, const char *etype); // takes |m|
RT_MUSTCHECK rc_t rt_route_jid_domain(const char *jid, char *out, size_t out_cap);
void rt_route_msg(rt_worker_t *w, rt_msg_t *m); // dispatch of an inbox message; takes |m|
// rt_route_from_stream routes stanza |el| that arrived on |c| (its domains already checked):
// forwarded as its bytes, or re-serialised into the namespace of the stream it will go out on
// (a component's for a hosted domain, jabber:server otherwise). Returns false after a stream
// error on |c|.
bool rt_route_from_stream(rt_conn_t *c, const rt_xs_elem_t *el, const char *fdom,
                          const char *tdom);

#endif
