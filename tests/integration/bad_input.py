#!/usr/bin/python3
"""integ_bad_input: hostile or broken peers against router B (b.test, 127.0.0.2) while a legit
flow between routers A and B (EXTERNAL) runs in parallel. Each case asserts the stream error,
that it is sent inside a well-formed stream and followed by </stream:stream>, that B closed the
connection, and that the offending stanza did not reach any component; after each case the
legit flow is synced (everything sent so far arrived). At the end: no legit message lost or
reordered, A and B never reconnected, and the counters moved. A failing case is reported and
the next one still runs.

Cases (raw clients bind distinct 127.0.0.x source addresses):
  not-well-formed (in the stream, and instead of the header); restricted-xml (DOCTYPE with
  entity declaration, comment before and after the header, processing instruction); undefined entity reference; header to an unhosted domain (host-unknown); stanza
  before TLS and after TLS before authentication (not-authorized); stanza whose from domain was
  not authenticated (invalid-from); stanza to an unhosted domain on an authenticated stream (no
  relaying); stanza over s2s.max_stanza_size (policy-violation); silent peers
  (connection-timeout after s2s.auth_timeout); more than s2s.max_unauth_per_ip unauthenticated
  connections from one address (wait unread for a slot, refused beyond 8 times the limit); component with a wrong secret (not-authorized), for an unknown
  domain, and garbage instead of a component header (not-well-formed). Errors raised before
  the peer's header must still be preceded by a response header (RFC 6120 §4.9.1.2)."""

import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

AUTH_TIMEOUT = 3
MAX_UNAUTH = 4
MAX_STANZA = 16384


class Flow:
    """Background legit traffic: a message every 20 ms, alternating a->b and b->a."""

    def __init__(self, a, b):
        self.a, self.b = a, b
        self.sent = {"ab": 0, "ba": 0}
        self.stop_flag = False
        self.error = None
        self.lock = threading.Lock()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        i = 0
        while not self.stop_flag:
            d = "ab" if i % 2 == 0 else "ba"
            src, dst = (self.a, self.b) if d == "ab" else (self.b, self.a)
            with self.lock:
                n = self.sent[d]
                try:
                    src.comp.message("flow@%s" % src.domain, "sink@%s" % dst.domain,
                                     "flow %d" % n, id="flow-%s-%d" % (d, n))
                except OSError as e:
                    self.error = "component %s: %s" % (src.domain, e)
                    return
                self.sent[d] = n + 1
            i += 1
            time.sleep(0.02)

    def received(self, d):
        dst = self.b if d == "ab" else self.a
        return dst.comp.count(lambda e: (e.get("id") or "").startswith("flow-%s-" % d))

    def sync(self, what, timeout=10):
        with self.lock:
            want = dict(self.sent)
        ok = h.wait_until(lambda: all(self.received(d) >= want[d] for d in want), timeout)
        check(ok and self.error is None, "legit flow still delivers after %s (%d+%d msgs so far)" %
              (what, want["ab"], want["ba"]),
              ({d: (self.received(d), want[d]) for d in want}, self.error))

    def stop(self):
        self.stop_flag = True
        self.t.join()


class Ctx:
    pass


def raw(x, ip):
    return h.S2S(x.baddr, bind_ip=ip)


def not_delivered(x, ident):
    time.sleep(0.1)
    check(x.b.comp.count(h.by_id(ident)) == 0 and x.a.comp.count(h.by_id(ident)) == 0,
          "stanza %r was not delivered to any component" % ident)


def case_not_well_formed(x):
    c = raw(x, "127.0.0.11")
    c.open("x.test", "b.test")
    c.send("<message from='u@x.test' to='bob@b.test' id='nwf'><body>x</message>")
    h.check_stream_error("malformed XML", c.expect_stream_error(), "not-well-formed")
    x.errors_expected += 1
    x.flow.sync("not-well-formed")


def case_doctype(x):
    c = raw(x, "127.0.0.12")
    c.send("<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY boom 'x'>]>" +
           h.stream_header("x.test", "b.test", decl=False))
    x.errors_expected += 1
    h.check_stream_error("DOCTYPE", c.expect_stream_error(), "restricted-xml")


def case_before_header(x):
    c = raw(x, "127.0.0.12")
    c.send("<?xml version='1.0'?><!-- before the header -->" +
           h.stream_header("x.test", "b.test", decl=False))
    x.errors_expected += 1
    h.check_stream_error("comment before the header", c.expect_stream_error(), "restricted-xml")


def case_garbage_header(x):
    c = raw(x, "127.0.0.12")
    c.send("<<<not xml at all>>>")
    x.errors_expected += 1
    h.check_stream_error("garbage instead of a header", c.expect_stream_error(),
                         "not-well-formed")


def case_comment(x):
    c = raw(x, "127.0.0.12")
    c.open("x.test", "b.test")
    c.send("<!-- a comment -->")
    x.errors_expected += 1
    h.check_stream_error("comment", c.expect_stream_error(), "restricted-xml")


def case_pi(x):
    c = raw(x, "127.0.0.12")
    c.open("x.test", "b.test")
    c.send("<?evil instruction?>")
    x.errors_expected += 1
    h.check_stream_error("processing instruction", c.expect_stream_error(), "restricted-xml")


def case_entity(x):
    c = raw(x, "127.0.0.12")
    c.open("x.test", "b.test")
    c.send("<message from='u@x.test' to='bob@b.test' id='ent'><body>&boom;</body></message>")
    x.errors_expected += 1
    h.check_stream_error("entity reference", c.expect_stream_error(),
                         ("restricted-xml", "not-well-formed"))
    x.flow.sync("restricted-xml cases")


def case_host_unknown(x):
    c = raw(x, "127.0.0.13")
    c.send(h.stream_header("x.test", "nothere.test"))
    x.errors_expected += 1
    h.check_stream_error("header to nothere.test", c.expect_stream_error(), "host-unknown")
    x.flow.sync("host-unknown")


def case_pre_tls(x):
    c = raw(x, "127.0.0.14")
    c.open("x.test", "b.test")
    c.send("<message from='u@x.test' to='bob@b.test' id='pretls'><body>x</body></message>")
    x.errors_expected += 1
    h.check_stream_error("stanza before TLS", c.expect_stream_error(),
                         ("not-authorized", "policy-violation"))
    not_delivered(x, "pretls")


def case_pre_auth(x):
    c = raw(x, "127.0.0.14")
    c.open("x.test", "b.test")
    c.starttls(x.ca.cert, x.x_cert, "b.test")
    check(c.tls_version in ("TLSv1.2", "TLSv1.3"), "TLS negotiated (%s)" % c.tls_version)
    c.send("<message from='u@x.test' to='bob@b.test' id='preauth'><body>x</body></message>")
    x.errors_expected += 1
    h.check_stream_error("stanza before authentication", c.expect_stream_error(),
                         "not-authorized")
    not_delivered(x, "preauth")
    x.flow.sync("not-authorized")


def authed(x, ip="127.0.0.15"):
    c = raw(x, ip)
    c.establish_external(x.ca.cert, x.x_cert, "x.test", "b.test")
    return c


def case_invalid_from(x):
    c = authed(x)
    check(True, "x.test authenticated with SASL EXTERNAL")
    c.send("<message from='u@x.test' to='bob@b.test' id='x-ok1'><body>legit</body></message>")
    e = x.b.comp.wait_for(h.by_id("x-ok1"), 5)
    check(e is not None and e.get("from") == "u@x.test", "x.test's legit stanza delivered", e)
    c.send("<message from='eve@a.test' to='bob@b.test' id='spoof'><body>x</body></message>")
    x.errors_expected += 1
    h.check_stream_error("spoofed from", c.expect_stream_error(), "invalid-from")
    not_delivered(x, "spoof")


def case_relay(x):
    c = authed(x)
    c.send("<message from='u@x.test' to='bob@a.test' id='relay'><body>x</body></message>")
    x.errors_expected += 1
    h.check_stream_error("stanza to a.test via B", c.expect_stream_error(),
                         ("host-unknown", "improper-addressing"))
    not_delivered(x, "relay")


def case_oversize(x):
    c = authed(x)
    c.send("<message from='u@x.test' to='bob@b.test' id='x-ok2'><body>legit</body></message>")
    check(x.b.comp.wait_for(h.by_id("x-ok2"), 5) is not None, "stanza below the limit delivered")
    c.send("<message from='u@x.test' to='bob@b.test' id='big'><body>" +
           "y" * (MAX_STANZA + 4096) + "</body></message>")
    x.errors_expected += 1
    h.check_stream_error("oversize stanza", c.expect_stream_error(), "policy-violation")
    not_delivered(x, "big")
    x.flow.sync("invalid-from, relay attempt and oversize")


def case_silent(x):
    t0 = time.monotonic()
    quiet = raw(x, "127.0.0.16")
    quiet.open("x.test", "b.test")
    mute = raw(x, "127.0.0.16")  # sends nothing at all
    got = quiet.expect_stream_error(timeout=AUTH_TIMEOUT + 4)
    dt = time.monotonic() - t0 - (got.close_delay or 0)
    x.errors_expected += 1
    h.check_stream_error("silent after header", got, "connection-timeout")
    check(AUTH_TIMEOUT - 0.5 <= dt <= AUTH_TIMEOUT + 3,
          "error came after about s2s.auth_timeout (%.1fs)" % dt)
    left = max(0.5, AUTH_TIMEOUT + 3 - (time.monotonic() - t0))
    closed = mute.wait_closed(left)
    check(closed, "connection that sent nothing closed after the auth timeout (%.1fs)" %
          (time.monotonic() - t0))
    x.flow.sync("silent peers")
    if mute.raw_in:  # whatever it sent must be a stream: header first (RFC 6120 §4.9.1.2)
        xs = h.XmlStream()
        xs.feed(mute.raw_in)
        check(xs.events and xs.events[0][0] == "open",
              "what B sent to the mute connection starts with a stream header", mute.raw_in)


def case_unauth_limit(x):
    held = []
    try:
        for _ in range(MAX_UNAUTH):
            c = raw(x, "127.0.0.20")
            c.open("x.test", "b.test")
            held.append(c)
        check(True, "%d unauthenticated connections from 127.0.0.20 accepted" % MAX_UNAUTH)
        # Over the budget a connection waits, unread, for a slot (a busy server opens one per
        # domain pair at once); up to 8 times the budget wait, more are refused.
        parked = []
        for _ in range(MAX_UNAUTH * 8):
            c = raw(x, "127.0.0.20")
            c.send(h.stream_header("x.test", "b.test"))
            parked.append(c)
        time.sleep(0.5)
        quiet = [not c.eof and not c.raw_in for c in parked]
        check(all(quiet), "%d excess connections wait unanswered (parked)" % len(parked), quiet)
        for i in range(2):
            c = raw(x, "127.0.0.20")
            try:
                c.send(h.stream_header("x.test", "b.test"))
            except OSError:
                pass
            t1 = time.monotonic()
            closed = c.wait_closed(1.5)
            check(closed, "connection %d over the waiting budget refused/closed (%.2fs; stream "
                  "error %r)" % (i + 1, time.monotonic() - t1, h.raw_stream_error(c.raw_in)))
        # A slot frees: the first parked connection gets it and is answered.
        held.pop(0).close()
        t1 = time.monotonic()
        answered = h.wait_until(lambda: any(c._fill(0.01) or c.raw_in for c in parked), 2.0)
        check(answered, "a parked connection got the freed slot and was answered (%.2fs)" %
              (time.monotonic() - t1))
        for c in parked:
            c.close()
        other = authed(x, "127.0.0.21")
        other.send("<message from='u@x.test' to='bob@b.test' id='x-ok3'><body>legit</body>"
                   "</message>")
        check(x.b.comp.wait_for(h.by_id("x-ok3"), 5) is not None,
              "authenticated peer from 127.0.0.21 works during the flood")
        other.close()
        still = [not c.eof and not c._fill(0.01) for c in held]
        check(all(still), "the %d admitted connections are still open" % len(held), still)
    finally:
        for c in held:
            c.close()
    time.sleep(0.3)
    c = raw(x, "127.0.0.20")
    c.open("x.test", "b.test")  # Fail if refused: the per-address count must drop again
    check(True, "after they closed, 127.0.0.20 can connect again (count released)")
    c.close()
    x.flow.sync("unauthenticated flood")


def case_component_secret(x):
    bad = h.Component(x.b.router.comp_addr, "b.test", "not-the-secret")
    conn, ev = bad.open()
    cond = (h.stream_error_condition(ev[1]) if ev and ev[0] == "elem"
            else h.raw_stream_error(conn.raw_in))
    check(cond == "not-authorized", "wrong component secret: stream error <not-authorized/>",
          (ev, conn.raw_in[-300:]))
    check(conn.wait_closed(5), "wrong component secret: connection closed")
    x.flow.sync("component with a wrong secret")


def case_component_domain(x):
    bad = h.Component(x.b.router.comp_addr, "nothere.test", "whatever")
    conn, ev = bad.open()
    closed = conn.eof or conn.wait_closed(5)
    cond = h.raw_stream_error(conn.raw_in)
    check(cond in ("host-unknown", "not-authorized", "conflict"),
          "component for nothere.test refused with a stream error (%s)" % cond,
          conn.raw_in[-300:])
    check(closed, "component for nothere.test: connection closed")
    x.flow.sync("component for an unknown domain")


def case_component_garbage(x):
    c = h.StreamConn(socket.create_connection(x.b.router.comp_addr, timeout=5))
    c.send("<<<not xml")
    r = h.S2S.expect_stream_error(c)
    h.check_stream_error("component port: garbage instead of a header", r, "not-well-formed")


def scenario(env):
    x = Ctx()
    x.a, x.b = h.make_pair(env, s2s_b={"auth_timeout": AUTH_TIMEOUT,
                                       "max_unauth_per_ip": MAX_UNAUTH,
                                       "max_stanza_size": MAX_STANZA})
    x.ca = env.ca()
    x.x_cert = x.ca.issue("x.test", ["x.test"])  # an outside server: trusted, not routed
    x.baddr = x.b.router.s2s_addr
    x.errors_expected = 0
    h.exchange(x.a, x.b, 1, prefix="warm")
    h.exchange(x.b, x.a, 1, prefix="warm")
    before_a, before_b = x.a.router.scrape(), x.b.router.scrape()
    x.flow = Flow(x.a, x.b)

    cases = h.Cases()
    cases.run("malformed XML", case_not_well_formed, x)
    cases.run("DOCTYPE with an entity declaration before the stream header", case_doctype, x)
    cases.run("comment before the stream header", case_before_header, x)
    cases.run("garbage instead of a stream header", case_garbage_header, x)
    cases.run("comment after the stream header", case_comment, x)
    cases.run("processing instruction after the stream header", case_pi, x)
    cases.run("undefined entity reference", case_entity, x)
    cases.run("stream header to an unhosted domain", case_host_unknown, x)
    cases.run("stanza before TLS", case_pre_tls, x)
    cases.run("stanza after TLS, before authentication", case_pre_auth, x)
    cases.run("x.test (EXTERNAL) sends from a.test", case_invalid_from, x)
    cases.run("x.test (EXTERNAL) sends to a.test through B (relay)", case_relay, x)
    cases.run("stanza over s2s.max_stanza_size", case_oversize, x)
    cases.run("silent peers (auth_timeout %d s)" % AUTH_TIMEOUT, case_silent, x)
    cases.run("%d+2 unauthenticated connections from 127.0.0.20" % MAX_UNAUTH,
              case_unauth_limit, x)
    cases.run("component with a wrong secret", case_component_secret, x)
    cases.run("component for a domain B does not host", case_component_domain, x)
    cases.run("garbage on the component port", case_component_garbage, x)

    def final():
        a, b, flow = x.a, x.b, x.flow
        flow.stop()
        flow.sync("the end")
        for d, src, dst in (("ab", a, b), ("ba", b, a)):
            got = dst.comp.wait_count(lambda e: (e.get("id") or "").startswith("flow-%s-" % d),
                                      flow.sent[d], 1)
            ids = [int(e.get("id").rsplit("-", 1)[1]) for e in got]
            check(ids == list(range(flow.sent[d])),
                  "legit flow %s -> %s: all %d messages exactly once, in order" %
                  (src.domain, dst.domain, flow.sent[d]), ids[:10])
        after_a, after_b = a.router.scrape(), b.router.scrape()
        T = "fedrouter_tcp_connects_total"
        check(after_a.get(T, direction="out") == before_a.get(T, direction="out") and
              after_b.get(T, direction="out") == before_b.get(T, direction="out"),
              "A and B never reconnected: the legit streams survived every case")
        sent = (after_b.get("fedrouter_stream_errors_sent_total") -
                before_b.get("fedrouter_stream_errors_sent_total"))
        check(sent >= x.errors_expected,
              "B counted >= %d stream errors (%d)" % (x.errors_expected, sent))
        check(after_b.get("fedrouter_unauth_connections_refused_total") >= 2,
              "B counted the refused unauthenticated connections",
              after_b.get("fedrouter_unauth_connections_refused_total"))
        check(after_b.get("fedrouter_unauth_connections_parked_total") >= MAX_UNAUTH * 8,
              "B counted the parked unauthenticated connections",
              after_b.get("fedrouter_unauth_connections_parked_total"))
        check(after_b.get("fedrouter_component_auth_failures_total") >= 1,
              "B counted the component handshake failure",
              after_b.get("fedrouter_component_auth_failures_total"))
        check(b.comp.closed is None and a.comp.closed is None, "legit components still connected")

    cases.run("final accounting", final)
    cases.finish()


if __name__ == "__main__":
    h.run(scenario)
