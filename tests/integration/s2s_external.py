#!/usr/bin/python3
"""integ_s2s_external: routers A (a.test, 127.0.0.1) and B (b.test, 127.0.0.2) with static routes
and certificates from one CA (both EKUs): messages, a presence and an iq go both ways with
from/to/id/body and payload namespaces intact; both sides count SASL EXTERNAL (in and out), TLS
handshakes and no dialback."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def scenario(env):
    a, b = h.make_pair(env)
    h.exchange(a, b, 3)
    h.exchange(b, a, 3)

    # presence and an iq with a namespaced payload, a -> b and back
    a.comp.send("<presence from='alice@a.test/r' to='bob@b.test' id='p1'><status>here</status>"
                "</presence>")
    e = b.comp.wait_for(h.by_id("p1"), 10)
    check(e is not None and e.name == "presence" and e.find("status").text == "here",
          "presence a.test -> b.test arrived", e)
    a.comp.send("<iq type='get' from='alice@a.test/r' to='bob@b.test/x' id='iq1'>"
                "<query xmlns='jabber:iq:version'/></iq>")
    e = b.comp.wait_for(h.by_id("iq1"), 10)
    check(e is not None and e.name == "iq" and e.get("type") == "get" and
          e.find("query", "jabber:iq:version") is not None,
          "iq get arrived with its payload namespace jabber:iq:version", e)
    b.comp.send("<iq type='result' from='bob@b.test/x' to='alice@a.test/r' id='iq1'>"
                "<query xmlns='jabber:iq:version'><name>t</name></query></iq>")
    e = a.comp.wait_for(h.by_id("iq1"), 10)
    check(e is not None and e.get("type") == "result" and e.get("from") == "bob@b.test/x" and
          e.find("query", "jabber:iq:version") is not None, "iq result came back", e)

    ma, mb = a.router.scrape(), b.router.scrape()
    A = "fedrouter_s2s_auth_total"
    for name, m in (("A", ma), ("B", mb)):
        check(m.get(A, direction="out", mechanism="external") >= 1,
              "%s: s2s auth out via EXTERNAL counted" % name, m.get(A, direction="out"))
        check(m.get(A, direction="in", mechanism="external") >= 1,
              "%s: s2s auth in via EXTERNAL counted" % name, m.get(A, direction="in"))
        check(m.get(A, mechanism="dialback") == 0, "%s: no dialback used" % name)
        check(m.get("fedrouter_tls_handshakes_total", direction="out") >= 1 and
              m.get("fedrouter_tls_handshakes_total", direction="in") >= 1,
              "%s: TLS handshakes counted both directions" % name)
        check(m.get("fedrouter_stanzas_routed_total") >= 5, "%s: stanzas routed counted" % name,
              m.get("fedrouter_stanzas_routed_total"))
        check(m.get("fedrouter_streams", direction="component") == 1,
              "%s: one component stream open" % name)
        check(m.get("fedrouter_bounces_total") == 0, "%s: no bounces" % name)
    check(ma.get("fedrouter_tcp_connects_total", direction="out") == 1 and
          mb.get("fedrouter_tcp_connects_total", direction="out") == 1,
          "one outbound TCP connection per side (no reconnect per stanza)",
          (ma.get("fedrouter_tcp_connects_total", direction="out"),
           mb.get("fedrouter_tcp_connects_total", direction="out")))


if __name__ == "__main__":
    h.run(scenario)
