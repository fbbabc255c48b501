#!/usr/bin/python3
"""integ_fedctl: fedctl against a live router's admin socket.

Routers A and B federate (certificates, static routes) with admin sockets; after traffic both
ways, on A:
  - the admin socket is a socket with mode 0600 (owner only);
  - `fedctl --json peers` shows exactly one peer (B's address) with one established stream
    a.test -> b.test carrying the valid pair; the table output names the same;
  - `fedctl --json pairs` lists the pair a.test -> b.test valid on that peer, nothing queued;
  - `fedctl --json stats` carries the traffic (stanzas routed) and the pooled stream gauge;
  - `fedctl verdicts-flush B-ADDR` answers ok with a count; a malformed address is refused;
  - exit status: an unknown command, `drain-peer bogus`, a malformed address and no command at
    all exit 2 (usage; the router's answer carries "usage":true), no router at the socket exits 1;
  - an unknown command, and a raw request without a newline that stays open, get an error
    answer; the router keeps routing and answering afterwards.
fedctl is looked up next to the fedrouter binary (../tools/fedctl) or in $FEDCTL_BIN."""

import json
import os
import socket
import stat
import subprocess
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check, log  # noqa: E402


def fedctl_bin(env):
    p = os.environ.get("FEDCTL_BIN") or os.path.join(
        os.path.dirname(os.path.dirname(env.binary)), "tools", "fedctl")
    if not os.access(p, os.X_OK):
        raise h.Fail("fedctl not found at %s (build the fedctl target or set FEDCTL_BIN)" % p)
    return p


def fedctl(tool, sock, *args):
    r = subprocess.run([tool, "-s", sock] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=20)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def fedctl_json(tool, sock, *args):
    rc, out, err = fedctl(tool, sock, "--json", *args)
    try:
        doc = json.loads(out)
    except ValueError:
        raise h.Fail("fedctl --json %s: not JSON (rc %d): %r %r" % (" ".join(args), rc, out, err))
    return rc, doc


def make_site_pair(env):
    """make_pair with an admin socket per router."""
    ca = env.ca()
    a = h.Site("router-a", "127.0.0.1", "a.test", "secret-a-" + os.urandom(6).hex())
    b = h.Site("router-b", "127.0.0.2", "b.test", "secret-b-" + os.urandom(6).hex())
    for s in (a, b):
        s.cert = ca.issue(s.domain, [s.domain])
        s.s2s_port = env.free_port()
        s.comp_port = env.free_port()
        s.metrics_port = env.free_port()
    for s, o in ((a, b), (b, a)):
        conf = h.router_conf(env, s.ip, s.s2s_port, s.comp_port, s.metrics_port,
                             [(s.domain, s.secret)], [s.cert], ca.cert,
                             routes=[(o.domain, o.ip, o.s2s_port)], workers=2)
        s.admin = env.path(s.name + "-admin.sock")
        conf["admin"] = {"socket": s.admin}
        s.router = env.router(s.name, conf)
    for s in (a, b):
        s.comp = s.component()
    return a, b


def start_admin_router(env, peers, s2s=None):
    """Starts router-a on 127.0.0.1 (one worker) hosting a0.test with an admin socket, routing
    each domain of the scripted |peers| [(ip, ScriptedPeer)] to it, with |s2s| overrides, and
    connects a0.test's component. Returns (Router, Component, admin socket path)."""
    ip = "127.0.0.1"
    ca = env.ca()
    cert = ca.issue("router-a", ["a0.test"])
    ports = (env.free_port((ip,)), env.free_port((ip,)), env.free_port((ip,)))
    routes = [(d, p_ip, p.port) for p_ip, p in peers for d in p.domains]
    conf = h.router_conf(env, ip, ports[0], ports[1], ports[2], [("a0.test", "sec-a0")], [cert],
                         ca.cert, routes=routes, workers=1, s2s=s2s)
    conf["admin"] = {"socket": env.path("a-admin.sock")}
    r = env.router("router-a", conf)
    site = h.Site("router-a", ip, "a0.test", "sec-a0")
    site.router = r
    site.cert = cert
    return r, site.component(), conf["admin"]["socket"]


def scenario(env):
    tool = fedctl_bin(env)
    a, b = make_site_pair(env)
    h.exchange(a, b, 3)
    h.exchange(b, a, 3)
    b_addr = "%s:%d" % (b.ip, b.s2s_port)

    st = os.stat(a.admin)
    check(stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600,
          "A's admin socket is a socket with mode 0600", oct(st.st_mode))

    # peers: one peer (B), one established stream, the pair a.test -> b.test valid on it.
    state = {}

    def peers_settled():
        rc, doc = fedctl_json(tool, a.admin, "peers")
        state["rc"], state["doc"] = rc, doc
        ps = doc.get("peers") or []
        return rc == 0 and len(ps) == 1 and len(ps[0].get("streams", [])) == 1 and \
            ps[0]["streams"][0].get("state") == "established"
    h.wait_until(peers_settled, 10)
    doc = state["doc"]
    check(state["rc"] == 0 and doc.get("ok") is True and doc.get("workers") == 2,
          "fedctl --json peers answers ok for 2 workers", doc)
    peers = doc.get("peers", [])
    check(len(peers) == 1 and peers[0].get("addr", "").startswith(b_addr),
          "peers: exactly one peer, B's address %s" % b_addr, peers)
    p = peers[0]
    check(p.get("failures") == 0 and p.get("ever_connected") is True,
          "peers: no back-off failures, connected", p)
    streams = p.get("streams", [])
    check(len(streams) == 1 and streams[0].get("state") == "established",
          "peers: one established stream", streams)
    s = streams[0]
    check(s.get("local") == "a.test" and s.get("remote") == "b.test" and s.get("vconn") is False
          and s.get("tls") is True and isinstance(s.get("bidi"), bool) and isinstance(s.get("sm"), bool),
          "peers: the stream's primary pair is a.test -> b.test over TLS (bidi/sm flags given)", s)
    check(s.get("pairs") == {"waiting": 0, "pending": 0, "valid": 1},
          "peers: the stream carries one valid pair", s.get("pairs"))
    check(p.get("waiting") == {"waiting": 0, "pending": 0, "valid": 0},
          "peers: no pair waits for a stream", p.get("waiting"))
    rc, out, err = fedctl(tool, a.admin, "peers")
    check(rc == 0 and b_addr in out and "established" in out and "a.test -> b.test" in out,
          "fedctl peers (table) names the peer and its established stream", out + err)

    # pairs: the outbound pair, valid, on that peer and stream.
    rc, doc = fedctl_json(tool, a.admin, "pairs")
    pairs = [x for x in doc.get("pairs", []) if x.get("dir") == "out"]
    check(rc == 0 and doc.get("ok") is True and len(pairs) == 1,
          "fedctl --json pairs lists exactly one outbound pair", doc)
    q = pairs[0]
    check(q.get("local") == "a.test" and q.get("remote") == "b.test" and q.get("state") == "valid"
          and q.get("peer") == p.get("addr") and q.get("stream") == s.get("id")
          and q.get("queued") == 0 and q.get("worker") == p.get("worker"),
          "pairs: a.test -> b.test valid on B's peer and stream, nothing queued", q)
    rc, out, err = fedctl(tool, a.admin, "pairs")
    check(rc == 0 and "a.test" in out and "b.test" in out and "valid" in out,
          "fedctl pairs (table) shows the valid pair", out + err)

    # stats: the /metrics totals.
    rc, doc = fedctl_json(tool, a.admin, "stats")
    vals = {}
    for e in doc.get("stats", []):
        vals[e["name"]] = vals.get(e["name"], 0) + e["value"]
    check(rc == 0 and vals.get("fedrouter_stanzas_routed_total", 0) >= 6
          and vals.get("fedrouter_pool_streams") == 1,
          "fedctl --json stats: stanzas routed >= 6, one pooled stream",
          {k: vals.get(k) for k in ("fedrouter_stanzas_routed_total", "fedrouter_pool_streams")})
    m = a.router.scrape()
    check(m.get("fedrouter_pool_streams") == vals.get("fedrouter_pool_streams"),
          "stats agree with /metrics (pooled streams)")

    # verdicts-flush.
    rc, doc = fedctl_json(tool, a.admin, "verdicts-flush", b_addr)
    check(rc == 0 and doc.get("ok") is True and isinstance(doc.get("flushed"), int),
          "verdicts-flush %s answers ok with a count" % b_addr, doc)
    rc, doc = fedctl_json(tool, a.admin, "verdicts-flush", "not-an-address")
    check(rc == 2 and doc.get("ok") is False and doc.get("usage") is True
          and "usage" in doc.get("error", ""),
          "verdicts-flush with a malformed address is refused as a usage error (exit 2)", (rc, doc))

    # Errors: unknown command, a request line that never ends.
    # Exit status (tools/OPERATIONS.md): 0 ok, 1 an error answer or no router, 2 a usage error,
    # local or one the router marks "usage":true.
    rc, out, err = fedctl(tool, a.admin, "frobnicate", "now")
    check(rc == 2 and "unknown command 'frobnicate'" in err,
          "an unknown command is a usage error (exit 2)", (rc, out, err))
    rc, doc = fedctl_json(tool, a.admin, "frobnicate")
    check(rc == 2 and doc.get("ok") is False and doc.get("usage") is True,
          "... in JSON too: ok false, usage true, exit 2", (rc, doc))
    rc, out, err = fedctl(tool, a.admin, "drain-peer", "bogus")
    check(rc == 2 and "usage: drain-peer" in err, "drain-peer bogus is a usage error (exit 2)",
          (rc, out, err))
    rc, out, err = fedctl(tool, a.admin)
    check(rc == 2 and "usage: fedctl" in err, "no command: a local usage error (exit 2)",
          (rc, out, err))
    rc, out, err = fedctl(tool, env.path("no-such-admin.sock"), "peers")
    check(rc == 1 and "cannot connect" in err, "router unreachable: exit 1", (rc, out, err))
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(10)
    c.connect(a.admin)
    c.sendall(b"peers")  # no newline, connection left open: the router times the client out
    got = b""
    while True:
        chunk = c.recv(4096)
        if not chunk:
            break
        got += chunk
    c.close()
    check(json.loads(got).get("ok") is False, "a request line that never ends gets an error", got)

    # The router still works: traffic and admin answers.
    h.exchange(a, b, 2, prefix="after")
    rc, doc = fedctl_json(tool, a.admin, "peers")
    check(rc == 0 and len(doc.get("peers", [])) == 1, "peers still answers after the errors", doc)
    check(a.router.alive(), "A is still running")
    log("  ok   fedctl: peers, pairs, stats, verdicts-flush, errors")


if __name__ == "__main__":
    h.run(scenario)
