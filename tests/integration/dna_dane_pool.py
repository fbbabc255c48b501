#!/usr/bin/python3
"""integ_dna_dane_pool: DANE on a pooled stream. Router B (127.0.0.2, one port) serves b1.test and
b2.test under ONE self-signed certificate naming both; their DNSSEC-secure SRV records name two
different targets, hb1.test and hb2.test, that resolve to B's same address and port. The TLSA
record at _<port>._tcp.hb1.test matches B's key, the one at _<port>._tcp.hb2.test has a wrong
digest. Router A (a-pool.test, CA certificate) has prooftypes = ["dane"],
dialback_without_proof = false, on_failure = "refuse" for both domains.
A new target on an existing stream must be proven by the TLSA records of ITS OWN SRV target at the
stream's address (RFC 7673 §3), not by the stream's first domain or the peer's host name:
  - b1.test: stanzas delivered both ways; A counts proven/dane;
  - then b2.test over the same peer address: a stanza A -> b2.test bounces with an error and is
    not delivered (the target is not piggybacked), and a stanza b2.test -> A (B's db:result for
    a new sender, piggybacked on its stream) bounces and is not delivered; A counts refused/dane
    and logs "domain b2.test: refused (...)" with the DANE reason;
  - b1.test still works both ways afterwards (the refusal of b2.test does not break the pair).
In A's log this runs the pool's paths: the target check for b2.test on b1.test's outbound stream
(refused, not piggybacked), then A's own stream for b2.test (refused from the verdict table), and
the inbound db:result for b2.test on B's stream (refused).
Exit 0 pass, 1 fail, 77 when knotd/unbound/openssl are missing."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnalab as d  # noqa: E402
import harness as h  # noqa: E402
from harness import check  # noqa: E402

DANE_ONLY = {"prooftypes": ["dane"], "dialback_without_proof": False, "on_failure": "refuse"}


def scenario(env):
    d.skip_unless_tools()
    ca = env.ca()
    cert = d.self_signed(env, "b-pool-selfsigned", ["b1.test", "b2.test"])
    check(not ca.verify(cert), "B's self-signed certificate is not valid under A's CA")
    spki = d.spki_sha256_hex(cert.cert)
    a = h.Site("router-a-pool", "127.0.0.1", "a-pool.test", "sa-" + os.urandom(6).hex())
    a.cert = ca.issue("a-pool", [a.domain])
    b = h.Site("router-b-pool", "127.0.0.2", "b1.test", "sb-" + os.urandom(6).hex())
    b.cert = cert
    for s in (a, b):
        s.s2s_port = env.free_port()
        s.comp_port = env.free_port()
        s.metrics_port = env.free_port()
    b2_secret = "sb2-" + os.urandom(6).hex()
    records = [
        "_xmpp-server._tcp.a-pool.test. 60 IN SRV 0 5 %d ra-pool.test." % a.s2s_port,
        "ra-pool.test. 60 IN A 127.0.0.1",
        "_xmpp-server._tcp.b1.test. 60 IN SRV 0 5 %d hb1.test." % b.s2s_port,
        "_xmpp-server._tcp.b2.test. 60 IN SRV 0 5 %d hb2.test." % b.s2s_port,
        "hb1.test. 60 IN A 127.0.0.2",
        "hb2.test. 60 IN A 127.0.0.2",
        "_%d._tcp.hb1.test. 60 IN TLSA 3 1 1 %s" % (b.s2s_port, spki),
        "_%d._tcp.hb2.test. 60 IN TLSA 3 1 1 %s" % (b.s2s_port, d.flip_hex(spki)),
    ]
    lab = d.DnssecLab(env, records)
    d.expect_secure(lab, "_%d._tcp.hb2.test." % b.s2s_port, 52, "hb2.test's TLSA record")
    s2s = {"dna_timeout": 4 * env.slow}
    conf_a = h.router_conf(env, a.ip, a.s2s_port, a.comp_port, a.metrics_port,
                           [(a.domain, a.secret)], [a.cert], ca.cert, resolver=lab.addr, s2s=s2s,
                           workers=1)
    conf_a["policies"] = [dict(DANE_ONLY, domain="b1.test"), dict(DANE_ONLY, domain="b2.test")]
    cert.conf_domains = ["b1.test", "b2.test"]
    conf_b = h.router_conf(env, b.ip, b.s2s_port, b.comp_port, b.metrics_port,
                           [("b1.test", b.secret), ("b2.test", b2_secret)], [cert], ca.cert,
                           resolver=lab.addr, s2s=s2s, workers=1)
    a.router = env.router(a.name, conf_a)
    b.router = env.router(b.name, conf_b)
    a.comp = a.component()
    b.comp = b.component()
    b2 = h.Site("router-b-pool", b.ip, "b2.test", b2_secret)
    b2.router = b.router
    b2.comp = b2.component()

    h.exchange(a, b, 2, prefix="b1-first")
    h.exchange(b, a, 2, prefix="b1-first")
    ma = a.router.scrape()
    check(ma.get(d.CHECKS, result="proven", prooftype="dane") > 0,
          "A counts proven/dane for b1.test", d.metrics_summary(a))

    pair = d.Pair("b2")
    pair.a, pair.b = a, b2
    conds = d.refused_both_ways(pair)
    h.log("       bounce conditions: %r" % (conds,))
    ma = a.router.scrape()
    check(ma.get(d.CHECKS, result="refused", prooftype="dane") > 0,
          "A counts refused/dane (b2.test's own TLSA at the shared address)",
          d.metrics_summary(a))
    d.log_has(a, d.verdict_re("b2.test", "refused") + r".*DANE", "b2.test refused by DANE")
    check(not d.log_lines(a, d.verdict_re("b2.test", "proven")), "A never proved b2.test")

    h.exchange(a, b, 1, prefix="b1-after")
    h.exchange(b, a, 1, prefix="b1-after")
    ma = a.router.scrape()
    check(ma.get("fedrouter_tcp_connects_total", direction="out") >= 1,
          "A reached B", ma.get("fedrouter_tcp_connects_total", direction="out"))


if __name__ == "__main__":
    h.run(scenario)
