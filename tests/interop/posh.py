#!/usr/bin/python3
"""interop_posh (scenario 5): a domain delegated to another server's certificate by a POSH
document (RFC 7711), with fedrouter as the verifying side.

pposh.test is hosted by Prosody, which presents p1.test's certificate for it (from the test CA,
but it does not name pposh.test). The lab's nginx (frio-web) serves
https://pposh.test/.well-known/posh/xmpp-server.json listing that certificate's SHA-256, over a
test-CA certificate for pposh.test; _xmpp-server._tcp.pposh.test points at Prosody. fedrouter's
policy for pposh.test is POSH only, no dialback without proof.

  a. fedrouter initiates: t1.test -> u@pposh.test (outbound: POSH proves the peer), then the
     client answers;
  b. Prosody initiates: u@pposh.test -> bob@t2.test (inbound: fedrouter offers SASL EXTERNAL once
     POSH proves pposh.test).

Why not the other direction (a fedrouter tenant delegated to fedrouter's host, verified by
Prosody): Prosody 0.12 verifies POSH only with the community module mod_s2s_auth_posh, which
Debian's prosody-modules package does not ship. The lab still serves tposh.test's document (it
lists fedrouter's tenant certificate); the integration test integ_dna_posh covers that direction
between two fedrouters."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
import harness as h  # noqa: E402
from lab import check, log  # noqa: E402

POSH_ONLY = {"prooftypes": ["posh"], "dialback_without_proof": False, "on_failure": "refuse"}


def scenario(env):
    st = lab.state()
    if not st.get("web"):
        raise h.Skip("the lab's POSH web server (nginx) is not running")
    rc, an, ad = lab.dns_query_ad("_xmpp-server._tcp.pposh.test.", h.DNS_SRV)
    check(rc == 0 and an == 1, "pposh.test's SRV points at Prosody", (rc, an, ad))

    fcrt, fkey = st["certs"]["fedrouter"]
    doms = ["t1.test", "t2.test"]
    # The lab's web server is on 10.77.0.30, a private address: allowed here explicitly.
    router, sites = lab.start_router(env, doms, [(fcrt, fkey, doms)],
                                     s2s={"posh_private_addresses": True},
                                     policies=[dict(POSH_ONLY, domain="pposh.test")])
    pros = lab.Prosody(env, ["pposh.test"], secure_auth=True)
    env.procs.append(pros)
    pros.start()
    xc = lab.XClient(env, ["u@pposh.test"])
    env.procs.append(xc)
    xc.start()

    log("a. fedrouter initiates (t1.test -> pposh.test), POSH proves the peer")
    lab.comp_to_client(xc, sites, [("t1.test", "u@pposh.test")], "5a-out")
    lab.client_to_comp(xc, sites, [("u@pposh.test", "t1.test")], "5a-back")

    log("b. Prosody initiates (pposh.test -> t2.test), POSH proves the initiator")
    lab.client_to_comp(xc, sites, [("u@pposh.test", "t2.test")], "5b-in")
    lab.comp_to_client(xc, sites, [("t2.test", "u@pposh.test")], "5b-back")

    m = router.scrape()
    C = "fedrouter_domain_checks_total"
    A = "fedrouter_s2s_auth_total"
    lab.log_connection_counts(m)
    log("fedrouter: checks proven/posh=%g refused=%g dialback=%g; auth in/external=%g "
        "dialback=%g" % (
            m.get(C, result="proven", prooftype="posh"), m.get(C, result="refused"),
            m.get(C, result="dialback"), m.get(A, direction="in", mechanism="external"),
            m.get(A, mechanism="dialback")))
    check(m.get(C, result="proven", prooftype="posh") >= 1,
          "POSH proved pposh.test", m.get(C, result="proven"))
    check(m.get(C, result="proven", prooftype="pkix") == 0,
          "PKIX proved nothing (the certificate names p1.test)")
    check(m.get(A, direction="in", mechanism="external") >= 1,
          "fedrouter accepted SASL EXTERNAL for pposh.test (POSH-proven)", m.get(A, direction="in"))
    check(m.get(A, mechanism="dialback", direction="in") +
          m.get(A, mechanism="dialback_optimized", direction="in") == 0,
          "no inbound dialback (optimized or not): nothing but POSH let pposh.test in")
    check("https://pposh.test/.well-known/posh/xmpp-server.json" in router.log_text(),
          "fedrouter logged the POSH document it used")
    lab.summarize(pros, "POSH")


if __name__ == "__main__":
    lab.main(scenario)
