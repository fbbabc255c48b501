#!/usr/bin/python3
"""interop_certs (scenario 1): Prosody 0.12 <-> fedrouter with certificates from the test CA on
both sides and s2s_secure_auth = true on Prosody, through the DNSSEC-signed test. zone (SRV).

  a. fedrouter initiates: the t1.test component writes to u@p1.test first, then the client answers;
  b. Prosody initiates: u@p2.test writes to bob@t2.test first, then the component answers;
  c. direct TLS (XEP-0368): ptls.test and ftls.test publish only _xmpps-server records (port
     5270: Prosody's s2s_direct_tls_ports, fedrouter's listen_tls); messages both ways.

Asserts delivery both ways in each part, SASL EXTERNAL on every stream in both directions (fedrouter
/metrics and Prosody's log), no dialback, and that the direct-TLS streams really were direct TLS."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check, log  # noqa: E402


def scenario(env):
    st = lab.state()
    crt, key = st["certs"]["fedrouter"]
    doms = ["t1.test", "t2.test", "ftls.test"]
    router, sites = lab.start_router(env, doms, [(crt, key, doms)])
    pros = lab.Prosody(env, ["p1.test", "p2.test", "ptls.test"], secure_auth=True)
    env.procs.append(pros)
    pros.start()
    xc = lab.XClient(env, ["u@p1.test", "u@p2.test", "u@ptls.test"])
    env.procs.append(xc)
    xc.start()

    log("a. fedrouter initiates (t1.test -> p1.test)")
    lab.comp_to_client(xc, sites, [("t1.test", "u@p1.test")], "1a-out")
    lab.client_to_comp(xc, sites, [("u@p1.test", "t1.test")], "1a-back")
    lab.comp_to_client(xc, sites, [("t1.test", "u@p1.test")] * 3, "1a-more")

    log("b. Prosody initiates (p2.test -> t2.test)")
    lab.client_to_comp(xc, sites, [("u@p2.test", "t2.test")], "1b-out")
    lab.comp_to_client(xc, sites, [("t2.test", "u@p2.test")], "1b-back")

    log("c. direct TLS (XEP-0368): Prosody initiates ptls.test -> ftls.test, then fedrouter")
    lab.client_to_comp(xc, sites, [("u@ptls.test", "ftls.test")], "1c-in")
    lab.comp_to_client(xc, sites, [("ftls.test", "u@ptls.test")], "1c-out")

    m = router.scrape()
    A = "fedrouter_s2s_auth_total"
    log("fedrouter: auth in/external=%g out/external=%g dialback=%g tls in=%g out=%g "
        "connects in=%g out=%g bounces=%g" % (
            m.get(A, direction="in", mechanism="external"),
            m.get(A, direction="out", mechanism="external"), m.get(A, mechanism="dialback"),
            m.get("fedrouter_tls_handshakes_total", direction="in"),
            m.get("fedrouter_tls_handshakes_total", direction="out"),
            m.get("fedrouter_tcp_connects_total", direction="in"),
            m.get("fedrouter_tcp_connects_total", direction="out"),
            m.get("fedrouter_bounces_total")))
    # Prosody initiated p2->t2 and ptls->ftls (direct TLS); fedrouter t1->p1, t2->p2 and
    # ftls->ptls (direct TLS). p1->t1 rides fedrouter's t1->p1 stream: fedrouter sends <bidi/>
    # when Prosody offers it (XEP-0288).
    check(m.get(A, direction="in", mechanism="external") >= 2,
          "fedrouter authenticated Prosody's streams (p2->t2, ptls->ftls) by SASL EXTERNAL",
          m.get(A, direction="in"))
    check(m.get(A, direction="out", mechanism="external") >= 3,
          "fedrouter authenticated its streams to p1, p2 and ptls by SASL EXTERNAL",
          m.get(A, direction="out"))
    check(m.get("fedrouter_tls_handshakes_total", direction="in") >= 2 and
          m.get("fedrouter_tls_handshakes_total", direction="out") >= 3,
          "TLS handshakes in both directions")
    db = m.get(A, mechanism="dialback") + m.get(A, mechanism="dialback_optimized")
    check(db == 0, "no dialback anywhere (optimized or not)", db)
    check(m.get("fedrouter_bounces_total") == 0, "no bounces")

    sess = lab.summarize(pros, "certificates")
    ins = [s for s in sess if s["kind"] == "s2sin"]
    outs = [s for s in sess if s["kind"] == "s2sout"]
    check(ins and all("external" in s["auth"] for s in ins if s["authenticated"]),
          "Prosody: every authenticated inbound stream used SASL EXTERNAL",
          [(s["id"], s["auth"]) for s in ins])
    check(outs and all("external" in s["auth"] for s in outs if s["authenticated"]),
          "Prosody: every authenticated outbound stream used SASL EXTERNAL",
          [(s["id"], s["auth"]) for s in outs])
    offered = [f for s in ins for d, f in s["features"] if d == "sent"]
    check(any("mech:EXTERNAL" in f for f in offered),
          "Prosody offered EXTERNAL to fedrouter (certificate chain and name valid)", offered)
    check(any("starttls" in f and "required" in f for f in offered),
          "Prosody offered <starttls><required/>", offered)
    text = pros.log_text()
    check("Outgoing s2s connection ptls.test->ftls.test complete" in text and
          "Incoming s2s connection ftls.test->ptls.test complete" in text,
          "Prosody completed ptls.test<->ftls.test both ways")
    fl = router.log_text()
    check("10.77.0.10:5270/tls out ftls.test->ptls.test: established" in fl,
          "fedrouter reached ptls.test by direct TLS on 5270 (_xmpps-server) and authenticated")
    check("Results for _xmpps-server._tcp.ftls.test IN SRV: 1 items" in text,
          "Prosody found ftls.test's _xmpps-server record (direct TLS to fedrouter's listen_tls)")
    check(text.count("Requested bidirectional stream") >= 1,
          "Prosody accepted fedrouter's <bidi/> request on fedrouter's outbound stream")


if __name__ == "__main__":
    lab.main(scenario)
