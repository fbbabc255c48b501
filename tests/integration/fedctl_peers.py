#!/usr/bin/python3
"""integ_fedctl_peers: fedctl verdicts, pairs (how each pair was verified), flush-peer,
drain-peer/undrain-peer and the admin socket's permissions, against known state.

Routers A and B federate (certificates from one CA with clientAuth, static routes, SASL
EXTERNAL both ways). After traffic both ways, on A:
  - `verdicts --json` lists b.test positive with prooftype PKIX, for B's address (outbound, with
    its port) and for B's IP (inbound, port 0), with B's certificate fingerprint and seconds left;
    --domain and --peer filter; the table names the same;
  - `pairs --json` shows the outbound pair a.test -> b.test and the inbound pair b.test -> a.test
    as verified by EXTERNAL with prooftype PKIX;
  - `flush-peer B` forgets B's verdicts and ends the stream: the next stanzas go out on a new
    stream (outbound TCP connects up by exactly one), none is lost, and the verdict comes back;
  - `drain-peer B` while a burst of stanzas is on its way: every stanza is delivered or bounced,
    `peers` shows B draining, the stream ends with </stream:stream> (A's drain log line, no TLS or
    stream error at B, no stream left); a stanza sent while draining bounces
    (remote-server-timeout) once s2s.stanza_timeout is up; after `undrain-peer` traffic flows;
  - the admin socket is mode 0600 and a process of another user cannot connect to it.
Then routers C (c.test and c2.test, a certificate that names c2.test only) and D (d.test): after
c.test -> d.test and c2.test -> d.test, C's `pairs` shows the first outbound pair verified by
dialback (D proven by PKIX) and the second piggybacked on the same stream; D's shows c.test by
dialback (no prooftype) and c2.test dialback-optimized (PKIX), piggybacked on the same stream."""

import json
import os
import re
import stat
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check, log  # noqa: E402
from fedctl import fedctl, fedctl_bin, fedctl_json, make_site_pair  # noqa: E402


def out_connects(site):
    return site.router.scrape().get("fedrouter_tcp_connects_total", direction="out")


def scenario(env):
    tool = fedctl_bin(env)
    a, b = make_site_pair(env)
    h.exchange(a, b, 3)
    h.exchange(b, a, 3)
    b_addr = "%s:%d" % (b.ip, b.s2s_port)

    # ---- verdicts ----------------------------------------------------------------------------
    rc, doc = fedctl_json(tool, a.admin, "verdicts")
    vs = doc.get("verdicts", [])
    check(rc == 0 and doc.get("ok") is True and doc.get("total") == len(vs)
          and doc.get("truncated") is False, "verdicts --json answers ok, not truncated", doc)
    mine = [v for v in vs if v.get("domain") == "b.test"]
    out_v = [v for v in mine if v.get("peer") == b_addr]
    in_v = [v for v in mine if ":" not in v.get("peer", ":")]  # B's source IP, port 0
    check(len(out_v) == 1 and len(in_v) == 1,
          "verdicts: b.test at B's address %s (outbound) and at B's source IP (inbound)" % b_addr,
          vs)
    for v in out_v + in_v:
        check(v.get("positive") is True and v.get("prooftype") == "PKIX"
              and re.fullmatch(r"[0-9a-f]{64}", v.get("fp") or "") is not None
              and 0 < v.get("expires_in_s", 0) <= 3600,
              "verdict for b.test at %s: positive, PKIX, B's certificate, seconds left" % v["peer"], v)
    check(out_v[0]["fp"] == in_v[0]["fp"], "both verdicts rest on the same certificate (B's)")
    b_src = in_v[0]["peer"]
    check(all(v.get("domain") != "a.test" for v in vs), "no verdict about our own domain", vs)
    rc, doc = fedctl_json(tool, a.admin, "verdicts", "--domain", "b.test", "--peer", b_addr)
    check(rc == 0 and [v.get("peer") for v in doc.get("verdicts", [])] == [b_addr],
          "verdicts --domain b.test --peer B-ADDR: exactly the outbound one", doc)
    rc, doc = fedctl_json(tool, a.admin, "verdicts", "--peer", b_src)
    check(rc == 0 and b_src in [v.get("peer") for v in doc.get("verdicts", [])]
          and b_addr not in [v.get("peer") for v in doc.get("verdicts", [])],
          "verdicts --peer %s (no port): the inbound one, not B's listener" % b_src, doc)
    rc, doc = fedctl_json(tool, a.admin, "verdicts", "--domain", "nowhere.test")
    check(rc == 0 and doc.get("verdicts") == [] and doc.get("total") == 0,
          "verdicts --domain nowhere.test: none", doc)
    rc, doc = fedctl_json(tool, a.admin, "verdicts", "--bogus")
    check(rc == 2 and doc.get("usage") is True and "usage" in doc.get("error", ""),
          "verdicts with an unknown option: usage (exit 2)", (rc, doc))
    rc, out, err = fedctl(tool, a.admin, "verdicts")
    check(rc == 0 and "b.test" in out and "PKIX" in out and "positive" in out
          and out_v[0]["fp"][:16] in out, "fedctl verdicts (table): b.test positive PKIX, short fp",
          out + err)
    log(out.rstrip())

    # ---- pairs: how each was verified ---------------------------------------------------------
    state = {}

    def pairs_ready():
        rc, doc = fedctl_json(tool, a.admin, "pairs")
        state["doc"] = doc
        ps = doc.get("pairs", [])
        return rc == 0 and any(p.get("dir") == "in" and p.get("state") == "valid" for p in ps) \
            and any(p.get("dir") == "out" and p.get("state") == "valid" for p in ps)
    h.wait_until(pairs_ready, 10)
    ps = state["doc"].get("pairs", [])
    outs = [p for p in ps if p.get("dir") == "out"]
    ins = [p for p in ps if p.get("dir") == "in"]
    check(len(outs) == 1 and outs[0].get("local") == "a.test" and outs[0].get("remote") == "b.test"
          and outs[0].get("mechanism") == "EXTERNAL" and outs[0].get("prooftype") == "PKIX"
          and outs[0].get("piggybacked") is False,
          "pairs: outbound a.test -> b.test verified by SASL EXTERNAL, B proven by PKIX", outs)
    check(len(ins) == 1 and ins[0].get("remote") == "b.test" and ins[0].get("local") == "a.test"
          and ins[0].get("state") == "valid" and ins[0].get("mechanism") == "EXTERNAL"
          and ins[0].get("prooftype") == "PKIX" and ins[0].get("peer", "").startswith(b_src + ":"),
          "pairs: inbound b.test -> a.test verified by SASL EXTERNAL (PKIX)", ins)
    rc, out, err = fedctl(tool, a.admin, "pairs")
    check(rc == 0 and out.count("EXTERNAL (PKIX)") == 2, "fedctl pairs (table): both EXTERNAL (PKIX)",
          out + err)
    log(out.rstrip())

    # ---- flush-peer ---------------------------------------------------------------------------
    before = out_connects(a)
    rc, doc = fedctl_json(tool, a.admin, "flush-peer", b_addr)
    aff = [x for x in doc.get("affected", []) if "(inbound)" not in x.get("addr", "")]
    check(rc == 0 and doc.get("ok") is True and doc.get("flushed") >= 1 and len(aff) == 1
          and aff[0].get("streams") == 1 and aff[0].get("addr", "").startswith(b_addr),
          "flush-peer B: its verdicts flushed, B's one stream ended", doc)
    rc, doc = fedctl_json(tool, a.admin, "verdicts", "--domain", "b.test")
    left = [v.get("peer") for v in doc.get("verdicts", [])]
    check(rc == 0 and b_addr not in left, "after flush-peer no verdict for B's address is left", doc)
    h.exchange(a, b, 5, prefix="flushed")
    check(out_connects(a) == before + 1,
          "the next stanzas took exactly one new TCP connection", (before, out_connects(a)))
    rc, doc = fedctl_json(tool, a.admin, "verdicts", "--peer", b_addr)
    check(rc == 0 and [v.get("prooftype") for v in doc.get("verdicts", [])] == ["PKIX"],
          "the new stream proved b.test again (PKIX)", doc)
    check("flushed by the operator: ending stream" in a.router.log_text(),
          "A logged the operator's flush with the stream it ended")
    # flush-peer on the address B connects from ends B's inbound streams too (any source port):
    # B reconnects, and its pairs are checked afresh.
    in_before = a.router.scrape().get("fedrouter_tcp_connects_total", direction="in")
    rc, doc = fedctl_json(tool, a.admin, "flush-peer", b_src + ":1")
    inb = [x for x in doc.get("affected", []) if x.get("addr") == b_src + " (inbound)"]
    check(rc == 0 and len(inb) >= 1 and sum(x.get("streams", 0) for x in inb) >= 1,
          "flush-peer %s: B's inbound stream ended" % b_src, doc)
    check("inbound stream ended (operator: flush-peer)" in a.router.log_text(),
          "A logged the inbound stream the operator ended")
    h.exchange(b, a, 3, prefix="flushed-in")
    check(a.router.scrape().get("fedrouter_tcp_connects_total", direction="in") > in_before,
          "B reconnected to A for the next stanzas", in_before)
    rc, doc = fedctl_json(tool, a.admin, "flush-peer", "nonsense")
    check(rc == 2 and doc.get("usage") is True and "usage" in doc.get("error", ""),
          "flush-peer with a bad address: usage (exit 2)", (rc, doc))

    # ---- drain-peer under traffic ---------------------------------------------------------------
    errors_b_before = b.router.scrape().get("fedrouter_stream_errors_total")
    n = 300
    tag = "drain-" + os.urandom(3).hex()
    frm, to = "alice@a.test/res", "bob@b.test"
    for i in range(n // 2):
        a.comp.message(frm, to, "d%d" % i, id="%s-%d" % (tag, i), type="chat")
    rc, doc = fedctl_json(tool, a.admin, "drain-peer", b_addr)
    check(rc == 0 and doc.get("ok") is True and len(doc.get("affected", [])) == 1
          and doc["affected"][0].get("draining") is True, "drain-peer B answers ok, draining", doc)
    for i in range(n // 2, n):
        a.comp.message(frm, to, "d%d" % i, id="%s-%d" % (tag, i), type="chat")
    ids = set("%s-%d" % (tag, i) for i in range(n))

    def settled():
        got = set(e.get("id") for e in b.comp.received if e.get("id") in ids)
        bounced = set(e.get("id") for e in a.comp.received
                      if e.get("id") in ids and e.get("type") == "error")
        state["got"], state["bounced"] = got, bounced
        return len(got | bounced) == n
    h.wait_until(settled, 30)
    got, bounced = state["got"], state["bounced"]
    check(len(got | bounced) == n and not (got & bounced),
          "drain under traffic: each of %d stanzas delivered or bounced, never both" % n,
          "delivered %d, bounced %d" % (len(got), len(bounced)))
    check(len(got) > 0, "stanzas queued before the drain went out", "delivered %d" % len(got))
    conds = set()
    for e in a.comp.received:
        if e.get("id") in bounced and e.find("error") is not None:
            conds.update(x.name for x in e.find("error").children)
    check(conds == {"remote-server-timeout"},
          "the bounced ones bounced with remote-server-timeout (waited for the draining peer)", conds)
    log("  ..   drain: %d delivered, %d bounced" % (len(got), len(bounced)))

    def drained():
        rc, doc = fedctl_json(tool, a.admin, "peers")
        state["peers"] = doc
        ps = [p for p in doc.get("peers", []) if p.get("addr", "").startswith(b_addr)]
        return rc == 0 and len(ps) == 1 and ps[0].get("streams") == []
    h.wait_until(drained, 15)
    ps = [p for p in state["peers"].get("peers", []) if p.get("addr", "").startswith(b_addr)]
    check(len(ps) == 1 and ps[0].get("draining") is True and ps[0].get("streams") == [],
          "peers: B is draining and its streams are gone", state["peers"])
    rc, out, err = fedctl(tool, a.admin, "peers")
    check(rc == 0 and "DRAINING" in out, "fedctl peers (table) marks B DRAINING", out + err)
    log(out.rstrip())
    check(re.search(r"is draining: ending stream a\.test->b\.test", a.router.log_text()) is not None,
          "A ended B's stream with </stream:stream> (drain log line)")
    check("TLS failed" not in b.router.log_text()
          and b.router.scrape().get("fedrouter_stream_errors_total") == errors_b_before,
          "B saw a clean end of stream: no TLS failure, no stream error")

    # While draining, a new stanza is not sent: it bounces once s2s.stanza_timeout is up.
    before = out_connects(a)
    a.comp.message(frm, to, "late", id=tag + "-late", type="chat")
    e = a.comp.wait_for(lambda e: e.get("id") == tag + "-late", timeout=30)
    check(e is not None and e.get("type") == "error" and e.find("error") is not None
          and e.find("error").find("remote-server-timeout") is not None,
          "a stanza for the draining peer bounces with remote-server-timeout", e)
    check(b.comp.count(lambda x: x.get("id") == tag + "-late") == 0 and out_connects(a) == before,
          "... without a new connection to B")

    rc, doc = fedctl_json(tool, a.admin, "undrain-peer", b_addr)
    check(rc == 0 and doc["affected"][0].get("draining") is False, "undrain-peer B", doc)
    h.exchange(a, b, 3, prefix="undrained")
    rc, doc = fedctl_json(tool, a.admin, "drain-peer", "127.0.0.9:5269")
    check(rc == 1 and "no peer" in doc.get("error", "") and "usage" not in doc,
          "drain-peer of an unknown address: an error, not a usage error (exit 1)", (rc, doc))

    # ---- permissions --------------------------------------------------------------------------
    st = os.stat(a.admin)
    check(stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid(),
          "the admin socket is mode 0600, owned by the router's user", oct(st.st_mode))
    if os.getuid() == 0:
        other = 65534  # nobody
        r = subprocess.run([tool, "-s", a.admin, "peers"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=20,
                           preexec_fn=lambda: (os.setgid(other), os.setuid(other)))
        err = r.stderr.decode(errors="replace")
        check(r.returncode == 1 and "Permission denied" in err,
              "fedctl as another user (nobody) cannot connect", (r.returncode, err))
    else:
        r = subprocess.run(["sudo", "-n", "-u", "nobody", tool, "-s", a.admin, "peers"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=20)
        log("  ..   not root: sudo as nobody exited %d" % r.returncode)
        check(r.returncode != 0, "fedctl as another user cannot get an answer")
    check(a.router.alive() and b.router.alive(), "both routers still run")
    dialback_pairs(env, tool)
    log("  ok   fedctl: verdicts, pairs (mechanism), flush-peer, drain-peer, permissions")


def dialback_pairs(env, tool):
    ca = env.ca()
    c = h.Site("router-c", "127.0.0.1", "c.test", "secret-c-" + os.urandom(6).hex())
    d = h.Site("router-d", "127.0.0.2", "d.test", "secret-d-" + os.urandom(6).hex())
    # The certificate names c2.test only: c.test needs dialback, c2.test is proven by PKIX.
    c.cert = ca.issue("c.test", ["c2.test"])
    c.cert.conf_domains = ["c.test", "c2.test"]
    d.cert = ca.issue("d.test", ["d.test"])
    for s in (c, d):
        s.s2s_port = env.free_port()
        s.comp_port = env.free_port()
        s.metrics_port = env.free_port()
    c2_secret = "secret-c2-" + os.urandom(6).hex()
    for s, o, doms, routes in ((c, d, [(c.domain, c.secret), ("c2.test", c2_secret)],
                                [(d.domain, d.ip, d.s2s_port)]),
                               (d, c, [(d.domain, d.secret)],
                                [(c.domain, c.ip, c.s2s_port), ("c2.test", c.ip, c.s2s_port)])):
        conf = h.router_conf(env, s.ip, s.s2s_port, s.comp_port, s.metrics_port, doms, [s.cert],
                             ca.cert, routes=routes, workers=2)
        s.admin = env.path(s.name + "-admin.sock")
        conf["admin"] = {"socket": s.admin}
        s.router = env.router(s.name, conf)
    c.comp = c.component()
    d.comp = d.component()
    c2 = h.Component(c.router.comp_addr, "c2.test", c2_secret, name="comp-c2.test").connect()
    h.exchange(c, d, 2, prefix="db1")
    c2.message("carol@c2.test/r", "dave@d.test", "hi", id="db2-0", type="chat")
    check(d.comp.wait_for(lambda e: e.get("id") == "db2-0", 10) is not None,
          "c2.test -> d.test delivered")
    rc, doc = fedctl_json(tool, c.admin, "pairs")
    outs = sorted((p for p in doc.get("pairs", []) if p.get("dir") == "out"),
                  key=lambda p: p.get("local"))
    check(rc == 0 and [(p.get("local"), p.get("state"), p.get("mechanism"), p.get("prooftype"))
                       for p in outs] == [("c.test", "valid", "dialback", "PKIX"),
                                          ("c2.test", "valid", "piggybacked", "PKIX")]
          and outs[0].get("stream") == outs[1].get("stream"),
          "C's pairs: c.test -> d.test by dialback (D proven by PKIX), c2.test -> d.test "
          "piggybacked on the same stream", outs)
    state = {}

    def d_pairs():
        rc, doc = fedctl_json(tool, d.admin, "pairs")
        state["ins"] = sorted((p for p in doc.get("pairs", []) if p.get("dir") == "in"),
                              key=lambda p: p.get("remote"))
        return len(state["ins"]) == 2
    h.wait_until(d_pairs, 10)
    ins = state["ins"]
    check([(p.get("remote"), p.get("mechanism"), p.get("prooftype"), p.get("piggybacked"))
           for p in ins] == [("c.test", "dialback", None, False),
                             ("c2.test", "dialback-optimized", "PKIX", True)]
          and ins[0].get("stream") == ins[1].get("stream"),
          "D's pairs: c.test by dialback, c2.test dialback-optimized (PKIX) piggybacked on the "
          "same stream", ins)
    rc, out, err = fedctl(tool, d.admin, "pairs")
    log(out.rstrip())
    rc, out, err = fedctl(tool, c.admin, "pairs")
    log(out.rstrip())
    c2.close()


if __name__ == "__main__":
    h.run(scenario)
