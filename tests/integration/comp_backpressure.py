#!/usr/bin/python3
"""integ_comp_backpressure: a component that stops reading costs bounded memory and loses nothing.

B's component for b.test authenticates and then stops reading. A's component sends it N large
messages over s2s (in batches, once the stream A -> B is up). B may buffer at most s2s.max_queue_bytes (64 KiB here) of output for the
component plus what the kernel holds; beyond that it bounces with resource-constraint. Asserts:
  - bounces with <resource-constraint/> (type wait) reach A's component, and B's share is not
    zero (without the output bound B would buffer everything and bounce nothing);
  - once the component reads again, every message is either delivered to it or was bounced —
    none vanished — and A -> B traffic still flows afterwards."""

import hashlib
import os
import re
import socket
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

N = 1600  # 12.8 MB: more than the kernel buffers toward the mute component absorb (<= 4 MB)
BODY = "x" * 8000


def mute_component(b):
    """Connects b.test's component, completes the handshake, then reads nothing more."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(b.router.comp_addr)
    s.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
               "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>" % b.domain).encode())
    buf = b""
    while b"id=" not in buf or b">" not in buf[buf.find(b"id="):]:
        buf += s.recv(4096)
    sid = re.search(rb"id=['\"]([^'\"]+)['\"]", buf).group(1).decode()
    s.sendall(("<handshake>%s</handshake>" %
               hashlib.sha1((sid + b.secret).encode()).hexdigest()).encode())
    while b"<handshake/>" not in buf:
        buf += s.recv(4096)
    return s


def scenario(env):
    slow = env.slow
    a, b = h.make_pair(env, s2s_b={"max_queue_bytes": 65536, "max_stanza_size": 16384})
    b.comp.close()
    time.sleep(0.2)
    mute = mute_component(b)
    frm = "alice@a.test/r"
    # The stream A -> B first, so that A's queue does not take the burst (and bound it) while
    # the stream is being set up; then batches B reads as fast as they come: the bound that
    # acts is B's toward its component.
    a.comp.message(frm, "bob@b.test", "warm-up", id="warm-up")
    h.wait_until(lambda: b.router.scrape().get("fedrouter_streams", direction="in") >= 1,
                 10 * slow)
    for i in range(N):
        a.comp.message(frm, "bob@b.test", BODY, id="bp-%d" % i)
        if i % 50 == 49:
            time.sleep(0.02)

    def bounced():
        return [e for e in a.comp.received
                if e.get("type") == "error" and (e.get("id") or "").startswith("bp-")]
    h.wait_until(lambda: len(bounced()) > 0, 15 * slow)
    bb = bounced()
    conds = {h.stanza_error_condition(e) for e in bb}
    check(len(bb) > 0 and conds == {("resource-constraint", "wait")},
          "messages bounce with resource-constraint/wait while the component does not read (%d so "
          "far)" % len(bb), conds)

    # The component reads again: read until every message is accounted for, delivered or bounced.
    mute.settimeout(0.2)
    data = b""
    got, ids_bounced = set(), set()
    end = time.monotonic() + 60 * slow
    next_scrape = time.monotonic()
    while time.monotonic() < end:
        try:
            chunk = mute.recv(65536)
            if not chunk:
                break
            data += chunk
        except socket.timeout:
            pass
        got = {g.decode() for g in re.findall(rb"id=['\"](bp-\d+)['\"]", data)}
        ids_bounced = {e.get("id") for e in bounced()}
        if len(got | ids_bounced) == N:
            break
        # Bounces that could not be delivered in turn are counted as dropped (below): once the
        # rest adds up, nothing more will arrive.
        if time.monotonic() >= next_scrape:
            next_scrape = time.monotonic() + 0.5
            dropped_now = sum(r.router.scrape().get("fedrouter_stanzas_dropped_total")
                              for r in (a, b))
            if dropped_now > 0 and len(got | ids_bounced) + dropped_now >= N:
                break
    for r in (a, b):
        m = r.router.scrape()
        h.log("  info %s: dropped %s, bounces rc %s, routed %s, streams %s" % (
            r.domain, m.get("fedrouter_stanzas_dropped_total"),
            m.get("fedrouter_bounces_total", condition="resource-constraint"),
            m.get("fedrouter_stanzas_routed_total"), m.get("fedrouter_streams")))
    check(not (got & ids_bounced), "no message was both delivered and bounced")
    # A bounce that cannot be delivered in turn (B's own queue toward A is full: 64 KiB here) is
    # not bounced again (RFC 6120 §8.3.1) but counted as dropped: every message is accounted for.
    missing = {"bp-%d" % i for i in range(N)} - got - ids_bounced
    dropped = sum(r.router.scrape().get("fedrouter_stanzas_dropped_total") for r in (a, b))
    check(len(missing) == dropped,
          "every message was delivered (%d), bounced (%d) or counted as a dropped bounce (%d): "
          "none vanished unseen" % (len(got), len(ids_bounced), dropped),
          "%d unaccounted, %s dropped: %s" % (len(missing), dropped, sorted(missing)[:5]))
    conds = {h.stanza_error_condition(e) for e in bounced()}
    check(conds == {("resource-constraint", "wait")}, "every bounce is resource-constraint/wait",
          conds)
    # Both routers may bounce: B toward its mute component, and A when its own stream to B is
    # backed up while B is busy (each bound in turn).
    counted = sum(r.router.scrape().get("fedrouter_bounces_total", condition="resource-constraint")
                  for r in (a, b))
    check(counted == len(ids_bounced) + dropped,
          "A and B counted as many resource-constraint bounces as arrived or were dropped",
          "%s counted, %d received" % (counted, len(ids_bounced)))
    check(b.router.scrape().get("fedrouter_bounces_total", condition="resource-constraint") > 0,
          "B bounced for its component (the component-side bound works)")
    mute.close()

    # B keeps working for a component that reads (once it has seen the mute one go).
    b.comp = None
    end = time.monotonic() + 10 * slow
    while b.comp is None:
        try:
            b.comp = b.component()
        except h.Fail:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)
    a.comp.message(frm, "bob@b.test", "after", id="bp-after")
    check(b.comp.wait_for(h.by_id("bp-after"), 10 * slow) is not None,
          "A -> B still flows to a reading component afterwards")


if __name__ == "__main__":
    h.run(scenario)
