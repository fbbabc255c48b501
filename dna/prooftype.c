// prooftype.c: prooftype names, policy checks and the verdict decision (see prooftype.h).
#include "dna/prooftype.h"

#include "router/core/mem.h"

void dna_policy_default(dna_policy_t *out) {
    *out = (dna_policy_t){
        .order = {DNA_PROOF_PKIX, DNA_PROOF_DANE, DNA_PROOF_POSH},
        .num_order = 3,
        .allow_dialback_without_proof = true,
        .on_failure = DNA_ON_FAILURE_DIALBACK,
    };
}

rc_t dna_policy_check(const dna_policy_t *policy) {
    bool seen[DNA_PROOF_COUNT + 1] = {false};
    if (policy == NULL || policy->num_order > DNA_PROOF_COUNT) {
        return RC_CONF;
    }
    if (policy->on_failure != DNA_ON_FAILURE_REFUSE &&
        policy->on_failure != DNA_ON_FAILURE_DIALBACK) {
        return RC_CONF;
    }
    for (size_t i = 0; i < policy->num_order; i++) {
        dna_prooftype_t pt = policy->order[i];
        if (pt != DNA_PROOF_PKIX && pt != DNA_PROOF_DANE && pt != DNA_PROOF_POSH) {
            return RC_CONF;
        }
        if (seen[pt]) {
            return RC_CONF;
        }
        seen[pt] = true;
    }
    return RC_OK;
}

const char *dna_prooftype_name(dna_prooftype_t pt) {
    switch (pt) {
    case DNA_PROOF_PKIX:
        return "PKIX";
    case DNA_PROOF_DANE:
        return "DANE";
    case DNA_PROOF_POSH:
        return "POSH";
    default:
        return "none";
    }
}

bool dna_prooftype_parse(const char *s, size_t len, dna_prooftype_t *out) {
    static const struct {
        const char *name;
        dna_prooftype_t pt;
    } kNames[] = {{"pkix", DNA_PROOF_PKIX}, {"dane", DNA_PROOF_DANE}, {"posh", DNA_PROOF_POSH}};
    for (size_t i = 0; i < RT_ARRAY_LEN(kNames); i++) {
        if (core_ascii_lower_eq(s, len, kNames[i].name, 4)) {
            *out = kNames[i].pt;
            return true;
        }
    }
    return false;
}

dna_ev_t dna_posh_ev(dna_posh_result_t r) {
    switch (r) {
    case DNA_POSH_MATCH:
        return DNA_EV_MATCH;
    case DNA_POSH_MISMATCH:
        return DNA_EV_MISMATCH;
    default:
        return DNA_EV_NONE;
    }
}

// ev_of returns the evidence for |pt| in the generic form.
static dna_ev_t ev_of(const dna_evidence_t *ev, dna_prooftype_t pt) {
    switch (pt) {
    case DNA_PROOF_PKIX:
        return ev->pkix;
    case DNA_PROOF_POSH:
        return ev->posh;
    case DNA_PROOF_DANE:
        if (ev->dane_dnssec == DNA_DNSSEC_TEMPFAIL) {
            return DNA_EV_TEMPFAIL;
        }
        if (ev->dane_dnssec != DNA_DNSSEC_SECURE) {
            return DNA_EV_NONE; // insecure / not applicable: no DANE material
        }
        return ev->dane == DNA_TLSA_MATCH      ? DNA_EV_MATCH
               : ev->dane == DNA_TLSA_MISMATCH ? DNA_EV_MISMATCH
                                               : DNA_EV_NONE;
    default:
        return DNA_EV_NONE;
    }
}

static const char *proven_reason(dna_prooftype_t pt) {
    switch (pt) {
    case DNA_PROOF_PKIX:
        return "PKIX: the certificate chain is trusted and names the domain";
    case DNA_PROOF_DANE:
        return "DANE: a DNSSEC-secure TLSA record matches the certificate";
    default:
        return "POSH: the domain's POSH document lists the certificate";
    }
}

static const char *mismatch_reason(dna_prooftype_t pt) {
    switch (pt) {
    case DNA_PROOF_PKIX:
        return "PKIX: the certificate is not trusted or does not name the domain";
    case DNA_PROOF_POSH:
        return "POSH: the domain's POSH document does not list the certificate";
    default:
        return "DANE: usable TLSA records exist and none matches";
    }
}

rc_t dna_prooftype_decide(dna_verdict_t *out, const dna_policy_t *policy,
                          const dna_evidence_t *ev) {
    if (dna_policy_check(policy) != RC_OK) {
        *out = (dna_verdict_t){DNA_VERDICT_REFUSED, DNA_PROOF_NONE,
                               "invalid prooftype policy (configuration error)"};
        return RC_CONF;
    }
    bool dane_on = false;
    for (size_t i = 0; i < policy->num_order; i++) {
        dane_on = dane_on || policy->order[i] == DNA_PROOF_DANE;
    }
    // 1. DANE is authoritative when it speaks (RFC 6698 §4.1, RFC 7673 §3).
    if (dane_on) {
        if (ev->dane_dnssec == DNA_DNSSEC_BOGUS) {
            *out = (dna_verdict_t){DNA_VERDICT_REFUSED, DNA_PROOF_DANE,
                                   "DANE: DNSSEC validation of SRV/TLSA failed (bogus): must "
                                   "not connect"};
            return RC_OK;
        }
        if (ev->dane_dnssec == DNA_DNSSEC_SECURE && ev->dane == DNA_TLSA_MISMATCH) {
            *out = (dna_verdict_t){DNA_VERDICT_REFUSED, DNA_PROOF_DANE,
                                   "DANE: usable TLSA records exist and none matches the "
                                   "certificate: refused, PKIX, POSH and dialback cannot rescue "
                                   "it"};
            return RC_OK;
        }
        if (ev->dane_dnssec == DNA_DNSSEC_TEMPFAIL) {
            *out = (dna_verdict_t){DNA_VERDICT_TEMPFAIL, DNA_PROOF_DANE,
                                   "DANE: DNSSEC state of SRV/TLSA unknown (lookup failed): "
                                   "retry later"};
            return RC_OK;
        }
    }
    // 2. First proof in policy order.
    for (size_t i = 0; i < policy->num_order; i++) {
        dna_prooftype_t pt = policy->order[i];
        if (ev_of(ev, pt) == DNA_EV_MATCH) {
            *out = (dna_verdict_t){DNA_VERDICT_PROVEN, pt, proven_reason(pt)};
            return RC_OK;
        }
    }
    // 3./4. No proof: temporary failures first, then negative evidence.
    dna_prooftype_t tempfail = DNA_PROOF_NONE;
    dna_prooftype_t mismatch = DNA_PROOF_NONE;
    for (size_t i = 0; i < policy->num_order; i++) {
        dna_prooftype_t pt = policy->order[i];
        dna_ev_t e = ev_of(ev, pt);
        if (e == DNA_EV_TEMPFAIL && tempfail == DNA_PROOF_NONE) {
            tempfail = pt;
        } else if (e == DNA_EV_MISMATCH && mismatch == DNA_PROOF_NONE) {
            mismatch = pt;
        }
    }
    if (tempfail != DNA_PROOF_NONE) {
        *out = (dna_verdict_t){DNA_VERDICT_TEMPFAIL, tempfail,
                               tempfail == DNA_PROOF_POSH
                                   ? "POSH: the document could not be fetched now: retry later"
                                   : "a prooftype could not be evaluated now: retry later"};
        return RC_OK;
    }
    if (mismatch != DNA_PROOF_NONE) {
        if (policy->on_failure == DNA_ON_FAILURE_DIALBACK) {
            *out = (dna_verdict_t){DNA_VERDICT_DIALBACK, DNA_PROOF_NONE,
                                   mismatch == DNA_PROOF_PKIX
                                       ? "PKIX: the certificate is not trusted or does not name "
                                         "the domain; policy on_failure=dialback"
                                       : "POSH: the domain's POSH document does not list the "
                                         "certificate; policy on_failure=dialback"};
        } else {
            *out = (dna_verdict_t){DNA_VERDICT_REFUSED, mismatch, mismatch_reason(mismatch)};
        }
        return RC_OK;
    }
    // 5. No material at all.
    if (policy->allow_dialback_without_proof) {
        *out = (dna_verdict_t){DNA_VERDICT_DIALBACK, DNA_PROOF_NONE,
                               "no prooftype has material for the domain; policy allows dialback"};
    } else {
        *out = (dna_verdict_t){DNA_VERDICT_REFUSED, DNA_PROOF_NONE,
                               "no prooftype has material for the domain and policy requires a "
                               "proof"};
    }
    return RC_OK;
}
