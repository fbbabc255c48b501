#!/usr/bin/python3
"""integ_bounces: router A (a.test) with its component sends to remote domains that cannot be
reached; each stanza must come back to the component as type='error' with from = the original
'to', to = the original 'from', the same id, and the RFC 6120 §10.4.3 / SPEC §14.4 condition:
  - static route to a closed port (nothing answering)          -> remote-server-not-found, cancel
  - domain absent from DNS (NXDOMAIN for SRV and A)            -> remote-server-not-found, cancel
  - SRV target '.' (service explicitly not offered, CORE-2)    -> remote-server-not-found, cancel
  - SRV pointing at a closed port                              -> remote-server-not-found, cancel
  - static route to a listener that accepts TCP and never speaks (stream negotiation times out)
                                                               -> remote-server-timeout
  - an iq get to the closed port gets an iq error; a message of type='error' is never bounced."""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def scenario(env):
    closed_port = env.free_port(("127.0.0.1",))  # allocated and released: nothing listens
    silent = h.SilentServer(env)
    dns = env.unbound([
        "_xmpp-server._tcp.dot.test. 60 IN SRV 0 0 0 .",
        "_xmpp-server._tcp.srvclosed.test. 60 IN SRV 0 5 %d closedhost.test." % closed_port,
        "closedhost.test. 60 IN A 127.0.0.1",
    ])
    a = h.make_site(env, "router-a", "127.0.0.1", "a.test",
                    routes=[("closed.test", "127.0.0.1", closed_port),
                            ("silent.test", "127.0.0.1", silent.port)],
                    resolver=dns.addr, s2s={"connect_timeout": 2, "stanza_timeout": 4})
    rc, _ = h.dns_query("127.0.0.1", dns.port, "_xmpp-server._tcp.nxdomain.test.", h.DNS_SRV)
    check(rc == 3, "DNS: nxdomain.test has no SRV (NXDOMAIN)")

    frm = "alice@a.test/r"
    cases = [("closed.test", "remote-server-not-found", "cancel"),
             ("nxdomain.test", "remote-server-not-found", "cancel"),
             ("dot.test", "remote-server-not-found", "cancel"),
             ("srvclosed.test", "remote-server-not-found", "cancel"),
             ("silent.test", "remote-server-timeout", None)]
    t0 = time.monotonic()
    for dom, _, _ in cases:
        a.comp.message(frm, "bob@%s/x" % dom, "to " + dom, id="b-" + dom)
    a.comp.send("<iq type='get' from='%s' to='svc.closed.test' id='iq-closed'>"
                "<ping xmlns='urn:xmpp:ping'/></iq>" % frm)
    a.comp.send("<iq type='get' from='%s' to='closed.test' id='iq-closed2'>"
                "<ping xmlns='urn:xmpp:ping'/></iq>" % frm)
    a.comp.message(frm, "bob@closed.test", "an error", id="err-closed", type="error")

    for dom, cond, etype in cases:
        e = a.comp.wait_for(h.by_id("b-" + dom), 15)
        check(e is not None, "bounce for %s arrived (%.1fs)" % (dom, time.monotonic() - t0))
        got_cond, got_type = h.stanza_error_condition(e)
        check(e.name == "message" and e.get("type") == "error", "%s: message type='error'" % dom,
              e)
        check(e.get("from") == "bob@%s/x" % dom and e.get("to") == frm,
              "%s: from = original to, to = original from" % dom, e)
        check(got_cond == cond, "%s: condition <%s/>" % (dom, cond), got_cond)
        if etype:
            check(got_type == etype, "%s: error type '%s'" % (dom, etype), got_type)
    e = a.comp.wait_for(h.by_id("iq-closed2"), 10)
    check(e is not None and e.name == "iq" and e.get("type") == "error" and
          h.stanza_error_condition(e)[0] == "remote-server-not-found",
          "iq get to closed.test answered with an iq error remote-server-not-found", e)
    # svc.closed.test is a different domain (CORE-6) with no route and no DNS record
    e = a.comp.wait_for(h.by_id("iq-closed"), 10)
    check(e is not None and e.get("type") == "error" and
          h.stanza_error_condition(e)[0] == "remote-server-not-found",
          "iq get to svc.closed.test (not in DNS) bounced remote-server-not-found", e)
    time.sleep(0.5)
    check(a.comp.count(h.by_id("err-closed")) == 0, "a message of type='error' is not bounced")
    check(a.comp.count(lambda e: e.get("type") == "error") == len(cases) + 2,
          "exactly one bounce per bounceable stanza",
          a.comp.count(lambda e: e.get("type") == "error"))
    m = a.router.scrape()
    check(m.get("fedrouter_bounces_total", condition="remote-server-not-found") >= 6,
          "metrics: remote-server-not-found bounces counted",
          m.get("fedrouter_bounces_total", condition="remote-server-not-found"))
    check(m.get("fedrouter_bounces_total", condition="remote-server-timeout") >= 1,
          "metrics: remote-server-timeout bounce counted")
    check(a.router.alive(), "router still running")
    silent.close()


if __name__ == "__main__":
    h.run(scenario)
