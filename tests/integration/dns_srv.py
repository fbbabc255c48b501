#!/usr/bin/python3
"""integ_dns_srv: no static routes; unbound on 127.0.0.1:<port> serves
_xmpp-server._tcp.{a,b}.test SRV records pointing at the routers' ports (b.test -> 127.0.0.2) and
both routers use it as s2s.resolver. Messages arrive both ways."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def scenario(env):
    a, b = h.make_pair(env, static_routes=False, dns=[])
    rc, ans = h.dns_query("127.0.0.1", env.dns.port, "_xmpp-server._tcp.b.test.", h.DNS_SRV)
    check(rc == 0 and ans == [(0, 5, b.s2s_port, "rb.test.")], "unbound serves b.test's SRV", ans)
    check("routes" not in a.router.conf and "routes" not in b.router.conf, "no static routes")
    h.exchange(a, b, 3)
    h.exchange(b, a, 3)
    ma, mb = a.router.scrape(), b.router.scrape()
    check(ma.get("fedrouter_s2s_auth_total", direction="out") >= 1 and
          mb.get("fedrouter_s2s_auth_total", direction="out") >= 1,
          "both routers authenticated an outbound stream found through SRV")
    check(ma.get("fedrouter_bounces_total") == 0 and mb.get("fedrouter_bounces_total") == 0,
          "no bounces")


if __name__ == "__main__":
    h.run(scenario)
