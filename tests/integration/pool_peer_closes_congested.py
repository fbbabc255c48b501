#!/usr/bin/python3
"""integ_pool_peer_closes_congested: stanzas queued behind a congested stream survive the peer
closing that stream.

A scripted peer (t0.test on 127.0.0.4) answers dialback 'valid', then reads nothing. Router A's
component sends N large messages to t0.test as soon as the pair is valid: the stream congests,
the pair's queue fills (64 KiB), the rest bounce with resource-constraint. Once A's metrics show
stanzas queued, the peer closes its stream with </stream:stream> and reads (and records)
everything that still comes until A closes its side (RFC 6120 §4.4). Asserts:
  - every message reached the peer (on either stream) or bounced: none vanished — in particular
    the pair's queue is not written after A's </stream:stream> (its TLS session is shut down
    then), it moves to a new stream;
  - A opened a second stream for what was still queued, and it delivered something;
  - A logged no "TLS write failed"."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

N = 1600  # 12.8 MB: more than the kernel buffers between A and a deaf peer absorb
BODY = "x" * 8000


def scenario(env):
    slow = env.slow
    ca = env.ca()
    ip = "127.0.0.1"
    peer = h.ScriptedPeer(env, ca, ["t0.test"], "integration-dialback-secret-" + ip,
                          ip="127.0.0.4", db_errors=True, close_after_valid=30, mute=True)
    a = h.make_multi_site(env, "router-a", ip, ["a0.test"],
                          routes=[("t0.test", "127.0.0.4", peer.port)],
                          s2s={"max_queue_bytes": 65536, "max_stanza_size": 16384})
    s = a.sites[0]
    s.comp.message("u@a0.test", "x@t0.test", "first", id="cc-first")
    got = peer.wait_count(lambda it: it[0] == "db:result" and it[4], 1, 10 * slow)
    check(got, "the pair became valid on the peer's first stream")
    for i in range(N):
        s.comp.message("u@a0.test", "x@t0.test", BODY, id="cc-%d" % i)
    # The peer closes once A holds stanzas behind the congested stream (gauge sampled each 0.5 s).
    check(h.wait_until(lambda: a.router.scrape().get("fedrouter_queued_stanzas") > 0, 20 * slow),
          "A holds stanzas behind the congested stream")
    peer.release.set()
    ids = ["cc-first"] + ["cc-%d" % i for i in range(N)]

    def settled():
        at = {e.get("id") for _, _, e in peer.items("stanza")}
        bounced = {e.get("id") for e in s.comp.received if e.get("type") == "error"}
        return all(i in at or i in bounced for i in ids)
    h.wait_until(settled, 30 * slow)
    at_peer = {}
    for _, n, e in peer.items("stanza"):
        at_peer.setdefault(n, set()).add(e.get("id"))
    seen = set().union(*at_peer.values()) if at_peer else set()
    bounced = {e.get("id") for e in s.comp.received if e.get("type") == "error"}
    lost = [i for i in ids if i not in seen and i not in bounced]
    h.log("  info %d sent: %s at the peer by stream, %d bounced, %d lost; %d connections" %
          (len(ids), {n: len(v) for n, v in sorted(at_peer.items())}, len(bounced), len(lost),
           len(peer.items("accept"))))
    check(bounced, "the congested pair bounced some messages (resource-constraint)")
    check(not lost, "every message reached the peer or bounced", lost[:10])
    check(len(at_peer) >= 2 and any(n != 1 for n in at_peer),
          "what was queued when the peer closed went out on a new stream", sorted(at_peer))
    check("TLS write failed" not in a.router.log_text(), "no write after the TLS session ended")
    peer.close()


if __name__ == "__main__":
    h.run(scenario)
