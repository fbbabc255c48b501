#!/usr/bin/python3
"""integ_pool_security: attacks on piggybacked dialback and the verdict table (router A).

Router A (127.0.0.1) hosts a.test and a2.test (one certificate naming both, a component each);
router B (127.0.0.2) hosts y.test and is its authoritative server. Raw s2s clients with
certificates from the trusted test CA authenticate with SASL EXTERNAL, then try:
  (a) x.test sends db:result for y.test (its certificate does not name it; garbage key): A asks
      B, never answers 'valid'; a stanza from y.test gets <invalid-from/> and reaches nobody.
      Also with a key of the wrong length, and with a forged typed <db:result type='valid'/>.
  (b) db:result for w.test whose authoritative server never answers: the pair stays pending; a
      stanza from w.test meanwhile gets <invalid-from/> and reaches nobody.
  (c) verdicts are per certificate: two clients from the SAME source address 127.0.0.12, one
      whose certificate names z.test, one whose does not. Positive first: only the first gets
      the immediate (XEP-0344) 'valid' for z.test; negative first (z2.test): the failed check of
      the second certificate does not stop the first from getting 'valid'. dialback_optimized
      counts exactly the two; the second client's stanza from z.test gets <invalid-from/>.
  (d) more: 40 db:results for different unprovable senders whose servers share one silent
      address open ONE verification connection (no amplification) and each gets an error
      answer, never 'valid'; claiming A's own domain a2.test as sender gets no 'valid'; a stanza
      to a2.test before that target was authenticated gets <host-unknown/> while a db:result
      for x.test -> a2.test (certificate proves x.test) makes it flow; a db:verify with a
      garbage key is answered 'invalid' (no oracle)."""

import os
import re
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

GARBAGE = "0123456789abcdef" * 4  # 64 hex digits: the length of a real key


class Ctx:
    pass


def wait_elem(c, pred, timeout):
    """Reads from raw client |c| until an element satisfies pred (returned), or |timeout| s pass
    (None). Raises Fail on a stream error or close."""
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None
        try:
            ev = c.next_event(left)
        except h.Closed as e:
            raise h.Fail("stream closed while waiting (%s): %r" % (e, c.raw_in[-300:]))
        if ev is None:
            return None
        if ev[0] == "elem":
            e = ev[1]
            if e.name == "error" and e.ns == h.NS_STREAM:
                raise h.Fail("stream error %s: %r" % (h.stream_error_condition(e),
                                                      c.raw_in[-300:]))
            if pred(e):
                return e
        elif ev[0] in ("close", "error"):
            raise h.Fail("stream ended while waiting: %r" % (ev,))


def db_answer(frm, to):
    return lambda e: (e.ns == h.NS_DB and e.name == "result" and e.get("from") == frm and
                      e.get("to") == to and e.get("type") is not None)


def client(x, cert, frm, ip="127.0.0.11"):
    c = h.S2S(x.a.router.s2s_addr, bind_ip=ip)
    c.establish_external(x.ca.cert, cert, frm, "a.test")
    return c


def nobody_got(x, ident):
    time.sleep(0.2)
    check(all(s.comp.count(h.by_id(ident)) == 0 for s in x.a.sites) and
          x.b.comp.count(h.by_id(ident)) == 0,
          "stanza %r reached no component" % ident)


def refused(x, c, frm, to, ident, cond="invalid-from"):
    c.send("<message from='eve@%s' to='bob@%s' id='%s'><body>x</body></message>" %
           (frm, to, ident))
    x.errors_expected += 1
    h.check_stream_error("stanza from %s" % frm, c.expect_stream_error(), cond)
    nobody_got(x, ident)


def case_forged_sender(x):
    c = client(x, x.x_cert, "x.test")
    check(True, "x.test authenticated to a.test with SASL EXTERNAL")
    before = x.b.router.scrape().get("fedrouter_dialback_verify_answered_total")
    c.send("<db:result from='y.test' to='a.test'>%s</db:result>" % GARBAGE)
    e = wait_elem(c, db_answer("a.test", "y.test"), 6 * x.slow)
    check(e is not None and e.get("type") != "valid",
          "db:result for y.test (garbage key) answered, not 'valid'", e)
    check(e.get("type") == "invalid", "... answered 'invalid' (B, y.test's authoritative server, "
          "refused the key)", e)
    after = x.b.router.scrape().get("fedrouter_dialback_verify_answered_total")
    check(after > before, "B answered a db:verify for it (A asked y.test's server)",
          (before, after))
    c.send("<message from='u@x.test' to='bob@a.test' id='sec-x-ok'><body>ok</body></message>")
    got = x.a.site("a.test").comp.wait_for(h.by_id("sec-x-ok"), 5)
    check(got is not None, "the stream stays up for x.test (one failed pair does not close it)")
    refused(x, c, "y.test", "a.test", "sec-forged-y")


def case_short_key(x):
    c = client(x, x.x_cert, "x.test")
    c.send("<db:result from='y.test' to='a.test'>abcd</db:result>")
    e = wait_elem(c, db_answer("a.test", "y.test"), 3 * x.slow)
    check(e is not None and e.get("type") == "invalid", "a key of the wrong length is 'invalid'",
          e)
    refused(x, c, "y.test", "a.test", "sec-short-y")


def case_forged_answer(x):
    c = client(x, x.x_cert, "x.test")
    c.send("<db:result from='y.test' to='a.test' type='valid'/>"
           "<db:result from='a.test' to='y.test' type='valid'/>")
    refused(x, c, "y.test", "a.test", "sec-typed-y")


def case_pending(x):
    c = client(x, x.x_cert, "x.test")
    c.send("<db:result from='w.test' to='a.test'>%s</db:result>" % GARBAGE)
    e = wait_elem(c, db_answer("a.test", "w.test"), 1.0)
    check(e is None, "db:result for w.test stays pending (its server is silent)", e)
    check(h.wait_until(lambda: len(x.silent.conns) >= 1, 3), "A went to w.test's server (a "
          "verification connection reached the silent listener)", len(x.silent.conns))
    refused(x, c, "w.test", "a.test", "sec-pending-w")


def case_verdict_per_cert(x):
    m0 = x.a.router.scrape().get("fedrouter_dialback_optimized_total")
    c1 = client(x, x.cz_cert, "c1.test", ip="127.0.0.12")
    c2 = client(x, x.c2_cert, "c2.test", ip="127.0.0.12")
    check(True, "c1.test (certificate names z.test, z2.test) and c2.test (does not) "
          "authenticated from the same address 127.0.0.12")
    # positive verdict first
    c1.send("<db:result from='z.test' to='a.test'>%s</db:result>" % GARBAGE)
    e = wait_elem(c1, db_answer("a.test", "z.test"), 3 * x.slow)
    check(e is not None and e.get("type") == "valid",
          "c1: z.test answered 'valid' at once (its certificate proves it)", e)
    c2.send("<db:result from='z.test' to='a.test'>%s</db:result>" % GARBAGE)
    e = wait_elem(c2, db_answer("a.test", "z.test"), 2 * x.slow)
    check(e is None or e.get("type") != "valid",
          "c2 (same address, other certificate): z.test NOT answered 'valid'", e)
    # negative verdict first
    c2.send("<db:result from='z2.test' to='a.test'>%s</db:result>" % GARBAGE)
    e = wait_elem(c2, db_answer("a.test", "z2.test"), 1.0)
    check(e is None or e.get("type") != "valid", "c2: z2.test not 'valid'", e)
    c1.send("<db:result from='z2.test' to='a.test'>%s</db:result>" % GARBAGE)
    e = wait_elem(c1, db_answer("a.test", "z2.test"), 3 * x.slow)
    check(e is not None and e.get("type") == "valid",
          "c1: z2.test 'valid' although c2's check of z2.test failed just before", e)
    m1 = x.a.router.scrape().get("fedrouter_dialback_optimized_total")
    check(m1 - m0 == 2, "dialback_optimized_total grew by exactly 2 (c1's two)", (m0, m1))
    c1.send("<message from='u@z.test' to='bob@a.test' id='sec-z-ok'><body>ok</body></message>")
    got = x.a.site("a.test").comp.wait_for(h.by_id("sec-z-ok"), 5)
    check(got is not None and got.get("from") == "u@z.test", "c1's stanza from z.test delivered")
    refused(x, c2, "z.test", "a.test", "sec-z-c2")
    c1.close()


def case_amplification(x):
    c = client(x, x.x_cert, "x.test", ip="127.0.0.13")
    n0 = len(x.amp.conns)
    pat = re.compile(r"127\.0\.0\.1:%d out\(verify\)[^\n]*: connecting\n" % x.amp.port)
    v0 = len(pat.findall(x.a.router.log_text()))
    senders = ["s%02d.test" % i for i in range(40)]
    c.send("".join("<db:result from='%s' to='a.test'>%s</db:result>" % (s, GARBAGE)
                   for s in senders))
    time.sleep(2.0)
    n1 = len(x.amp.conns)
    v1 = len(pat.findall(x.a.router.log_text()))
    h.log("  info 40 db:results -> %d connection(s) to the silent address, %d verification "
          "connection(s)" % (n1 - n0, v1 - v0))
    check(n1 - n0 == 1, "40 db:results for senders on one address: ONE connection to it "
          "(not one per db:result)", n1 - n0)
    check(v1 - v0 == 1, "A's log shows one verification connection to that address", v1 - v0)
    answers = {}
    end = time.monotonic() + 6 * x.slow
    while len(answers) < len(senders) and time.monotonic() < end:
        e = wait_elem(c, lambda e: e.ns == h.NS_DB and e.name == "result" and
                      e.get("type") is not None, end - time.monotonic())
        if e is None:
            break
        answers[e.get("to")] = e.get("type")
    check(sorted(answers) == sorted(senders), "every db:result got an answer (no pending pair "
          "left behind)", "%d of %d" % (len(answers), len(senders)))
    check(all(t == "error" for t in answers.values()),
          "all answered type='error' (server unreachable), none 'valid'",
          {t: list(answers.values()).count(t) for t in set(answers.values())})
    refused(x, c, "s00.test", "a.test", "sec-amp")


def case_own_domain(x):
    c = client(x, x.x_cert, "x.test")
    c.send("<db:result from='a2.test' to='a.test'>%s</db:result>" % GARBAGE)
    e = wait_elem(c, db_answer("a.test", "a2.test"), 4 * x.slow)
    check(e is None or e.get("type") != "valid", "db:result claiming A's own a2.test as sender: "
          "not 'valid'", e)
    h.log("  info answer: %r" % (e,))
    refused(x, c, "a2.test", "a.test", "sec-own")


def case_target(x):
    c = client(x, x.x_cert, "x.test")
    c.send("<db:result from='x.test' to='a2.test'>%s</db:result>" % GARBAGE)
    e = wait_elem(c, db_answer("a2.test", "x.test"), 3 * x.slow)
    check(e is not None and e.get("type") == "valid", "db:result x.test -> a2.test: 'valid' "
          "(new target, x.test's certificate proves the sender)", e)
    c.send("<message from='u@x.test' to='bob@a2.test' id='sec-a2-ok'><body>ok</body></message>")
    got = x.a.site("a2.test").comp.wait_for(h.by_id("sec-a2-ok"), 5)
    check(got is not None, "stanza x.test -> a2.test delivered to a2.test's component")
    c2 = client(x, x.x_cert, "x.test")
    refused(x, c2, "x.test", "a2.test", "sec-target", cond="host-unknown")
    c.close()


def case_verify_oracle(x):
    c = h.S2S(x.a.router.s2s_addr, bind_ip="127.0.0.14")
    c.open("x.test", "a.test")
    c.starttls(x.ca.cert, x.x_cert, "a.test")
    c.send("<db:verify from='x.test' to='a.test' id='someid'>%s</db:verify>" % GARBAGE)
    e = wait_elem(c, lambda e: e.ns == h.NS_DB and e.name == "verify", 3)
    check(e is not None and e.get("type") == "invalid" and e.get("id") == "someid",
          "db:verify with a garbage key answered 'invalid' (no oracle)", e)
    c.send("<db:verify from='x.test' to='nothere.test' id='someid'>%s</db:verify>" % GARBAGE)
    e = wait_elem(c, lambda e: e.ns == h.NS_DB and e.name == "verify", 3)
    check(e is not None and e.get("type") == "error", "db:verify for a domain not hosted: "
          "type='error'", e)
    c.close()


def scenario(env):
    x = Ctx()
    x.slow = env.slow
    x.ca = env.ca()
    x.errors_expected = 0
    x.silent = h.SilentServer(env)  # w.test, z.test, z2.test: servers that never answer
    x.amp = h.SilentServer(env)     # s00..s39.test
    pa = (env.free_port(), env.free_port(("127.0.0.1",)), env.free_port(("127.0.0.1",)))
    x.b = h.make_site(env, "router-b", "127.0.0.2", "y.test",
                      routes=[("a.test", "127.0.0.1", pa[0]), ("a2.test", "127.0.0.1", pa[0])])
    routes_a = [("y.test", "127.0.0.2", x.b.s2s_port)] + \
        [(d, "127.0.0.1", x.silent.port) for d in ("w.test", "z.test", "z2.test")] + \
        [("s%02d.test" % i, "127.0.0.1", x.amp.port) for i in range(40)]
    x.a = h.make_multi_site(env, "router-a", "127.0.0.1", ["a.test", "a2.test"], pa,
                            routes=routes_a)
    x.x_cert = x.ca.issue("x.test", ["x.test"])
    x.cz_cert = x.ca.issue("c1.test", ["c1.test", "z.test", "z2.test"])
    x.c2_cert = x.ca.issue("c2.test", ["c2.test"])
    before = x.a.router.scrape()

    cases = h.Cases()
    cases.run("(a) forged sender y.test, garbage key", case_forged_sender, x)
    cases.run("(a) forged sender y.test, key of the wrong length", case_short_key, x)
    cases.run("(a) forged typed db:result 'valid' for y.test", case_forged_answer, x)
    cases.run("(b) stanza for a pair still pending", case_pending, x)
    cases.run("(c) verdicts are per certificate, same source address", case_verdict_per_cert, x)
    cases.run("(d) 40 unprovable senders on one address: no amplification", case_amplification,
              x)
    cases.run("(d) claiming A's own domain as sender", case_own_domain, x)
    cases.run("(d) target not authenticated, then authenticated", case_target, x)
    cases.run("(d) db:verify oracle", case_verify_oracle, x)

    def final():
        m = x.a.router.scrape()
        sent = m.get("fedrouter_stream_errors_sent_total") - \
            before.get("fedrouter_stream_errors_sent_total")
        check(sent >= x.errors_expected, "A counted >= %d stream errors (%d)" %
              (x.errors_expected, sent))
        check(x.a.router.alive() and x.b.router.alive(), "routers still running")
        check(all(s.comp.closed is None for s in x.a.sites), "A's components still connected")
    cases.run("final accounting", final)
    cases.finish()
    x.silent.close()
    x.amp.close()


if __name__ == "__main__":
    h.run(scenario)
