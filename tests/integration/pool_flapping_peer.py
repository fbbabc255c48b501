#!/usr/bin/python3
"""integ_pool_flapping_peer: a peer that authenticates and then drops every stream is back-off
bounded too.

A scripted peer (t0.test on 127.0.0.4) answers dialback 'valid' and closes each stream 0.3 s
later. Router A's component sends a stanza to t0.test every 100 ms for 10 s. Asserts:
  - every stanza reaches the peer or bounces (none lost);
  - A opens at most 1 + 6 connections to the address in that time (the per-minute bound on
    retries), not one per stanza burst.
The peer takes what still comes after its </stream:stream> until A closes its side (RFC 6120
§4.4), so a stanza crossing the peer's close is no loss; one written after A's own close would
be (regression: a congested stream's queue was flushed after A's close tag, into a TLS session
already shut down, see integ_pool_peer_closes_congested)."""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def scenario(env):
    slow = env.slow
    ca = env.ca()
    ip = "127.0.0.1"
    peer = h.ScriptedPeer(env, ca, ["t0.test"], "integration-dialback-secret-" + ip,
                          ip="127.0.0.4", db_errors=True, close_after_valid=0.3)
    a = h.make_multi_site(env, "router-a", ip, ["a0.test"],
                          routes=[("t0.test", "127.0.0.4", peer.port)])
    s = a.sites[0]
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 10:
        s.comp.message("u@a0.test", "x@t0.test", "m", id="fl-%d" % n)
        n += 1
        time.sleep(0.1)

    def settled():
        return len(peer.items("stanza")) + s.comp.count(lambda e: e.get("type") == "error") >= n
    h.wait_until(settled, a.router.conf["s2s"]["stanza_timeout"] + 3 * slow)
    at_peer = {e.get("id") for _, _, e in peer.items("stanza")}
    bounced = {e.get("id") for e in s.comp.received if e.get("type") == "error"}
    lost = [i for i in range(n) if "fl-%d" % i not in at_peer | bounced]
    accepts = len(peer.items("accept"))
    h.log("  info %d sent: %d at the peer, %d bounced, %d lost; %d connections" %
          (n, len(at_peer), len(bounced), len(lost), accepts))
    check(not lost, "every stanza reached the peer or bounced", lost[:10])
    check(accepts <= 7, "at most 1 + 6 connections to the flapping peer in 10 s (%d)" % accepts)
    peer.close()


if __name__ == "__main__":
    h.run(scenario)
