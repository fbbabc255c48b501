#!/usr/bin/python3
"""integ_bad_input: hostile or broken peers against router B (b.test, 127.0.0.2) while a legit
flow between routers A and B (EXTERNAL) runs in parallel. Each case asserts the stream error,
the closing </stream:stream>, that B closed the connection, and that the offending stanza did not
reach B's component; after each case the legit flow is synced (everything sent so far arrived),
and at the end no legit message was lost or reordered and A never had to reconnect.

Cases (raw clients bind distinct 127.0.0.x source addresses):
  not-well-formed, restricted-xml (DOCTYPE with entity declaration, comment, processing
  instruction), undefined entity reference, oversize stanza (policy-violation), header to an
  unhosted domain (host-unknown), stanza to an unhosted domain on an authenticated stream,
  stanza before authentication (not-authorized; before and after TLS), stanza whose from domain
  was not authenticated (invalid-from), silent peers (connection-timeout / closed after
  s2s.auth_timeout), more than s2s.max_unauth_per_ip unauthenticated connections from one address,
  component with a wrong secret (not-authorized) and for an unknown domain."""

import os
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
                src.comp.message("flow@%s" % src.domain, "sink@%s" % dst.domain, "flow %d" % n,
                                 id="flow-%s-%d" % (d, n))
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
        check(ok, "legit flow still delivers after %s (%d+%d msgs so far)" %
              (what, want["ab"], want["ba"]),
              {d: (self.received(d), want[d]) for d in want})

    def stop(self):
        self.stop_flag = True
        self.t.join()


def never_delivered(b, ident):
    return b.comp.count(h.by_id(ident)) == 0


def scenario(env):
    a, b = h.make_pair(env, s2s_b={"auth_timeout": AUTH_TIMEOUT,
                                   "max_unauth_per_ip": MAX_UNAUTH,
                                   "max_stanza_size": MAX_STANZA})
    ca = env.ca()
    x_cert = ca.issue("x.test", ["x.test"])  # an outside server, trusted, not routed anywhere
    baddr = b.router.s2s_addr
    h.exchange(a, b, 1, prefix="warm")
    h.exchange(b, a, 1, prefix="warm")
    before_a = a.router.scrape()
    before_b = b.router.scrape()
    flow = Flow(a, b)
    errors_expected = 0

    def raw(ip):
        return h.S2S(baddr, bind_ip=ip)

    # -- not-well-formed
    h.log("case: malformed XML")
    c = raw("127.0.0.11")
    c.open("x.test", "b.test")
    c.send("<message from='u@x.test' to='bob@b.test' id='nwf'><body>x</message>")
    h.check_stream_error("malformed XML", c.expect_stream_error(), "not-well-formed")
    errors_expected += 1
    flow.sync("not-well-formed")

    # -- restricted XML
    h.log("case: DOCTYPE with an entity declaration before the stream header")
    c = raw("127.0.0.12")
    c.send("<?xml version='1.0'?><!DOCTYPE stream:stream [<!ENTITY boom 'x'>]>" +
           h.stream_header("x.test", "b.test", decl=False))
    h.check_stream_error("DOCTYPE", c.expect_stream_error(), "restricted-xml")
    errors_expected += 1

    h.log("case: comment after the stream header")
    c = raw("127.0.0.12")
    c.open("x.test", "b.test")
    c.send("<!-- a comment -->")
    h.check_stream_error("comment", c.expect_stream_error(), "restricted-xml")
    errors_expected += 1

    h.log("case: processing instruction after the stream header")
    c = raw("127.0.0.12")
    c.open("x.test", "b.test")
    c.send("<?evil instruction?>")
    h.check_stream_error("processing instruction", c.expect_stream_error(), "restricted-xml")
    errors_expected += 1

    h.log("case: undefined entity reference")
    c = raw("127.0.0.12")
    c.open("x.test", "b.test")
    c.send("<message from='u@x.test' to='bob@b.test' id='ent'><body>&boom;</body></message>")
    h.check_stream_error("entity reference", c.expect_stream_error(),
                         ("restricted-xml", "not-well-formed"))
    errors_expected += 1
    flow.sync("restricted-xml cases")

    # -- header to an unhosted domain
    h.log("case: stream header to an unhosted domain")
    c = raw("127.0.0.13")
    c.send(h.stream_header("x.test", "nothere.test"))
    h.check_stream_error("header to nothere.test", c.expect_stream_error(), "host-unknown")
    errors_expected += 1
    flow.sync("host-unknown")

    # -- stanzas before authentication
    h.log("case: stanza before TLS")
    c = raw("127.0.0.14")
    c.open("x.test", "b.test")
    c.send("<message from='u@x.test' to='bob@b.test' id='pretls'><body>x</body></message>")
    h.check_stream_error("stanza before TLS", c.expect_stream_error(),
                         ("not-authorized", "policy-violation"))
    errors_expected += 1

    h.log("case: stanza after TLS, before authentication")
    c = raw("127.0.0.14")
    c.open("x.test", "b.test")
    c.starttls(ca.cert, x_cert, "b.test")
    check(c.tls_version in ("TLSv1.2", "TLSv1.3"), "TLS negotiated (%s)" % c.tls_version)
    c.send("<message from='u@x.test' to='bob@b.test' id='preauth'><body>x</body></message>")
    h.check_stream_error("stanza before authentication", c.expect_stream_error(),
                         "not-authorized")
    errors_expected += 1
    flow.sync("not-authorized")
    check(never_delivered(b, "pretls") and never_delivered(b, "preauth"),
          "unauthenticated stanzas were not delivered")

    # -- authenticated outside server x.test: good stanza, then hostile ones
    h.log("case: EXTERNAL-authenticated x.test sends from a.test (not authenticated)")
    c = raw("127.0.0.15")
    c.establish_external(ca.cert, x_cert, "x.test", "b.test")
    check(True, "x.test authenticated with SASL EXTERNAL")
    c.send("<message from='u@x.test' to='bob@b.test' id='x-ok1'><body>legit</body></message>")
    e = b.comp.wait_for(h.by_id("x-ok1"), 5)
    check(e is not None and e.get("from") == "u@x.test", "x.test's legit stanza delivered", e)
    c.send("<message from='eve@a.test' to='bob@b.test' id='spoof'><body>x</body></message>")
    h.check_stream_error("spoofed from", c.expect_stream_error(), "invalid-from")
    errors_expected += 1

    h.log("case: authenticated stream sends to an unhosted domain (no relaying)")
    c = raw("127.0.0.15")
    c.establish_external(ca.cert, x_cert, "x.test", "b.test")
    c.send("<message from='u@x.test' to='bob@a.test' id='relay'><body>x</body></message>")
    h.check_stream_error("stanza to a.test via B", c.expect_stream_error(),
                         ("host-unknown", "improper-addressing"))
    errors_expected += 1

    h.log("case: stanza over s2s.max_stanza_size")
    c = raw("127.0.0.15")
    c.establish_external(ca.cert, x_cert, "x.test", "b.test")
    c.send("<message from='u@x.test' to='bob@b.test' id='x-ok2'><body>legit</body></message>")
    check(b.comp.wait_for(h.by_id("x-ok2"), 5) is not None, "stanza below the limit delivered")
    c.send("<message from='u@x.test' to='bob@b.test' id='big'><body>" +
           "y" * (MAX_STANZA + 4096) + "</body></message>")
    h.check_stream_error("oversize stanza", c.expect_stream_error(), "policy-violation")
    errors_expected += 1
    flow.sync("invalid-from, relay attempt and oversize")
    check(never_delivered(b, "spoof") and never_delivered(b, "big") and
          never_delivered(b, "relay") and a.comp.count(h.by_id("relay")) == 0,
          "spoofed, oversize and relayed stanzas were not delivered anywhere")

    # -- silent peers
    h.log("case: silent peers (auth_timeout %d s)" % AUTH_TIMEOUT)
    t0 = time.monotonic()
    quiet = raw("127.0.0.16")
    quiet.open("x.test", "b.test")
    mute = raw("127.0.0.16")  # sends nothing at all
    got = quiet.expect_stream_error(timeout=AUTH_TIMEOUT + 4)
    dt = time.monotonic() - t0
    h.check_stream_error("silent after header", got, "connection-timeout")
    check(AUTH_TIMEOUT - 0.5 <= dt <= AUTH_TIMEOUT + 3,
          "closed after about s2s.auth_timeout (%.1fs)" % dt)
    errors_expected += 1
    check(mute.wait_closed(max(0.5, AUTH_TIMEOUT + 3 - (time.monotonic() - t0))),
          "connection that sent nothing closed after the auth timeout (%.1fs)" %
          (time.monotonic() - t0))
    flow.sync("silent peers")

    # -- unauthenticated connection limit per source address
    h.log("case: %d+2 unauthenticated connections from 127.0.0.20" % MAX_UNAUTH)
    held = []
    for _ in range(MAX_UNAUTH):
        c = raw("127.0.0.20")
        c.open("x.test", "b.test")
        held.append(c)
    check(True, "%d unauthenticated connections accepted" % MAX_UNAUTH)
    for i in range(2):
        c = raw("127.0.0.20")
        try:
            c.send(h.stream_header("x.test", "b.test"))
        except OSError:
            pass
        t1 = time.monotonic()
        closed = c.wait_closed(1.5)
        check(closed, "excess connection %d refused/closed (%.2fs; %r)" %
              (i + 1, time.monotonic() - t1, h.raw_stream_error(c.raw_in)))
    other = raw("127.0.0.21")
    other.establish_external(ca.cert, x_cert, "x.test", "b.test")
    other.send("<message from='u@x.test' to='bob@b.test' id='x-ok3'><body>legit</body></message>")
    check(b.comp.wait_for(h.by_id("x-ok3"), 5) is not None,
          "authenticated peer from 127.0.0.21 works during the flood")
    still = [not c.eof and not c._fill(0.01) for c in held]
    check(all(still), "the %d admitted connections are still open" % MAX_UNAUTH, still)
    for c in held:
        c.close()
    time.sleep(0.3)
    c = raw("127.0.0.20")
    c.open("x.test", "b.test")  # Fail if refused: the per-address count must drop again
    check(True, "after they closed, 127.0.0.20 can connect again (count released)")
    c.close()
    other.close()
    flow.sync("unauthenticated flood")

    # -- components
    h.log("case: component with a wrong secret")
    bad = h.Component(b.router.comp_addr, "b.test", "not-the-secret")
    conn, ev = bad.open()
    cond = (h.stream_error_condition(ev[1]) if ev and ev[0] == "elem"
            else h.raw_stream_error(conn.raw_in))
    check(cond == "not-authorized", "wrong component secret: stream error <not-authorized/>",
          (ev, conn.raw_in[-300:]))
    check(conn.wait_closed(5), "wrong component secret: connection closed")
    h.log("case: component for a domain B does not host")
    bad = h.Component(b.router.comp_addr, "nothere.test", "whatever")
    conn, ev = bad.open()
    try:
        conn.wait_closed(5)
    except Exception:
        pass
    cond = h.raw_stream_error(conn.raw_in)
    check(cond in ("host-unknown", "not-authorized", "conflict"),
          "component for nothere.test refused with a stream error", conn.raw_in[-300:])
    check(conn.eof, "component for nothere.test: connection closed")
    flow.sync("component failures")

    # -- final accounting
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
    check(after_b.get("fedrouter_stream_errors_sent_total") -
          before_b.get("fedrouter_stream_errors_sent_total") >= errors_expected,
          "B counted >= %d stream errors" % errors_expected,
          after_b.get("fedrouter_stream_errors_sent_total"))
    check(after_b.get("fedrouter_unauth_connections_refused_total") >= 2,
          "B counted the refused unauthenticated connections",
          after_b.get("fedrouter_unauth_connections_refused_total"))
    check(after_b.get("fedrouter_component_auth_failures_total") >= 1,
          "B counted the component handshake failure",
          after_b.get("fedrouter_component_auth_failures_total"))
    check(b.comp.closed is None and a.comp.closed is None, "legit components still connected")


if __name__ == "__main__":
    h.run(scenario)
