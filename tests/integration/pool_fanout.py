#!/usr/bin/python3
"""integ_pool_fanout: one pooled stream per peer address carries every domain pair.

Router A (127.0.0.1) hosts L=5 domains; routers B (127.0.0.2) and C (127.0.0.3) host R=4 domains
each (P=2 peer addresses for A). Each router has ONE certificate naming all its domains. Every
(L, R) pair exchanges messages both ways, all sent at once (a multi-worker pair storm). Asserts:
  - every stanza is delivered, with from/to intact, and nothing bounces;
  - A: tcp_connects{out} == P == tls_handshakes{out}; pool_streams == pool_peers == P;
    pairs_piggybacked{out} == L*R*P - P (every pair but the primary of each stream rides it) ==
    handshakes_avoided; no verification connection (the certificates prove every domain);
    s2s_auth{out} == L*R*P; pairs_piggybacked{in} == L*R*P - P; dialback_optimized == that too;
  - B and C, each: tcp_connects{out} == 1 == tls_handshakes{out}, pairs_piggybacked{out} ==
    R*L - 1, no verification connection, dialback_optimized == R*L - 1 (A's piggybacked pairs);
  - after C restarts, the next round re-pools A's pairs to C on exactly one new connection.
Each router runs 4 workers (FEDROUTER_INTEG_WORKERS), so pairs, stanzas and verdicts cross
threads. Also runs against a ThreadSanitizer build (argv[1]); the harness then fails on any TSan report."""

import os
import sys
import threading

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

L, R, N = 5, 4, 2  # local domains on A, domains per remote router, messages per direction/pair
WORKERS = int(os.environ.get("FEDROUTER_INTEG_WORKERS", "4"))  # per router: cross-worker handoffs
IPS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def metric_report(name, m):
    keys = [("fedrouter_tcp_connects_total", {"direction": "out"}),
            ("fedrouter_tcp_connects_total", {"direction": "in"}),
            ("fedrouter_tls_handshakes_total", {"direction": "out"}),
            ("fedrouter_pool_streams", {}), ("fedrouter_pool_peers", {}),
            ("fedrouter_pairs_piggybacked_total", {"direction": "out"}),
            ("fedrouter_pairs_piggybacked_total", {"direction": "in"}),
            ("fedrouter_dialback_optimized_total", {}),
            ("fedrouter_verification_connections_total", {}),
            ("fedrouter_handshakes_avoided_total", {}),
            ("fedrouter_tcp_connect_attempts_total", {})]
    h.log("  info %s: %s" % (name, ", ".join(
        "%s%s=%g" % (k.replace("fedrouter_", ""), "{%s}" % ",".join(lv.values()) if lv else "",
                     m.get(k, **lv)) for k, lv in keys)))


def scenario(env):
    slow = env.slow
    ports = {ip: (env.free_port(IPS), env.free_port((ip,)), env.free_port((ip,))) for ip in IPS}
    a_doms = ["a%d.test" % i for i in range(L)]
    b_doms = ["b%d.test" % i for i in range(R)]
    c_doms = ["c%d.test" % i for i in range(R)]
    a_routes = [(d, "127.0.0.2", ports["127.0.0.2"][0]) for d in b_doms] + \
               [(d, "127.0.0.3", ports["127.0.0.3"][0]) for d in c_doms]
    back = [(d, "127.0.0.1", ports["127.0.0.1"][0]) for d in a_doms]
    a = h.make_multi_site(env, "router-a", "127.0.0.1", a_doms, ports["127.0.0.1"],
                          routes=a_routes, workers=WORKERS)
    b = h.make_multi_site(env, "router-b", "127.0.0.2", b_doms, ports["127.0.0.2"], routes=back,
                          workers=WORKERS)
    c = h.make_multi_site(env, "router-c", "127.0.0.3", c_doms, ports["127.0.0.3"], routes=back,
                          workers=WORKERS)
    sites = {s.domain: s for m in (a, b, c) for s in m.sites}
    P = 2
    pairs_a = [(s, d) for s in a.sites for d in b_doms + c_doms]
    pairs_b = [(s, d) for s in b.sites for d in a_doms]
    pairs_c = [(s, d) for s in c.sites for d in a_doms]
    check(len(pairs_a) == L * R * P, "%d outbound pairs on A (L=%d x R=%d x P=%d)" %
          (len(pairs_a), L, R, P))

    # All at once, every direction in its own thread: streams, pairs and verdicts race.
    sent = {}
    lock = threading.Lock()

    def go(pairs, tag):
        s = h.send_pairs(pairs, N, prefix=tag)
        with lock:
            sent.update(s)
    ts = [threading.Thread(target=go, args=(p, t))
          for p, t in ((pairs_a, "fa"), (pairs_b, "fb"), (pairs_c, "fc"))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    total = sum(len(v) for v in sent.values())
    missing = h.wait_delivered(sent, lambda d: sites[d], 20 * slow)
    check(not missing, "all %d stanzas (%d directed pairs x %d) delivered, from/to intact" %
          (total, len(sent), N), missing[:10])
    bounced = sum(s.comp.count(lambda e: e.get("type") == "error") for s in sites.values())
    check(bounced == 0, "no bounce at any component", bounced)
    wrong = [(s.domain, e.get("to")) for s in sites.values() for e in s.comp.received
             if e.get("to", "").split("@")[-1] != s.domain]
    check(not wrong, "every component got only stanzas for its own domain", wrong[:5])

    ma, mb, mc = a.router.scrape(), b.router.scrape(), c.router.scrape()
    for n, m in (("A", ma), ("B", mb), ("C", mc)):
        metric_report(n, m)
    g = ma.get
    check(g("fedrouter_tcp_connects_total", direction="out") == P,
          "A: tcp_connects_total{out} == %d (one per peer address)" % P,
          g("fedrouter_tcp_connects_total", direction="out"))
    check(g("fedrouter_tls_handshakes_total", direction="out") == P,
          "A: tls_handshakes_total{out} == %d" % P, g("fedrouter_tls_handshakes_total",
                                                      direction="out"))
    check(g("fedrouter_tcp_connect_attempts_total") == P, "A: tcp_connect_attempts_total == %d"
          % P, g("fedrouter_tcp_connect_attempts_total"))
    check(g("fedrouter_pool_streams") == P and g("fedrouter_pool_peers") == P,
          "A: pool_streams == pool_peers == %d" % P,
          (g("fedrouter_pool_streams"), g("fedrouter_pool_peers")))
    check(g("fedrouter_verification_connections_total") == 0,
          "A: verification_connections_total == 0 (certificates prove every domain)",
          g("fedrouter_verification_connections_total"))
    want_pb = L * R * P - P
    check(g("fedrouter_pairs_piggybacked_total", direction="out") == want_pb,
          "A: pairs_piggybacked_total{out} == L*R*P - P == %d" % want_pb,
          g("fedrouter_pairs_piggybacked_total", direction="out"))
    check(g("fedrouter_handshakes_avoided_total") == want_pb,
          "A: handshakes_avoided_total == %d" % want_pb, g("fedrouter_handshakes_avoided_total"))
    check(g("fedrouter_s2s_auth_total", direction="out") == L * R * P,
          "A: s2s_auth_total{out} == %d (every pair authenticated once)" % (L * R * P),
          g("fedrouter_s2s_auth_total", direction="out"))
    check(g("fedrouter_pairs", direction="out", state="valid") == L * R * P,
          "A: pairs{out,valid} == %d" % (L * R * P), g("fedrouter_pairs", direction="out",
                                                        state="valid"))
    check(g("fedrouter_tcp_connects_total", direction="in") == P,
          "A: tcp_connects_total{in} == %d (B and C each opened one stream)" % P,
          g("fedrouter_tcp_connects_total", direction="in"))
    check(g("fedrouter_pairs_piggybacked_total", direction="in") == want_pb,
          "A: pairs_piggybacked_total{in} == %d" % want_pb,
          g("fedrouter_pairs_piggybacked_total", direction="in"))
    check(g("fedrouter_dialback_optimized_total") == want_pb,
          "A: dialback_optimized_total == %d (every piggybacked sender proven by certificate)"
          % want_pb, g("fedrouter_dialback_optimized_total"))
    check(g("fedrouter_s2s_auth_total", direction="in", mechanism="dialback_optimized") == want_pb,
          "A: s2s_auth_total{in,dialback_optimized} == %d" % want_pb,
          g("fedrouter_s2s_auth_total", direction="in", mechanism="dialback_optimized"))
    check(g("fedrouter_bounces_total") == 0, "A: bounces_total == 0")
    for n, m in (("B", mb), ("C", mc)):
        g = m.get
        check(g("fedrouter_tcp_connects_total", direction="out") == 1 ==
              g("fedrouter_tls_handshakes_total", direction="out"),
              "%s: tcp_connects_total{out} == 1 == tls_handshakes_total{out}" % n,
              (g("fedrouter_tcp_connects_total", direction="out"),
               g("fedrouter_tls_handshakes_total", direction="out")))
        check(g("fedrouter_verification_connections_total") == 0,
              "%s: verification_connections_total == 0" % n)
        check(g("fedrouter_pairs_piggybacked_total", direction="out") == R * L - 1,
              "%s: pairs_piggybacked_total{out} == R*L - 1 == %d" % (n, R * L - 1),
              g("fedrouter_pairs_piggybacked_total", direction="out"))
        check(g("fedrouter_dialback_optimized_total") == R * L - 1,
              "%s: dialback_optimized_total == %d (> 0)" % (n, R * L - 1),
              g("fedrouter_dialback_optimized_total"))
        check(g("fedrouter_tcp_connects_total", direction="in") == 1,
              "%s: tcp_connects_total{in} == 1" % n, g("fedrouter_tcp_connects_total",
                                                       direction="in"))
        check(g("fedrouter_bounces_total") == 0, "%s: bounces_total == 0" % n)
    # the kernel agrees: A holds one connection to each peer address, plus one from each
    conns_out = [h.tcp_conns(a.router.pid, remote=(ip, ports[ip][0])) for ip in IPS[1:]]
    check([len(x) for x in conns_out] == [1, 1],
          "ss: A has exactly one TCP connection to each peer s2s address", conns_out)

    # Stream loss: C restarts. A's pairs to C go with the stream; the next round re-pools them
    # on exactly one new connection, every pair but the new primary piggybacked again.
    a0 = a.router.scrape()
    for s in c.sites:
        s.comp.close()
    problems = c.router.stop()
    check(not problems, "router C stopped cleanly", problems)
    check(h.wait_until(lambda: a.router.scrape().get("fedrouter_pool_streams") == P - 1, 5 * slow),
          "A: pool_streams == %d once C's stream is gone" % (P - 1))
    c.router.stopped = False
    c.router.start()
    for s in c.sites:
        s.comp = s.component()
    pairs_ac = [(s, d) for s in a.sites for d in c_doms] + pairs_c
    sent = h.send_pairs(pairs_ac, 1, prefix="fr")
    missing = h.wait_delivered(sent, lambda d: sites[d], 20 * slow)
    check(not missing, "after C restarted: all %d stanzas A <-> C delivered" % len(sent),
          missing[:10])
    a1 = a.router.scrape()

    def delta(name, **lv):
        return a1.get(name, **lv) - a0.get(name, **lv)
    check(delta("fedrouter_tcp_connects_total", direction="out") == 1,
          "A: exactly one new outbound connection (to the restarted C)",
          delta("fedrouter_tcp_connects_total", direction="out"))
    check(delta("fedrouter_pairs_piggybacked_total", direction="out") == L * R - 1,
          "A: %d pairs re-piggybacked on it" % (L * R - 1),
          delta("fedrouter_pairs_piggybacked_total", direction="out"))
    check(a1.get("fedrouter_pool_streams") == P and
          a1.get("fedrouter_pairs", direction="out", state="valid") == L * R * P,
          "A: pool_streams == %d, pairs{out,valid} == %d again" % (P, L * R * P))
    check(a1.get("fedrouter_bounces_total") == 0, "A: still no bounce")
    if env.tsan:
        h.log("  info ThreadSanitizer build: the harness fails the run on any TSan report")


if __name__ == "__main__":
    h.run(scenario)
