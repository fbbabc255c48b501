// proof.h: domain ownership checks on live streams (RFC 7712 prooftypes, SPEC.md §6–§8).
//
// "Is the peer on stream |c| the server of domain D?" is asked in four places: the features of an
// inbound stream (offer SASL EXTERNAL?), an inbound db:result (XEP-0344: answer from the
// certificate, ask the authoritative server, or refuse), an outbound stream after TLS (go on,
// or refuse the peer), and a new target domain for a pooled outbound stream (piggyback?).
// rt_proof_start gathers the evidence of the prooftypes D's policy enables (rt_conf_policy):
//   - PKIX: the TLS layer's chain result and dna_pkix_match, at once;
//   - DANE: only with a configured validating resolver (s2s.resolver): D's SRV records (the
//     resolver's cache), then TLSA at each DNSSEC-secure target (at most 4); on an outbound
//     stream only the targets at the address it is connected to count (RFC 7673 §3);
//   - POSH: D's document (rt_posh_fetch), only when nothing earlier in the policy proved D and
//     DANE did not refuse; a fetch that fails counts as "no POSH material" (the policy's
//     dialback_without_proof decides what that means), except that a temporary failure
//     (timeout, 5xx, unreachable) is one under a policy that requires a proof;
// then decides with dna_prooftype_decide and records the verdict in the shared verdict table
// (pool/verdict.h) keyed by peer address, certificate and domain, so the next stream or pair
// with the same certificate is decided without any lookup.
//
// Thread: the connection's worker.
#ifndef RT_ROUTER_PROOF_H
#define RT_ROUTER_PROOF_H

#include <stdbool.h>

#include "dna/prooftype.h"
#include "pool/verdict.h"

typedef struct rt_conn rt_conn_t;
typedef struct rt_worker rt_worker_t;

typedef enum rt_proof_use {
    RT_PROOF_FEATURES = 1, // inbound: the post-TLS header's 'from' (SASL EXTERNAL offer)
    RT_PROOF_DB_RESULT,    // inbound (or bidi): the sender of a db:result
    RT_PROOF_OUTBOUND,     // outbound: the stream's remote domain, after TLS
    RT_PROOF_TARGET,       // outbound: a new target domain for the pooled stream
} rt_proof_use_t;

// rt_proof_start asks whether the peer on |c| serves |domain| (A-label). |aux| is the local
// domain of the pair (db:result 'to', a new target's sender; may be NULL) and |key| the dialback
// key of a db:result (may be NULL); both are copied and handed back on completion.
// For RT_PROOF_TARGET the caller has looked the verdict table up already; the other uses look
// it up here. Returns true when the verdict is known now (verdict table, or no lookup needed):
// it is in |*out| and nothing else happens. Returns false when lookups are running: the verdict is
// delivered later to the use's handler (rt_sin_features_proof, rt_sin_db_result_proof,
// rt_sout_proof, rt_pool_target_proof) unless the connection closes first.
bool rt_proof_start(rt_conn_t *c, rt_proof_use_t use, const char *domain, const char *aux,
                    const char *key, dna_verdict_t *out);

// rt_proof_verdict_key is the verdict-table key of |domain| on |c|: the peer address an
// outbound stream connected to, or an inbound stream's source address without its port; the
// SHA-256 of the peer's certificate (zero without one). |key.domain| borrows |domain|.
pool_verdict_key_t rt_proof_verdict_key(const rt_conn_t *c, const char *domain);

// rt_proof_known_proven is true when the verdict table holds a proof that the peer on |c|
// serves |domain| (a check that ended PROVEN and has not expired).
bool rt_proof_known_proven(rt_conn_t *c, const char *domain);

// rt_proof_pending is true while a lookup for |domain| and |use| runs on |c|.
bool rt_proof_pending(const rt_conn_t *c, rt_proof_use_t use, const char *domain);

// rt_proof_cancel_all drops every lookup of |c| (its handlers will not run). Called on close.
void rt_proof_cancel_all(rt_conn_t *c);

// rt_proof_worker_reloaded: the worker's configuration was swapped (a reload). Replaces the POSH
// fetcher, whose trust store, port, timeout and cache belong to the old configuration. Called by
// the worker between two loop iterations.
void rt_proof_worker_reloaded(rt_worker_t *w);

// rt_proof_worker_cleanup frees the worker's POSH fetcher (after its loop ended).
void rt_proof_worker_cleanup(rt_worker_t *w);

#endif
