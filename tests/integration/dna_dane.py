#!/usr/bin/python3
"""integ_dna_dane: DANE (RFC 7673 / RFC 7712) end to end between real fedrouter processes.

The DNSSEC lab (knotd signs test., a validating unbound in front) is both routers' s2s.resolver;
there are no static routes: each domain has a DNSSEC-secure SRV record to its host. Three cases
run side by side, each with its own router A (a-<tag>.test, certificate from the test CA) and
router B:
  good     B serves b.test with a SELF-SIGNED certificate (no trust store knows it) and the lab
           holds "TLSA 3 1 1 <SPKI SHA-256>" at B's SRV target. A's policy for b.test:
           prooftypes = ["dane"], dialback_without_proof = false, on_failure = "refuse".
           Asserts: stanzas A -> B and B -> A delivered, nothing bounced; A counts
           domain_checks_total{result="proven",prooftype="dane"} and refuses nothing; inbound
           from B, A offered and accepted SASL EXTERNAL or answered db:result valid without
           db:verify (dialback optimized, no verification connection, B answered no db:verify);
           A logs "domain b.test: proven (...)" naming DANE for its outbound and inbound checks.
  digest   B serves bw.test with a certificate from A's own CA that names bw.test (PKIX-valid)
           and the TLSA 3 1 1 record has a wrong digest. A keeps its DEFAULT policy (PKIX, DANE,
           POSH; dialback allowed; on failure dialback). DANE is authoritative: usable TLSA
           records that do not match refuse the peer, PKIX and dialback must not rescue it.
           Asserts: a stanza each way bounces back to its sender with an error and is not
           delivered; A counts refused/dane, nothing proven; A never authenticated bw.test
           inbound; A logs "domain bw.test: refused (...)" with the DANE reason.
  selector the same with "TLSA 3 0 1 <SPKI SHA-256>": selector 0 (whole certificate) with the
           digest of the key: a usable record that does not match -> refused as above.
  ta       DANE-TA: B's certificate for bta.test comes from a PRIVATE CA that A does not trust;
           B sends leaf + CA, and "TLSA 2 0 1 <private CA SHA-256>" is at B's SRV target. A's
           policy: dane only, as for "good". Asserts: delivered both ways, proven/dane, the
           "proven" log line.
  ta-name  the same private CA and TLSA 2 0 1, but the leaf names only other.test: DANE-TA
           requires the leaf to name the domain (RFC 7673 §3: the domain or the SRV target), so
           usable records do not match -> refused both ways, refused/dane, as "digest".
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
    good = d.plan_pair(env, "good", "b.test", d.self_signed(env, "b-selfsigned", ["b.test"]),
                       a_policy=DANE_ONLY)
    check(not ca.verify(good.b.cert), "good: B's self-signed certificate is not valid under A's CA")
    good.records.append("%s. 60 IN TLSA 3 1 1 %s" % (d.tlsa_owner(good),
                                                    d.spki_sha256_hex(good.b.cert.cert)))

    digest = d.plan_pair(env, "digest", "bw.test", ca.issue("bw", ["bw.test"]))
    check(ca.verify(digest.b.cert, "sslserver"),
          "digest: B's certificate for bw.test IS valid by PKIX under A's CA")
    digest.records.append("%s. 60 IN TLSA 3 1 1 %s" % (
        d.tlsa_owner(digest), d.flip_hex(d.spki_sha256_hex(digest.b.cert.cert))))

    sel = d.plan_pair(env, "selector", "bs.test", ca.issue("bs", ["bs.test"]))
    check(d.spki_sha256_hex(sel.b.cert.cert) != d.cert_sha256_hex(sel.b.cert.cert),
          "selector: SPKI and certificate digests differ")
    sel.records.append("%s. 60 IN TLSA 3 0 1 %s" % (d.tlsa_owner(sel),
                                                   d.spki_sha256_hex(sel.b.cert.cert)))
    priv = h.CA(env, "private-ca")
    check(not ca.verify(priv.issue("probe", ["probe.test"])),
          "the private CA is not in A's trust store")
    pairs = []
    for tag, dom, names in (("ta", "bta.test", ["bta.test"]),
                            ("ta-name", "btn.test", ["other.test"])):
        leaf = priv.issue("leaf-" + tag, names)
        cert = h.Cert(h.concat_pem(env, tag + "-chain.pem", leaf.cert, priv.cert), leaf.key, names)
        p = d.plan_pair(env, tag, dom, cert, a_policy=DANE_ONLY)
        p.records.append("%s. 60 IN TLSA 2 0 1 %s" % (d.tlsa_owner(p), d.cert_sha256_hex(priv.cert)))
        pairs.append(p)
    return [good, digest, sel] + pairs


def case_good(lab, p):
    a, b = p.a, p.b
    d.expect_secure(lab, "_xmpp-server._tcp.b.test.", 33, "b.test's SRV")
    d.expect_secure(lab, d.tlsa_owner(p) + ".", 52, "the TLSA 3 1 1 record at B's SRV target")
    d.deliver_both_ways(p)
    ma, mb = a.router.scrape(), b.router.scrape()
    check(ma.get(d.CHECKS, result="proven", prooftype="dane") > 0,
          "good: A counts domain_checks_total{proven,dane}", d.metrics_summary(a))
    check(ma.get(d.CHECKS, result="refused") == 0 and ma.get(d.CHECKS, result="tempfail") == 0,
          "good: A refused nothing", d.metrics_summary(a))
    ext_in = ma.get(d.AUTH, direction="in", mechanism="external")
    optimized = ma.get("fedrouter_dialback_optimized_total")
    check(ext_in >= 1 or (optimized >= 1 and
                          ma.get("fedrouter_verification_connections_total") == 0 and
                          mb.get("fedrouter_dialback_verify_answered_total") == 0),
          "good: inbound b.test accepted by SASL EXTERNAL or db:result valid without db:verify",
          "external in %s, dialback optimized %s" % (ext_in, optimized))
    check(mb.get(d.AUTH, direction="out") >= 1, "good: B authenticated its outbound stream")
    d.log_has(a, r" out: " + d.verdict_re("b.test", "proven") + r".*DANE",
              "outbound: b.test proven by DANE")
    d.log_has(a, r" in: " + d.verdict_re("b.test", "proven") + r".*DANE",
              "inbound: b.test proven by DANE")


def case_ta(lab, p):
    d.expect_secure(lab, d.tlsa_owner(p) + ".", 52, "ta: the TLSA 2 0 1 record")
    d.deliver_both_ways(p)
    ma = p.a.router.scrape()
    check(ma.get(d.CHECKS, result="proven", prooftype="dane") > 0,
          "ta: A counts proven/dane (DANE-TA, private CA)", d.metrics_summary(p.a))
    check(ma.get(d.CHECKS, result="refused") == 0, "ta: A refused nothing", d.metrics_summary(p.a))
    d.log_has(p.a, d.verdict_re(p.b.domain, "proven") + r".*DANE", "bta.test proven by DANE")


def case_refused(lab, p, what):
    a, b = p.a, p.b
    d.expect_secure(lab, d.tlsa_owner(p) + ".", 52, "%s: B's TLSA record" % p.tag)
    conds = d.refused_both_ways(p)
    h.log("       bounce conditions: %r" % (conds,))
    ma = a.router.scrape()
    check(ma.get(d.CHECKS, result="refused", prooftype="dane") > 0,
          "%s: A counts domain_checks_total{refused,dane}" % p.tag, d.metrics_summary(a))
    check(ma.get(d.CHECKS, result="proven") == 0 and ma.get(d.CHECKS, result="dialback") == 0,
          "%s: neither PKIX nor dialback rescued %s (%s)" % (p.tag, b.domain, what),
          d.metrics_summary(a))
    check(ma.get(d.AUTH, direction="in") == 0,
          "%s: A authenticated no inbound stream from %s" % (p.tag, b.domain),
          ma.get(d.AUTH, direction="in"))
    check(ma.get(d.AUTH, direction="out") == 0,
          "%s: A authenticated no outbound stream to %s" % (p.tag, b.domain),
          ma.get(d.AUTH, direction="out"))
    d.log_has(a, r" out: " + d.verdict_re(b.domain, "refused") + r".*DANE",
              "%s: outbound %s refused by DANE" % (p.tag, b.domain))
    d.log_has(a, r" in: " + d.verdict_re(b.domain, "refused") + r".*DANE",
              "%s: inbound %s refused by DANE" % (p.tag, b.domain))


def scenario(env):
    d.skip_unless_tools()
    pairs = plan(env)
    records = [r for p in pairs for r in p.records]
    lab = d.DnssecLab(env, records)
    for p in pairs:
        d.start_pair(env, p, lab.addr)
    good, digest, sel, ta, tan = pairs
    cases = h.Cases()
    cases.run("good: TLSA 3 1 1 of a self-signed certificate", case_good, lab, good)
    cases.run("digest: TLSA 3 1 1 with a wrong digest", case_refused, lab, digest,
              "wrong digest")
    cases.run("selector: TLSA 3 0 1 with the key's digest", case_refused, lab, sel,
              "wrong selector")
    cases.run("ta: TLSA 2 0 1 of a private CA", case_ta, lab, ta)
    cases.run("ta-name: TLSA 2 0 1, leaf names another domain", case_refused, lab, tan,
              "DANE-TA leaf without the domain's name")
    cases.finish()


if __name__ == "__main__":
    h.run(scenario)
