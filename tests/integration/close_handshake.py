#!/usr/bin/python3
"""integ_close_handshake: after its </stream:stream> router A still takes what the peer sends
until the peer closes its own stream (RFC 6120 §4.4: "MUST NOT send more data but keep
processing input").

Two scripted peers behind 127.0.0.4 and 127.0.0.5, each ended by the operator with
`fedctl flush-peer` while traffic is in flight:
  1. XEP-0198 (t0.test, sm='at-close'): the peer never answers <r/> while the stream is open and
     acknowledges everything with one <a h/> when A closes. Asserts: the 20 stanzas reached the
     peer, the late ack came, and A bounced none of them (before: all 20 were bounced although
     acknowledged — the sender was told 'not delivered' about delivered messages);
  2. bidi (XEP-0288, u0.test): the peer writes stanzas back to A on A's own stream as fast as
     it can while A closes it. Asserts: every stanza the peer finished writing before it saw A's
     close reached A's component (before: A stopped reading at its own close and closed TCP at
     once, dropping what was in flight).
Both: A's log has no 'TLS write failed' and A keeps routing to the peer on a new stream."""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402
from fedctl import fedctl, fedctl_bin, start_admin_router  # noqa: E402

SECRET = "integration-dialback-secret-127.0.0.1"


def scenario(env):
    slow = env.slow
    tool = fedctl_bin(env)
    ca = env.ca()
    smp = h.ScriptedPeer(env, ca, ["t0.test"], SECRET, ip="127.0.0.4", db_errors=True,
                         sm="at-close", name="peer-sm")
    bidi = h.ScriptedPeer(env, ca, ["u0.test"], SECRET, ip="127.0.0.5", db_errors=True,
                          bidi=True, name="peer-bidi")
    r, comp, admin = start_admin_router(env, [("127.0.0.4", smp), ("127.0.0.5", bidi)],
                                        s2s={"shutdown_timeout": 2})  # the SM peer never acks

    # 1. XEP-0198: acknowledged after A's close, so not bounced.
    ids = ["sm-%d" % i for i in range(20)]
    for i in ids:
        comp.message("u@a0.test", "x@t0.test", "m", id=i)
    got = smp.wait_count(lambda it: it[0] == "stanza", len(ids), 10 * slow)
    check(len(got) == len(ids), "the 20 stanzas reached the SM peer (%d)" % len(got))
    check(smp.items("sm:enable"), "A enabled XEP-0198 on its stream")
    rc, out, err = fedctl(tool, admin, "flush-peer", "127.0.0.4:%d" % smp.port)
    check(rc == 0, "fedctl flush-peer for the SM peer", (out, err))
    late = smp.wait_count(lambda it: it[0] == "sm:a-at-close", 1, 10 * slow)
    check(late and late[0][2] == len(ids), "the peer acknowledged all 20 after A's close", late)
    time.sleep(1.0 * slow)  # a bounce would come at once once the connection is gone
    bounced = [e.get("id") for e in comp.received if e.get("type") == "error"]
    check(not bounced, "A bounced nothing the peer acknowledged after A's close", bounced)

    # 2. bidi: what the peer writes until it sees A's close is all processed.
    comp.message("u@a0.test", "x@u0.test", "go", id="bidi-go")
    got = bidi.wait_count(lambda it: it[0] == "stanza", 1, 10 * slow)
    check(got and bidi.items("bidi"), "A enabled bidi on its stream to the bidi peer")
    n = got[0][1]
    written = []

    def burst():
        try:
            for i in range(20000):
                bidi.send_back(n, "<message from='x@u0.test' to='u@a0.test' id='back-%d'>"
                                  "<body>back</body></message>" % i)
                written.append(i)
        except (h.Fail, OSError):
            pass  # the peer saw A's close and closed: what was written counts
    t = threading.Thread(target=burst, daemon=True)
    t.start()
    h.wait_until(lambda: len(written) >= 300, 10 * slow)
    rc, out, err = fedctl(tool, admin, "flush-peer", "127.0.0.5:%d" % bidi.port)
    check(rc == 0, "fedctl flush-peer for the bidi peer", (out, err))
    t.join(30 * slow)
    check(not t.is_alive() and len(written) < 20000,
          "the peer saw A's close during its burst (%d written)" % len(written))

    def delivered():
        return {e.get("id") for e in comp.received if (e.get("id") or "").startswith("back-")}
    h.wait_until(lambda: len(delivered()) >= len(written), 10 * slow)
    missing = len(written) - len(delivered())
    check(missing == 0, "every stanza the peer wrote before seeing A's close reached A's "
          "component (%d written, %d delivered)" % (len(written), len(delivered())))

    # Both peers still get traffic, on new streams.
    comp.message("u@a0.test", "x@t0.test", "again", id="sm-after")
    comp.message("u@a0.test", "x@u0.test", "again", id="bidi-after")
    for p, i in ((smp, "sm-after"), (bidi, "bidi-after")):
        check(p.wait_count(lambda it: it[0] == "stanza" and it[2].get("id") == i, 1, 10 * slow),
              "A routes to %s again after the flush" % p.domains[0])
    check("TLS write failed" not in r.log_text(), "A wrote nothing after a TLS session ended")
    smp.close()
    bidi.close()


if __name__ == "__main__":
    h.run(scenario)
