#!/usr/bin/python3
"""integ_dna_posh_hostile: POSH edge cases end to end (sibling of integ_dna_posh: same set-up, one
router pair per case, B serves a tenant domain under a CA certificate naming only b-<tag>.test,
nginx on 127.0.0.1 serves the tenants' POSH documents, DNSSEC lab as resolver, SRV only).
  untrusted tu.test's POSH document is right (it lists B's certificate) but nginx serves it with
            a self-signed HTTPS certificate that A's s2s.ca_file does not trust. RFC 7711: the
            HTTPS certificate is the trust bootstrap, nothing it serves may be used. A's policy:
            prooftypes = ["posh"], dialback_without_proof = false, on_failure = "refuse".
            Asserts: a stanza each way bounces to its sender and is not delivered; A counts a
            refusal, nothing proven, no dialback; A authenticated nothing inbound from tu.test;
            A logs the refusal.
  redirect  https://tr.test/.well-known/posh/xmpp-server.json answers 302 to
            https://posh-host.test:PORT/docs/tr.json, another host (with its own valid HTTPS
            certificate) that serves a document listing B's certificate. Same posh-only policy.
            ACCEPTED by design: RFC 7711 restricts a redirect only to https (the delegation to a
            hosting provider is what POSH is for; router/posh_fetch.h "Other domains"), and each
            hop's certificate is verified for that hop's host. Asserts: delivered both ways;
            A counts proven/posh; nginx saw the 302 on tr.test and the 200 on posh-host.test;
            A logs the document found at posh-host.test and "domain tr.test: proven".
  fallback  tf.test's document lists another certificate, and A has the DEFAULT policy (PKIX,
            DANE, POSH; dialback allowed; on failure dialback). A POSH failure is not fatal
            there: dialback decides. Asserts: delivered both ways; A counts
            domain_checks_total{dialback,none} and nothing proven or refused; A accepted tf.test
            inbound by dialback, B answered A's db:verify; A logs "domain tf.test: not proven,
            dialback decides".
  down      td.test's A record points at 127.0.0.9, where nothing listens on the POSH port. Same
            posh-only policy, which needs a proof: an unreachable document server is a temporary
            failure, not a refusal. Asserts: both ways bounce, A's outbound bounce is
            remote-server-timeout; A counts domain_checks_total{tempfail}, nothing proven,
            nothing refused.
  private   tp.test's document is right, but A keeps s2s.posh_private_addresses = false (the
            default): nginx is on 127.0.0.1, a non-global address a peer must not make A
            connect to. Asserts: refused or temporarily failed both ways, nothing proven, nginx
            served nothing for tp.test, A logs the skipped address.
"untrusted" is also the regression test of a router bug fixed in 130dc4c: a REFUSED verdict
without a prooftype was cached as "dialback decides", so B's db:result passed by dialback and
tu.test -> A was delivered.
Exit 0 pass, 1 fail, 77 when knotd/unbound/nginx/openssl are missing."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnalab as d  # noqa: E402
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def case_untrusted(p, nginx):
    a, b = p.a, p.b
    conds = d.refused_both_ways(p, note=d.BUG_REFUSED_NONE)
    h.log("       bounce conditions: %r" % (conds,))
    ma = a.router.scrape()
    check(ma.get(d.CHECKS, result="refused") > 0, "untrusted: A counts a refusal",
          d.metrics_summary(a))
    check(ma.get(d.CHECKS, result="proven") == 0 and ma.get(d.CHECKS, result="dialback") == 0,
          "untrusted: nothing proven, no dialback decided", d.metrics_summary(a))
    check(ma.get(d.AUTH, direction="in") == 0,
          "untrusted: A authenticated no inbound stream from tu.test",
          ma.get(d.AUTH, direction="in"))
    check(len(d.posh_fetches(nginx, "tu.test")) == 0,
          "untrusted: no document was served (A gave up in the TLS handshake)",
          nginx.access_log())
    d.log_has(a, r"posh tu\.test: .*(certificate|verif)",
              "the POSH fetch of tu.test failed on its HTTPS certificate")
    d.log_has(a, r" out: " + d.verdict_re("tu.test", "refused"), "outbound tu.test refused")
    d.log_has(a, r" in: " + d.verdict_re("tu.test", "refused"), "inbound tu.test refused")


def case_redirect(p, nginx):
    a = p.a
    d.deliver_both_ways(p)
    ma = a.router.scrape()
    check(ma.get(d.CHECKS, result="proven", prooftype="posh") > 0,
          "redirect: A counts domain_checks_total{proven,posh}", d.metrics_summary(a))
    check(ma.get(d.CHECKS, result="refused") == 0, "redirect: A refused nothing",
          d.metrics_summary(a))
    log = nginx.access_log().splitlines()
    check(any(ln.startswith("tr.test " + d.POSH_PATH + " 302") for ln in log) and
          any(ln.startswith("posh-host.test /docs/tr.json 200") for ln in log),
          "redirect: nginx answered tr.test with 302 and served the document on posh-host.test",
          log)
    d.log_has(a, r"posh tr\.test: found at https://posh-host\.test:",
              "tr.test's document found at posh-host.test")
    d.log_has(a, r" out: " + d.verdict_re("tr.test", "proven") + r".*POSH",
              "outbound tr.test proven by POSH")
    d.log_has(a, r" in: " + d.verdict_re("tr.test", "proven") + r".*POSH",
              "inbound tr.test proven by POSH")


def case_fallback(p, nginx):
    a, b = p.a, p.b
    d.deliver_both_ways(p)
    ma, mb = a.router.scrape(), b.router.scrape()
    check(ma.get(d.CHECKS, result="dialback", prooftype="none") > 0,
          "fallback: A counts domain_checks_total{dialback,none}", d.metrics_summary(a))
    check(ma.get(d.CHECKS, result="proven") == 0 and ma.get(d.CHECKS, result="refused") == 0,
          "fallback: nothing proven (wrong fingerprint, PKIX name mismatch), nothing refused",
          d.metrics_summary(a))
    check(ma.get(d.AUTH, direction="in", mechanism="dialback") >= 1,
          "fallback: A accepted tf.test inbound by dialback", ma.get(d.AUTH, direction="in"))
    check(mb.get("fedrouter_dialback_verify_answered_total") >= 1,
          "fallback: B answered A's db:verify (real dialback, not optimized)",
          mb.get("fedrouter_dialback_verify_answered_total"))
    check(len(d.posh_fetches(nginx, "tf.test")) > 0, "fallback: A fetched tf.test's document",
          nginx.access_log())
    d.log_has(a, d.verdict_re("tf.test", "not proven, dialback decides") + r".*POSH",
              "tf.test not proven, dialback decides (POSH reason given)")


def case_down(p, nginx):
    a = p.a
    conds = d.refused_both_ways(p)
    h.log("       bounce conditions: %r" % (conds,))
    check(conds[0] is not None and conds[0][0] == "remote-server-timeout",
          "down: A's stanza to td.test bounced remote-server-timeout (try later)", conds)
    ma = a.router.scrape()
    check(ma.get(d.CHECKS, result="tempfail") > 0, "down: A counts a temporary failure",
          d.metrics_summary(a))
    check(ma.get(d.CHECKS, result="proven") == 0 and ma.get(d.CHECKS, result="refused") == 0,
          "down: nothing proven, nothing refused", d.metrics_summary(a))
    d.log_has(a, d.verdict_re("td.test", "temporary failure"), "td.test: temporary failure")


def case_private(p, nginx):
    a = p.a
    conds = d.refused_both_ways(p)
    h.log("       bounce conditions: %r" % (conds,))
    ma = a.router.scrape()
    check(ma.get(d.CHECKS, result="proven") == 0, "private: nothing proven", d.metrics_summary(a))
    check(ma.get(d.CHECKS, result="refused") + ma.get(d.CHECKS, result="tempfail") > 0,
          "private: A refused tp.test", d.metrics_summary(a))
    check(len(d.posh_fetches(nginx, "tp.test")) == 0,
          "private: A never connected to the loopback POSH server", nginx.access_log())
    d.log_has(a, r"non-global address\(es\) of a POSH host skipped",
              "the loopback address of tp.test was skipped")


def scenario(env):
    d.skip_unless_tools()
    ca = env.ca()
    unt = d.plan_posh_pair(env, "untrusted", "tu.test")
    red = d.plan_posh_pair(env, "redirect", "tr.test")
    fb = d.plan_posh_pair(env, "fallback", "tf.test", a_policy=None)
    down = d.plan_posh_pair(env, "down", "td.test", https_ip="127.0.0.9")
    priv = d.plan_posh_pair(env, "private", "tp.test")
    priv.a_s2s["posh_private_addresses"] = False  # the default; start_posh_pairs keeps it
    other = ca.issue("other", ["other.test"])
    port = env.free_port(("127.0.0.1",))
    untrusted_https = d.self_signed(env, "https-untrusted", ["tu.test"])
    check(not ca.verify(untrusted_https), "untrusted: tu.test's HTTPS certificate is not from A's CA")
    redirect_body = ("    location = %s { return 302 https://posh-host.test:%d/docs/tr.json; }\n" %
                     (d.POSH_PATH, port))
    nginx = d.Nginx(env, "127.0.0.1", port, [
        ("tu.test", untrusted_https, None),
        ("tr.test", ca.issue("https-redirect", ["tr.test"]), redirect_body),
        ("posh-host.test", ca.issue("https-poshhost", ["posh-host.test"]), None),
        ("tf.test", ca.issue("https-fallback", ["tf.test"]), None),
        ("tp.test", ca.issue("https-private", ["tp.test"]), None),
    ])
    nginx.put("tu.test", d.POSH_PATH, d.posh_doc(d.cert_sha256_b64(unt.b.cert.cert)))
    nginx.put("posh-host.test", "/docs/tr.json", d.posh_doc(d.cert_sha256_b64(red.b.cert.cert)))
    nginx.put("tf.test", d.POSH_PATH, d.posh_doc(d.cert_sha256_b64(other.cert)))
    nginx.put("tp.test", d.POSH_PATH, d.posh_doc(d.cert_sha256_b64(priv.b.cert.cert)))
    nginx.start()
    d.start_posh_pairs(env, (unt, red, fb, down, priv), port,
                       ["posh-host.test. 60 IN A 127.0.0.1"])
    cases = h.Cases()
    cases.run("untrusted: POSH over an HTTPS certificate A does not trust", case_untrusted, unt,
              nginx)
    cases.run("redirect: 302 to another host serving a valid document", case_redirect, red, nginx)
    cases.run("fallback: default policy, POSH mismatch -> dialback", case_fallback, fb, nginx)
    cases.run("down: POSH server unreachable under a posh-only policy -> tempfail", case_down,
              down, nginx)
    cases.run("private: POSH server on a loopback address, not allowed -> refused", case_private,
              priv, nginx)
    cases.finish()


if __name__ == "__main__":
    h.run(scenario)
