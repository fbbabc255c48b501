// test_prooftype.c: the prooftype policy and verdict decision table (RFC 7712 DNA-2, SPEC.md
// DANE-1, POSH-7): order of preference, DANE authority, temporary failures, failure policy.
#include <stdbool.h>
#include <string.h>

#include "dna/prooftype.h"
#include "tests/support/t.h"

#define PKIX DNA_PROOF_PKIX
#define DANE DNA_PROOF_DANE
#define POSH DNA_PROOF_POSH
#define NONE DNA_PROOF_NONE
#define V_PROVEN DNA_VERDICT_PROVEN
#define V_DB DNA_VERDICT_DIALBACK
#define V_REFUSED DNA_VERDICT_REFUSED
#define V_TEMP DNA_VERDICT_TEMPFAIL

static dna_policy_t pol(bool allow_db, dna_on_failure_t onf) {
    dna_policy_t p = {.order = {PKIX, DANE, POSH},
                      .num_order = 3,
                      .allow_dialback_without_proof = allow_db,
                      .on_failure = onf};
    return p;
}

typedef struct row {
    int line;
    dna_ev_t pkix;
    dna_dnssec_t dnssec;
    dna_tlsa_result_t tlsa;
    dna_ev_t posh;
    dna_verdict_kind_t kind;
    dna_prooftype_t pt;
} row_t;

static void run_rows(const dna_policy_t *p, const row_t *rows, size_t num) {
    for (size_t i = 0; i < num; i++) {
        dna_evidence_t ev = {.pkix = rows[i].pkix,
                             .dane_dnssec = rows[i].dnssec,
                             .dane = rows[i].tlsa,
                             .posh = rows[i].posh};
        dna_verdict_t v;
        T_ASSERT_EQ(dna_prooftype_decide(&v, p, &ev), RC_OK);
        if (v.kind != rows[i].kind || v.prooftype != rows[i].pt) {
            fprintf(stderr, "row at line %d: got kind %d prooftype %s (%s)\n", rows[i].line,
                    (int)v.kind, dna_prooftype_name(v.prooftype), v.reason);
        }
        T_ASSERT_EQ(v.kind, rows[i].kind);
        T_ASSERT_EQ(v.prooftype, rows[i].pt);
        T_ASSERT(v.reason != NULL && v.reason[0] != '\0');
    }
}

#define R(...) {__LINE__, __VA_ARGS__}
#define EV_N DNA_EV_NONE
#define EV_M DNA_EV_MATCH
#define EV_X DNA_EV_MISMATCH
#define EV_T DNA_EV_TEMPFAIL
#define D_U DNA_DNSSEC_UNKNOWN
#define D_I DNA_DNSSEC_INSECURE
#define D_S DNA_DNSSEC_SECURE
#define D_B DNA_DNSSEC_BOGUS
#define D_T DNA_DNSSEC_TEMPFAIL
#define T_NU DNA_TLSA_NONE_USABLE
#define T_M DNA_TLSA_MATCH
#define T_X DNA_TLSA_MISMATCH

// Strict policy: PKIX, DANE, POSH; refuse on failure; no dialback without proof.
static void test_strict(void) {
    dna_policy_t p = pol(false, DNA_ON_FAILURE_REFUSE);
    static const row_t rows[] = {
        // Each prooftype alone proves.
        R(EV_M, D_U, T_NU, EV_N, V_PROVEN, PKIX),
        R(EV_N, D_S, T_M, EV_N, V_PROVEN, DANE),
        R(EV_N, D_U, T_NU, EV_M, V_PROVEN, POSH),
        // Order: PKIX first when several prove.
        R(EV_M, D_S, T_M, EV_M, V_PROVEN, PKIX),
        R(EV_X, D_S, T_M, EV_M, V_PROVEN, DANE),
        // DANE mismatch with usable records refuses even though PKIX and POSH would pass.
        R(EV_M, D_S, T_X, EV_M, V_REFUSED, DANE),
        R(EV_N, D_S, T_X, EV_N, V_REFUSED, DANE),
        // TLSA results count only when DNSSEC-secure: insecure "match"/"mismatch" ignored.
        R(EV_N, D_I, T_M, EV_N, V_REFUSED, NONE),
        R(EV_M, D_I, T_X, EV_N, V_PROVEN, PKIX),
        R(EV_M, D_U, T_X, EV_N, V_PROVEN, PKIX),
        // Secure but no usable TLSA: proceed as without DANE.
        R(EV_M, D_S, T_NU, EV_N, V_PROVEN, PKIX),
        R(EV_X, D_S, T_NU, EV_N, V_REFUSED, PKIX),
        // Bogus DNSSEC: must not connect, whatever else.
        R(EV_M, D_B, T_NU, EV_M, V_REFUSED, DANE),
        // DNSSEC state unknown because the lookup failed: retry later.
        R(EV_M, D_T, T_NU, EV_N, V_TEMP, DANE),
        // Negative evidence and no proof: refused, naming the first failing prooftype.
        R(EV_X, D_U, T_NU, EV_N, V_REFUSED, PKIX),
        R(EV_N, D_U, T_NU, EV_X, V_REFUSED, POSH),
        R(EV_X, D_U, T_NU, EV_X, V_REFUSED, PKIX),
        // A temporary failure with no proof: retry, even next to negative evidence.
        R(EV_X, D_U, T_NU, EV_T, V_TEMP, POSH),
        R(EV_N, D_U, T_NU, EV_T, V_TEMP, POSH),
        // A temporary failure does not block a proof from another prooftype.
        R(EV_M, D_U, T_NU, EV_T, V_PROVEN, PKIX),
        // Nothing at all.
        R(EV_N, D_U, T_NU, EV_N, V_REFUSED, NONE),
    };
    run_rows(&p, rows, RT_ARRAY_LEN(rows));
}

// Permissive: dialback without proof allowed and on failure.
static void test_permissive(void) {
    dna_policy_t p = pol(true, DNA_ON_FAILURE_DIALBACK);
    static const row_t rows[] = {
        R(EV_N, D_U, T_NU, EV_N, V_DB, NONE),
        R(EV_X, D_U, T_NU, EV_N, V_DB, NONE),
        R(EV_N, D_I, T_NU, EV_X, V_DB, NONE),
        R(EV_M, D_U, T_NU, EV_N, V_PROVEN, PKIX),
        // DANE authority does not depend on the failure policy: dialback cannot rescue it.
        R(EV_M, D_S, T_X, EV_N, V_REFUSED, DANE),
        R(EV_N, D_S, T_X, EV_N, V_REFUSED, DANE),
        R(EV_N, D_B, T_NU, EV_N, V_REFUSED, DANE),
    };
    run_rows(&p, rows, RT_ARRAY_LEN(rows));
    // Dialback without proof allowed, but refuse on negative evidence.
    p = pol(true, DNA_ON_FAILURE_REFUSE);
    static const row_t rows2[] = {
        R(EV_N, D_U, T_NU, EV_N, V_DB, NONE),
        R(EV_X, D_U, T_NU, EV_N, V_REFUSED, PKIX),
    };
    run_rows(&p, rows2, RT_ARRAY_LEN(rows2));
    // No dialback without material, but dialback after a failed proof.
    p = pol(false, DNA_ON_FAILURE_DIALBACK);
    static const row_t rows3[] = {
        R(EV_N, D_U, T_NU, EV_N, V_REFUSED, NONE),
        R(EV_X, D_U, T_NU, EV_N, V_DB, NONE),
    };
    run_rows(&p, rows3, RT_ARRAY_LEN(rows3));
}

// The order and the set of enabled prooftypes matter.
static void test_order_and_enablement(void) {
    dna_policy_t p = {.order = {POSH, DANE, PKIX}, .num_order = 3, .on_failure = DNA_ON_FAILURE_REFUSE};
    static const row_t rows[] = {
        R(EV_M, D_S, T_M, EV_M, V_PROVEN, POSH),
        R(EV_M, D_S, T_M, EV_N, V_PROVEN, DANE),
        R(EV_N, D_U, T_NU, EV_X, V_REFUSED, POSH),
    };
    run_rows(&p, rows, RT_ARRAY_LEN(rows));
    // PKIX only: DANE and POSH evidence ignored, including a DANE mismatch and bogus DNSSEC (the
    // router does not query TLSA for such domains).
    p = (dna_policy_t){.order = {PKIX}, .num_order = 1, .on_failure = DNA_ON_FAILURE_REFUSE};
    static const row_t rows2[] = {
        R(EV_M, D_S, T_X, EV_X, V_PROVEN, PKIX),
        R(EV_N, D_S, T_M, EV_M, V_REFUSED, NONE),
        R(EV_M, D_B, T_NU, EV_N, V_PROVEN, PKIX),
        R(EV_N, D_T, T_NU, EV_T, V_REFUSED, NONE),
    };
    run_rows(&p, rows2, RT_ARRAY_LEN(rows2));
    // DANE only (e.g. a self-signed hosting provider pinned by TLSA).
    p = (dna_policy_t){.order = {DANE}, .num_order = 1, .on_failure = DNA_ON_FAILURE_REFUSE};
    static const row_t rows3[] = {
        R(EV_M, D_S, T_NU, EV_M, V_REFUSED, NONE),
        R(EV_M, D_I, T_M, EV_N, V_REFUSED, NONE),
        R(EV_N, D_S, T_M, EV_N, V_PROVEN, DANE),
    };
    run_rows(&p, rows3, RT_ARRAY_LEN(rows3));
    // No prooftype: dialback only.
    p = (dna_policy_t){.num_order = 0, .allow_dialback_without_proof = true};
    static const row_t rows4[] = {
        R(EV_M, D_S, T_M, EV_M, V_DB, NONE),
        R(EV_X, D_S, T_X, EV_X, V_DB, NONE),
    };
    run_rows(&p, rows4, RT_ARRAY_LEN(rows4));
}

static void test_policy_helpers(void) {
    dna_policy_t p;
    dna_policy_default(&p);
    T_ASSERT_EQ(dna_policy_check(&p), RC_OK);
    T_ASSERT_EQ(p.num_order, 3);
    T_ASSERT_EQ(p.order[0], PKIX);
    T_ASSERT(p.allow_dialback_without_proof);
    // Malformed policies are refused, and deciding with one refuses (fail closed).
    dna_policy_t dup = {.order = {PKIX, PKIX}, .num_order = 2};
    T_ASSERT_EQ(dna_policy_check(&dup), RC_CONF);
    dna_policy_t none_entry = {.order = {NONE}, .num_order = 1};
    T_ASSERT_EQ(dna_policy_check(&none_entry), RC_CONF);
    dna_policy_t too_many = {.order = {PKIX, DANE, POSH}, .num_order = 4};
    T_ASSERT_EQ(dna_policy_check(&too_many), RC_CONF);
    dna_policy_t bad_onf = {.order = {PKIX}, .num_order = 1, .on_failure = (dna_on_failure_t)7};
    T_ASSERT_EQ(dna_policy_check(&bad_onf), RC_CONF);
    T_ASSERT_EQ(dna_policy_check(NULL), RC_CONF);
    dna_evidence_t ev = {.pkix = DNA_EV_MATCH};
    dna_verdict_t v;
    T_ASSERT_EQ(dna_prooftype_decide(&v, &dup, &ev), RC_CONF);
    T_ASSERT_EQ(v.kind, V_REFUSED);
    // Names.
    dna_prooftype_t pt = NONE;
    T_ASSERT(dna_prooftype_parse("posh", 4, &pt) && pt == POSH);
    T_ASSERT(dna_prooftype_parse("DANE", 4, &pt) && pt == DANE);
    T_ASSERT(dna_prooftype_parse("PKIX", 4, &pt) && pt == PKIX);
    T_ASSERT(!dna_prooftype_parse("pki", 3, &pt));
    T_ASSERT(!dna_prooftype_parse("pkixx", 5, &pt));
    T_ASSERT(!dna_prooftype_parse("", 0, &pt));
    T_ASSERT_EQ(pt, PKIX);
    T_ASSERT_STREQ(dna_prooftype_name(DANE), "DANE");
    T_ASSERT_STREQ(dna_prooftype_name(NONE), "none");
    // POSH results map onto evidence.
    T_ASSERT_EQ(dna_posh_ev(DNA_POSH_MATCH), DNA_EV_MATCH);
    T_ASSERT_EQ(dna_posh_ev(DNA_POSH_MISMATCH), DNA_EV_MISMATCH);
    T_ASSERT_EQ(dna_posh_ev(DNA_POSH_NO_MATERIAL), DNA_EV_NONE);
    // The DANE refusal reason says so for operators.
    dna_policy_default(&p);
    ev = (dna_evidence_t){.pkix = DNA_EV_MATCH, .dane_dnssec = D_S, .dane = T_X};
    T_ASSERT_EQ(dna_prooftype_decide(&v, &p, &ev), RC_OK);
    T_ASSERT(strstr(v.reason, "TLSA") != NULL);
    // A dialback verdict after negative evidence names what failed.
    ev = (dna_evidence_t){.posh = DNA_EV_MISMATCH};
    T_ASSERT_EQ(dna_prooftype_decide(&v, &p, &ev), RC_OK);
    T_ASSERT_EQ(v.kind, V_DB);
    T_ASSERT(strncmp(v.reason, "POSH:", 5) == 0);
}

int main(void) {
    test_strict();
    test_permissive();
    test_order_and_enablement();
    test_policy_helpers();
    return 0;
}
