#!/usr/bin/python3
"""integ_pool_ghost_domain: a domain the peer does not serve must not back off the whole address.

A scripted peer (no <errors/>, like Prosody) hosts t0..t2.test on 127.0.0.4; router A also
routes ghost.test to that address, which the peer refuses with a host-unknown stream error (a
definitive per-domain answer, the peer itself is healthy). A local user sends 6 messages to
ghost.test, 1.5 s apart, while A's stream to t0.test stays up. Then a message for t1.test needs
a new stream (no target piggybacking toward this peer). Asserts:
  - the t1.test message is delivered within 3 s and is not bounced (the ghost's failures are not
    failures of the peer address: other domains there keep their normal service);
  - every ghost.test message bounces (remote-server-not-found or remote-server-timeout), and A
    does not open more than 1 + 6 connections for it.
(Regression: the host-unknown answers once counted as failures of the peer address, its
back-off grew past s2s.stanza_timeout and the t1.test message bounced.)"""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

NGHOST = 6


def scenario(env):
    slow = env.slow
    ca = env.ca()
    ip = "127.0.0.1"
    secret = "integration-dialback-secret-" + ip
    targets = ["t0.test", "t1.test", "t2.test"]
    peer = h.ScriptedPeer(env, ca, targets, secret, ip="127.0.0.4", db_errors=False)
    routes = [(t, "127.0.0.4", peer.port) for t in targets + ["ghost.test"]]
    a = h.make_multi_site(env, "router-a", ip, ["a0.test"], routes=routes)
    s = a.sites[0]
    s.comp.message("u@a0.test", "x@t0.test", "hi", id="t0-1")
    check(peer.wait_count(lambda it: it[0] == "stanza", 1, 5 * slow),
          "t0.test reachable: stream up", peer.errors)
    for i in range(NGHOST):
        s.comp.message("u@a0.test", "x@ghost.test", "boo", id="ghost-%d" % i)
        time.sleep(1.5)
    s.comp.message("u@a0.test", "x@t0.test", "still", id="t0-2")
    check(peer.wait_count(lambda it: it[0] == "stanza" and it[2].get("id") == "t0-2", 1,
                          3 * slow), "the t0.test stream still carries stanzas")
    t1 = time.monotonic()
    s.comp.message("u@a0.test", "x@t1.test", "legit", id="t1-1")
    got = peer.wait_count(lambda it: it[0] == "stanza" and it[2].get("id") == "t1-1", 1,
                          3 * slow)
    bounce = s.comp.wait_for(h.by_id("t1-1"), 0.1)
    h.log("  info t1.test: %s after %.1fs, bounce %r" % (
        "delivered" if got else "NOT delivered", time.monotonic() - t1,
        h.stanza_error_condition(bounce) if bounce is not None else None))
    check(got and bounce is None, "t1.test (same address, healthy) delivered within %ds, not "
          "bounced, after ghost.test's refusals" % (3 * slow))
    for i in range(NGHOST):
        e = s.comp.wait_for(h.by_id("ghost-%d" % i), 15 * slow)
        check(e is not None and h.stanza_error_condition(e)[0] in
              ("remote-server-not-found", "remote-server-timeout"),
              "ghost.test message %d bounced" % i, e)
    ghost_streams = [it for it in peer.items("stream") if it[3] == "ghost.test"]
    check(len(ghost_streams) <= 7, "at most 1 + 6 connections for ghost.test (%d)" %
          len(ghost_streams))
    peer.close()


if __name__ == "__main__":
    h.run(scenario)
