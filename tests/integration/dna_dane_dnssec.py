#!/usr/bin/python3
"""integ_dna_dane_dnssec: DANE when DNSSEC says "bogus" or "insecure", end to end between real
fedrouter processes (sibling of integ_dna_dane; same DNSSEC lab, SRV only, one router pair per
case: A = a-<tag>.test with a CA certificate, B = the domain under test).
  bogus      B serves x.bogus.test (delegated with a DS that matches no key: every answer is
             bogus, SERVFAIL from the validating resolver); B's certificate is PKIX-valid under
             A's CA; A has the default policy. DNSSEC says the data is forged: A must refuse
             (RFC 7673 §3.1 "MUST NOT connect"; dna_prooftype_decide: BOGUS -> REFUSED(DANE)).
             Asserts: a stanza each way bounces, nothing delivered, A authenticates nothing from
             x.bogus.test, A counts refused/dane and logs the refusal.
  bogus-tlsa B serves bc.test (secure SRV in test.), but the TLSA name at B's SRV target is a
             CNAME into bogus.test.: the TLSA answer is bogus although the record it leads to
             has the right digest. Default policy, PKIX-valid certificate. Asserts as "bogus",
             with the log line naming the bogus TLSA answer.
  insecure   B serves x.insecure.test (unsigned zone, no DS) with a PKIX-valid certificate; the
             unsigned zone holds a TLSA record with a WRONG digest, which must be ignored (DANE
             not applicable). Default policy (PKIX then DANE). Asserts: delivered both ways,
             A counts proven/pkix, no refusal, and logs "domain x.insecure.test: proven".
  insecure-strict B serves y.insecure.test the same way (right digest this time, still unusable:
             unsigned), and A's policy for it is prooftypes = ["dane"],
             dialback_without_proof = false, on_failure = "refuse": no prooftype has material ->
             refused both ways. Asserts: bounces, nothing delivered, A authenticated nothing
             inbound from y.insecure.test, A counts a refusal, nothing proven, no dialback.
Router bugs this test found (fixed in 130dc4c; the cases are their regression tests):
  - "bogus": rt_dns_resolve_s2s reported a bogus SRV answer (SERVFAIL from the validating
    resolver) as RC_DNS_FAIL, so proof.c decided a temporary failure (tempfail/none), not
    refused/dane. Now RC_DNS_BOGUS.
  - "insecure-strict": a REFUSED verdict without a prooftype was cached by store_verdict as
    POOL_PROOF_NONE, which lookup_verdict read back as "dialback decides": B's db:result after
    the withheld SASL EXTERNAL passed by dialback and B -> A was delivered. Now POOL_PROOF_POLICY.
Exit 0 pass, 1 fail, 77 when knotd/unbound/openssl are missing."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnalab as d  # noqa: E402
import harness as h  # noqa: E402
from harness import check  # noqa: E402

DANE_ONLY = {"prooftypes": ["dane"], "dialback_without_proof": False, "on_failure": "refuse"}


def plan(env):
    ca = env.ca()
    bogus = d.plan_pair(env, "bogus", "x.bogus.test", ca.issue("xbogus", ["x.bogus.test"]),
                        b_host="h.x.bogus.test")
    bogus.records.append("%s. 60 IN TLSA 3 1 1 %s" % (d.tlsa_owner(bogus),
                                                     d.spki_sha256_hex(bogus.b.cert.cert)))

    btlsa = d.plan_pair(env, "bogustlsa", "bc.test", ca.issue("bc", ["bc.test"]))
    target = "_%d._tcp.hbc.bogus.test" % btlsa.b.s2s_port
    btlsa.records += ["%s. 60 IN CNAME %s." % (d.tlsa_owner(btlsa), target),
                      "%s. 60 IN TLSA 3 1 1 %s" % (target, d.spki_sha256_hex(btlsa.b.cert.cert))]

    ins = d.plan_pair(env, "insecure", "x.insecure.test", ca.issue("xins", ["x.insecure.test"]),
                      b_host="h.x.insecure.test")
    ins.records.append("%s. 60 IN TLSA 3 1 1 %s" % (
        d.tlsa_owner(ins), d.flip_hex(d.spki_sha256_hex(ins.b.cert.cert))))

    strict = d.plan_pair(env, "strict", "y.insecure.test", ca.issue("yins", ["y.insecure.test"]),
                         b_host="h.y.insecure.test", a_policy=DANE_ONLY)
    strict.records.append("%s. 60 IN TLSA 3 1 1 %s" % (d.tlsa_owner(strict),
                                                      d.spki_sha256_hex(strict.b.cert.cert)))
    return bogus, btlsa, ins, strict


def refused_common(p, note=None):
    a, b = p.a, p.b
    conds = d.refused_both_ways(p, note=note)
    h.log("       bounce conditions: %r" % (conds,))
    ma = a.router.scrape()
    check(ma.get(d.AUTH, direction="in") == 0,
          "%s: A authenticated no inbound stream from %s" % (p.tag, b.domain),
          ma.get(d.AUTH, direction="in"))
    check(ma.get(d.CHECKS, result="proven") == 0 and ma.get(d.CHECKS, result="dialback") == 0,
          "%s: nothing proven, no dialback decided for %s" % (p.tag, b.domain),
          d.metrics_summary(a))
    return ma


def case_bogus(lab, p):
    rc, n, ad = lab.query("_xmpp-server._tcp.x.bogus.test.", 33)
    check(rc == 2, "lab: x.bogus.test's SRV is bogus (SERVFAIL)", (rc, n, ad))
    ma = refused_common(p)
    check(ma.get(d.CHECKS, result="refused", prooftype="dane") > 0,
          "bogus: A counts domain_checks_total{refused,dane} (DNSSEC bogus refuses)",
          "%s -- regression of 130dc4c? a bogus SRV answer must reach proof.c as RC_DNS_BOGUS, "
          "not as a temporary failure" % d.metrics_summary(p.a))
    d.log_has(p.a, d.verdict_re(p.b.domain, "refused"), "x.bogus.test refused")


def case_bogus_tlsa(lab, p):
    d.expect_secure(lab, "_xmpp-server._tcp.bc.test.", 33, "bc.test's SRV")
    rc, n, ad = lab.query(d.tlsa_owner(p) + ".", 52)
    check(rc == 2, "lab: the TLSA name (CNAME into bogus.test.) is bogus (SERVFAIL)", (rc, n, ad))
    ma = refused_common(p)
    check(ma.get(d.CHECKS, result="refused", prooftype="dane") > 0,
          "bogus-tlsa: A counts domain_checks_total{refused,dane}", d.metrics_summary(p.a))
    d.log_has(p.a, d.verdict_re(p.b.domain, "refused") + r".*bogus",
              "bc.test refused, the TLSA answer named bogus")


def case_insecure(lab, p):
    rc, n, ad = lab.query(d.tlsa_owner(p) + ".", 52)
    check(rc == 0 and n > 0 and not ad, "lab: the TLSA record in insecure.test. comes without AD",
          (rc, n, ad))
    d.deliver_both_ways(p)
    ma = p.a.router.scrape()
    check(ma.get(d.CHECKS, result="proven", prooftype="pkix") > 0,
          "insecure: A counts proven/pkix (the unsigned TLSA record is ignored)",
          d.metrics_summary(p.a))
    check(ma.get(d.CHECKS, result="refused") == 0 and
          ma.get(d.CHECKS, result="proven", prooftype="dane") == 0,
          "insecure: no refusal and no DANE proof from unsigned data", d.metrics_summary(p.a))
    d.log_has(p.a, d.verdict_re(p.b.domain, "proven") + r".*PKIX",
              "x.insecure.test proven by PKIX")


def case_strict(lab, p):
    rc, n, ad = lab.query("_xmpp-server._tcp.y.insecure.test.", 33)
    check(rc == 0 and n > 0 and not ad, "lab: y.insecure.test's SRV comes without AD", (rc, n, ad))
    ma = refused_common(p, d.BUG_REFUSED_NONE)
    check(ma.get(d.CHECKS, result="refused") > 0,
          "insecure-strict: A counts a refusal (DANE not applicable, dialback not allowed)",
          d.metrics_summary(p.a))
    d.log_has(p.a, r" out: " + d.verdict_re(p.b.domain, "refused"),
              "outbound y.insecure.test refused")
    d.log_has(p.a, r" in: " + d.verdict_re(p.b.domain, "refused"),
              "inbound y.insecure.test refused")


def scenario(env):
    d.skip_unless_tools()
    pairs = plan(env)
    lab = d.DnssecLab(env, [r for p in pairs for r in p.records])
    for p in pairs:
        d.start_pair(env, p, lab.addr)
    bogus, btlsa, ins, strict = pairs
    cases = h.Cases()
    cases.run("bogus: domain under bogus.test.", case_bogus, lab, bogus)
    cases.run("bogus-tlsa: TLSA name is a CNAME into bogus.test.", case_bogus_tlsa, lab, btlsa)
    cases.run("insecure: TLSA in unsigned insecure.test., default policy", case_insecure, lab, ins)
    cases.run("insecure-strict: dane-only policy, no dialback", case_strict, lab, strict)
    cases.finish()


if __name__ == "__main__":
    h.run(scenario)
