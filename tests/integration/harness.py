"""harness.py: shared pieces of the fedrouter integration suite (Python 3 standard library only).

What is here:
  - check()/Fail/Skip and run(): assertions that print what they checked, the exit-code contract
    (0 pass, 1 fail, 77 skip) and log dumping on failure;
  - Env: a throwaway directory, free loopback ports, processes started and stopped by PID;
  - CA: a test CA driven through the openssl CLI, issuing per-domain certificates (both EKUs,
    serverAuth-only, clientAuth-only, or a certificate naming other domains);
  - Router: writes a libconfig file for fedrouter, starts `fedrouter -c FILE` with stderr captured
    to a log file, waits for it to listen, scrapes /metrics, stops it with SIGTERM and checks the
    exit code and the log for sanitizer reports;
  - Unbound: a real DNS server on 127.0.0.1:<free port> serving a local zone, plus a tiny DNS client
    to check it answers;
  - XmlStream: incremental expat parser that turns an XMPP stream into top-level elements;
  - Component: an XEP-0114 component client (reader thread, waits by predicate);
  - S2S: a raw server-to-server client (plain, STARTTLS, SASL EXTERNAL, hostile bytes, stream-error
    and close detection);
  - SilentServer: a TCP listener that accepts and never answers (timeout cases);
  - the pool: make_multi_site (one router, many domains, one certificate, a component each),
    send_pairs/wait_delivered (messages for many domain pairs at once), tcp_conns (`ss` by
    pid), AcceptCloseServer (accepts and closes, counting), ScriptedPeer (a multi-domain
    receiving server: with or without <dialback><errors/>, SASL EXTERNAL per target, dialback
    keys checked against the initiator's secret, optionally flapping).

Environment knobs: FEDROUTER_KEEP=1 keeps the work directory even on success;
FEDROUTER_INTEG_VERBOSE=1 echoes router logs at the end of passing runs too;
FEDROUTER_INTEG_SLOW=N scales router timeouts and scenario waits (default 3 for a
ThreadSanitizer build of fedrouter, detected from the binary, else 1).
"""

import base64
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import uuid
import time
import traceback
import urllib.request
import xml.parsers.expat

SKIP = 77

NS_STREAM = "http://etherx.jabber.org/streams"
NS_STREAM_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZA_ERR = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_DB = "jabber:server:dialback"
NS_SERVER = "jabber:server"
NS_COMPONENT = "jabber:component:accept"


# ------------------------------------------------------------------------------------------------
# Assertions and the run() wrapper


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def check(cond, what, detail=None):
    """Asserts |cond|; prints 'ok   what' on success, raises Fail('what: detail') otherwise."""
    if not cond:
        raise Fail(what + (": " + str(detail) if detail is not None else ""))
    log("  ok   " + what)


def wait_until(pred, timeout, step=0.05):
    """Polls pred() until it returns a truthy value or |timeout| s pass; returns the last value."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


def xml_escape(s, quote=True):
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if quote:
        s = s.replace("'", "&apos;").replace('"', "&quot;")
    return s


def run(scenario, needs_router=True):
    """Entry point of a scenario script: scenario(env) with argv[1] = path of the fedrouter binary.
    Exits 0 on success, 1 on failure (after dumping router/unbound logs), 77 on skip."""
    binary = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("FEDROUTER_BIN", "")
    if needs_router and (not binary or not os.access(binary, os.X_OK)):
        log("SKIP: fedrouter binary not given or not executable: %r" % binary)
        sys.exit(SKIP)
    if binary:
        binary = os.path.abspath(binary)  # the routers run in the work directory
    env = Env(binary)
    rc = 0
    try:
        scenario(env)
        env.stop_all()  # stop here so exit codes and sanitizer reports count as failures
    except Skip as e:
        log("SKIP: %s" % e)
        rc = SKIP
    except Fail as e:
        log("FAIL: %s" % e)
        rc = 1
    except Exception:  # a harness or protocol surprise is a failure too
        log("FAIL: unexpected exception")
        traceback.print_exc(file=sys.stdout)
        rc = 1
    try:
        env.stop_all()
    except Fail as e:
        log("FAIL: %s" % e)
        rc = 1
    if rc == 1 or os.environ.get("FEDROUTER_INTEG_VERBOSE"):
        env.dump_logs()
    env.cleanup(keep=(rc == 1))
    if rc == 0:
        log("PASS")
    sys.stdout.flush()
    sys.exit(rc)


# ------------------------------------------------------------------------------------------------
# Environment: work directory, ports, processes


class Env:
    def __init__(self, binary):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="fedrouter-integ-")
        self.procs = []  # objects with stop() and logs()
        self._ports = set()
        self._ca = None
        self.problems = []  # exit-code/sanitizer problems found when stopping
        self.dns = None  # Unbound, when a scenario starts one
        # A ThreadSanitizer build runs several times slower: scenarios scale waits by env.slow.
        self.tsan = _is_tsan_binary(binary)
        self.slow = int(os.environ.get("FEDROUTER_INTEG_SLOW", "3" if self.tsan else "1"))

    def path(self, name):
        return os.path.join(self.dir, name)

    def free_port(self, ips=("127.0.0.1", "127.0.0.2")):
        """A TCP port currently free on every address in |ips| (and not handed out before)."""
        for _ in range(200):
            s = socket.socket()
            s.bind((ips[0], 0))
            port = s.getsockname()[1]
            s.close()
            if port in self._ports:
                continue
            ok = True
            for ip in ips[1:]:
                t = socket.socket()
                try:
                    t.bind((ip, port))
                except OSError:
                    ok = False
                finally:
                    t.close()
            if ok:
                self._ports.add(port)
                return port
        raise Fail("no free port")

    def ca(self):
        if self._ca is None:
            self._ca = CA(self, "ca")
        return self._ca

    def router(self, name, conf):
        r = Router(self, name, conf)
        self.procs.append(r)
        r.start()
        return r

    def unbound(self, records, zone="test."):
        u = Unbound(self, records, zone)
        self.procs.append(u)
        u.start()
        return u

    def stop_all(self):
        problems = []
        for p in reversed(self.procs):
            problems += p.stop()
        if problems:
            raise Fail("; ".join(problems))

    def dump_logs(self):
        for p in self.procs:
            p.dump()
        log("work directory: %s" % self.dir)

    def cleanup(self, keep=False):
        for p in self.procs:
            try:
                p.stop()
            except Exception:
                pass
        if keep or os.environ.get("FEDROUTER_KEEP"):
            log("kept work directory %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def _is_tsan_binary(path):
    """True when |path| is linked with ThreadSanitizer (its runtime's symbols are in the file)."""
    if not path or not os.path.isfile(path):
        return False
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return b"__tsan_init" in data


def _run_cmd(args, cwd=None):
    p = subprocess.run(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise Fail("command failed (%d): %s\n%s" % (p.returncode, " ".join(args),
                                                    p.stdout.decode(errors="replace")))
    return p.stdout.decode(errors="replace")


# ------------------------------------------------------------------------------------------------
# Certificates (openssl CLI)


class Cert:
    def __init__(self, cert, key, domains):
        self.cert = cert
        self.key = key
        self.domains = domains


class CA:
    """A throwaway CA (EC P-256). issue() makes per-domain end-entity certificates."""

    def __init__(self, env, name):
        if not shutil.which("openssl"):
            raise Skip("openssl CLI not found")
        self.env = env
        self.name = name
        self.key = env.path(name + ".key")
        self.cert = env.path(name + ".pem")
        _run_cmd(["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", self.key, "-out", self.cert,
                  "-days", "3", "-subj", "/CN=fedrouter integration test CA " + name,
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                  "-addext", "subjectKeyIdentifier=hash"])
        self._serial = random.randrange(1 << 40, 1 << 48)

    def issue(self, name, dns_names, eku="serverAuth,clientAuth", cn=None, xmpp_addrs=()):
        """Issues a certificate with SAN dNSName for each of |dns_names| (and XmppAddr otherNames
        for |xmpp_addrs|) and extendedKeyUsage |eku| (None: no EKU extension). Returns Cert."""
        key = self.env.path(name + ".key")
        csr = self.env.path(name + ".csr")
        crt = self.env.path(name + ".pem")
        ext = self.env.path(name + ".ext")
        sans = ["DNS:" + d for d in dns_names]
        sans += ["otherName:1.3.6.1.5.5.7.8.5;UTF8:" + d for d in xmpp_addrs]
        lines = ["basicConstraints=critical,CA:FALSE",
                 "keyUsage=critical,digitalSignature",
                 "authorityKeyIdentifier=keyid",
                 "subjectKeyIdentifier=hash"]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        if eku:
            lines.append("extendedKeyUsage=" + eku)
        with open(ext, "w") as f:
            f.write("\n".join(lines) + "\n")
        subj = "/CN=" + (cn or (dns_names[0] if dns_names else name))
        _run_cmd(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
                  "-subj", subj])
        self._serial += 1
        _run_cmd(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                  "-set_serial", str(self._serial), "-days", "2", "-sha256", "-extfile", ext,
                  "-out", crt])
        return Cert(crt, key, list(dns_names))

    def verify(self, cert, purpose=None):
        """True when `openssl verify` accepts |cert| (a Cert) against this CA [for |purpose|]."""
        args = ["openssl", "verify", "-CAfile", self.cert]
        if purpose:
            args += ["-purpose", purpose]
        p = subprocess.run(args + [cert.cert], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return p.returncode == 0


def concat_pem(env, name, *pems):
    """Writes a bundle of the PEM files |pems| (e.g. two CAs) to a new file; returns its path."""
    out = env.path(name)
    with open(out, "w") as f:
        for p in pems:
            with open(p) as g:
                f.write(g.read())
    return out


# ------------------------------------------------------------------------------------------------
# Configuration files (libconfig syntax)


def _conf_value(v, indent):
    pad = "  " * indent
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, dict):
        body = "".join("%s  %s = %s;\n" % (pad, k, _conf_value(x, indent + 1))
                       for k, x in v.items())
        return "{\n" + body + pad + "}"
    if isinstance(v, (list, tuple)):
        if v and isinstance(v[0], dict):  # a list of groups
            return "(\n" + ",\n".join(pad + "  " + _conf_value(x, indent + 1) for x in v) + \
                "\n" + pad + ")"
        return "[ " + ", ".join(_conf_value(x, indent + 1) for x in v) + " ]"
    raise TypeError("unsupported config value %r" % (v,))


def conf_text(conf):
    """Renders a dict as a libconfig file (top-level settings)."""
    return "".join("%s = %s;\n" % (k, _conf_value(v, 0)) for k, v in conf.items())


def router_conf(env, ip, s2s_port, comp_port, metrics_port, domains, certs, ca_file,
                routes=(), resolver=None, s2s=None, workers=2, log_level="debug",
                comp_auth_timeout=3):
    """Builds a fedrouter config dict.
    domains: [(name, secret)]; certs: [Cert] (each used for the domains it names, or for
    Cert.conf_domains when set); routes: [(domain, host, port)]; s2s: overrides of the s2s group.
    The default timeouts are multiplied by env.slow (a sanitizer build that runs slower)."""
    slow = getattr(env, "slow", 1)
    s = {
        "listen": ["%s:%d" % (ip, s2s_port)],
        "require_tls": True,
        "ca_file": ca_file,
        "dialback_secret": "integration-dialback-secret-" + ip,
        "auth_timeout": 3 * slow,
        "connect_timeout": 2 * slow,
        "stanza_timeout": 6 * slow,
        "idle_timeout": 120,
        "max_unauth_per_ip": 16,
        "max_stanza_size": 65536,
    }
    if resolver:
        s["resolver"] = resolver
    if s2s:
        s.update(s2s)
    conf = {
        "workers": workers,
        "log_level": log_level,
        "s2s": s,
        "components": {"listen": ["%s:%d" % (ip, comp_port)], "auth_timeout": comp_auth_timeout},
        "metrics": {"listen": "%s:%d" % (ip, metrics_port)},
        "certificates": [{"cert": c.cert, "key": c.key,
                          "domains": getattr(c, "conf_domains", None) or c.domains}
                         for c in certs],
        "domains": [{"name": n, "secret": sec} for n, sec in domains],
    }
    if routes:
        conf["routes"] = [{"domain": d, "host": h, "port": p, "direct_tls": False}
                          for d, h, p in routes]
    return conf


# ------------------------------------------------------------------------------------------------
# Processes: fedrouter and unbound


SANITIZER_RE = re.compile(r"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          r"ERROR: ThreadSanitizer|WARNING: ThreadSanitizer|SUMMARY: \w+Sanitizer)")


class Proc:
    """A child process started by PID, with stdout+stderr captured to a log file."""

    def __init__(self, env, name):
        self.env = env
        self.name = name
        self.logfile = env.path(name + ".log")
        self.p = None
        self.returncode = None
        self.stopped = False

    def _spawn(self, args):
        self._log = open(self.logfile, "wb")
        envv = dict(os.environ)
        envv.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1")
        envv.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        # ThreadSanitizer: report every race (exit code 66 at exit), keep long histories
        envv.setdefault("TSAN_OPTIONS", "halt_on_error=0:history_size=4:second_deadlock_stack=1")
        self.p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self._log,
                                  stderr=subprocess.STDOUT, env=envv, cwd=self.env.dir)
        self.pid = self.p.pid

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def log_text(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait_exit(self, timeout):
        """Waits up to |timeout| s; returns the exit code or None if still running."""
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stops the process (by PID); returns a list of problems (exit code, sanitizer reports)."""
        if self.p is None or self.stopped:
            return []
        self.stopped = True
        problems = []
        if self.p.poll() is None:
            os.kill(self.pid, sig)
            rc = self.wait_exit(timeout)
            if rc is None:
                problems.append("%s (pid %d) did not exit within %ds of %s; killed" %
                                (self.name, self.pid, timeout, signal.Signals(sig).name))
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait()
        self.returncode = self.p.returncode
        self._log.close()
        problems += self.exit_problems()
        return problems

    def exit_problems(self):
        return []

    def dump(self, max_lines=400):
        text = self.log_text()
        lines = text.splitlines()
        log("----- %s log (%s, %d lines%s) -----" % (
            self.name, self.logfile, len(lines),
            ", last %d shown" % max_lines if len(lines) > max_lines else ""))
        for ln in lines[-max_lines:]:
            log("  | " + ln)
        log("----- end of %s log -----" % self.name)


class Router(Proc):
    def __init__(self, env, name, conf):
        Proc.__init__(self, env, name)
        self.conf = conf
        self.conffile = env.path(name + ".conf")
        with open(self.conffile, "w") as f:
            f.write(conf_text(conf))
        self.metrics_addr = conf.get("metrics", {}).get("listen")
        self.comp_addr = _split_addr(conf["components"]["listen"][0])
        self.s2s_addr = _split_addr(conf["s2s"]["listen"][0])

    def start(self, ready_timeout=15):
        self._spawn([self.env.binary, "-c", self.conffile])
        log("started %s pid %d (%s)" % (self.name, self.pid, self.conffile))
        end = time.monotonic() + ready_timeout
        while time.monotonic() < end:
            if not self.alive():
                self.dump()
                raise Fail("%s exited during startup with code %s" % (self.name, self.p.returncode))
            if self._ready():
                return
            time.sleep(0.05)
        self.dump()
        raise Fail("%s not listening within %ds" % (self.name, ready_timeout))

    def _ready(self):
        if self.metrics_addr:
            try:
                self.scrape()
            except Exception:
                return False
        # The component listener: a connect that we close at once.
        try:
            s = socket.create_connection(self.comp_addr, timeout=1)
            s.close()
        except OSError:
            return False
        return True

    def scrape(self):
        """GET /metrics; returns a Metrics object."""
        with urllib.request.urlopen("http://%s/metrics" % self.metrics_addr, timeout=3) as r:
            return Metrics(r.read().decode())

    def exit_problems(self):
        problems = []
        if self.returncode != 0:
            problems.append("%s exited with code %s (expected 0 on SIGTERM)" %
                            (self.name, self.returncode))
        m = SANITIZER_RE.search(self.log_text())
        if m:
            problems.append("%s log has a sanitizer report: %r" % (self.name, m.group(0)))
        return problems


def _split_addr(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class Metrics:
    """Parsed Prometheus text: get(name, **labels) sums every series whose labels include |labels|."""

    LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)')
    LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

    def __init__(self, text):
        self.text = text
        self.series = []
        for ln in text.splitlines():
            if not ln or ln.startswith("#"):
                continue
            m = self.LINE.match(ln)
            if not m:
                continue
            labels = dict(self.LABEL.findall(m.group(3) or ""))
            try:
                v = float(m.group(4))
            except ValueError:
                continue
            self.series.append((m.group(1), labels, v))

    def has(self, name):
        return any(n == name for n, _, _ in self.series)

    def get(self, name, **labels):
        tot = 0.0
        for n, ls, v in self.series:
            if n == name and all(ls.get(k) == str(x) for k, x in labels.items()):
                tot += v
        return tot

    def __str__(self):
        return "\n".join("%s%s %g" % (n, ls, v) for n, ls, v in self.series)


class Unbound(Proc):
    """unbound on 127.0.0.1:<free port> serving |records| (zone-file lines) in a static local zone:
    names not listed answer NXDOMAIN."""

    def __init__(self, env, records, zone="test."):
        Proc.__init__(self, env, "unbound")
        self.exe = shutil.which("unbound") or ("/usr/sbin/unbound"
                                                if os.path.exists("/usr/sbin/unbound") else None)
        if not self.exe:
            raise Skip("unbound not installed")
        self.port = env.free_port(("127.0.0.1",))
        self.addr = "127.0.0.1:%d" % self.port
        self.conffile = env.path("unbound.conf")
        lines = [
            "server:",
            "  interface: 127.0.0.1",
            "  port: %d" % self.port,
            "  do-ip6: no",
            "  do-daemonize: no",
            '  username: ""',
            '  chroot: ""',
            '  directory: "%s"' % env.dir,
            '  pidfile: ""',
            "  use-syslog: no",
            '  logfile: ""',
            "  verbosity: 1",
            "  access-control: 127.0.0.0/8 allow",
            '  module-config: "iterator"',
            "  num-threads: 1",
            "  so-reuseport: no",
            '  local-zone: "%s" static' % zone,
        ]
        for r in records:
            lines.append('  local-data: "%s"' % r)
        lines += ["remote-control:", "  control-enable: no", ""]
        with open(self.conffile, "w") as f:
            f.write("\n".join(lines))

    def start(self, timeout=10):
        _run_cmd([shutil.which("unbound-checkconf") or "unbound-checkconf", self.conffile])
        self._spawn([self.exe, "-d", "-c", self.conffile])
        log("started unbound pid %d on %s" % (self.pid, self.addr))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.alive():
                self.dump()
                raise Fail("unbound exited with %s" % self.p.returncode)
            try:
                dns_query("127.0.0.1", self.port, "probe.invalid.", 1, timeout=0.3)
                return
            except (OSError, Fail):
                time.sleep(0.1)
        self.dump()
        raise Fail("unbound did not answer within %ds" % timeout)


DNS_A, DNS_SRV = 1, 33


def dns_query(ip, port, name, qtype, timeout=2.0):
    """Sends one DNS query over UDP; returns (rcode, [answers]) where an A answer is a dotted
    address and an SRV answer is (prio, weight, port, target)."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (ip, port))
        data, _ = s.recvfrom(4096)
    finally:
        s.close()
    rid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", data[:12])
    if rid != qid:
        raise Fail("DNS id mismatch")
    off = 12

    def read_name(off):
        labels = []
        jumped = False
        end = None
        for _ in range(128):
            n = data[off]
            if n == 0:
                off += 1
                break
            if n & 0xC0 == 0xC0:
                ptr = ((n & 0x3F) << 8) | data[off + 1]
                if not jumped:
                    end = off + 2
                jumped = True
                off = ptr
                continue
            labels.append(data[off + 1:off + 1 + n].decode())
            off += 1 + n
        return ".".join(labels) + ".", (end if jumped else off)

    for _ in range(qd):
        _, off = read_name(off)
        off += 4
    answers = []
    for _ in range(an):
        _, off = read_name(off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", data[off:off + 10])
        off += 10
        rd = data[off:off + rdlen]
        if rtype == DNS_A:
            answers.append(socket.inet_ntoa(rd))
        elif rtype == DNS_SRV:
            prio, weight, port_ = struct.unpack(">HHH", rd[:6])
            target, _ = read_name(off + 6)
            answers.append((prio, weight, port_, target))
        off += rdlen
    return flags & 0xF, answers


# ------------------------------------------------------------------------------------------------
# XML streams


class Elem:
    """A parsed element: ns, name, attrs (qualified attribute names as 'ns local' for namespaced
    ones, plain for the rest), children, text (all character data directly inside)."""

    def __init__(self, ns, name, attrs):
        self.ns = ns
        self.name = name
        self.attrs = attrs
        self.children = []
        self.text = ""

    def get(self, attr, default=None):
        return self.attrs.get(attr, default)

    def find(self, name, ns=None):
        for c in self.children:
            if c.name == name and (ns is None or c.ns == ns):
                return c
        return None

    def findall(self, name=None, ns=None):
        return [c for c in self.children
                if (name is None or c.name == name) and (ns is None or c.ns == ns)]

    def __repr__(self):
        a = "".join(" %s='%s'" % (k, v) for k, v in self.attrs.items())
        inner = "".join(repr(c) for c in self.children) + xml_escape(self.text[:80], False)
        return "<%s{%s}%s>%s</%s>" % (self.name, self.ns, a, inner, self.name)


def _split_qname(q):
    if " " in q:
        ns, name = q.split(" ", 1)
        return ns, name
    return "", q


class XmlStream:
    """Incremental parser for one XML stream (one instance per stream restart). feed() appends
    events to .events: ('open', attrs) for the root start tag, ('elem', Elem) for each complete
    top-level child, ('close',) for the root end tag, ('error', text) when the input is not
    well-formed (after which nothing more is parsed)."""

    def __init__(self):
        self.p = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        self.p.StartElementHandler = self._start
        self.p.EndElementHandler = self._end
        self.p.CharacterDataHandler = self._chars
        self.p.StartNamespaceDeclHandler = self._nsdecl
        self.p.buffer_text = False
        self.root_nsdecls = {}
        self.events = []
        self.stack = []
        self.failed = False

    def feed(self, data):
        if self.failed:
            return
        try:
            self.p.Parse(data, False)
        except xml.parsers.expat.ExpatError as e:
            self.failed = True
            self.events.append(("error", str(e)))

    def _nsdecl(self, prefix, uri):
        if not self.stack:
            self.root_nsdecls[prefix or ""] = uri

    def _start(self, qname, attrs):
        ns, name = _split_qname(qname)
        if not self.stack and not hasattr(self, "root"):
            self.root = Elem(ns, name, attrs)
            self.stack.append(self.root)
            # ('open', attrs, root ns, root name, namespace declarations {prefix or '': uri})
            self.events.append(("open", attrs, ns, name, dict(self.root_nsdecls)))
            return
        e = Elem(ns, name, attrs)
        self.stack[-1].children.append(e)
        self.stack.append(e)

    def _end(self, qname):
        e = self.stack.pop()
        if not self.stack:
            self.events.append(("close",))
        elif len(self.stack) == 1:
            self.stack[0].children.remove(e)  # do not keep the whole stream in memory
            self.events.append(("elem", e))

    def _chars(self, data):
        if len(self.stack) > 1:
            self.stack[-1].text += data


# ------------------------------------------------------------------------------------------------
# A reader shared by the component and s2s clients


class Closed(Exception):
    pass


def hold_until_fin(sock, timeout):
    """Keeps |sock|'s TCP connection open until the other side's FIN (or |timeout| s), reading
    and dropping raw bytes: TLS close_notify is no FIN."""
    raw = socket.socket(fileno=os.dup(sock.fileno()))
    raw.settimeout(timeout)
    try:
        while raw.recv(65536):
            pass
    except OSError:
        pass
    finally:
        raw.close()


class StreamConn:
    """A socket plus an XmlStream, read synchronously with timeouts."""

    def __init__(self, sock):
        self.sock = sock
        self.xs = XmlStream()
        self.raw_in = b""
        self.eof = False
        self.eof_reason = None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def restart(self):
        self.xs = XmlStream()

    def _fill(self, timeout):
        """Reads once (up to |timeout| s); returns False on timeout, raises Closed on EOF."""
        if self.eof:
            raise Closed(self.eof_reason)
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except ssl.SSLEOFError as e:
            data, self.eof_reason = b"", "TLS EOF without close_notify (%s)" % e
        except (ConnectionResetError, BrokenPipeError) as e:
            data, self.eof_reason = b"", "reset (%s)" % e
        except ssl.SSLError as e:
            data, self.eof_reason = b"", "TLS error (%s)" % e
        if not data:
            self.eof = True
            self.eof_reason = self.eof_reason or "EOF"
            raise Closed(self.eof_reason)
        self.raw_in += data
        self.xs.feed(data)
        return True

    def next_event(self, timeout=5.0):
        """The next parser event, or None after |timeout| s; raises Closed on EOF with no event."""
        end = time.monotonic() + timeout
        while not self.xs.events:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self._fill(left)
        return self.xs.events.pop(0)

    def next_elem(self, timeout=5.0, what="element"):
        """The next top-level element; Fail on timeout, close, parse error or stream error."""
        try:
            ev = self.next_event(timeout)
        except Closed as e:
            raise Fail("connection closed while waiting for %s (%s); received: %r" %
                       (what, e, self.raw_in[-600:]))
        if ev is None:
            raise Fail("timeout waiting for %s; received: %r" % (what, self.raw_in[-600:]))
        if ev[0] != "elem":
            raise Fail("unexpected %r while waiting for %s; received: %r" %
                       (ev, what, self.raw_in[-600:]))
        e = ev[1]
        if e.name == "error" and e.ns == NS_STREAM:
            raise Fail("stream error %s while waiting for %s" % (stream_error_condition(e), what))
        return e

    def wait_closed(self, timeout):
        """Reads and discards until EOF; True if the peer closed within |timeout| s."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            try:
                self._fill(left)
            except Closed:
                return True

    def close(self):
        # shutdown first: a reader thread blocked in recv() keeps a plain close() from sending FIN
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def stream_error_condition(e):
    for c in e.children:
        if c.ns == NS_STREAM_ERR and c.name != "text":
            return c.name
    return None


def stanza_error_condition(e):
    err = e.find("error")
    if err is None:
        return None, None
    for c in err.children:
        if c.ns == NS_STANZA_ERR and c.name != "text":
            return c.name, err.get("type")
    return None, err.get("type")


# ------------------------------------------------------------------------------------------------
# XEP-0114 component client


class Component:
    """An XEP-0114 (jabber:component:accept) client. connect() does the handshake and starts a
    reader thread; received top-level elements accumulate in .received (under .cond)."""

    def __init__(self, addr, domain, secret, name=None):
        self.addr = addr
        self.domain = domain
        self.secret = secret
        self.name = name or domain
        self.received = []
        self.cond = threading.Condition()
        self.closed = None
        self.conn = None
        self.send_lock = threading.Lock()

    def open(self, timeout=5.0):
        """Opens the stream and sends the handshake; returns (conn, first element or stream error
        condition). Used directly by the negative tests."""
        sock = socket.create_connection(self.addr, timeout=timeout)
        conn = StreamConn(sock)
        conn.send("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                  "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>" % self.domain)
        ev = conn.next_event(timeout)
        if ev is None or ev[0] != "open":
            return conn, ("no stream header", ev)
        attrs = ev[1]
        sid = attrs.get("id")
        if not sid:
            # could be an immediate stream error
            return conn, ("no id", attrs)
        digest = hashlib.sha1((sid + self.secret).encode()).hexdigest()
        conn.send("<handshake>%s</handshake>" % digest)
        ev = conn.next_event(timeout)
        return conn, ev

    def connect(self, timeout=5.0):
        conn, ev = self.open(timeout)
        if not ev or ev[0] != "elem" or ev[1].name != "handshake":
            raise Fail("component %s handshake failed: %r; received %r" %
                       (self.name, ev, conn.raw_in[-400:]))
        self.conn = conn
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        return self

    def _reader(self):
        while True:
            try:
                ev = self.conn.next_event(3600)
            except Closed as e:
                with self.cond:
                    self.closed = str(e)
                    self.cond.notify_all()
                return
            except OSError as e:
                with self.cond:
                    self.closed = "error %s" % e
                    self.cond.notify_all()
                return
            if ev is None:
                continue
            with self.cond:
                if ev[0] == "elem":
                    self.received.append(ev[1])
                elif ev[0] == "close":
                    self.closed = "stream closed by router"
                elif ev[0] == "error":
                    self.closed = "not well-formed from router: %s" % ev[1]
                self.cond.notify_all()
            if ev[0] in ("close", "error"):
                return

    def send(self, data):
        with self.send_lock:
            self.conn.send(data)

    def message(self, frm, to, body, id=None, type=None, extra=""):
        a = "from='%s' to='%s'" % (xml_escape(frm), xml_escape(to))
        if id:
            a += " id='%s'" % xml_escape(id)
        if type:
            a += " type='%s'" % type
        self.send("<message %s><body>%s</body>%s</message>" % (a, xml_escape(body, False), extra))

    def wait_for(self, pred, timeout=5.0, start=0):
        """First received element (from index |start|) for which pred(e) holds, or None."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for e in self.received[start:]:
                    if pred(e):
                        return e
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def wait_count(self, pred, n, timeout=5.0):
        """Waits until |n| received elements satisfy pred; returns them (maybe fewer)."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [e for e in self.received if pred(e)]
                left = end - time.monotonic()
                if len(got) >= n or left <= 0:
                    return got
                self.cond.wait(left)

    def count(self, pred):
        with self.cond:
            return sum(1 for e in self.received if pred(e))

    def close(self):
        if self.conn:
            try:
                self.conn.send("</stream:stream>")
            except OSError:
                pass
            self.conn.close()


def by_id(i):
    return lambda e: e.get("id") == i


# ------------------------------------------------------------------------------------------------
# Raw s2s client


def stream_header(frm=None, to=None, version="1.0", db=True, ns="jabber:server", decl=True,
                  id=None):
    a = ""
    if id is not None:
        a += " id='%s'" % id
    if frm is not None:
        a += " from='%s'" % frm
    if to is not None:
        a += " to='%s'" % to
    if version:
        a += " version='%s'" % version
    return ("<?xml version='1.0'?>" if decl else "") + \
        "<stream:stream xmlns='%s' xmlns:stream='%s'%s%s xml:lang='en'>" % (
            ns, NS_STREAM, " xmlns:db='jabber:server:dialback'" if db else "", a)


class S2S(StreamConn):
    """A raw s2s initiator. Typical use:
        c = S2S(router.s2s_addr, bind_ip='127.0.0.11')
        c.open('x.test', 'b.test'); c.starttls(ca, cert, 'b.test'); c.open(...); c.auth_external()
    Every step returns what the router sent, so tests can assert on it."""

    def __init__(self, addr, bind_ip=None, timeout=5.0):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        if bind_ip:
            sock.bind((bind_ip, 0))
        sock.connect(addr)
        StreamConn.__init__(self, sock)
        self.addr = addr
        self.header = None
        self.features = None
        self.frm = None
        self.to = None

    def open(self, frm, to, timeout=5.0, features=True, **kw):
        """Sends a stream header and reads the response header (and features, if |features|)."""
        self.frm, self.to = frm, to
        self.restart()
        self.send(stream_header(frm, to, **kw))
        try:
            ev = self.next_event(timeout)
        except Closed as e:
            raise Fail("closed before the response header (%s); received %r" % (e, self.raw_in))
        if ev is None or ev[0] != "open":
            raise Fail("no response header: %r; received %r" % (ev, self.raw_in[-400:]))
        self.header = ev[1]
        if features:
            f = self.next_elem(timeout, "stream features")
            if f.name != "features" or f.ns != NS_STREAM:
                raise Fail("expected stream:features, got %r" % f)
            self.features = f
        return self.header

    def starttls(self, ca_file, cert=None, sni=None, timeout=5.0):
        """STARTTLS and the TLS handshake (router certificate verified against |ca_file| for
        |sni|); |cert| is the client Cert to present or None. Then re-opens the stream."""
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        e = self.next_elem(timeout, "proceed")
        if e.name != "proceed" or e.ns != NS_TLS:
            raise Fail("STARTTLS answered with %r" % e)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_verify_locations(ca_file)
        if cert:
            ctx.load_cert_chain(cert.cert, cert.key)
        self.sock.settimeout(timeout)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=sni or self.to)
        self.tls_version = self.sock.version()
        self.restart()
        return self.open(self.frm, self.to, timeout)

    def mechanisms(self):
        m = self.features.find("mechanisms", NS_SASL) if self.features is not None else None
        return [x.text.strip() for x in m.findall("mechanism")] if m is not None else []

    def auth_external(self, authzid=None, timeout=5.0):
        """SASL EXTERNAL; on success restarts the stream. Returns the success/failure element."""
        payload = "=" if authzid is None else base64.b64encode(authzid.encode()).decode()
        self.send("<auth xmlns='%s' mechanism='EXTERNAL'>%s</auth>" % (NS_SASL, payload))
        e = self.next_elem(timeout, "SASL outcome")
        if e.name == "success" and e.ns == NS_SASL:
            self.restart()
            self.open(self.frm, self.to, timeout)
        return e

    def establish_external(self, ca_file, cert, frm, to, timeout=5.0):
        """Full EXTERNAL login: header, STARTTLS, EXTERNAL, restart. Fail if any step fails."""
        self.open(frm, to, timeout)
        self.starttls(ca_file, cert, to, timeout)
        mechs = self.mechanisms()
        if "EXTERNAL" not in mechs:
            raise Fail("router did not offer EXTERNAL to %s (features %r)" % (frm, self.features))
        e = self.auth_external(frm, timeout)
        if e.name != "success":
            raise Fail("EXTERNAL as %s failed: %r" % (frm, e))
        return self

    def expect_stream_error(self, timeout=5.0, send_close=True):
        """Reads until a stream error arrives, then sends our </stream:stream> (unless
        |send_close| is False) and waits up to 5 s for the router to close. Returns a
        StreamErrorResult."""
        r = StreamErrorResult()
        end = time.monotonic() + timeout
        try:
            while r.cond is None:
                left = end - time.monotonic()
                if left <= 0:
                    break
                ev = self.next_event(left)
                if ev is None:
                    break
                if ev[0] == "open":
                    r.header = ev[1]
                elif ev[0] == "elem" and ev[1].name == "error" and ev[1].ns == NS_STREAM:
                    r.cond = stream_error_condition(ev[1])
                    r.parsed = True
                elif ev[0] == "close":
                    r.saw_close = True
                    break
                elif ev[0] == "error":
                    r.parse_error = ev[1]
                    break
        except Closed:
            pass
        if r.cond is None:
            r.cond = raw_stream_error(self.raw_in)
        # the closing tag follows the error
        try:
            while r.parsed and not r.saw_close:
                ev = self.next_event(2.0)
                if ev is None:
                    break
                if ev[0] == "error":
                    r.parse_error = ev[1]
                    break
                if ev[0] == "close":
                    r.saw_close = True
        except Closed:
            pass
        if not r.saw_close and re.search(rb"</stream:stream>\s*$", self.raw_in):
            r.raw_close = True
        if send_close and not self.eof:
            try:
                self.send("</stream:stream>")
            except OSError:
                pass
        t0 = time.monotonic()
        r.closed = self.eof or self.wait_closed(5.0)
        r.close_delay = time.monotonic() - t0
        r.raw = self.raw_in
        return r


class StreamErrorResult:
    """What S2S.expect_stream_error saw. cond: the condition (from the parsed stream, else found
    in the raw bytes); parsed: the error arrived inside a well-formed stream (after a response
    header); saw_close: </stream:stream> parsed after it; raw_close: the bytes end with
    </stream:stream> even though they did not parse; closed: the router closed TCP."""

    def __init__(self):
        self.cond = None
        self.parsed = False
        self.header = None
        self.saw_close = False
        self.raw_close = False
        self.parse_error = None
        self.closed = False
        self.close_delay = None
        self.raw = b""


def raw_stream_error(raw):
    """Condition name of a stream error found in raw bytes (fallback when parsing failed)."""
    m = re.search(rb"<(?:\w+:)?error[^>]*>\s*<([\w-]+)[^>]*xmlns=['\"]" +
                  re.escape(NS_STREAM_ERR.encode()), raw)
    return m.group(1).decode() if m else None


def check_stream_error(what, got, expected):
    """Asserts a StreamErrorResult: condition in |expected| (a name or a tuple of acceptable
    names), sent inside a well-formed stream (response header first, RFC 6120 §4.9.1.2),
    followed by </stream:stream>, and the connection closed."""
    if isinstance(expected, str):
        expected = (expected,)
    check(got.cond in expected, "%s: stream error <%s/>" % (what, "/>|<".join(expected)),
          "got %r; received %r" % (got.cond, got.raw[-400:]))
    check(got.parsed, "%s: error sent inside a well-formed stream (response header first)" % what,
          "parser: %s; received %r" % (got.parse_error, got.raw[-400:]))
    check(got.saw_close, "%s: router sent </stream:stream> after the error" % what,
          "received %r" % got.raw[-300:])
    check(got.closed, "%s: router closed the connection" % what)


class Cases:
    """Runs independent cases of one scenario, records failures and goes on; finish() fails
    the scenario if any case failed."""

    def __init__(self):
        self.failed = []

    def run(self, name, fn, *args):
        log("case: " + name)
        try:
            fn(*args)
        except Fail as e:
            log("  FAIL " + str(e))
            self.failed.append("%s: %s" % (name, e))

    def finish(self):
        if self.failed:
            raise Fail("%d case(s) failed:\n  - " % len(self.failed) + "\n  - ".join(self.failed))


class Listener:
    """A TCP listener on |ip|:<free port> (.port) whose thread hands every accepted socket to
    self.on_accept(sock) until .stop_flag is set or the socket closes. Subclasses set their own
    state first, then call _listen()."""

    def _listen(self, env, ip, backlog):
        self.port = env.free_port((ip,))
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, self.port))
        self.sock.listen(backlog)
        self.stop_flag = False
        self.t = threading.Thread(target=self._accept_loop, daemon=True)
        self.t.start()

    def _accept_loop(self):
        self.sock.settimeout(0.2)
        while not self.stop_flag:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.on_accept(c)


class SilentServer(Listener):
    """Accepts TCP connections on |ip|:<free port> and never sends a byte (timeout cases)."""

    def __init__(self, env, ip="127.0.0.1"):
        self.conns = []
        self._listen(env, ip, 16)

    def on_accept(self, c):
        self.conns.append(c)

    def close(self):
        self.stop_flag = True
        self.sock.close()
        for c in self.conns:
            c.close()


# ------------------------------------------------------------------------------------------------
# The usual topology: router A (a.test on 127.0.0.1) and router B (b.test on 127.0.0.2)


class Site:
    """One router with its hosted domain, certificate and connected component."""

    def __init__(self, name, ip, domain, secret):
        self.name = name
        self.ip = ip
        self.domain = domain
        self.secret = secret
        self.router = None
        self.comp = None
        self.cert = None

    def component(self, connect=True):
        c = Component(self.router.comp_addr, self.domain, self.secret, name="comp-" + self.domain)
        return c.connect() if connect else c


def make_pair(env, a_eku="serverAuth,clientAuth", b_eku="serverAuth,clientAuth", s2s_a=None,
              s2s_b=None, resolver=None, static_routes=True, extra_routes_a=(), extra_routes_b=(),
              workers=2, dns=None, a_cert=None, a_ca_file=None, b_ca_file=None, tag=""):
    """Starts routers A and B, each with its own certificate from the shared test CA and a
    component connected. Static routes point each at the other unless |static_routes| is False.
    |dns|: None, or a list of extra zone records: then unbound is started serving
    _xmpp-server._tcp SRV records for a.test (-> ra.test = 127.0.0.1) and b.test (-> rb.test =
    127.0.0.2) plus those records, and both routers use it as s2s.resolver (env.dns is the
    Unbound). |a_cert|: A's Cert instead of a fresh one for a.test (its .conf_domains, if set,
    is what the config lists); |a_ca_file|/|b_ca_file|: trust stores instead of the test CA.
    |tag| is appended to process and file names (several pairs in one scenario).
    Returns (A, B) Site objects."""
    ca = env.ca()
    a = Site("router-a" + tag, "127.0.0.1", "a.test", "secret-a-" + os.urandom(6).hex())
    b = Site("router-b" + tag, "127.0.0.2", "b.test", "secret-b-" + os.urandom(6).hex())
    a.cert = a_cert or ca.issue("a.test", ["a.test"], eku=a_eku)
    b.cert = ca.issue("b.test" + tag, ["b.test"], eku=b_eku)
    for s in (a, b):
        s.s2s_port = env.free_port()
        s.comp_port = env.free_port()
        s.metrics_port = env.free_port()
    if dns is not None:
        recs = ["_xmpp-server._tcp.a.test. 60 IN SRV 0 5 %d ra.test." % a.s2s_port,
                "ra.test. 60 IN A 127.0.0.1",
                "_xmpp-server._tcp.b.test. 60 IN SRV 0 5 %d rb.test." % b.s2s_port,
                "rb.test. 60 IN A 127.0.0.2"] + list(dns)
        env.dns = env.unbound(recs)
        resolver = env.dns.addr
    ra = list(extra_routes_a)
    rb = list(extra_routes_b)
    if static_routes:
        ra.append((b.domain, b.ip, b.s2s_port))
        rb.append((a.domain, a.ip, a.s2s_port))
    for s, routes, over, cafile in ((a, ra, s2s_a, a_ca_file), (b, rb, s2s_b, b_ca_file)):
        conf = router_conf(env, s.ip, s.s2s_port, s.comp_port, s.metrics_port,
                           [(s.domain, s.secret)], [s.cert], cafile or ca.cert, routes=routes,
                           resolver=resolver, s2s=over, workers=workers)
        s.router = env.router(s.name, conf)
    for s in (a, b):
        s.comp = s.component()
    return a, b


def make_site(env, name, ip, domain, routes=(), resolver=None, s2s=None, eku="serverAuth,clientAuth",
              workers=2):
    """Starts one router hosting |domain| with a connected component; returns the Site."""
    s = Site(name, ip, domain, "secret-%s-%s" % (domain, os.urandom(6).hex()))
    s.cert = env.ca().issue(domain, [domain], eku=eku)
    s.s2s_port = env.free_port()
    s.comp_port = env.free_port()
    s.metrics_port = env.free_port()
    conf = router_conf(env, ip, s.s2s_port, s.comp_port, s.metrics_port, [(domain, s.secret)],
                       [s.cert], env.ca().cert, routes=routes, resolver=resolver, s2s=s2s,
                       workers=workers)
    s.router = env.router(name, conf)
    s.comp = s.component()
    return s


def exchange(src, dst, n=1, prefix="m", timeout=10.0, check_each=True):
    """Sends |n| messages from src's component to users at dst's domain and waits for them at
    dst's component; asserts from/to/id/body/type intact and order. Returns the elements."""
    tag = "%s-%s-%s" % (prefix, src.domain, os.urandom(3).hex())
    frm = "alice@%s/res" % src.domain
    to = "bob@%s" % dst.domain
    for i in range(n):
        src.comp.message(frm, to, "hello %d <&> ünï '\"" % i, id="%s-%d" % (tag, i), type="chat")
    got = dst.comp.wait_count(lambda e: (e.get("id") or "").startswith(tag + "-"), n, timeout)
    check(len(got) == n, "%d message(s) %s -> %s arrived" % (n, src.domain, dst.domain),
          "got %d of %d" % (len(got), n))
    for i, e in enumerate(got):
        ok = (e.name == "message" and e.ns == NS_COMPONENT and e.get("id") == "%s-%d" % (tag, i)
              and e.get("from") == frm and e.get("to") == to and e.get("type") == "chat"
              and e.find("body") is not None
              and e.find("body").text == "hello %d <&> ünï '\"" % i)
        if not ok:
            raise Fail("message %d differs: %r" % (i, e))
    log("  ok   ... in order, from/to/type/id/body intact, namespace jabber:component:accept")
    return got


# ------------------------------------------------------------------------------------------------
# A scripted receiving server (for outbound failure paths fedrouter cannot be made to produce)


def dialback_key(secret, receiving, originating, stream_id):
    """XEP-0185: hex(HMAC-SHA256(hex(SHA256(secret)), receiving ' ' originating ' ' id))."""
    import hmac
    k = hashlib.sha256(secret.encode()).hexdigest().encode()
    return hmac.new(k, ("%s %s %s" % (receiving, originating, stream_id)).encode(),
                    hashlib.sha256).hexdigest()


def serve_starttls(conn, sock, header, cert, ca, who):
    """The receiving side of STARTTLS on StreamConn |conn| over |sock|: sends |header| with a
    required <starttls/> feature, answers <proceed/>, runs the TLS handshake with |cert| (client
    certificates optional, checked against |ca|) and returns the initiator's post-TLS stream
    header event. |who| names the caller in failures."""
    conn.send(header + "<stream:features><starttls xmlns='%s'><required/></starttls>"
              "</stream:features>" % NS_TLS)
    e = conn.next_elem(10, "starttls")
    if e.name != "starttls":
        raise Fail("%s: expected starttls, got %r" % (who, e))
    conn.send("<proceed xmlns='%s'/>" % NS_TLS)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert.cert, cert.key)
    ctx.load_verify_locations(ca.cert)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    conn.sock = ctx.wrap_socket(sock, server_side=True)
    conn.restart()
    ev = conn.next_event(10)
    if not ev or ev[0] != "open":
        raise Fail("%s: no header after TLS: %r" % (who, ev))
    return ev


class FakePeer(Listener):
    """A minimal receiving server for |domain| on |ip|:<free port>: STARTTLS required (server
    certificate for |domain| from |ca|), then offers only dialback (no SASL) and answers each
    db:result with |answer|: 'valid', 'invalid' (then closes the stream), 'error' (dialback error
    remote-server-not-found), or None (never answers). mode='host-unknown' instead answers the
    first header with a host-unknown stream error. Records in .log: ('db:result', attrs, key,
    stream id), ('stanza', Elem), ('header', attrs)."""

    def __init__(self, env, ca, domain, answer="valid", ip="127.0.0.1", mode=None):
        self.domain = domain
        self.answer = answer
        self.mode = mode
        self.cert = ca.issue("fake-" + domain, [domain])
        self.ca = ca
        self.log = []
        self.errors = []
        self.cond = threading.Condition()
        self._listen(env, ip, 8)

    def on_accept(self, c):
        threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _record(self, item):
        with self.cond:
            self.log.append(item)
            self.cond.notify_all()

    def wait(self, pred, timeout=5.0):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for item in self.log:
                    if pred(item):
                        return item
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def _header(self, to, sid):
        return stream_header(self.domain, to, id=sid)

    def _serve(self, sock):
        conn = StreamConn(sock)
        try:
            ev = conn.next_event(10)
            if not ev or ev[0] != "open":
                return
            self._record(("header", ev[1]))
            peer = ev[1].get("from")
            if self.mode == "host-unknown":
                conn.send(stream_header("", peer, id=os.urandom(8).hex()) +
                          "<stream:error><host-unknown xmlns='%s'/></stream:error>"
                          "</stream:stream>" % NS_STREAM_ERR)
                conn.wait_closed(5)
                return
            ev = serve_starttls(conn, sock, self._header(peer, os.urandom(8).hex()), self.cert,
                                self.ca, "fake peer")
            sid = os.urandom(8).hex()
            conn.send(self._header(peer, sid) +
                      "<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/>"
                      "</dialback></stream:features>")
            while True:
                ev = conn.next_event(30)
                if ev is None or ev[0] != "elem":
                    return
                e = ev[1]
                if e.ns == NS_DB and e.name == "result":
                    self._record(("db:result", dict(e.attrs), e.text, sid))
                    frm, to = e.get("from"), e.get("to")
                    if self.answer in ("valid", "invalid"):
                        conn.send("<db:result from='%s' to='%s' type='%s'/>" %
                                  (to, frm, self.answer))
                        if self.answer == "invalid":
                            conn.send("</stream:stream>")
                            conn.wait_closed(5)
                            return
                    elif self.answer == "error":
                        conn.send("<db:result from='%s' to='%s' type='error'><error "
                                  "type='cancel'><remote-server-not-found xmlns='%s'/></error>"
                                  "</db:result>" % (to, frm, NS_STANZA_ERR))
                else:
                    self._record(("stanza", e))
        except (Fail, Closed, OSError, ssl.SSLError) as ex:
            self.errors.append(repr(ex))
        finally:
            conn.close()

    def close(self):
        self.stop_flag = True
        self.sock.close()


# ------------------------------------------------------------------------------------------------
# The pool: multi-domain routers, a scripted multi-domain peer, connection counting


class MultiSite:
    """One router hosting several domains, one component per domain (.sites: [Site])."""

    def __init__(self, name, ip, router, sites, cert):
        self.name = name
        self.ip = ip
        self.router = router
        self.sites = sites
        self.cert = cert
        self.domains = [s.domain for s in sites]
        self.s2s_port = router.s2s_addr[1]

    def site(self, domain):
        for s in self.sites:
            if s.domain == domain:
                return s
        raise KeyError(domain)


def make_multi_site(env, name, ip, domains, ports=None, cert_names=None, routes=(), s2s=None,
                    workers=2, resolver=None):
    """Starts a router on |ip| hosting |domains| with ONE certificate from the test CA that names
    |cert_names| (default: all |domains|) and is configured for every hosted domain, and connects
    one component per domain. |ports|: (s2s, component, metrics) or None for fresh ones.
    Returns a MultiSite."""
    ca = env.ca()
    names = list(cert_names) if cert_names is not None else list(domains)
    cert = ca.issue(name, names)
    cert.conf_domains = list(domains)
    s2s_port, comp_port, metrics_port = ports or (env.free_port((ip,)), env.free_port((ip,)),
                                                  env.free_port((ip,)))
    secrets = [(d, "secret-%s-%s" % (d, os.urandom(4).hex())) for d in domains]
    conf = router_conf(env, ip, s2s_port, comp_port, metrics_port, secrets, [cert], ca.cert,
                       routes=routes, s2s=s2s, workers=workers, resolver=resolver)
    r = env.router(name, conf)
    sites = []
    for d, sec in secrets:
        st = Site(name, ip, d, sec)
        st.router = r
        st.cert = cert
        st.comp = st.component()
        sites.append(st)
    return MultiSite(name, ip, r, sites, cert)


def send_pairs(pairs, n=1, prefix="p"):
    """Sends |n| messages for every (src Site, dst domain) in |pairs| without waiting; returns
    {(src domain, dst domain): [ids]}."""
    sent = {}
    for src, dst in pairs:
        tag = "%s-%s-%s-%s" % (prefix, src.domain, dst, os.urandom(2).hex())
        ids = []
        for i in range(n):
            mid = "%s-%d" % (tag, i)
            src.comp.message("alice@%s/r" % src.domain, "bob@%s" % dst, "pair %d <&>" % i, id=mid)
            ids.append(mid)
        sent[(src.domain, dst)] = ids
    return sent


def wait_delivered(sent, site_of, timeout):
    """Waits until every id in |sent| (from send_pairs) reached the component of its target
    (site_of(domain) -> Site) with from/to intact; returns the list of (pair, id) missing."""
    end = time.monotonic() + timeout
    missing = []
    for (src, dst), ids in sent.items():
        comp = site_of(dst).comp
        want = set(ids)
        got = comp.wait_count(lambda e, w=want: e.get("id") in w, len(ids),
                              max(0.1, end - time.monotonic()))
        ok_ids = {e.get("id") for e in got
                  if e.get("from") == "alice@%s/r" % src and e.get("to") == "bob@%s" % dst
                  and e.get("type") != "error"}
        missing += [((src, dst), i) for i in ids if i not in ok_ids]
    return missing


def tcp_conns(pid, remote=None, local=None):
    """Established TCP connections of process |pid| (ss -tnp); |remote|/|local|: (ip, port) or
    (ip, None) filters. Returns a list of (local (ip, port), remote (ip, port))."""
    exe = shutil.which("ss")
    if not exe:
        raise Skip("ss (iproute2) not found")
    out = subprocess.run([exe, "-tnpH", "state", "established"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout.decode(errors="replace")
    res = []
    for ln in out.splitlines():
        if "pid=%d," % pid not in ln:
            continue
        f = ln.split()
        # Recv-Q Send-Q Local:Port Peer:Port Process (state column omitted with a state filter)
        addrs = [x for x in f if re.match(r"^[\d.]+:\d+$", x)]
        if len(addrs) < 2:
            continue
        lo, re_ = _split_addr(addrs[0]), _split_addr(addrs[1])

        def match(a, flt):
            return flt is None or (a[0] == flt[0] and (flt[1] is None or a[1] == flt[1]))
        if match(re_, remote) and match(lo, local):
            res.append((lo, re_))
    return res


class AcceptCloseServer(Listener):
    """Accepts TCP connections on |ip|:<free port> and closes each at once; .accepts holds the
    monotonic time of every accept."""

    def __init__(self, env, ip="127.0.0.1"):
        self.accepts = []
        self._listen(env, ip, 64)

    def on_accept(self, c):
        self.accepts.append(time.monotonic())
        c.close()

    def close(self):
        self.stop_flag = True
        self.sock.close()


def _cert_names(peercert):
    """dNSName SANs of a certificate dict from SSLSocket.getpeercert()."""
    return [v for k, v in (peercert or {}).get("subjectAltName", ()) if k == "DNS"]


class ScriptedPeer(Listener):
    """A scripted receiving server hosting several |domains| on |ip|:<free port>, with one
    certificate from |ca| naming all of them. Per TCP connection: STARTTLS (required), then
    features; SASL EXTERNAL is offered when the stream's 'to' is in |sasl_for| and the client
    certificate names the header 'from'; the dialback feature is advertised with <errors/> only
    when |db_errors|. Every db:result is checked against |secret| (the initiator's dialback
    secret, XEP-0185 with the stream's current id) and answered type='valid' when its 'to' is
    hosted and the key matches, 'invalid' when the key does not match; a db:result for a domain
    not hosted gets a host-unknown stream error (what Prosody does). Stanzas are recorded.
    Records (under .cond) in .log: ('accept', n), ('stream', n, from, to) for each post-TLS header,
    ('sasl', n, authzid), ('db:result', n, from, to, key_ok, stream to), ('stanza', n, Elem),
    ('closed', n). .errors: protocol surprises. |close_after_valid| (seconds) makes it a flapping
    peer: it closes each stream that long after its first pair became valid, and records the
    stanzas that still come until the initiator closes its side."""

    def __init__(self, env, ca, domains, secret, ip="127.0.0.1", db_errors=False, sasl_for=(),
                 name="scripted", close_after_valid=None, bidi=False, sm=None, mute=False,
                 answer_close=True):
        # flapping: close the stream this many seconds after a pair became valid (None: never)
        self.close_after_valid = close_after_valid
        # mute (with close_after_valid): read nothing from the valid until the close, so that
        # the initiator's stream is congested when we close; .release.set() closes at once
        self.mute = mute
        self.release = threading.Event()
        # answer_close=False: when the initiator closes, send nothing (not even our own close)
        # and just read until it goes (a peer that leaves it to the initiator's deadline)
        self.answer_close = answer_close
        # bidi (XEP-0288): offer <bidi xmlns='urn:xmpp:features:bidi'/> after TLS; once the
        # initiator enabled it, .send_back(n, xml) writes to it on its own stream n.
        self.bidi = bidi
        # sm (XEP-0198): None: not offered; "ack": offered, <r/> answered with <a h/>;
        # "silent": offered and enabled, but <r/> never answered; "at-close": <r/> never
        # answered, but when the initiator closes its stream the peer acknowledges everything
        # with a last <a h/> and closes its own (a late ack, XEP-0198 allows it).
        self.sm = sm
        self.conns = {}
        self.initiator_closed = set()  # connections whose initiator sent </stream:stream>
        self.gone = set()  # connections closed
        self.domains = list(domains)
        self.secret = secret
        self.db_errors = db_errors
        self.sasl_for = set(sasl_for)
        self.cert = ca.issue(name, self.domains)
        self.ca = ca
        self.log = []
        self.errors = []
        self.cond = threading.Condition()
        self.nconn = 0
        self._listen(env, ip, 32)

    def on_accept(self, c):
        self.nconn += 1
        self._record(("accept", self.nconn))
        threading.Thread(target=self._serve, args=(c, self.nconn), daemon=True).start()

    def _record(self, item):
        with self.cond:
            self.log.append(item)
            self.cond.notify_all()

    def items(self, kind):
        with self.cond:
            return [it for it in self.log if it[0] == kind]

    def wait_count(self, pred, n, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [it for it in self.log if pred(it)]
                left = end - time.monotonic()
                if len(got) >= n or left <= 0:
                    return got
                self.cond.wait(left)

    def _features(self, conn, frm, to, offer_sasl):
        sid = str(uuid.uuid4())  # 36 bytes, like Prosody's stream ids
        f = ""
        if offer_sasl:
            f += "<mechanisms xmlns='%s'><mechanism>EXTERNAL</mechanism></mechanisms>" % NS_SASL
        f += ("<dialback xmlns='urn:xmpp:features:dialback'>%s</dialback>" %
              ("<errors/>" if self.db_errors else ""))
        if self.bidi:
            f += "<bidi xmlns='urn:xmpp:features:bidi'/>"
        if self.sm:
            f += "<sm xmlns='urn:xmpp:sm:3'/>"
        conn.send(stream_header(to, frm, id=sid) + "<stream:features>" + f + "</stream:features>")
        return sid

    def send_back(self, n, xml):
        """Writes |xml| on the peer's TCP connection n (bidi: to the initiator). Fail once the
        initiator's </stream:stream> was read or the connection is closed: a call that returns
        wrote all of |xml| before the peer saw the initiator close."""
        with self.cond:
            conn = self.conns.get(n)
            if conn is None or n in self.initiator_closed or n in self.gone:
                raise Fail("scripted peer: no connection %d" % n)
            conn.send(xml)

    def _serve(self, sock, n):
        conn = StreamConn(sock)
        try:
            ev = conn.next_event(10)
            if not ev or ev[0] != "open":
                return
            frm, to = ev[1].get("from"), ev[1].get("to")
            ev = serve_starttls(conn, sock, stream_header(to, frm, id=os.urandom(8).hex()),
                                self.cert, self.ca, "scripted peer")
            client_names = _cert_names(conn.sock.getpeercert())
            frm, to = ev[1].get("from"), ev[1].get("to")
            with self.cond:
                self.conns[n] = conn
            self._record(("stream", n, frm, to))
            if to not in self.domains:
                conn.send(stream_header("", frm, id=os.urandom(8).hex()) +
                          "<stream:error><host-unknown xmlns='%s'/></stream:error>"
                          "</stream:stream>" % NS_STREAM_ERR)
                conn.wait_closed(5)
                return
            sid = self._features(conn, frm, to, to in self.sasl_for and frm in client_names)
            close_at = None
            ended = False  # we sent </stream:stream>
            handled = None  # stanzas handled since <enable/> (None: SM off)
            while True:
                wait = 60 if close_at is None else close_at - time.monotonic()
                if self.mute and close_at is not None and not ended:
                    self.release.wait(max(wait, 0))  # deaf until our close
                    ev = None
                else:
                    ev = conn.next_event(max(wait, 0.001))
                if ev is None and close_at is not None:
                    if ended:
                        return  # the initiator did not close its stream in time
                    # RFC 6120 §4.4: having closed our stream we still take what the initiator
                    # sends until it closes its own (as Prosody does on an incoming stream).
                    # answer_close=False: no close of ours; just read (and record) again.
                    if self.answer_close:
                        conn.send("</stream:stream>")
                    ended = True
                    close_at = time.monotonic() + 10
                    continue
                if ev is not None and ev[0] == "close":
                    # The initiator closed: answer with our own close (unless sent already),
                    # then read until it goes, so that nothing it sent is left unread (a close
                    # with unread data resets the connection and destroys what is in flight).
                    self.initiator_closed.add(n)  # send_back stops (set ops are atomic)
                    with self.cond:
                        if self.sm == "at-close" and handled is not None:
                            conn.send("<a xmlns='urn:xmpp:sm:3' h='%d'/>" % handled)
                            self._record(("sm:a-at-close", n, handled))
                        if not ended and self.answer_close:
                            conn.send("</stream:stream>")
                    conn.wait_closed(10)
                    if not self.answer_close:
                        hold_until_fin(conn.sock, 10)
                    return
                if ev is None or ev[0] != "elem":
                    return
                e = ev[1]
                if ended:
                    if e.ns not in (NS_SASL, NS_DB, "urn:xmpp:sm:3", "urn:xmpp:bidi"):
                        self._record(("stanza", n, e))
                    continue
                if e.ns == NS_SASL and e.name == "auth":
                    authz = base64.b64decode(e.text.strip() or "").decode() if e.text.strip() \
                        not in ("", "=") else ""
                    self._record(("sasl", n, authz))
                    conn.send("<success xmlns='%s'/>" % NS_SASL)
                    conn.restart()
                    ev = conn.next_event(10)
                    if not ev or ev[0] != "open":
                        raise Fail("scripted peer: no header after SASL: %r" % (ev,))
                    sid = self._features(conn, frm, to, False)
                elif e.ns == NS_DB and e.name == "result" and e.get("type"):
                    # bidi: the initiator answers our own db:result on its stream
                    self._record(("db:answer", n, e.get("from"), e.get("to"), e.get("type")))
                elif e.ns == NS_DB and e.name == "result":
                    rf, rt = e.get("from"), e.get("to")
                    key_ok = e.text.strip() == dialback_key(self.secret, rt, rf, sid)
                    self._record(("db:result", n, rf, rt, key_ok, to))
                    if rt not in self.domains:
                        conn.send("<stream:error><host-unknown xmlns='%s'/></stream:error>"
                                  "</stream:stream>" % NS_STREAM_ERR)
                        conn.wait_closed(5)
                        return
                    conn.send("<db:result from='%s' to='%s' type='%s'/>" %
                              (rt, rf, "valid" if key_ok else "invalid"))
                    if key_ok and self.close_after_valid is not None and close_at is None:
                        close_at = time.monotonic() + self.close_after_valid
                elif e.ns == "urn:xmpp:bidi" and e.name == "bidi":
                    self._record(("bidi", n))
                elif e.ns == "urn:xmpp:sm:3" and e.name == "enable" and self.sm:
                    handled = 0
                    conn.send("<enabled xmlns='urn:xmpp:sm:3'/>")
                    self._record(("sm:enable", n))
                elif e.ns == "urn:xmpp:sm:3" and e.name == "r" and handled is not None:
                    self._record(("sm:r", n, handled))
                    if self.sm == "ack":
                        conn.send("<a xmlns='urn:xmpp:sm:3' h='%d'/>" % handled)
                elif e.ns == NS_DB:
                    self.errors.append("conn %d: unexpected %r" % (n, e))
                else:
                    if handled is not None:
                        handled += 1
                    self._record(("stanza", n, e))
        except (Fail, Closed, OSError, ssl.SSLError, ValueError) as ex:
            if not self.stop_flag:
                self.errors.append("conn %d: %r" % (n, ex))
        finally:
            with self.cond:
                self.gone.add(n)  # send_back fails from now on
                conn.close()
            self._record(("closed", n))

    def close(self):
        self.stop_flag = True
        self.sock.close()
