#!/usr/bin/python3
"""integ_pool_bidi: one TCP connection both ways when the peer offers bidi (XEP-0288).

A scripted peer hosts t0.test and t1.test behind one address with one certificate naming both,
offers SASL EXTERNAL on streams to t0.test, dialback errors, and <bidi xmlns='urn:xmpp:features:bidi'/>.
Router A hosts a0.test. Asserts:
  - A enabled bidi (<bidi xmlns='urn:xmpp:bidi'/>) on its stream, and its message reached the peer;
  - the peer's replies t0.test -> a0.test on that same connection reach a0's component (BIDI-6),
    and A never got an inbound connection;
  - the peer adds t1.test -> a0.test on the same stream with its own db:result (BIDI-7): A answers
    valid from the certificate (XEP-0344) and t1's stanza is delivered;
  - a stanza from a domain not authenticated on the stream (t2.test) is refused (invalid-from)
    and never delivered."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def scenario(env):
    slow = env.slow
    ca = env.ca()
    ip = "127.0.0.1"
    secret = "integration-dialback-secret-" + ip
    peer = h.ScriptedPeer(env, ca, ["t0.test", "t1.test"], secret, ip="127.0.0.6",
                          db_errors=True, sasl_for=["t0.test"], bidi=True, name="peer-bidi")
    routes = [("t0.test", "127.0.0.6", peer.port), ("t1.test", "127.0.0.6", peer.port)]
    a = h.make_multi_site(env, "router-a", ip, ["a0.test"], routes=routes)
    comp = a.sites[0].comp

    comp.message("alice@a0.test/r", "bob@t0.test", "out", id="bidi-out-1")
    got = peer.wait_count(lambda it: it[0] == "stanza", 1, 10 * slow)
    check(len(got) == 1 and got[0][2].get("id") == "bidi-out-1",
          "a0 -> t0 reached the peer", peer.errors)
    n = got[0][1]
    check(peer.items("bidi") == [("bidi", n)], "A enabled bidi on its stream (urn:xmpp:bidi)",
          peer.items("bidi"))

    # BIDI-6: the reverse of the authenticated pair, on A's own connection.
    peer.send_back(n, "<message from='bob@t0.test/x' to='alice@a0.test/r' id='back-1' "
                      "type='chat'><body>back</body></message>")
    e = comp.wait_for(lambda e: e.get("id") == "back-1", 10 * slow)
    check(e is not None and e.get("from") == "bob@t0.test/x",
          "t0 -> a0 came back on the same connection and reached a0's component")

    # BIDI-7: the peer adds a sender on A's stream; A proves it from the peer's certificate.
    peer.send_back(n, "<db:result from='t1.test' to='a0.test'>%s</db:result>" % ("ab" * 32))
    ans = peer.wait_count(lambda it: it[0] == "db:answer", 1, 10 * slow)
    check(ans and ans[0][1:] == (n, "a0.test", "t1.test", "valid"),
          "A answered the peer's db:result for t1.test -> a0.test with valid", ans)
    peer.send_back(n, "<message from='carol@t1.test' to='alice@a0.test' id='back-2'>"
                      "<body>t1</body></message>")
    e = comp.wait_for(lambda e: e.get("id") == "back-2", 10 * slow)
    check(e is not None, "t1 -> a0 delivered after the piggybacked pair became valid")

    m = a.router.scrape()
    check(m.get("fedrouter_bidi_streams_total") == 1, "A: fedrouter_bidi_streams_total == 1")
    check(m.get("fedrouter_tcp_connects_total", direction="in") == 0 and
          m.get("fedrouter_tcp_connects_total", direction="out") == 1,
          "A: one outbound connection, no inbound one: both directions on one TCP connection")
    check(m.get("fedrouter_dialback_optimized_total") == 1,
          "A: the peer's t1.test was proven by its certificate (dialback optimized)")

    # A sender never authenticated on this stream is refused and not delivered.
    peer.send_back(n, "<message from='eve@t2.test' to='alice@a0.test' id='forged'/>")
    gone = peer.wait_count(lambda it: it[0] == "closed" and it[1] == n, 1, 10 * slow)
    check(gone, "A closed the stream on a stanza from an unauthenticated sender (invalid-from)")
    check(comp.wait_for(lambda e: e.get("id") == "forged", 1.0) is None,
          "the forged stanza never reached the component")
    check(not peer.errors, "scripted peer saw no protocol surprise", peer.errors)
    peer.close()


if __name__ == "__main__":
    h.run(scenario)
