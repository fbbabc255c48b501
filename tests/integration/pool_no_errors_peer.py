#!/usr/bin/python3
"""integ_pool_no_errors_peer: no target piggybacking toward a peer without dialback errors.

A scripted s2s peer (ScriptedPeer) hosts t0..t2.test behind one address, with one certificate
naming all three, and advertises <dialback xmlns='urn:xmpp:features:dialback'/> WITHOUT
<errors/> (like Prosody, which closes the whole connection with host-unknown on an unknown
target). It offers SASL EXTERNAL on streams to t0.test and answers dialback elsewhere, checking
every key against A's dialback secret and the stream's current id. Router A hosts a0..a2.test
(3 local senders per target). Asserts:
  - A opened exactly one stream per target domain (3 TCP connections, 3 post-TLS headers with
    distinct 'to'), never one per pair, and sent no db:result for a target other than the
    stream's own (no supposition);
  - the other senders rode those streams (assertion): 2 db:results per stream, all with keys
    that verify, and A counts pairs_piggybacked{out} == 9 - 3;
  - every stanza arrived at the scripted peer on the stream of its target, in jabber:server,
    and nothing bounced."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

N = 2  # messages per pair


def check_peer(a, peer, targets, locals_, sent, got, tag):
    streams = peer.items("stream")
    by_conn = {it[1]: it for it in streams}
    h.log("  info %s streams: %s" % (tag, ", ".join("#%d %s->%s" % (n, f, t) for n, f, t in
                                                   [x[1:] for x in streams])))
    check(len(peer.items("accept")) == 3, "%s: exactly 3 TCP connections reached the peer" % tag,
          len(peer.items("accept")))
    check(sorted(it[3] for it in streams) == targets,
          "%s: one stream per target domain (post-TLS headers to %s), not one per pair" %
          (tag, ", ".join(targets)), streams)
    results = peer.items("db:result")
    h.log("  info %s db:results: %s" % (tag, ", ".join(
        "#%d %s->%s%s" % (n, f, t, "" if ok else " BADKEY") for _, n, f, t, ok, _ in results)))
    check(all(r[3] == r[5] for r in results),
          "%s: no db:result for a target other than its stream's own (no supposition without "
          "<errors/>)" % tag, [r for r in results if r[3] != r[5]])
    check(all(r[4] for r in results), "%s: every db:result key verifies (XEP-0185, the stream's "
          "current id)" % tag, [r for r in results if not r[4]])
    sasl = peer.items("sasl")
    check(len(sasl) == 1 and sasl[0][2] == by_conn[sasl[0][1]][2] and
          by_conn[sasl[0][1]][3] == targets[0],
          "%s: the stream to %s authenticated its primary pair with SASL EXTERNAL" %
          (tag, targets[0]), sasl)
    for t in targets:
        conn = [n for n, it in by_conn.items() if it[3] == t][0]
        primary = by_conn[conn][2]
        froms = sorted(r[2] for r in results if r[1] == conn)
        others = sorted(d for d in locals_ if d != primary)
        expect = others if t == targets[0] else sorted(others + [primary])
        check(froms == expect, "%s: stream to %s: primary %s, db:result for %s" %
              (tag, t, primary, ", ".join(expect)), froms)
    # Every stanza on the stream of its own target, in the server namespace.
    bad = [(n, e.get("to")) for _, n, e in got
           if e.get("to").split("@")[-1] != by_conn[n][3] or e.ns != h.NS_SERVER]
    check(not bad, "%s: every stanza travelled on its target's stream, in jabber:server" % tag,
          bad[:5])
    ids = {e.get("id") for _, _, e in got}
    check(all(i in ids for v in sent.values() for i in v), "%s: every sent id arrived" % tag)
    check(not peer.errors, "%s: scripted peer saw no protocol surprise" % tag, peer.errors)


def scenario(env):
    slow = env.slow
    ca = env.ca()
    locals_ = ["a0.test", "a1.test", "a2.test"]
    ip = "127.0.0.1"
    s2s_port = env.free_port((ip,))
    secret = "integration-dialback-secret-" + ip  # what router_conf gives A
    # Peer 1 learns the features from one pair first; peer 2 gets every pair at once, while A
    # does not know yet whether it handles dialback errors.
    t1 = ["t0.test", "t1.test", "t2.test"]
    t2 = ["u0.test", "u1.test", "u2.test"]
    p1 = h.ScriptedPeer(env, ca, t1, secret, ip="127.0.0.4", db_errors=False,
                        sasl_for=t1[:1], name="peer-t")
    p2 = h.ScriptedPeer(env, ca, t2, secret, ip="127.0.0.5", db_errors=False,
                        sasl_for=t2[:1], name="peer-u")
    routes = [(t, "127.0.0.4", p1.port) for t in t1] + [(t, "127.0.0.5", p2.port) for t in t2]
    a = h.make_multi_site(env, "router-a", ip, locals_,
                          (s2s_port, env.free_port((ip,)), env.free_port((ip,))), routes=routes)
    check(a.router.conf["s2s"]["dialback_secret"] == secret, "scripted peers know A's secret")

    pairs = [(s, t) for s in a.sites for t in t1]
    sent1 = h.send_pairs(pairs[:1], N, prefix="ne")
    got = p1.wait_count(lambda it: it[0] == "stanza", N, 10 * slow)
    check(len(got) == N, "peer 1: first pair's stanzas arrived", p1.errors)
    sent1.update(h.send_pairs(pairs[1:], N, prefix="ne"))
    want = sum(len(v) for v in sent1.values())
    got1 = p1.wait_count(lambda it: it[0] == "stanza", want, 20 * slow)
    check(len(got1) == want, "peer 1: all %d stanzas (%d pairs x %d) arrived" %
          (want, len(pairs), N), "got %d; peer errors %r" % (len(got1), p1.errors))

    pairs2 = [(s, t) for s in a.sites for t in t2]
    sent2 = h.send_pairs(pairs2, N, prefix="nu")
    want = sum(len(v) for v in sent2.values())
    got2 = p2.wait_count(lambda it: it[0] == "stanza", want, 20 * slow)
    check(len(got2) == want, "peer 2 (all pairs at once): all %d stanzas arrived" % want,
          "got %d; peer errors %r" % (len(got2), p2.errors))

    check_peer(a, p1, t1, locals_, sent1, got1, "peer 1")
    check_peer(a, p2, t2, locals_, sent2, got2, "peer 2")

    m = a.router.scrape()
    h.log("  info A: tcp out %g, attempts %g, pool streams %g, piggybacked out %g, auth out %s" % (
        m.get("fedrouter_tcp_connects_total", direction="out"),
        m.get("fedrouter_tcp_connect_attempts_total"), m.get("fedrouter_pool_streams"),
        m.get("fedrouter_pairs_piggybacked_total", direction="out"),
        {x: m.get("fedrouter_s2s_auth_total", direction="out", mechanism=x)
         for x in ("external", "dialback")}))
    check(m.get("fedrouter_tcp_connects_total", direction="out") == 6 ==
          m.get("fedrouter_tcp_connect_attempts_total"),
          "A: tcp_connects_total{out} == tcp_connect_attempts_total == 6 (3 per peer)")
    check(m.get("fedrouter_pool_streams") == 6 and m.get("fedrouter_pool_peers") == 2,
          "A: pool_streams == 6 on pool_peers == 2")
    npairs = len(pairs) + len(pairs2)
    check(m.get("fedrouter_pairs_piggybacked_total", direction="out") == npairs - 6,
          "A: pairs_piggybacked_total{out} == %d (every pair but the 6 primaries)" % (npairs - 6),
          m.get("fedrouter_pairs_piggybacked_total", direction="out"))
    check(m.get("fedrouter_s2s_auth_total", direction="out") == npairs,
          "A: s2s_auth_total{out} == %d" % npairs)
    check(m.get("fedrouter_verification_connections_total") == 0,
          "A: no verification connection (nothing to prove for targets it does not add)")
    check(m.get("fedrouter_bounces_total") == 0, "A: nothing bounced")
    p1.close()
    p2.close()


if __name__ == "__main__":
    h.run(scenario)
