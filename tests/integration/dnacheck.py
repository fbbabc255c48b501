#!/usr/bin/python3
"""integ_dnacheck: tools/dnacheck (argv[1]) against the DNSSEC lab (knotd + validating unbound),
a real nginx for POSH and small STARTTLS / direct-TLS XMPP responders presenting test certificates.

Cases (each asserts on the --json output and the exit status; one also on the human output):
  pkix.test          CA certificate for the domain, secure SRV, no TLSA     -> PROVEN by PKIX
  dane.test          self-signed certificate, TLSA 3 1 1 of its SPKI        -> PROVEN by DANE
  danebad.test       CA certificate (PKIX matches), TLSA with a wrong digest -> REFUSED by DANE
  x.insecure.test    SRV and TLSA in the unsigned zone: DANE not applicable -> not proven
  x.bogus.test       SRV in the zone with a broken DS: bogus                -> REFUSED (bogus)
  posh.test          SRV to a host whose certificate names hosting.test; POSH lists its SHA-256
                                                                            -> PROVEN by POSH
  poshbad.test       the same, POSH with a wrong fingerprint                -> not proven; with
                     --config (policy on_failure = refuse for it)           -> REFUSED
  a.b.example.test   certificate *.example.test: a wildcard matches one label only -> PKIX no
  bücher.test        U-label on the command line, xn--bcher-kva.test in DNS -> PROVEN by PKIX
  tls.test           only _xmpps-server (direct TLS, XEP-0368)              -> PROVEN by PKIX
Skips (77) when knotd/unbound/nginx/openssl are missing."""

import json
import os
import socket
import ssl
import subprocess
import sys
import threading

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "support"))
import harness as h  # noqa: E402
from harness import check  # noqa: E402
import dnalab  # noqa: E402

HEADER = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
          "xmlns:stream='http://etherx.jabber.org/streams' from='%s' id='dnacheck-test' "
          "version='1.0'>")
FEATURES = ("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/>"
            "</starttls></stream:features>")
PROCEED = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"


class Responder:
    """A tiny receiving XMPP server on 127.0.0.1:|port|: answers a stream header with STARTTLS
    features and <proceed/> (or speaks TLS from the first byte when |direct|), then completes the
    TLS handshake with |cert| and waits for the client to close. Counts handshakes."""

    def __init__(self, port, cert, direct=False):
        self.port = port
        self.direct = direct
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert.cert, cert.key)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.handshakes = 0
        self.errors = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_until(self, conn, token):
        buf = b""
        while token not in buf:
            data = conn.recv(4096)
            if not data:
                raise EOFError("closed before %r" % token)
            buf += data
        return buf

    def _serve(self, conn):
        conn.settimeout(10)
        try:
            if not self.direct:
                self._read_until(conn, b"version='1.0'>")
                conn.sendall((HEADER % "responder.test" + FEATURES).encode())
                self._read_until(conn, b"<starttls")
                conn.sendall(PROCEED.encode())
            tls = self.ctx.wrap_socket(conn, server_side=True)
            self.handshakes += 1
            try:
                while tls.recv(4096):
                    pass
            except (OSError, ssl.SSLError):
                pass
            tls.close()
        except Exception as e:  # noqa: BLE001 - recorded, asserted through dnacheck's output
            self.errors.append(repr(e))
            conn.close()

    def close(self):
        self.sock.close()


def run_dnacheck(env, args, want_rc=None, what=None):
    """Runs dnacheck with |args|; returns (rc, stdout text, parsed JSON or None)."""
    p = subprocess.run([env.binary] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    out = p.stdout.decode(errors="replace")
    err = p.stderr.decode(errors="replace")
    check(not any(bad in err for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:")),
          "%s: no sanitizer report" % (what or args[-1]), err[-3000:])
    doc = None
    if "--json" in args:
        try:
            doc = json.loads(out)
        except ValueError as e:
            raise h.Fail("dnacheck %s: output is not JSON (%s):\n%s\n%s" % (args, e, out, err))
    if want_rc is not None:
        check(p.returncode == want_rc, "%s: exit status %d" % (what or args[-1], want_rc),
              (p.returncode, out[-4000:], err[-2000:]))
    return p.returncode, out, doc


def scenario(env):
    dnalab.skip_unless_tools()
    if not os.access(dnalab.NGINX, os.X_OK):
        raise h.Skip("nginx not installed")
    ca = env.ca()
    c_pkix = ca.issue("pkix", ["pkix.test"])
    c_danebad = ca.issue("danebad", ["danebad.test"])
    c_hosting = ca.issue("hosting", ["hosting.test"])
    c_wild = ca.issue("wild", ["*.example.test"])
    c_idn = ca.issue("idn", ["xn--bcher-kva.test"])
    c_tls = ca.issue("tls", ["tls.test"], xmpp_addrs=["tls.test"])
    c_web = ca.issue("web", ["posh.test", "poshbad.test"])
    c_self = dnalab.self_signed(env, "self", ["host.dane.test"])
    spki_self = dnalab.spki_sha256_hex(c_self.cert)
    spki_danebad = dnalab.spki_sha256_hex(c_danebad.cert)

    ports = {k: env.free_port(("127.0.0.1",))
             for k in ("pkix", "dane", "danebad", "hosting", "wild", "idn", "tls", "https")}
    records = [
        "_xmpp-server._tcp.pkix.test. SRV 0 5 %d host.pkix.test." % ports["pkix"],
        "host.pkix.test. A 127.0.0.1",
        "_xmpp-server._tcp.dane.test. SRV 0 5 %d host.dane.test." % ports["dane"],
        "host.dane.test. A 127.0.0.1",
        "_%d._tcp.host.dane.test. TLSA 3 1 1 %s" % (ports["dane"], spki_self),
        # an unusable record next to it (usage 4 does not exist): listed, ignored
        "_%d._tcp.host.dane.test. TLSA 4 1 1 %s" % (ports["dane"], "00" * 32),
        "_xmpp-server._tcp.danebad.test. SRV 0 5 %d host.danebad.test." % ports["danebad"],
        "host.danebad.test. A 127.0.0.1",
        "_%d._tcp.host.danebad.test. TLSA 3 1 1 %s" % (ports["danebad"],
                                                       dnalab.flip_hex(spki_danebad)),
        "_xmpp-server._tcp.x.insecure.test. SRV 0 5 %d host.x.insecure.test." % ports["dane"],
        "host.x.insecure.test. A 127.0.0.1",
        "_%d._tcp.host.x.insecure.test. TLSA 3 1 1 %s" % (ports["dane"], spki_self),
        "_xmpp-server._tcp.x.bogus.test. SRV 0 5 %d host.x.bogus.test." % ports["pkix"],
        "host.x.bogus.test. A 127.0.0.1",
        "posh.test. A 127.0.0.1",
        "_xmpp-server._tcp.posh.test. SRV 0 5 %d host.hosting.test." % ports["hosting"],
        "poshbad.test. A 127.0.0.1",
        "_xmpp-server._tcp.poshbad.test. SRV 0 5 %d host.hosting.test." % ports["hosting"],
        "host.hosting.test. A 127.0.0.1",
        "_xmpp-server._tcp.a.b.example.test. SRV 0 5 %d host.example.test." % ports["wild"],
        "host.example.test. A 127.0.0.1",
        "_xmpp-server._tcp.xn--bcher-kva.test. SRV 0 5 %d host.xn--bcher-kva.test." % ports["idn"],
        "host.xn--bcher-kva.test. A 127.0.0.1",
        "_xmpps-server._tcp.tls.test. SRV 0 5 %d host.tls.test." % ports["tls"],
        "host.tls.test. A 127.0.0.1",
        "plain.test. A 127.0.0.1",
    ]
    lab = dnalab.DnssecLab(env, records)
    dnalab.expect_secure(lab, "_xmpp-server._tcp.dane.test", 33, "dane.test SRV")

    nginx = dnalab.Nginx(env, "127.0.0.1", ports["https"],
                         [("posh.test", c_web, None), ("poshbad.test", c_web, None)])
    nginx.put("posh.test", dnalab.POSH_PATH,
              dnalab.posh_doc(dnalab.cert_sha256_b64(c_hosting.cert)))
    nginx.put("poshbad.test", dnalab.POSH_PATH,
              dnalab.posh_doc(dnalab.cert_sha256_b64(c_pkix.cert)))
    nginx.start()

    responders = [Responder(ports["pkix"], c_pkix), Responder(ports["dane"], c_self),
                  Responder(ports["danebad"], c_danebad), Responder(ports["hosting"], c_hosting),
                  Responder(ports["wild"], c_wild), Responder(ports["idn"], c_idn),
                  Responder(ports["tls"], c_tls, direct=True)]

    base = ["--resolver", lab.addr, "--ca-file", ca.cert, "--posh-port", str(ports["https"]),
            "--timeout", "3", "--json"]

    def pt(doc, name):
        return doc["prooftypes"][name]

    # PKIX
    _, _, d = run_dnacheck(env, base + ["pkix.test"], 0, "pkix.test")
    check(d["verdict"]["kind"] == "proven" and d["verdict"]["prooftype"] == "PKIX",
          "pkix.test: proven by PKIX", d["verdict"])
    srv = d["srv"][1]
    check(srv["status"] == "records" and srv["secure"] and
          srv["records"] == [{"priority": 0, "weight": 5, "port": ports["pkix"],
                              "target": "host.pkix.test"}],
          "pkix.test: the STARTTLS SRV record, DNSSEC-secure, with priority/weight/port", srv)
    check(d["srv"][0]["status"] == "nxdomain", "pkix.test: no _xmpps-server", d["srv"][0])
    check(d["chain"]["validated"] and pt(d, "PKIX")["result"] == "match",
          "pkix.test: chain validates and names the domain", (d["chain"], pt(d, "PKIX")))
    check(d["certificates"][0]["names"].startswith("DNS:pkix.test") and
          len(d["certificates"][0]["sha256"]) == 64 and
          d["certificates"][0]["sha256"] == dnalab.cert_sha256_hex(c_pkix.cert) and
          d["certificates"][0]["dns"] == ["pkix.test"] and
          d["certificates"][0]["xmppaddr"] == [] and d["certificates"][1:] == [],
          "pkix.test: the leaf's names and SHA-256", d["certificates"][0])
    check(d["connection"]["port"] == ports["pkix"] and not d["connection"]["direct_tls"],
          "pkix.test: connected to the SRV target with STARTTLS", d["connection"])
    check(d["tlsa"]["targets"][0]["dnssec"] == "secure" and
          d["tlsa"]["targets"][0]["records"] == [],
          "pkix.test: TLSA looked up at the secure target, none there", d["tlsa"])

    # DANE
    _, _, d = run_dnacheck(env, base + ["dane.test"], 0, "dane.test")
    check(d["verdict"]["kind"] == "proven" and d["verdict"]["prooftype"] == "DANE",
          "dane.test: proven by DANE", d["verdict"])
    check(pt(d, "PKIX")["result"] == "mismatch" and not d["chain"]["validated"],
          "dane.test: PKIX does not prove (self-signed)", pt(d, "PKIX"))
    t = d["tlsa"]["targets"][0]
    check(t["owner"] == "_%d._tcp.host.dane.test" % ports["dane"] and t["dnssec"] == "secure"
          and t["match"] == "match", "dane.test: TLSA at _port._tcp.target, secure, match", t)
    recs = sorted((r["usage_name"], r["selector_name"], r["mtype_name"], r["state"], r["data"])
                  for r in t["records"])
    check(("DANE-EE", "SPKI", "SHA2-256", "usable", spki_self) in recs and
          any(r[0] == "unknown" and r[3] == "unusable" for r in recs),
          "dane.test: records in RFC 7218 names, the unusable one marked", recs)
    check(d["certificates"][0]["spki_sha256"] == spki_self,
          "dane.test: the leaf's SPKI SHA-256 is the TLSA digest", d["certificates"][0])

    # DANE mismatch: refused although PKIX matches
    _, _, d = run_dnacheck(env, base + ["danebad.test"], 1, "danebad.test")
    check(d["verdict"]["kind"] == "refused" and d["verdict"]["prooftype"] == "DANE",
          "danebad.test: refused by DANE", d["verdict"])
    check(pt(d, "PKIX")["result"] == "match", "danebad.test: PKIX alone would prove it",
          pt(d, "PKIX"))
    check(pt(d, "DANE")["result"] == "mismatch" and "refuses" in pt(d, "DANE")["why"] and
          "match" in pt(d, "DANE")["why"], "danebad.test: the DANE reason is given", pt(d, "DANE"))

    # insecure zone: DANE not applicable
    _, _, d = run_dnacheck(env, base + ["x.insecure.test"], 1, "x.insecure.test")
    check(d["srv"][1]["status"] == "records" and not d["srv"][1]["secure"],
          "x.insecure.test: SRV found, not secure", d["srv"][1])
    check(not d["tlsa"]["looked_up"] and "not DNSSEC-secure" in (d["tlsa"]["why"] or ""),
          "x.insecure.test: TLSA not looked up, and why", d["tlsa"])
    check(pt(d, "DANE")["dnssec"] == "insecure" and pt(d, "DANE")["result"] == "none" and
          "not applicable" in pt(d, "DANE")["why"], "x.insecure.test: DANE not applicable",
          pt(d, "DANE"))
    check(d["verdict"]["kind"] == "dialback", "x.insecure.test: not proven (dialback decides)",
          d["verdict"])

    # bogus zone
    _, _, d = run_dnacheck(env, base + ["x.bogus.test"], 1, "x.bogus.test")
    check(d["srv"][1]["status"] == "bogus", "x.bogus.test: the SRV answer is bogus", d["srv"][1])
    check(d["verdict"]["kind"] == "refused" and d["verdict"]["prooftype"] == "DANE" and
          "bogus" in pt(d, "DANE")["why"], "x.bogus.test: refused (bogus)",
          (d["verdict"], pt(d, "DANE")))

    # POSH
    _, _, d = run_dnacheck(env, base + ["posh.test"], 0, "posh.test")
    check(d["verdict"]["kind"] == "proven" and d["verdict"]["prooftype"] == "POSH",
          "posh.test: proven by POSH", d["verdict"])
    check(pt(d, "PKIX")["result"] == "mismatch" and d["chain"]["validated"],
          "posh.test: the certificate validates but names another host", pt(d, "PKIX"))
    po = d["posh"]
    check(po["status"] == "found" and po["expires"] == 3600 and
          po["fingerprints"] == [{"sha-256": dnalab.cert_sha256_b64(c_hosting.cert)}] and
          po["source_url"].startswith("https://posh.test:%d/" % ports["https"]),
          "posh.test: document, fingerprint, expires and URL", po)

    _, _, d = run_dnacheck(env, base + ["poshbad.test"], 1, "poshbad.test")
    check(d["verdict"]["kind"] == "dialback" and pt(d, "POSH")["result"] == "mismatch" and
          pt(d, "POSH")["consulted"], "poshbad.test: POSH material does not list the certificate",
          (d["verdict"], pt(d, "POSH")))

    # --config: a policy for poshbad.test that refuses on failure
    conf = env.path("fedrouter.conf")
    with open(conf, "w") as f:
        f.write('s2s = {\n  ca_file = "%s";\n  resolver = "%s";\n  posh_port = %d;\n'
                '  dna_timeout = 3;\n};\npolicies = (\n  { domain = "poshbad.test"; '
                'prooftypes = [ "posh", "pkix" ]; on_failure = "refuse"; }\n);\n' %
                (ca.cert, lab.addr, ports["https"]))
    _, _, d = run_dnacheck(env, ["--config", conf, "--json", "poshbad.test"], 1,
                           "poshbad.test --config")
    check(d["policy"]["order"] == ["POSH", "PKIX"] and d["policy"]["on_failure"] == "refuse",
          "--config: the domain's policy is used", d["policy"])
    check(d["verdict"]["kind"] == "refused", "--config: poshbad.test refused", d["verdict"])
    _, _, d = run_dnacheck(env, ["--config", conf, "--json", "pkix.test"], 0,
                           "pkix.test --config")
    check(d["validating_resolver"] and d["verdict"]["prooftype"] == "PKIX",
          "--config: resolver and trust store from s2s", d["verdict"])

    # wildcard abuse
    _, _, d = run_dnacheck(env, base + ["a.b.example.test"], 1, "a.b.example.test")
    check(d["certificates"][0]["names"].startswith("DNS:*.example.test") and d["chain"]["validated"] and
          pt(d, "PKIX")["result"] == "mismatch",
          "a.b.example.test: *.example.test does not prove it", pt(d, "PKIX"))
    check(d["verdict"]["kind"] != "proven", "a.b.example.test: not proven", d["verdict"])

    # IDN
    _, _, d = run_dnacheck(env, base + ["bücher.test"], 0, "bücher.test")
    check(d["domain"] == "xn--bcher-kva.test" and d["domain_input"] == "bücher.test",
          "IDN: U-label given, A-label used", (d["domain"], d["domain_input"]))
    check(d["verdict"]["kind"] == "proven" and d["verdict"]["prooftype"] == "PKIX",
          "IDN: proven by PKIX", d["verdict"])

    # direct TLS (XEP-0368)
    _, _, d = run_dnacheck(env, base + ["tls.test"], 0, "tls.test")
    check(d["srv"][0]["status"] == "records" and d["connection"]["direct_tls"] and
          d["verdict"]["prooftype"] == "PKIX" and d["certificates"][0]["xmppaddr"] == ["tls.test"],
          "tls.test: direct TLS target, XmppAddr shown, proven by PKIX",
          (d["srv"][0], d["connection"], d["verdict"]))

    # no SRV: the A/AAAA fallback on 5269, DANE does not apply
    _, _, d = run_dnacheck(env, base + ["plain.test"], None, "plain.test")
    ad = d["addresses"]
    check(d["srv"][0]["status"] == "nxdomain" and d["srv"][1]["status"] == "nxdomain" and
          ad["fallback"] and ad["list"][0]["port"] == 5269 and not ad["list"][0]["from_srv"],
          "plain.test: no SRV, A/AAAA fallback on port 5269", (d["srv"], ad))
    check(not d["tlsa"]["looked_up"] and "fallback" in d["tlsa"]["why"] and
          d["verdict"]["prooftype"] != "DANE", "plain.test: DANE does not apply", d["tlsa"])

    # --connect overrides the DNS targets
    _, _, d = run_dnacheck(env, base + ["--connect", "127.0.0.1:%d" % ports["pkix"], "dane.test"],
                           1, "dane.test --connect")
    check(d["connection"]["port"] == ports["pkix"] and d["verdict"]["kind"] == "refused" and
          d["verdict"]["prooftype"] == "DANE",
          "--connect: another certificate at dane.test's address is refused by DANE",
          (d["connection"], d["verdict"]))

    # human output
    hbase = [a for a in base if a != "--json"]
    _, out, _ = run_dnacheck(env, hbase + ["dane.test"], 0, "dane.test (human)")
    h.log("----- dnacheck dane.test (human output) -----\n" + out)
    for line in ("SRV _xmpp-server._tcp.dane.test (STARTTLS): records, DNSSEC secure (AD)",
                 "    priority 0 weight 5 port %d target host.dane.test" % ports["dane"],
                 "TLSA _%d._tcp.host.dane.test: secure, 1 usable, 1 unusable" % ports["dane"],
                 "    3 1 1 (DANE-EE SPKI SHA2-256) %s: usable" % spki_self,
                 "chain: does not validate: ",
                 "PKIX: does not prove dane.test",
                 "DANE: proves dane.test",
                 "Verdict: PROVEN by DANE"):
        check(line in out, "human output has %r" % line)
    _, out, _ = run_dnacheck(env, hbase + ["danebad.test"], 1, "danebad.test (human)")
    check("Verdict: REFUSED by DANE" in out, "human output: danebad.test refused by DANE", out)

    # usage errors
    rc, _, _ = run_dnacheck(env, [], None, "no domain")
    check(rc == 2, "usage: no domain -> 2", rc)
    rc, _, _ = run_dnacheck(env, ["--connect", "nonsense", "pkix.test"], None, "bad --connect")
    check(rc == 2, "usage: bad --connect -> 2", rc)
    rc, _, _ = run_dnacheck(env, ["--config", env.path("missing.conf"), "pkix.test"], None,
                            "missing config")
    check(rc == 2, "usage: unreadable --config -> 2", rc)

    for r in responders:
        r.close()


if __name__ == "__main__":
    h.run(scenario)
