#!/usr/bin/python3
"""integ_multi_domain: router A hosts a.test and c.test, router B hosts b.test and d.test (one
certificate per router naming both of its domains, one component per domain). Messages for all
four domain pairs, both ways, arrive intact: sender and target multiplexing (one authenticated
pair never stands in for another, SPEC RTR-1). Prints the TCP connection counts (pooling)."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def start(env, name, ip, domains, peer_domains, peer_ip, peer_port, ports):
    ca = env.ca()
    cert = ca.issue(name, domains)
    secrets = [(d, "secret-%s-%s" % (d, os.urandom(4).hex())) for d in domains]
    s2s_port, comp_port, metrics_port = ports
    conf = h.router_conf(env, ip, s2s_port, comp_port, metrics_port, secrets, [cert], ca.cert,
                         routes=[(d, peer_ip, peer_port) for d in peer_domains])
    r = env.router(name, conf)
    sites = []
    for d, sec in secrets:
        s = h.Site(name, ip, d, sec)
        s.router = r
        s.comp = s.component()
        sites.append(s)
    return r, sites


def scenario(env):
    pa = (env.free_port(), env.free_port(), env.free_port())
    pb = (env.free_port(), env.free_port(), env.free_port())
    ra, (a, c) = start(env, "router-a", "127.0.0.1", ["a.test", "c.test"], ["b.test", "d.test"],
                       "127.0.0.2", pb[0], pa)
    rb, (b, d) = start(env, "router-b", "127.0.0.2", ["b.test", "d.test"], ["a.test", "c.test"],
                       "127.0.0.1", pa[0], pb)
    for src, dst in ((a, b), (c, b), (a, d), (c, d), (b, a), (d, a), (b, c), (d, c)):
        h.exchange(src, dst, 2, prefix="mx")
    # nothing crossed over to the wrong component
    for s in (a, b, c, d):
        wrong = [e for e in s.comp.received if e.get("to", "").split("@")[-1] != s.domain]
        check(not wrong, "%s's component got only stanzas for %s" % (s.domain, s.domain), wrong)
    ma, mb = ra.scrape(), rb.scrape()
    T = "fedrouter_tcp_connects_total"
    h.log("  info A: tcp out %d, in %d; auth out %s; B: tcp out %d, in %d; auth out %s" % (
        ma.get(T, direction="out"), ma.get(T, direction="in"),
        {m: ma.get("fedrouter_s2s_auth_total", direction="out", mechanism=m)
         for m in ("external", "dialback")},
        mb.get(T, direction="out"), mb.get(T, direction="in"),
        {m: mb.get("fedrouter_s2s_auth_total", direction="out", mechanism=m)
         for m in ("external", "dialback")}))
    check(ma.get("fedrouter_s2s_auth_total", direction="out") >= 4 and
          mb.get("fedrouter_s2s_auth_total", direction="out") >= 4,
          "each router authenticated the 4 outbound domain pairs")
    check(ma.get("fedrouter_bounces_total") == 0 and mb.get("fedrouter_bounces_total") == 0,
          "no bounces")


if __name__ == "__main__":
    h.run(scenario)
