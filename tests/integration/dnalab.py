"""dnalab.py: fixtures for the RFC 7712 prooftype integration tests (integ_dna_*): DANE and POSH
end to end between real fedrouter processes.

What is here (on top of harness.py, which it does not change):
  - self_signed(): a self-signed end-entity certificate (openssl CLI), for DANE-EE (TLSA 3 x x)
    peers that no trust store knows;
  - spki_sha256_hex(), cert_sha256_hex(), cert_sha256_b64(): the digests TLSA 3 1 1, TLSA 3 0 1
    and POSH fingerprints are made of;
  - DnssecLab: tests/support/dnssec_lab.py (knotd signs test., unbound validates; insecure.test.
    unsigned, bogus.test. with a broken DS) as a process of the Env (stopped and its logs dumped
    with the routers'); a missing knotd/unbound becomes a Skip (77);
  - Nginx: a real nginx-light on loopback serving HTTPS server blocks (one per POSH host, each
    with its own certificate), documents under DIR/www/<host>/, a Skip when nginx is missing;
  - Pair / plan_pair / start_pair: one case = its own router A (domain a-<tag>.test, certificate
    from the shared test CA, on 127.0.0.1) and its own router B (one hosted domain, any
    certificate, on 127.0.0.2), found by each other through SRV records only (no static route),
    both using the DNSSEC lab as s2s.resolver. Cases of one scenario run side by side with
    separate processes, so every metric read belongs to exactly one case;
  - deliver_both_ways(), refused_both_ways(): the end-to-end assertions (stanzas delivered with
    no bounce; or every stanza bounced back to its sender with an error and none delivered);
  - checks(), log_has(): domain_checks_total by result/prooftype and the proof log line.

Records for the lab must all be known before it starts (knot signs on load), so a scenario plans
its pairs (ports, certificates, records), then starts the lab and nginx, then the routers."""

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.join(os.path.dirname(_HERE), "support"))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

CHECKS = "fedrouter_domain_checks_total"
AUTH = "fedrouter_s2s_auth_total"
NGINX = "/usr/sbin/nginx"


# ------------------------------------------------------------------------------------------------
# Certificates and digests


def self_signed(env, name, dns_names, eku="serverAuth,clientAuth"):
    """A self-signed EC P-256 end-entity certificate naming |dns_names| (SAN dNSName). No CA knows
    it: only DANE-EE (or POSH) can prove it. Returns a harness Cert."""
    key = env.path(name + ".key")
    crt = env.path(name + ".pem")
    args = ["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
            "-subj", "/CN=" + dns_names[0],
            "-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature",
            "-addext", "subjectAltName=" + ",".join("DNS:" + d for d in dns_names)]
    if eku:
        args += ["-addext", "extendedKeyUsage=" + eku]
    h._run_cmd(args)
    return h.Cert(crt, key, list(dns_names))


def cert_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def cert_sha256_hex(path):
    """SHA-256 of the whole certificate (TLSA selector 0, matching type 1)."""
    return hashlib.sha256(cert_der(path)).hexdigest()


def cert_sha256_b64(path):
    """SHA-256 of the whole certificate, base64: a POSH "sha-256" fingerprint (RFC 7711 §3.2)."""
    return base64.b64encode(hashlib.sha256(cert_der(path)).digest()).decode()


def spki_sha256_hex(path):
    """SHA-256 of the SubjectPublicKeyInfo (TLSA selector 1, matching type 1)."""
    pub = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-pubkey"],
                         stdout=subprocess.PIPE, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         stdout=subprocess.PIPE, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def flip_hex(hexdigest):
    """The same digest with its last nibble changed: a TLSA record that matches nothing."""
    last = "0" if hexdigest[-1] != "0" else "1"
    return hexdigest[:-1] + last


# ------------------------------------------------------------------------------------------------
# The DNSSEC lab as an Env process


class DnssecLab:
    """tests/support/dnssec_lab.py started in env.dir/dnssec with |records|; stops with the Env.
    .addr is the validating resolver ("127.0.0.1:PORT")."""

    def __init__(self, env, records):
        try:
            import dnssec_lab
        except ImportError as e:
            raise h.Skip("tests/support/dnssec_lab.py not importable: %s" % e)
        self._mod = dnssec_lab
        self.env = env
        self.name = "dnssec-lab"
        self.dir = env.path("dnssec")
        self.records = list(records)
        try:
            self.lab = dnssec_lab.start(self.dir, "\n".join(self.records) + "\n",
                                        watch_pid=os.getpid())
        except dnssec_lab.Unavailable as e:
            raise h.Skip("DNSSEC lab unavailable: %s" % e)
        except RuntimeError as e:
            raise h.Fail("DNSSEC lab did not start: %s" % e)
        env.procs.append(self)
        self.addr = self.lab.addr
        self.resolver = self.lab.resolver
        h.log("started DNSSEC lab (knotd + validating unbound) at %s, %d records" %
              (self.addr, len(self.records)))

    def query(self, name, qtype):
        return self.lab.query(name, qtype)

    def stop(self, sig=None, timeout=None):
        try:
            self._mod.stop(self.dir)
        except Exception as e:  # noqa: BLE001 - cleanup must go on
            return ["DNSSEC lab stop: %s" % e]
        return []

    def dump(self, max_lines=60):
        for fn in ("knotd.out", "unbound.out"):
            p = os.path.join(self.dir, fn)
            try:
                with open(p, errors="replace") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            h.log("----- %s (last %d lines) -----" % (p, max_lines))
            for ln in lines[-max_lines:]:
                h.log("  | " + ln)


def expect_secure(lab, name, qtype, what):
    """Asserts the lab answers |name| with records and the AD bit (DNSSEC secure)."""
    rc, n, ad = lab.query(name, qtype)
    check(rc == 0 and n > 0 and ad, "lab: %s is DNSSEC-secure" % what, (rc, n, ad))


# ------------------------------------------------------------------------------------------------
# nginx


class Nginx(h.Proc):
    """nginx-light on |ip|:|port| (HTTPS only). servers: [(server_name, Cert, extra_body)]; each
    block serves DIR/www/<server_name>/ unless |extra_body| overrides locations. Documents are
    written with put()."""

    def __init__(self, env, ip, port, servers):
        if not os.access(NGINX, os.X_OK):
            raise h.Skip("nginx not installed (%s)" % NGINX)
        h.Proc.__init__(self, env, "nginx")
        self.ip = ip
        self.port = port
        self.dir = env.path("nginx")
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "www"), exist_ok=True)
        blocks = []
        for name, cert, body in servers:
            blocks.append(
                "  server {\n    listen %s:%d ssl;\n    server_name %s;\n"
                "    ssl_certificate %s;\n    ssl_certificate_key %s;\n"
                "    root %s/www/%s;\n%s  }\n" % (ip, port, name, cert.cert, cert.key, self.dir,
                                                  name, body or ""))
        self.conffile = os.path.join(self.dir, "nginx.conf")
        with open(self.conffile, "w") as f:
            f.write("master_process off;\nworker_processes 1;\npid %s/nginx.pid;\n"
                    "error_log %s/error.log info;\nevents { worker_connections 64; }\n"
                    "http {\n  log_format hostlog '$host $request_uri $status';\n"
                    "  access_log %s/access.log hostlog;\n"
                    "  client_body_temp_path %s/tmp;\n"
                    "  types { application/json json; }\n  default_type application/json;\n"
                    "  ssl_protocols TLSv1.2 TLSv1.3;\n%s}\n" %
                    (self.dir, self.dir, self.dir, self.dir, "".join(blocks)))

    def put(self, host, path, text):
        p = os.path.join(self.dir, "www", host, path.lstrip("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write(text)

    def start(self, timeout=10):
        self._spawn([NGINX, "-p", self.dir, "-c", self.conffile, "-e",
                     os.path.join(self.dir, "error.log"), "-g", "daemon off;"])
        self.env.procs.append(self)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.alive():
                self.dump()
                raise h.Fail("nginx exited during startup (%s)" % self.p.returncode)
            try:
                socket.create_connection((self.ip, self.port), timeout=1).close()
                h.log("started nginx pid %d on %s:%d" % (self.pid, self.ip, self.port))
                return self
            except OSError:
                time.sleep(0.05)
        raise h.Fail("nginx not listening within %ds" % timeout)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        problems = h.Proc.stop(self, sig, timeout)
        return [p for p in problems if "exited with code" not in p]

    def access_log(self):
        try:
            with open(os.path.join(self.dir, "access.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def dump(self, max_lines=80):
        h.Proc.dump(self, max_lines)
        h.log("----- nginx access log -----\n" + self.access_log())


def posh_doc(fingerprint_b64, expires=3600):
    return '{"fingerprints":[{"sha-256":"%s"}],"expires":%d}\n' % (fingerprint_b64, expires)


POSH_PATH = "/.well-known/posh/xmpp-server.json"


# ------------------------------------------------------------------------------------------------
# Pairs of routers found through SRV


class Pair:
    """Router A (a-<tag>.test) and router B (|b_domain|) of one case; see plan_pair."""

    def __init__(self, tag):
        self.tag = tag
        self.a = None
        self.b = None
        self.records = []
        self.a_policies = []
        self.a_s2s = {}
        self.b_s2s = {}


def plan_pair(env, tag, b_domain, b_cert, b_host=None, a_policy=None, a_s2s=None, b_s2s=None,
              b_ip="127.0.0.2"):
    """Plans a case: allocates ports, issues A's certificate for a-<tag>.test from the test CA,
    and lists the SRV/A records of both domains: _xmpp-server._tcp.<domain> -> <host>:<s2s port>
    (A: ra-<tag>.test = 127.0.0.1; B: |b_host|, default hb-<tag>.test, = |b_ip|). Records for
    b_host go to whichever lab zone it falls in. B serves |b_domain| with |b_cert| whatever names
    that certificate carries. |a_policy|: A's per-domain policy for |b_domain| (dict of
    prooftypes/dialback_without_proof/on_failure), None: A's default policy.
    Returns the Pair (not started)."""
    ca = env.ca()
    p = Pair(tag)
    p.a = h.Site("router-a-" + tag, "127.0.0.1", "a-%s.test" % tag, "sa-" + os.urandom(6).hex())
    p.b = h.Site("router-b-" + tag, b_ip, b_domain, "sb-" + os.urandom(6).hex())
    p.a.cert = ca.issue("a-" + tag, [p.a.domain])
    b_cert.conf_domains = [b_domain]
    p.b.cert = b_cert
    for s in (p.a, p.b):
        s.s2s_port = env.free_port()
        s.comp_port = env.free_port()
        s.metrics_port = env.free_port()
    p.a.host = "ra-%s.test" % tag
    p.b.host = b_host or "hb-%s.test" % tag
    for s in (p.a, p.b):
        p.records += ["_xmpp-server._tcp.%s. 60 IN SRV 0 5 %d %s." % (s.domain, s.s2s_port, s.host),
                      "%s. 60 IN A %s" % (s.host, s.ip)]
    if a_policy is not None:
        pol = {"domain": b_domain}
        pol.update(a_policy)
        p.a_policies.append(pol)
    p.a_s2s = dict(a_s2s or {})
    p.b_s2s = dict(b_s2s or {})
    return p


def tlsa_owner(pair):
    """The TLSA owner name of B's SRV target: _<port>._tcp.<host>."""
    return "_%d._tcp.%s" % (pair.b.s2s_port, pair.b.host)


def start_pair(env, pair, resolver, workers=1):
    """Starts A and B of |pair| with |resolver| and no static route; connects their components."""
    ca = env.ca()
    s2s_common = {"dna_timeout": 4 * env.slow}
    for s, over, pols in ((pair.a, pair.a_s2s, pair.a_policies), (pair.b, pair.b_s2s, [])):
        s2s = dict(s2s_common)
        s2s.update(over)
        conf = h.router_conf(env, s.ip, s.s2s_port, s.comp_port, s.metrics_port,
                             [(s.domain, s.secret)], [s.cert], ca.cert, resolver=resolver,
                             s2s=s2s, workers=workers)
        if pols:
            conf["policies"] = pols
        s.router = env.router(s.name, conf)
    for s in (pair.a, pair.b):
        s.comp = s.component()
    return pair


# ------------------------------------------------------------------------------------------------
# Assertions


def deliver_both_ways(pair, n=2, timeout=12.0):
    """Stanzas A -> B and B -> A are delivered intact (harness.exchange) and nothing bounced."""
    t = pair.tag
    h.exchange(pair.a, pair.b, n, prefix=t + "-ab", timeout=timeout)
    h.exchange(pair.b, pair.a, n, prefix=t + "-ba", timeout=timeout)
    for s in (pair.a, pair.b):
        m = s.router.scrape()
        check(m.get("fedrouter_bounces_total") == 0, "%s: %s bounced nothing" % (t, s.name),
              m.get("fedrouter_bounces_total"))


# What a delivered stanza means in the refusals without a prooftype (no material and
# dialback_without_proof = false): the bug fixed in 130dc4c is back, the verdict table read such a
# refusal as "dialback decides" and the peer's db:result after the withheld SASL EXTERNAL passed.
BUG_REFUSED_NONE = ("REGRESSION of 130dc4c? (proof.c store_verdict/lookup_verdict): a refusal "
                    "without a prooftype read back as 'dialback decides', the peer's db:result "
                    "passed by dialback")


def _bounced_one_way(src, dst, tag, timeout, note=None):
    mid = "%s-%s-%s" % (tag, src.domain, os.urandom(3).hex())
    frm = "alice@%s/r" % src.domain
    to = "bob@%s" % dst.domain
    src.comp.message(frm, to, "must not arrive", id=mid, type="chat")
    e = src.comp.wait_for(lambda x: x.get("id") == mid, timeout)
    delivered = dst.comp.count(lambda x: x.get("id") == mid)
    check(e is not None and e.get("type") == "error" and e.find("error") is not None,
          "%s: %s -> %s bounced back to the sender with an error" % (tag, src.domain, dst.domain),
          "got %r, delivered %d%s" % (e, delivered, "; " + note if note else ""))
    cond = h.stanza_error_condition(e)
    check(dst.comp.count(lambda x: x.get("id") == mid) == 0,
          "%s: ... and was not delivered at %s (bounce condition %s)" % (tag, dst.domain, cond))
    return cond


def refused_both_ways(pair, timeout=15.0, note=None):
    """A stanza A -> B and one B -> A each come back to their sender as an error stanza and
    neither is delivered. |note| is added to a failure's detail. Returns the two bounce
    conditions."""
    c1 = _bounced_one_way(pair.a, pair.b, pair.tag, timeout, note)
    c2 = _bounced_one_way(pair.b, pair.a, pair.tag, timeout, note)
    return c1, c2


def checks(site, result, prooftype=None):
    """fedrouter_domain_checks_total{result,prooftype} on |site|'s router (sum if prooftype is
    None)."""
    m = site.router.scrape()
    if prooftype is None:
        return m.get(CHECKS, result=result)
    return m.get(CHECKS, result=result, prooftype=prooftype)


def log_lines(site, pattern):
    rx = re.compile(pattern)
    return [ln for ln in site.router.log_text().splitlines() if rx.search(ln)]


def log_has(site, pattern, what):
    """Asserts a line of |site|'s router log matches |pattern|; returns the lines."""
    lines = log_lines(site, pattern)
    check(len(lines) > 0, "%s log: %s" % (site.name, what), "no line matches %r" % pattern)
    h.log("       e.g. " + lines[0].strip()[:220])
    return lines


def verdict_re(domain, kind):
    """The proof.c verdict line for |domain|: "domain D: <kind> (...)"."""
    return r"domain %s: %s \(" % (re.escape(domain), re.escape(kind))


def metrics_summary(site):
    m = site.router.scrape()
    return {(lab.get("result"), lab.get("prooftype")): v for n, lab, v in m.series if n == CHECKS
            and v}


def skip_unless_tools():
    """Skips (77) unless knotd, unbound and openssl exist; nginx is checked by Nginx()."""
    for exe in ("knotd", "knotc", "unbound", "openssl"):
        found = shutil.which(exe) or any(os.access(os.path.join(d, exe), os.X_OK)
                                         for d in ("/usr/sbin", "/usr/local/sbin"))
        if not found:
            raise h.Skip("%s not installed" % exe)


# ------------------------------------------------------------------------------------------------
# POSH cases: a tenant domain hosted by B under B's own certificate


POSH_ONLY = {"prooftypes": ["posh"], "dialback_without_proof": False, "on_failure": "refuse"}


def plan_posh_pair(env, tag, tenant, a_policy=POSH_ONLY, https_ip="127.0.0.1"):
    """A POSH case: B serves |tenant| with a certificate from the test CA that names only
    b-<tag>.test (PKIX cannot prove the tenant); the lab maps |tenant| to |https_ip| (where nginx
    serves its POSH document) besides its SRV record. A's s2s.posh_port is set by
    start_posh_pairs. Returns the Pair; .tenant is |tenant|."""
    b_cert = env.ca().issue("b-" + tag, ["b-%s.test" % tag])
    p = plan_pair(env, tag, tenant, b_cert, a_policy=a_policy)
    p.tenant = tenant
    p.records.append("%s. 60 IN A %s" % (tenant, https_ip))
    return p


def start_posh_pairs(env, pairs, nginx_port, extra_records=()):
    """Starts the DNSSEC lab with the pairs' records (+ |extra_records|), then every pair with
    s2s.posh_port = |nginx_port|. Returns the lab."""
    lab = DnssecLab(env, [r for p in pairs for r in p.records] + list(extra_records))
    for p in pairs:
        p.a_s2s["posh_port"] = nginx_port
        p.b_s2s["posh_port"] = nginx_port
        # nginx listens on loopback: allow POSH fetches to non-global addresses (off by default).
        p.a_s2s.setdefault("posh_private_addresses", True)
        p.b_s2s.setdefault("posh_private_addresses", True)
        start_pair(env, p, lab.addr)
    return lab


def posh_fetches(nginx, host):
    """Access-log lines of GETs of the POSH well-known URI on |host| (any status)."""
    return [ln for ln in nginx.access_log().splitlines()
            if ln.startswith(host + " ") and POSH_PATH in ln]
