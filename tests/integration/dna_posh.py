#!/usr/bin/python3
"""integ_dna_posh: POSH (RFC 7711 / RFC 7712) end to end between real fedrouter processes.

Each case has its own router A (a-<tag>.test, CA certificate) and router B, found through SRV
records served by the DNSSEC lab (both routers' s2s.resolver, no static routes). B serves a
tenant domain with a certificate from the test CA that names only b-<tag>.test, so PKIX cannot
prove the tenant. A real nginx on 127.0.0.1 serves https://<tenant>:PORT/.well-known/posh/
xmpp-server.json (A's s2s.posh_port = PORT, HTTPS trust = A's s2s.ca_file, each tenant's HTTPS
certificate from the same test CA). A's policy for every tenant here:
prooftypes = ["posh"], dialback_without_proof = false, on_failure = "refuse".
  good     t.test's document lists the SHA-256 of B's certificate (base64, expires 3600).
           Asserts: stanzas delivered both ways, nothing bounced; A counts
           domain_checks_total{proven,posh}, refuses nothing; A fetched the document (nginx access
           log); A logs "domain t.test: proven (...)" naming POSH for outbound and inbound.
  wrong-fp tw.test's document lists another certificate's fingerprint. Asserts: a stanza each
           way bounces to its sender and is not delivered; A counts refused/posh, nothing proven,
           no dialback; A authenticated nothing inbound from tw.test; A logs the refusal.
  expired  te.test's document is {"fingerprints":[...B's...],"expires":0}: an expired document
           is no POSH material; with dialback not allowed -> refused both ways as above (A counts
           a refusal, nothing proven).
"expired" is also the regression test of a router bug fixed in 130dc4c: a REFUSED verdict
without a prooftype was cached as "dialback decides", so B's db:result passed by dialback and
te.test -> A was delivered.
Exit 0 pass, 1 fail, 77 when knotd/unbound/nginx/openssl are missing."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnalab as d  # noqa: E402
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def refused(p, nginx, prooftype):
    a, b = p.a, p.b
    conds = d.refused_both_ways(p, note=d.BUG_REFUSED_NONE if prooftype is None else None)
    h.log("       bounce conditions: %r" % (conds,))
    check(len(d.posh_fetches(nginx, p.tenant)) > 0, "%s: A fetched %s's POSH document" %
          (p.tag, p.tenant), nginx.access_log())
    ma = a.router.scrape()
    if prooftype is not None:
        check(ma.get(d.CHECKS, result="refused", prooftype=prooftype) > 0,
              "%s: A counts domain_checks_total{refused,%s}" % (p.tag, prooftype),
              d.metrics_summary(a))
    else:
        check(ma.get(d.CHECKS, result="refused") > 0, "%s: A counts a refusal" % p.tag,
              d.metrics_summary(a))
    check(ma.get(d.CHECKS, result="proven") == 0 and ma.get(d.CHECKS, result="dialback") == 0,
          "%s: nothing proven, no dialback decided for %s" % (p.tag, b.domain),
          d.metrics_summary(a))
    check(ma.get(d.AUTH, direction="in") == 0,
          "%s: A authenticated no inbound stream from %s" % (p.tag, b.domain),
          ma.get(d.AUTH, direction="in"))
    d.log_has(a, r" out: " + d.verdict_re(b.domain, "refused"),
              "%s: outbound %s refused" % (p.tag, b.domain))
    d.log_has(a, r" in: " + d.verdict_re(b.domain, "refused"),
              "%s: inbound %s refused" % (p.tag, b.domain))


def case_good(p, nginx):
    a, b = p.a, p.b
    check(p.tenant not in b.cert.domains and env_ca.verify(b.cert, "sslserver"),
          "good: B's certificate is PKIX-valid but does not name %s" % p.tenant, b.cert.domains)
    d.deliver_both_ways(p)
    ma = a.router.scrape()
    check(ma.get(d.CHECKS, result="proven", prooftype="posh") > 0,
          "good: A counts domain_checks_total{proven,posh}", d.metrics_summary(a))
    check(ma.get(d.CHECKS, result="refused") == 0 and ma.get(d.CHECKS, result="tempfail") == 0,
          "good: A refused nothing", d.metrics_summary(a))
    check(len(d.posh_fetches(nginx, p.tenant)) > 0, "good: A fetched t.test's POSH document",
          nginx.access_log())
    d.log_has(a, r" out: " + d.verdict_re(p.tenant, "proven") + r".*POSH",
              "outbound t.test proven by POSH")
    d.log_has(a, r" in: " + d.verdict_re(p.tenant, "proven") + r".*POSH",
              "inbound t.test proven by POSH")


env_ca = None


def scenario(env):
    global env_ca
    d.skip_unless_tools()
    ca = env_ca = env.ca()
    good = d.plan_posh_pair(env, "good", "t.test")
    wrong = d.plan_posh_pair(env, "wrongfp", "tw.test")
    expired = d.plan_posh_pair(env, "expired", "te.test")
    other = ca.issue("other", ["other.test"])
    port = env.free_port(("127.0.0.1",))
    nginx = d.Nginx(env, "127.0.0.1", port,
                    [(p.tenant, ca.issue("https-" + p.tag, [p.tenant]), None)
                     for p in (good, wrong, expired)])
    nginx.put("t.test", d.POSH_PATH, d.posh_doc(d.cert_sha256_b64(good.b.cert.cert)))
    nginx.put("tw.test", d.POSH_PATH, d.posh_doc(d.cert_sha256_b64(other.cert)))
    nginx.put("te.test", d.POSH_PATH, d.posh_doc(d.cert_sha256_b64(expired.b.cert.cert), 0))
    nginx.start()
    d.start_posh_pairs(env, (good, wrong, expired), port)
    cases = h.Cases()
    cases.run("good: document lists B's certificate", case_good, good, nginx)
    cases.run("wrong-fp: document lists another certificate", refused, wrong, nginx, "posh")
    cases.run("expired: expires 0 is no material, dialback not allowed", refused, expired, nginx,
              None)
    cases.finish()


if __name__ == "__main__":
    h.run(scenario)
