#!/usr/bin/python3
"""integ_close_hostile: the close phase (RFC 6120 §4.4) against peers that misuse it.

Router A (a0.test, s2s.shutdown_timeout = 1, admin socket) and scripted peers on 127.0.0.4-6.
Asserts:
  1. A closes a stream with a stream error while XEP-0198 stanzas are unacknowledged (the peer
     acks more than A sent): after </stream:error> A writes only </stream:stream>, no <r/>;
  2. the peer sends a stream error on a bidi stream and keeps sending stanzas without closing:
     none of them is routed (a stream error is unrecoverable), though one sent before was;
  3. a component that closes its stream but keeps its socket open: a new connection for the
     same domain is accepted at once (the old one no longer holds the domain);
  4. fedctl flush-peer on a stream with 5 unacknowledged stanzas, toward a peer that never
     answers the close, then SIGTERM at once: the 5 bounce to the component before it is told
     <system-shutdown/> (they are not left to the connection's 2 s close deadline)."""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402
from fedctl import fedctl, fedctl_bin, start_admin_router  # noqa: E402

SECRET = "integration-dialback-secret-127.0.0.1"
STREAM_ERR = "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>" \
             "</stream:error>"


def back(i, frm="x@u0.test"):
    return "<message from='%s' to='u@a0.test' id='%s'><body>b</body></message>" % (frm, i)


def scenario(env):
    slow = env.slow
    tool = fedctl_bin(env)
    ca = env.ca()
    smp = h.ScriptedPeer(env, ca, ["t0.test"], SECRET, ip="127.0.0.4", db_errors=True,
                         sm="silent", name="peer-sm")
    bidi = h.ScriptedPeer(env, ca, ["u0.test"], SECRET, ip="127.0.0.5", db_errors=True,
                          bidi=True, name="peer-bidi")
    deaf = h.ScriptedPeer(env, ca, ["v0.test"], SECRET, ip="127.0.0.6", db_errors=True,
                          sm="silent", answer_close=False, name="peer-deaf")
    r, comp, admin = start_admin_router(
        env, [("127.0.0.4", smp), ("127.0.0.5", bidi), ("127.0.0.6", deaf)],
        s2s={"shutdown_timeout": 1})

    # 1. No <r/> after A's stream error.
    for i in range(3):
        comp.message("u@a0.test", "x@t0.test", "m", id="r-%d" % i)
    got = smp.wait_count(lambda it: it[0] == "stanza", 3, 10 * slow)
    check(len(got) == 3 and smp.items("sm:enable"), "3 stanzas reached the SM peer, SM enabled")
    n = got[-1][1]
    conn = smp.conns[n]
    mark = len(conn.raw_in)
    smp.send_back(n, "<a xmlns='urn:xmpp:sm:3' h='99'/>")
    check(smp.wait_count(lambda it: it[0] == "closed" and it[1] == n, 1, 10 * slow),
          "A ended the stream on an ack for more than it sent")
    tail = conn.raw_in[mark:].decode(errors="replace")
    after = tail[tail.find("</stream:error>") + len("</stream:error>"):] \
        if "</stream:error>" in tail else None
    check(after is not None and "<r " not in after and "</stream:stream>" in after,
          "after its <stream:error/> A wrote only </stream:stream>", tail[-200:])

    # 2. Nothing after the peer's own stream error is routed.
    comp.message("u@a0.test", "x@u0.test", "go", id="bidi-go")
    got = bidi.wait_count(lambda it: it[0] == "stanza", 1, 10 * slow)
    check(got and bidi.items("bidi"), "A enabled bidi on its stream to u0.test")
    n = got[0][1]
    bidi.send_back(n, back("before-error"))
    check(comp.wait_for(h.by_id("before-error"), 10 * slow) is not None,
          "a stanza back on the bidi stream reaches A's component")
    sent = 0
    bidi.send_back(n, STREAM_ERR)
    try:
        for i in range(20):
            bidi.send_back(n, back("after-error-%d" % i))
            sent += 1
    except h.Fail:
        pass  # the peer saw A's close meanwhile
    time.sleep(1.5 * slow)
    routed = [e.get("id") for e in comp.received if (e.get("id") or "").startswith("after-error")]
    check(sent > 0 and not routed,
          "none of the %d stanzas the peer sent after its stream error was routed" % sent, routed)

    # 3. A component that closed its stream does not hold its domain.
    comp.conn.send("</stream:stream>")  # socket kept open: no FIN
    time.sleep(0.3 * slow)
    c2, ev = h.Component(r.comp_addr, "a0.test", "sec-a0").open()
    check(ev and ev[0] == "elem" and ev[1].name == "handshake",
          "the domain is free at once after its component closed its stream", ev)
    c2.send("</stream:stream>")
    c2.close()
    comp.conn.close()
    time.sleep(0.3 * slow)
    comp = h.Component(r.comp_addr, "a0.test", "sec-a0").connect()  # a fresh one, for part 4

    # 4. flush-peer, then SIGTERM: the unacknowledged stanzas bounce while the component hears.
    ids = ["sd-%d" % i for i in range(5)]
    for i in ids:
        comp.message("u@a0.test", "x@v0.test", "m", id=i)
    got = deaf.wait_count(lambda it: it[0] == "stanza", len(ids), 10 * slow)
    check(len(got) == len(ids), "5 stanzas reached the peer that never acks")
    rc, out, err = fedctl(tool, admin, "flush-peer", "127.0.0.6:%d" % deaf.port)
    check(rc == 0, "fedctl flush-peer", (out, err))
    time.sleep(0.1)
    r.send_signal(signal.SIGTERM)
    rc = r.wait_exit(20)
    check(rc == 0, "A exited 0 after SIGTERM", rc)
    bounced = [e.get("id") for e in comp.received if e.get("type") == "error"]
    check(sorted(bounced) == sorted(ids),
          "the 5 unacknowledged stanzas bounced to the component, once each", bounced)
    for p in (smp, bidi, deaf):
        p.close()


if __name__ == "__main__":
    h.run(scenario)
