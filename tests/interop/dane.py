#!/usr/bin/python3
"""interop_dane (scenario 4): Prosody's pdane.test proven by DANE (TLSA under DNSSEC), its
certificate self-signed, not from the test CA.

The lab publishes _xmpp-server._tcp.pdane.test SRV -> dane.prosody.test:5269 and
_5269._tcp.dane.prosody.test TLSA 3 1 1 <SPKI SHA-256 of pdane.test's certificate>, signed by
knot and validated by unbound; pdanebad.test has the same server behind a TLSA record that does
not match. fedrouter uses the lab's validating resolver (s2s.resolver) and the policy for both
domains is DANE only, no dialback without proof: only DANE can let them in.

  a. fedrouter initiates: t1.test -> u@pdane.test (outbound: TLSA of the SRV target it connects
     to), then the client answers;
  b. Prosody initiates: u@pdane.test -> bob@t2.test (inbound: fedrouter looks up pdane.test's SRV
     and the TLSA of its secure target, and offers SASL EXTERNAL once DANE proves it);
  c. hostile: t1.test -> u@pdanebad.test: the TLSA record does not match the certificate, so the
     stream is refused and the stanza bounces; the certificate would not pass PKIX either, and no
     dialback is tried.

Asserts delivery both ways, the bounce, fedrouter's domain_checks_total{prooftype="dane"} for
proven and refused, SASL EXTERNAL inbound, and no dialback."""

import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
import netlab  # noqa: E402
import harness as h  # noqa: E402
from lab import check, log  # noqa: E402

DNS_TLSA = 52
DANE_ONLY = {"prooftypes": ["dane"], "dialback_without_proof": False, "on_failure": "refuse"}


def scenario(env):
    st = lab.state()
    rc, an, ad = lab.dns_query_ad("_5269._tcp.dane.prosody.test.", DNS_TLSA)
    check(rc == 0 and an == 1 and ad, "TLSA for dane.prosody.test:5269 answered, DNSSEC-validated",
          (rc, an, ad))
    crt = st["certs"]["pdane.test"][0]
    p = subprocess.run(["openssl", "verify", "-CAfile", st["ca"], crt], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    check(p.returncode != 0, "pdane.test's certificate does not chain to the test CA")

    fcrt, fkey = st["certs"]["fedrouter"]
    doms = ["t1.test", "t2.test"]
    policies = [dict(DANE_ONLY, domain="pdane.test"), dict(DANE_ONLY, domain="pdanebad.test")]
    router, sites = lab.start_router(env, doms, [(fcrt, fkey, doms)],
                                     s2s={"resolver": "10.77.0.2:53"}, policies=policies)
    pros = lab.Prosody(env, ["pdane.test", "pdanebad.test"], secure_auth=True)
    env.procs.append(pros)
    pros.start()
    # The client logs in to Prosody as u@pdane.test: it trusts the self-signed certificate too.
    ca = env.path("client-ca.pem")
    with open(ca, "w") as f:
        f.write(open(st["ca"]).read() + open(crt).read())
    xc = lab.XClient(env, ["u@pdane.test"], ca=ca)
    env.procs.append(xc)
    xc.start()

    log("a. fedrouter initiates (t1.test -> pdane.test), DANE at the SRV target")
    lab.comp_to_client(xc, sites, [("t1.test", "u@pdane.test")], "4a-out")
    lab.client_to_comp(xc, sites, [("u@pdane.test", "t1.test")], "4a-back")

    log("b. Prosody initiates (pdane.test -> t2.test), DANE for the initiator")
    lab.client_to_comp(xc, sites, [("u@pdane.test", "t2.test")], "4b-in")
    lab.comp_to_client(xc, sites, [("t2.test", "u@pdane.test")], "4b-back")

    log("c. hostile: t1.test -> pdanebad.test, TLSA does not match")
    comp = sites["t1.test"].comp
    comp.message("bob@t1.test/c", "u@pdanebad.test", "must bounce", id="4c-bad", type="chat")
    e = comp.wait_for(h.by_id("4c-bad"), 20)
    check(e is not None and e.get("type") == "error",
          "the stanza for pdanebad.test bounced with an error", e)
    cond = h.stanza_error_condition(e)[0] if e is not None else None
    check(cond == "remote-server-not-found", "bounce condition remote-server-not-found", cond)

    m = router.scrape()
    C = "fedrouter_domain_checks_total"
    A = "fedrouter_s2s_auth_total"
    lab.log_connection_counts(m)
    log("fedrouter: checks proven/dane=%g refused/dane=%g dialback=%g; auth in/external=%g "
        "out/external=%g dialback=%g" % (
            m.get(C, result="proven", prooftype="dane"), m.get(C, result="refused", prooftype="dane"),
            m.get(C, result="dialback"), m.get(A, direction="in", mechanism="external"),
            m.get(A, direction="out", mechanism="external"), m.get(A, mechanism="dialback")))
    check(m.get(C, result="proven", prooftype="dane") >= 2,
          "DANE proved pdane.test outbound and inbound",
          m.get(C, result="proven", prooftype="dane"))
    check(m.get(C, result="refused", prooftype="dane") >= 1,
          "DANE refused pdanebad.test (TLSA mismatch)", m.get(C, result="refused"))
    check(m.get(C, result="proven", prooftype="pkix") == 0, "PKIX proved nothing (self-signed)")
    check(m.get(A, direction="in", mechanism="external") >= 1,
          "fedrouter offered and accepted SASL EXTERNAL for pdane.test (DANE-proven)",
          m.get(A, direction="in"))
    check(m.get(A, mechanism="dialback", direction="in") +
          m.get(A, mechanism="dialback_optimized", direction="in") == 0,
          "no inbound dialback (optimized or not): nothing but DANE let pdane.test in")
    check("domain pdanebad.test: refused (DANE" in router.log_text(),
          "fedrouter logged the DANE refusal of pdanebad.test")
    lab.summarize(pros, "DANE")


if __name__ == "__main__":
    lab.main(scenario)
