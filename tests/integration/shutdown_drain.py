#!/usr/bin/python3
"""integ_shutdown_drain: SIGTERM under traffic drains, then bounces; nothing is silently dropped.

Router A (a.test, s2s.shutdown_timeout = 3) federates with router B (b.test) and with a scripted
peer for stall.test that enables stream management (XEP-0198) but never acknowledges: whatever A
writes to it stays in flight. Bursts are written a.test -> b.test, b.test -> a.test and
a.test -> stall.test, and A gets SIGTERM right after. Asserts:
  - A stops accepting at once (its component and s2s listeners refuse connections);
  - A exits 0 within shutdown_timeout + 4 s, and it did wait for the drain (the stalled peer's
    stanzas never drain: the log says shutdown_timeout passed);
  - every a.test -> b.test and b.test -> a.test stanza was delivered to its target or bounced to
    its sender (zero lost), and at least 90 % of the a.test -> b.test burst was delivered (the
    queues drain instead of bouncing at once); every a.test -> stall.test stanza bounced to a.test with
    remote-server-timeout;
  - the stalled peer saw </stream:stream> (after <system-shutdown/>), B's inbound stream from A
    was ended by A, and A's component got <system-shutdown/> and the stream close;
  - no sanitizer report. Figures (sent/delivered/bounced) are printed."""

import os
import signal
import socket
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check, log  # noqa: E402

TIMEOUT = 3
N = 400
N_STALL = 30


def account(src_comp, dst_ids_comp, ids):
    ids = set(ids)
    with dst_ids_comp.cond:
        delivered = {e.get("id") for e in dst_ids_comp.received
                     if e.get("id") in ids and e.get("type") != "error"}
    with src_comp.cond:
        bounced = {e.get("id"): h.stanza_error_condition(e) for e in src_comp.received
                   if e.get("id") in ids and e.get("type") == "error"}
    lost = [i for i in ids if i not in delivered and i not in bounced]
    return delivered, bounced, lost


def refused(addr):
    try:
        s = socket.create_connection(addr, timeout=1)
    except OSError:
        return True
    s.close()
    return False


def scenario(env):
    ca = env.ca()
    secret_a = "integration-dialback-secret-127.0.0.1"
    stall = h.ScriptedPeer(env, ca, ["stall.test"], secret_a, ip="127.0.0.9", db_errors=True,
                           sasl_for=["stall.test"], sm="silent", name="peer-stall")
    a, b = h.make_pair(env, s2s_a={"shutdown_timeout": TIMEOUT},
                       extra_routes_a=[("stall.test", "127.0.0.9", stall.port)])
    h.exchange(a, b, 2)
    h.exchange(b, a, 2)
    a.comp.message("alice@a.test/r", "bob@stall.test", "warm", id="stall-warm")
    check(stall.wait_count(lambda it: it[0] == "stanza", 1, 10), "stall.test's stream is up")
    check(stall.items("sm:enable"), "A enabled stream management toward stall.test")

    ab = ["ab-%d" % i for i in range(N)]
    ba = ["ba-%d" % i for i in range(N)]
    st = ["st-%d" % i for i in range(N_STALL)]
    for i in range(N):
        a.comp.message("alice@a.test/r", "bob@b.test", "drain %d" % i, id=ab[i])
        b.comp.message("bob@b.test/r", "alice@a.test", "drain %d" % i, id=ba[i])
        if i < N_STALL:
            a.comp.message("alice@a.test/r", "bob@stall.test", "stall %d" % i, id=st[i])
    t0 = time.monotonic()
    a.router.send_signal(signal.SIGTERM)
    check(h.wait_until(lambda: refused(a.router.comp_addr) and refused(a.router.s2s_addr), 2),
          "A stopped accepting (component and s2s listeners refuse)")
    rc = a.router.wait_exit(TIMEOUT + 4)
    took = time.monotonic() - t0
    check(rc is not None, "A exited within shutdown_timeout + 4 s (%.2f s)" % took)
    check(rc == 0, "A exit code 0", rc)
    problems = a.router.stop()
    check(not problems, "A: clean exit, no sanitizer report", problems)
    text = a.router.log_text()
    check("s2s.shutdown_timeout passed" in text,
          "A drained until shutdown_timeout (the stalled peer never acknowledged)")
    check(took >= TIMEOUT - 0.5, "A waited for the drain (%.2f s)" % took)

    check(h.wait_until(lambda: a.comp.closed is not None, 3), "A's component stream closed",
          a.comp.closed)
    errs = [e for e in a.comp.received if e.name == "error" and e.ns == h.NS_STREAM]
    check(errs and h.stream_error_condition(errs[-1]) == "system-shutdown",
          "A's component got <system-shutdown/>", errs)
    check(a.comp.closed == "stream closed by router", "... and </stream:stream>", a.comp.closed)

    # B bounces what it could not send to A once A is gone (stanza_timeout 6 s at most).
    def settled():
        return not account(a.comp, b.comp, ab)[2] and not account(b.comp, a.comp, ba)[2] and \
            not account(a.comp, a.comp, st)[2]
    h.wait_until(settled, 15)
    total = [0, 0, 0]
    for what, src, dst, ids in (("a.test -> b.test", a.comp, b.comp, ab),
                                ("b.test -> a.test", b.comp, a.comp, ba),
                                ("a.test -> stall.test", a.comp, None, st)):
        delivered, bounced, lost = account(src, dst or src, ids)
        if dst is None:
            delivered = set()  # the stalled peer acknowledged nothing
            lost = [i for i in ids if i not in bounced]
        log("  %s: sent %d, delivered %d, bounced %d, lost %d (conditions %s)" % (
            what, len(ids), len(delivered), len(bounced), len(lost), sorted(set(
                c for c, _ in bounced.values()))))
        total[0] += len(ids)
        total[1] += len(delivered)
        total[2] += len(bounced)
        check(not lost, "%s: every stanza delivered or bounced to its sender" % what, lost[:5])
        if dst is None:
            check({c for c, _ in bounced.values()} == {"remote-server-timeout"},
                  "a.test -> stall.test bounced with remote-server-timeout")
        elif src is a.comp:
            # Draining, not bouncing at once: the burst queued at SIGTERM still reaches B.
            check(len(delivered) >= 0.9 * len(ids),
                  "the drain delivered what was queued toward B (%d of %d)" % (len(delivered),
                                                                            len(ids)))
    log("  total: sent %d, delivered %d, bounced %d" % tuple(total))

    closed_raw = b""
    with stall.cond:
        conns = list(stall.conns.values())
    for c in conns:
        closed_raw += c.raw_in
    check(b"</stream:stream>" in closed_raw and b"system-shutdown" in closed_raw,
          "the stalled peer saw <system-shutdown/> and </stream:stream>", closed_raw[-300:])
    btext = b.router.log_text()
    check("stopping" not in btext and b.router.alive(), "B kept running")
    problems = b.router.stop()
    check(not problems, "B: clean exit", problems)


if __name__ == "__main__":
    h.run(scenario)
