// prooftype.h: the prooftype model of RFC 7712 (SPEC.md §6, DNA-1/DNA-2) and the per-domain
// policy that turns gathered evidence into a verdict. Pure: no I/O, no clock, no logging.
//
// A prooftype proves the association between a domain and a stream: PKIX (RFC 6125 names on a
// trust-store-validated chain), DANE (TLSA via DNSSEC, RFC 7673) and POSH (RFC 7711). The router
// gathers evidence for the enabled prooftypes (the TLS layer's chain validation and
// dna_pkix_match, a DNSSEC-validated TLSA lookup and dna_tlsa_match, a POSH fetch and
// dna_posh_match) and calls dna_prooftype_decide; the pool records the verdict with the
// prooftype that proved it.
#ifndef RT_DNA_PROOFTYPE_H
#define RT_DNA_PROOFTYPE_H

#include <stdbool.h>
#include <stddef.h>

#include "dna/posh.h"
#include "dna/tlsa.h"
#include "router/core/rc.h"

typedef enum dna_prooftype {
    DNA_PROOF_NONE = 0, // no prooftype (verdicts reached by dialback or refusals)
    DNA_PROOF_PKIX = 1,
    DNA_PROOF_DANE = 2,
    DNA_PROOF_POSH = 3,
} dna_prooftype_t;

#define DNA_PROOF_COUNT 3 // PKIX, DANE, POSH

typedef enum dna_on_failure {
    DNA_ON_FAILURE_REFUSE = 0,   // negative evidence and no proof: refuse (s2s_secure_auth)
    DNA_ON_FAILURE_DIALBACK = 1, // negative evidence and no proof: let dialback decide
} dna_on_failure_t;

// dna_policy_t is the policy of one remote domain (or the default). Immutable once in the config
// snapshot.
typedef struct dna_policy {
    dna_prooftype_t order[DNA_PROOF_COUNT]; // enabled prooftypes, most preferred first
    size_t num_order;                       // 0: no prooftype (dialback only, if allowed)
    // No enabled prooftype had any material (no certificate, no usable TLSA, no POSH document):
    // may dialback decide? (Prosody's s2s_insecure_domains / s2s_secure_auth = false.)
    bool allow_dialback_without_proof;
    // Some enabled prooftype gave negative evidence (certificate not valid for the domain, POSH
    // fingerprint not listed) and none proved the domain.
    dna_on_failure_t on_failure;
} dna_policy_t;

// dna_policy_default fills |out| with the built-in default: PKIX, DANE, POSH in that order;
// dialback allowed without proof; on failure, dialback (the permissive setting that matches the
// deployed federation; operators tighten it per domain).
void dna_policy_default(dna_policy_t *out);

// dna_policy_check returns RC_OK when |policy| is well-formed: num_order <= DNA_PROOF_COUNT, each
// entry a known prooftype other than NONE and listed once, on_failure known. RC_CONF otherwise.
RT_MUSTCHECK rc_t dna_policy_check(const dna_policy_t *policy);

// dna_prooftype_name returns "PKIX", "DANE", "POSH" or "none". dna_prooftype_parse maps a config
// word (|len| bytes, case-insensitive "pkix"/"dane"/"posh") to the prooftype; false when unknown.
const char *dna_prooftype_name(dna_prooftype_t pt);
RT_MUSTCHECK bool dna_prooftype_parse(const char *s, size_t len, dna_prooftype_t *out);

// dna_ev_t is generic evidence for a prooftype whose material needs no DNSSEC state.
typedef enum dna_ev {
    DNA_EV_NONE = 0,     // not evaluated, or no material (no certificate; POSH 404; expires 0)
    DNA_EV_MATCH = 1,    // proves the domain
    DNA_EV_MISMATCH = 2, // material exists and does not prove the domain
    DNA_EV_TEMPFAIL = 3, // could not be evaluated now (fetch timeout, 5xx, ...)
} dna_ev_t;

// DNSSEC state of the DANE lookups (SRV chain and TLSA RRset, RFC 7673 §3), as the router knows
// it from its configured validating resolver (AD bit).
typedef enum dna_dnssec {
    DNA_DNSSEC_UNKNOWN = 0,  // not queried / DANE not applicable (no SRV: A/AAAA fallback)
    DNA_DNSSEC_INSECURE = 1, // answer without AD: TLSA records unusable, proceed without DANE
    DNA_DNSSEC_SECURE = 2,   // AD set: |dane| below is authoritative
    DNA_DNSSEC_BOGUS = 3,    // validation failed (SERVFAIL from the validator): MUST NOT connect
    DNA_DNSSEC_TEMPFAIL = 4, // timeout / indeterminate: try again later
} dna_dnssec_t;

// dna_evidence_t is everything gathered for one (domain, certificate) question. Zeroed means
// "nothing gathered".
typedef struct dna_evidence {
    dna_ev_t pkix;            // MATCH: chain validated by the trust store AND dna_pkix_match OK
    dna_dnssec_t dane_dnssec; // see above
    dna_tlsa_result_t dane;   // dna_tlsa_match's result; used only when dane_dnssec is SECURE
    dna_ev_t posh;            // from dna_posh_match (NO_MATERIAL -> NONE) or the fetch (TEMPFAIL)
} dna_evidence_t;

// dna_posh_ev maps a dna_posh_match result to evidence.
dna_ev_t dna_posh_ev(dna_posh_result_t r);

typedef enum dna_verdict_kind {
    DNA_VERDICT_PROVEN = 1,   // |prooftype| proved the domain
    DNA_VERDICT_DIALBACK = 2, // not proven; policy lets dialback (XEP-0220) decide
    DNA_VERDICT_REFUSED = 3,  // refuse: stream error / bounce; never fall back to dialback
    DNA_VERDICT_TEMPFAIL = 4, // evidence incomplete: retry later (bounce as remote-server-timeout)
} dna_verdict_kind_t;

typedef struct dna_verdict {
    dna_verdict_kind_t kind;
    // PROVEN: the prooftype that proved it. REFUSED/TEMPFAIL: the prooftype that decided it
    // (DANE for a TLSA mismatch or bogus DNSSEC), or NONE. DIALBACK: NONE.
    dna_prooftype_t prooftype;
    const char *reason; // static, for operators; never NULL
} dna_verdict_t;

// dna_prooftype_decide applies |policy| to |ev| (RFC 7712 DNA-2, SPEC.md DANE-1, POSH-7):
//   1. DANE enabled and DNSSEC BOGUS -> REFUSED(DANE). DANE enabled, SECURE and TLSA MISMATCH
//      (usable records, none matched) -> REFUSED(DANE), whatever PKIX or POSH say and whatever
//      the failure policy: DANE is authoritative. DANE enabled and DNSSEC TEMPFAIL -> TEMPFAIL.
//   2. The enabled prooftypes in policy order: the first MATCH -> PROVEN(it). DANE counts only
//      when SECURE.
//   3. No proof and some enabled prooftype TEMPFAIL -> TEMPFAIL.
//   4. No proof and some enabled prooftype MISMATCH -> on_failure: REFUSED or DIALBACK.
//   5. No material at all -> DIALBACK when allow_dialback_without_proof, else REFUSED.
// Evidence of prooftypes the policy does not enable is ignored. Writes |out| (never NULL).
// Returns RC_OK, or RC_CONF for a policy dna_policy_check refuses (then |out| is REFUSED).
// Thread: any.
RT_MUSTCHECK rc_t dna_prooftype_decide(dna_verdict_t *out, const dna_policy_t *policy,
                                       const dna_evidence_t *ev);

#endif
