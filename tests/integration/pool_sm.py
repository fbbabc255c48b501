#!/usr/bin/python3
"""integ_pool_sm: stream management acks (XEP-0198) on outbound streams: nothing vanishes unseen.

Two scripted peers offer <sm xmlns='urn:xmpp:sm:3'/>. Router A hosts a0.test. Asserts:
  - toward the acking peer, A enables SM once its stream is authenticated, asks for acks, and
    every stanza arrives; nothing bounces;
  - toward a peer that enables SM but never acks and then drops the connection, every stanza it
    received but never acknowledged bounces to its sender with remote-server-timeout (SM-7):
    each message either counts as acknowledged or comes back as a bounce."""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

N = 20


def scenario(env):
    slow = env.slow
    ca = env.ca()
    ip = "127.0.0.1"
    secret = "integration-dialback-secret-" + ip
    good = h.ScriptedPeer(env, ca, ["s0.test"], secret, ip="127.0.0.7", db_errors=True,
                          sasl_for=["s0.test"], sm="ack", name="peer-sm")
    mute = h.ScriptedPeer(env, ca, ["m0.test"], secret, ip="127.0.0.8", db_errors=True,
                          sasl_for=["m0.test"], sm="silent", name="peer-mute")
    routes = [("s0.test", "127.0.0.7", good.port), ("m0.test", "127.0.0.8", mute.port)]
    a = h.make_multi_site(env, "router-a", ip, ["a0.test"], routes=routes)
    comp = a.sites[0].comp

    for i in range(N):
        comp.message("alice@a0.test/r", "bob@s0.test", "sm %d" % i, id="sm-good-%d" % i)
    got = good.wait_count(lambda it: it[0] == "stanza", N, 10 * slow)
    check(len(got) == N, "all %d stanzas reached the acking peer" % N, good.errors)
    check(good.items("sm:enable"), "A enabled stream management after authenticating")
    check(good.wait_count(lambda it: it[0] == "sm:r", 1, 5 * slow), "A asked for acks (<r/>)")

    for i in range(N):
        comp.message("alice@a0.test/r", "bob@m0.test", "mute %d" % i, id="sm-mute-%d" % i)
    got = mute.wait_count(lambda it: it[0] == "stanza", N, 10 * slow)
    check(len(got) == N, "all %d stanzas reached the silent peer (never acked)" % N, mute.errors)
    check(mute.items("sm:enable"), "A enabled stream management toward the silent peer too")
    mute.close()  # stop accepting; drop the stream it holds
    n = got[0][1]
    mute.send_back(n, "</stream:stream>")
    bounced = []
    end = time.monotonic() + 10 * slow
    while time.monotonic() < end and len(bounced) < N:
        bounced = [e for e in comp.received
                   if e.get("type") == "error" and (e.get("id") or "").startswith("sm-mute-")]
        time.sleep(0.05)
    conds = {h.stanza_error_condition(e)[0] for e in bounced}
    check(len(bounced) == N and conds == {"remote-server-timeout"},
          "every unacknowledged stanza bounced with remote-server-timeout (%d of %d)" %
          (len(bounced), N), conds)
    good_bounces = [e for e in comp.received if (e.get("id") or "").startswith("sm-good-")]
    check(not good_bounces, "nothing acknowledged by the good peer bounced")
    m = a.router.scrape()
    check(m.get("fedrouter_bounces_total", condition="remote-server-timeout") == N,
          "A counted %d remote-server-timeout bounces" % N)
    good.close()


if __name__ == "__main__":
    h.run(scenario)
