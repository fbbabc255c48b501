#!/usr/bin/python3
"""integ_pool_primary_certs: pooling when certificates name only each router's primary domain.

Router A (127.0.0.1) hosts a0..a4, routers B (127.0.0.2) and C (127.0.0.3) host b0..b3 / c0..c3;
each router's one certificate names only its first domain (and is configured for all of them).
Every (L, R) pair exchanges messages both ways. Asserts:
  - every stanza delivered, no bounce;
  - pairs still share ONE pooled stream per peer address: A made exactly 2 pooled streams
    (tcp_connects{out} - verification connections == 2), B and C one each;
  - proofs the certificate cannot give came from verification connections (> 0 on A, B and C)
    and db:verify, and the verdict table remembered them (cache hits > 0 on A);
  - no lingering: within a few seconds fedrouter_pool_streams == pool_peers == number of peer
    addresses, and `ss` shows one TCP connection from A to each peer's s2s address and one from
    each peer into A (the verification connections are gone);
  - a second round of messages on the same pairs opens no connection at all."""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

L, R, N = 5, 4, 2
IPS = ("127.0.0.1", "127.0.0.2", "127.0.0.3")


def conns_of(a, others, ports):
    """(A's connections to B's and C's s2s ports, B's and C's connections to A's s2s port), from
    `ss` by process id (on loopback, B and C connect from 127.0.0.1 too)."""
    out = [len(h.tcp_conns(a.router.pid, remote=(ip, ports[ip][0]))) for ip in IPS[1:]]
    inc = [len(h.tcp_conns(x.router.pid, remote=("127.0.0.1", ports["127.0.0.1"][0])))
           for x in others]
    return out, inc


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
                          cert_names=a_doms[:1], routes=a_routes)
    b = h.make_multi_site(env, "router-b", "127.0.0.2", b_doms, ports["127.0.0.2"],
                          cert_names=b_doms[:1], routes=back)
    c = h.make_multi_site(env, "router-c", "127.0.0.3", c_doms, ports["127.0.0.3"],
                          cert_names=c_doms[:1], routes=back)
    sites = {s.domain: s for m in (a, b, c) for s in m.sites}
    pairs = [(s, d) for s in a.sites for d in b_doms + c_doms] + \
            [(s, d) for m in (b, c) for s in m.sites for d in a_doms]
    sent = h.send_pairs(pairs, N, prefix="pc")
    missing = h.wait_delivered(sent, lambda d: sites[d], 25 * slow)
    check(not missing, "all %d stanzas (%d directed pairs x %d) delivered" %
          (sum(len(v) for v in sent.values()), len(sent), N), missing[:10])
    bounced = sum(s.comp.count(lambda e: e.get("type") == "error") for s in sites.values())
    check(bounced == 0, "no bounce at any component", bounced)

    # The verification connections close once their work is done (VREADY timeout at the latest).
    settle = 3 * 3 * slow + 2
    t0 = time.monotonic()

    def settled():
        ms = [x.router.scrape() for x in (a, b, c)]
        ok = all(m.get("fedrouter_pool_streams") == m.get("fedrouter_pool_peers") for m in ms) \
            and ms[0].get("fedrouter_pool_streams") == 2 and conns_of(a, (b, c), ports) == ([1, 1], [1, 1])
        return ok and ms
    ms = h.wait_until(settled, settle, step=0.25)
    out, inc = conns_of(a, (b, c), ports)
    ma, mb, mc = ms or [x.router.scrape() for x in (a, b, c)]
    for n, m in (("A", ma), ("B", mb), ("C", mc)):
        h.log("  info %s: tcp out %g in %g, tls out %g, vconns %g, pool streams %g peers %g, "
              "piggybacked out %g in %g, optimized %g, verdicts hit %g miss %g neg %g, "
              "verify answered %g" % (
                  n, m.get("fedrouter_tcp_connects_total", direction="out"),
                  m.get("fedrouter_tcp_connects_total", direction="in"),
                  m.get("fedrouter_tls_handshakes_total", direction="out"),
                  m.get("fedrouter_verification_connections_total"),
                  m.get("fedrouter_pool_streams"), m.get("fedrouter_pool_peers"),
                  m.get("fedrouter_pairs_piggybacked_total", direction="out"),
                  m.get("fedrouter_pairs_piggybacked_total", direction="in"),
                  m.get("fedrouter_dialback_optimized_total"),
                  m.get("fedrouter_verdict_cache_total", result="hit"),
                  m.get("fedrouter_verdict_cache_total", result="miss"),
                  m.get("fedrouter_verdict_cache_total", result="negative"),
                  m.get("fedrouter_dialback_verify_answered_total")))
    check(ms, "settled within %.0fs: pool_streams == pool_peers on every router, A has 2 pooled "
          "streams" % settle, [(m.get("fedrouter_pool_streams"), m.get("fedrouter_pool_peers"))
                               for m in (ma, mb, mc)])
    h.log("  info settled after %.1fs" % (time.monotonic() - t0))
    check(out == [1, 1], "ss: A keeps exactly one TCP connection to B's and to C's s2s address "
          "(its verification connections closed)", out)
    check(inc == [1, 1], "ss: exactly one TCP connection from B and one from C into A "
          "(their verification connections closed)", inc)
    for n, m, peers in (("A", ma, 2), ("B", mb, 1), ("C", mc, 1)):
        vc = m.get("fedrouter_verification_connections_total")
        out_tcp = m.get("fedrouter_tcp_connects_total", direction="out")
        check(vc > 0, "%s: verification connections were made (%g)" % (n, vc))
        check(out_tcp - vc == peers, "%s: pooled streams made == %d (tcp out %g - vconns %g)" %
              (n, peers, out_tcp, vc))
        check(m.get("fedrouter_pool_streams") == peers, "%s: pool_streams == %d now" % (n, peers),
              m.get("fedrouter_pool_streams"))
        pairs_out = L * R * 2 if n == "A" else R * L
        check(m.get("fedrouter_pairs_piggybacked_total", direction="out") == pairs_out - peers,
              "%s: pairs_piggybacked_total{out} == %d" % (n, pairs_out - peers),
              m.get("fedrouter_pairs_piggybacked_total", direction="out"))
        # Only pairs whose sender is a peer's primary domain can be proven by its certificate.
        prim = L if n == "A" else R  # pairs (peer primary -> one of ours)
        opt = m.get("fedrouter_dialback_optimized_total")
        pin = m.get("fedrouter_pairs_piggybacked_total", direction="in")
        check(opt <= prim * peers, "%s: dialback_optimized_total %g <= %d (only senders named in "
              "a certificate)" % (n, opt, prim * peers))
        check(m.get("fedrouter_s2s_auth_total", direction="in", mechanism="dialback_optimized") ==
              opt, "%s: s2s_auth_total{in,dialback_optimized} == dialback_optimized_total" % n,
              (m.get("fedrouter_s2s_auth_total", direction="in", mechanism="dialback_optimized"),
               opt))
        check(m.get("fedrouter_s2s_auth_total", direction="in", mechanism="dialback") >=
              pin - prim * peers, "%s: the other piggybacked senders were verified by db:verify" %
              n, (m.get("fedrouter_s2s_auth_total", direction="in", mechanism="dialback"), opt,
                  pin))
        check(m.get("fedrouter_dialback_verify_answered_total") > 0,
              "%s: answered db:verify as authoritative server" % n)
    check(ma.get("fedrouter_verdict_cache_total", result="hit") > 0,
          "A: the verdict table answered later pairs (hits > 0)")

    # Round two on the same pairs: everything is VALID on the pooled streams, nothing connects.
    before = [x.router.scrape().get("fedrouter_tcp_connect_attempts_total") for x in (a, b, c)]
    sent = h.send_pairs(pairs, 1, prefix="pc2")
    missing = h.wait_delivered(sent, lambda d: sites[d], 15 * slow)
    check(not missing, "round two: all %d stanzas delivered" % len(sent), missing[:10])
    after = [x.router.scrape().get("fedrouter_tcp_connect_attempts_total") for x in (a, b, c)]
    check(before == after, "round two opened no connection on A, B or C", (before, after))


if __name__ == "__main__":
    h.run(scenario)
