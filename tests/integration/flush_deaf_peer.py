#!/usr/bin/python3
"""integ_flush_deaf_peer: ending a stream to a peer that stopped reading loses nothing silently.

A scripted peer (t0.test on 127.0.0.4, no XEP-0198) answers dialback 'valid' and then reads
nothing. Router A (s2s.max_queue_bytes 64 KiB) gets N large messages for it: the kernel buffers
fill, then A's output buffer, then the pair's queue; the rest bounce with resource-constraint.
The operator runs `fedctl flush-peer`; the peer does not answer A's close, so after 2 s A closes
the connection with its output buffer unsent. Then the peer reads again. Asserts:
  - what was still in A's output buffer bounced to the component with remote-server-timeout
    (before, those stanzas vanished: neither delivered, nor bounced, nor counted);
  - every message reached the peer (on either stream, read after it woke up) or bounced:
    none vanished, none both."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402
from fedctl import fedctl, fedctl_bin, start_admin_router  # noqa: E402

N = 1600  # 12.8 MB: more than the kernel buffers toward a deaf peer absorb
BODY = "x" * 8000


def scenario(env):
    slow = env.slow
    tool = fedctl_bin(env)
    ca = env.ca()
    ip = "127.0.0.1"
    peer = h.ScriptedPeer(env, ca, ["t0.test"], "integration-dialback-secret-" + ip,
                          ip="127.0.0.4", db_errors=True, close_after_valid=120, mute=True,
                          answer_close=False, name="peer-deaf")
    r, comp, admin = start_admin_router(env, [("127.0.0.4", peer)],
                                        s2s={"max_queue_bytes": 65536, "max_stanza_size": 16384,
                                             "stanza_timeout": 60})

    comp.message("u@a0.test", "x@t0.test", "first", id="df-first")
    check(peer.wait_count(lambda it: it[0] == "db:result" and it[4], 1, 10 * slow),
          "the pair became valid, then the peer went deaf")
    ids = ["df-first"] + ["df-%d" % i for i in range(N)]
    for i in ids[1:]:
        comp.message("u@a0.test", "x@t0.test", BODY, id=i)
    check(h.wait_until(lambda: r.scrape().get("fedrouter_output_buffered_bytes") > 0, 20 * slow),
          "A holds output for the deaf peer")
    rc, out, err = fedctl(tool, admin, "flush-peer", "127.0.0.4:%d" % peer.port)
    check(rc == 0, "fedctl flush-peer", (out, err))

    def bounced(cond=None):
        return {e.get("id") for e in comp.received if e.get("type") == "error" and
                (cond is None or h.stanza_error_condition(e)[0] == cond)}
    check(h.wait_until(lambda: bounced("remote-server-timeout"), 10 * slow),
          "what A never handed to the connection bounced with remote-server-timeout (%d)" %
          len(bounced("remote-server-timeout")))
    peer.release.set()  # the peer reads again: what the kernel held reaches it

    def at_peer():
        return {e.get("id") for _, _, e in peer.items("stanza")}
    h.wait_until(lambda: len(at_peer() | bounced()) >= len(ids), 30 * slow)
    lost = [i for i in ids if i not in at_peer() and i not in bounced()]
    both = at_peer() & bounced()
    h.log("  info %d sent: %d at the peer, %d bounced (%d remote-server-timeout), %d lost" % (
        len(ids), len(at_peer()), len(bounced()), len(bounced("remote-server-timeout")),
        len(lost)))
    check(not lost, "every message reached the peer or bounced", lost[:10])
    check(not both, "no message both reached the peer and bounced", sorted(both)[:10])
    peer.close()


if __name__ == "__main__":
    h.run(scenario)
