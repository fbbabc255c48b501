#!/usr/bin/python3
"""integ_harness: checks the harness itself without fedrouter, so a broken harness is not
mistaken for a router bug: certificates and their EKUs (openssl verify), config rendering, a real
unbound answering SRV/A/NXDOMAIN, the XML stream parser, and the s2s/component clients against
small fake servers written here (STARTTLS with client certificate, SASL EXTERNAL, stream errors),
sanitizer-report detection (ThreadSanitizer too), `ss` connection counting by pid, the
accept-and-close listener and the scripted multi-domain peer of the pool tests."""

import hashlib
import os
import socket
import ssl
import sys
import threading

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def fake_s2s_server(lsock, ca, server_cert, result):
    """Receiving side of flow (a) up to one stanza, then <invalid-from/>."""
    try:
        c, _ = lsock.accept()
        c.settimeout(5)
        conn = h.StreamConn(c)
        ev = conn.next_event(5)
        assert ev[0] == "open", ev
        frm = ev[1].get("from")
        conn.send(h.stream_header("b.test", frm, id="s1") +
                  "<stream:features><starttls xmlns='%s'><required/></starttls>"
                  "</stream:features>" % h.NS_TLS)
        e = conn.next_elem(5)
        assert e.name == "starttls", e
        conn.send("<proceed xmlns='%s'/>" % h.NS_TLS)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(server_cert.cert, server_cert.key)
        ctx.load_verify_locations(ca.cert)
        ctx.verify_mode = ssl.CERT_REQUIRED
        conn.sock = ctx.wrap_socket(c, server_side=True)
        result["peer_cert"] = conn.sock.getpeercert()
        conn.restart()
        ev = conn.next_event(5)
        assert ev[0] == "open", ev
        conn.send(h.stream_header("b.test", frm, id="s2") +
                  "<stream:features><mechanisms xmlns='%s'><mechanism>EXTERNAL</mechanism>"
                  "</mechanisms></stream:features>" % h.NS_SASL)
        e = conn.next_elem(5)
        result["auth"] = (e.get("mechanism"), e.text)
        conn.send("<success xmlns='%s'/>" % h.NS_SASL)
        conn.restart()
        ev = conn.next_event(5)
        assert ev[0] == "open", ev
        conn.send(h.stream_header("b.test", frm, id="s3") +
                  "<stream:features/>")
        e = conn.next_elem(5)
        result["stanza"] = e
        conn.send("<stream:error><invalid-from xmlns='%s'/></stream:error></stream:stream>" %
                  h.NS_STREAM_ERR)
        conn.sock.close()
        result["ok"] = True
    except Exception as ex:  # reported by the main thread
        result["error"] = repr(ex)


def fake_component_server(lsock, secret, result):
    try:
        for attempt in range(2):
            c, _ = lsock.accept()
            c.settimeout(5)
            conn = h.StreamConn(c)
            ev = conn.next_event(5)
            assert ev[0] == "open" and ev[4].get("") == h.NS_COMPONENT, ev
            conn.send("<stream:stream xmlns='jabber:component:accept' xmlns:stream='%s' "
                      "from='%s' id='abc%d'>" % (h.NS_STREAM, ev[1].get("to"), attempt))
            e = conn.next_elem(5)
            want = hashlib.sha1(("abc%d" % attempt + secret).encode()).hexdigest()
            if e.text == want:
                conn.send("<handshake/>")
                conn.send("<message from='x@b.test' to='y@a.test' id='in1'><body>hi &amp; "
                          "bye</body></message>")
                e = conn.next_elem(5)
                result["sent"] = e
                conn.wait_closed(5)
            else:
                conn.send("<stream:error><not-authorized xmlns='%s'/></stream:error>"
                          "</stream:stream>" % h.NS_STREAM_ERR)
                result["refused"] = True
            c.close()
    except Exception as ex:
        result["error"] = repr(ex)


def scenario(env):
    # certificates
    ca = env.ca()
    both = ca.issue("both", ["a.test"])
    server_only = ca.issue("server-only", ["a.test"], eku="serverAuth")
    other = ca.issue("other", ["other.test"])
    xa = ca.issue("xmppaddr", [], xmpp_addrs=["x.test"], cn="x.test")
    check(ca.verify(both, "sslserver") and ca.verify(both, "sslclient"),
          "cert with both EKUs verifies for sslserver and sslclient")
    check(ca.verify(server_only, "sslserver"), "serverAuth-only cert verifies as server")
    check(not ca.verify(server_only, "sslclient"), "serverAuth-only cert fails as client")
    text = h._run_cmd(["openssl", "x509", "-in", other.cert, "-noout", "-ext", "subjectAltName"])
    check("DNS:other.test" in text and "a.test" not in text, "other-domain cert names other.test")
    text = h._run_cmd(["openssl", "x509", "-in", xa.cert, "-noout", "-ext", "subjectAltName"])
    check("othername" in text.lower(), "XmppAddr otherName present", text)

    # config rendering
    conf = h.router_conf(env, "127.0.0.1", 5269, 5347, 9269, [("a.test", 'se"cret')], [both],
                         ca.cert, routes=[("b.test", "127.0.0.2", 5270)], resolver="127.0.0.1:53")
    t = h.conf_text(conf)
    for frag in ['listen = [ "127.0.0.1:5269" ];', 'secret = "se\\"cret";', 'require_tls = true;',
                 'routes = (', 'domain = "b.test";', 'port = 5270;', 'resolver = "127.0.0.1:53";',
                 'metrics = {', 'listen = "127.0.0.1:9269";', 'domains = [ "a.test" ];']:
        check(frag in t, "config contains %s" % frag, t)
    check(t.count("{") == t.count("}") and t.count("(") == t.count(")"),
          "config braces balanced")

    # unbound
    u = env.unbound(["_xmpp-server._tcp.b.test. 60 IN SRV 0 5 5999 rb.test.",
                     "rb.test. 60 IN A 127.0.0.2"])
    rc, ans = h.dns_query("127.0.0.1", u.port, "_xmpp-server._tcp.b.test.", h.DNS_SRV)
    check(rc == 0 and ans == [(0, 5, 5999, "rb.test.")], "unbound answers the SRV record", ans)
    rc, ans = h.dns_query("127.0.0.1", u.port, "rb.test.", h.DNS_A)
    check(rc == 0 and ans == ["127.0.0.2"], "unbound answers the A record", ans)
    rc, ans = h.dns_query("127.0.0.1", u.port, "nothere.test.", h.DNS_A)
    check(rc == 3 and ans == [], "unbound answers NXDOMAIN for unknown names", (rc, ans))

    # XML stream parser
    xs = h.XmlStream()
    data = (h.stream_header("a.test", "b.test") +
            "<stream:features><starttls xmlns='%s'/></stream:features><message to='x' from='y'>"
            "<body>a &lt; b</body></message></stream:stream>" % h.NS_TLS).encode()
    for i in range(len(data)):  # byte by byte
        xs.feed(data[i:i + 1])
    kinds = [e[0] for e in xs.events]
    check(kinds == ["open", "elem", "elem", "close"], "parser events byte by byte", kinds)
    check(xs.events[2][1].find("body").text == "a < b" and xs.events[2][1].ns == h.NS_SERVER,
          "parser keeps text and namespace")
    xs = h.XmlStream()
    xs.feed(b"<a><b></a>")
    check(xs.events and xs.events[-1][0] == "error", "parser reports not-well-formed input")
    check(h.raw_stream_error(b"<stream:error><host-unknown xmlns='%s'/>" %
                             h.NS_STREAM_ERR.encode()) == "host-unknown", "raw error fallback")

    # s2s client against a fake receiving server
    b_cert = ca.issue("b.test", ["b.test"])
    x_cert = ca.issue("x.test", ["x.test"])
    ls = socket.socket()
    ls.bind(("127.0.0.2", 0))
    ls.listen(4)
    result = {}
    t = threading.Thread(target=fake_s2s_server, args=(ls, ca, b_cert, result), daemon=True)
    t.start()
    c = h.S2S(ls.getsockname(), bind_ip="127.0.0.11")
    c.establish_external(ca.cert, x_cert, "x.test", "b.test")
    c.send("<message from='u@x.test' to='v@b.test' id='q'><body>x</body></message>")
    got = c.expect_stream_error()
    check(got.parsed and got.header is None, "error parsed in the running stream")
    t.join(5)
    check("error" not in result, "fake s2s server ran", result.get("error"))
    check(result.get("auth") == ("EXTERNAL", "eC50ZXN0"), "EXTERNAL with base64 authzid",
          result.get("auth"))
    check(result["peer_cert"]["subject"][0][0][1] == "x.test", "client certificate presented")
    check(result["stanza"].get("id") == "q", "stanza arrived after SASL restart")
    h.check_stream_error("fake invalid-from", got, "invalid-from")
    ls.close()

    # component client against a fake router
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    result = {}
    t = threading.Thread(target=fake_component_server, args=(ls, "s3cret", result), daemon=True)
    t.start()
    try:
        comp = h.Component(ls.getsockname(), "a.test", "s3cret").connect()
    finally:
        h.log("fake component server: %r" % result)
    e = comp.wait_for(h.by_id("in1"), 5)
    check(e is not None and e.find("body").text == "hi & bye", "component receives a stanza")
    comp.message("y@a.test", "x@b.test", "back", id="out1")
    wait = h.wait_until(lambda: "sent" in result, 5)
    check(wait and result["sent"].get("id") == "out1", "component sends a stanza")
    comp.close()
    bad = h.Component(ls.getsockname(), "a.test", "wrong")
    conn, ev = bad.open()
    check(ev and ev[0] == "elem" and h.stream_error_condition(ev[1]) == "not-authorized",
          "component client sees not-authorized for a wrong secret", ev)
    conn.close()
    t.join(5)
    ls.close()

    # Sanitizer reports in router logs, ThreadSanitizer included (integ_pool_fanout_tsan).
    for line in ("WARNING: ThreadSanitizer: data race (pid=12)", "ERROR: AddressSanitizer: x",
                 "x.c:3:5: runtime error: signed integer overflow",
                 "SUMMARY: ThreadSanitizer: data race peer.c:10 in f"):
        check(h.SANITIZER_RE.search("info  main started\n%s\n" % line) is not None,
              "sanitizer report recognised: %r" % line[:40])
    check(h.SANITIZER_RE.search("info  s2s w0: sanitizer-free line\n") is None,
          "ordinary log lines are not sanitizer reports")
    check(not h._is_tsan_binary(sys.executable), "python3 is not taken for a TSan build")

    # tcp_conns (ss by pid) and the accept-and-close listener.
    ac = h.AcceptCloseServer(env)
    for _ in range(3):
        c = socket.create_connection(("127.0.0.1", ac.port), timeout=2)
        c.settimeout(2)
        check(c.recv(10) == b"", "accept-and-close listener closes at once")
        c.close()
    check(h.wait_until(lambda: len(ac.accepts) == 3, 2), "accept-and-close counted 3 accepts",
          len(ac.accepts))
    ac.close()
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    cli = socket.create_connection(ls.getsockname())
    srv, _ = ls.accept()
    mine = h.tcp_conns(os.getpid(), remote=ls.getsockname())
    check(len(mine) == 1 and mine[0][0] == cli.getsockname(),
          "tcp_conns finds this process's connection by pid and remote address", mine)
    check(h.tcp_conns(os.getpid(), remote=("127.0.0.1", 1)) == [],
          "tcp_conns filters on the remote address")
    for x in (cli, srv, ls):
        x.close()

    # The scripted multi-domain peer: STARTTLS, EXTERNAL where offered, dialback keys checked.
    peer = h.ScriptedPeer(env, ca, ["t0.test", "t1.test"], "s3cret", db_errors=False,
                          sasl_for=("t0.test",))
    xcert = ca.issue("x2.test", ["x.test"])
    c = h.S2S(("127.0.0.1", peer.port))
    c.establish_external(ca.cert, xcert, "x.test", "t0.test")
    dbf = c.features.find("dialback", "urn:xmpp:features:dialback")
    check(dbf is not None and dbf.find("errors") is None,
          "scripted peer advertises dialback without <errors/>", c.features)
    sid = c.header.get("id")
    c.send("<db:result from='y.test' to='t0.test'>%s</db:result>" %
           h.dialback_key("s3cret", "t0.test", "y.test", sid))
    e = c.next_elem(5, "db:result answer")
    check(e.get("type") == "valid", "scripted peer: a right key is 'valid'", e)
    c.send("<db:result from='z.test' to='t0.test'>%s</db:result>" % ("0" * 64))
    e = c.next_elem(5, "db:result answer")
    check(e.get("type") == "invalid", "scripted peer: a wrong key is 'invalid'", e)
    c.send("<message from='a@y.test' to='b@t0.test' id='sp1'/>")
    check(peer.wait_count(lambda it: it[0] == "stanza", 1, 5), "scripted peer records stanzas")
    c.send("<db:result from='y.test' to='t1.test'>%s</db:result>" %
           h.dialback_key("s3cret", "t1.test", "y.test", sid))
    e = c.next_elem(5, "db:result answer")
    check(e.get("type") == "valid" and e.get("from") == "t1.test",
          "scripted peer: another hosted target on the stream is 'valid'", e)
    c.send("<db:result from='y.test' to='t9.test'>%s</db:result>" %
           h.dialback_key("s3cret", "t9.test", "y.test", sid))
    r = c.expect_stream_error()
    check(r.cond == "host-unknown", "scripted peer: host-unknown for a target it does not host "
          "(as Prosody)", r.cond)
    res = peer.items("db:result")
    check([(x[2], x[3], x[4]) for x in res] ==
          [("y.test", "t0.test", True), ("z.test", "t0.test", False), ("y.test", "t1.test", True),
           ("y.test", "t9.test", True)],
          "scripted peer logged the db:results with their key checks", res)
    check(peer.items("sasl")[0][2] == "x.test" and not peer.errors, "scripted peer logged the "
          "EXTERNAL authzid", (peer.items("sasl"), peer.errors))
    peer.close()


if __name__ == "__main__":
    h.run(scenario, needs_router=False)
