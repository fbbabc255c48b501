"""lab.py: what the interop scenarios share (on top of tests/integration/harness.py).

  - main(scenario): the entry point of a scenario script. It runs in the root namespace first,
    checks that netlab.py set the lab up (else exit 77 with the reason), and re-executes itself
    inside frio-fr, where harness.run() starts fedrouter and the component clients;
  - Prosody: our own Prosody 0.12 instance in frio-prosody (own config, data dir, certs, log);
  - XClient: a slixmpp client process (xclient.py) in frio-prosody, driven over stdin/stdout;
  - fr_conf(): a fedrouter config for frio-fr (no static routes: DNS through the test resolver);
  - negotiation(): what Prosody's log shows it offered and used on each s2s stream.
"""

import json
import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as h  # noqa: E402
from harness import Fail, check, log  # noqa: E402,F401

STATE = os.environ.get("FEDROUTER_INTEROP_STATE", "/run/fedrouter-interop")
NS_FR, NS_PROSODY = "frio-fr", "frio-prosody"
FR_IP, PROSODY_IP = "10.77.0.20", "10.77.0.10"
SKIP = 77

PROSODY_DOMAINS = ["p1.test", "p2.test", "p3.test", "p4.test"]
TENANTS = ["t%d.test" % i for i in range(1, 21)]


def state():
    try:
        with open(os.path.join(STATE, "state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def main(scenario):
    """Entry point: python3 <scenario>.py <fedrouter binary>."""
    if os.environ.get("FRIO_INSIDE") != "1":
        import netlab
        why = netlab.missing_prereqs()
        if why:
            log("SKIP: interop lab unavailable: %s" % why)
            sys.exit(SKIP)
        try:
            netlab.lock()  # held (inherited) until the scenario exits
        except netlab.LockBusy as e:
            log("SKIP: %s" % e)
            sys.exit(SKIP)
        try:
            why = netlab.ensure_up()  # the interop_setup fixture normally did it already
        except Exception as e:  # noqa: BLE001
            log("FAIL: interop lab setup: %s" % e)
            sys.exit(1)
        if why:
            log("SKIP: interop lab unavailable: %s" % why)
            sys.exit(SKIP)
        env = dict(os.environ, FRIO_INSIDE="1")
        args = ["ip", "netns", "exec", NS_FR, "/usr/bin/python3", os.path.abspath(sys.argv[0])]
        os.execvpe("ip", args + sys.argv[1:], env)
    import atexit
    atexit.register(_forget_pids)  # h.run() has stopped every process by then
    h.run(scenario)


def _forget_pids():
    st = state()
    for name in list((st or {}).get("scenario_pids", {})):
        _record_pid(name, None)


# ------------------------------------------------------------------------------------------------
# DNS (used by netlab.py's probe too)


def dns_query_ad(name, qtype, server=("10.77.0.2", 53), timeout=2.0):
    """One query with RD and AD set; returns (rcode, answer count, AD bit of the response)."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0120, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, server)
        data, _ = s.recvfrom(4096)
    finally:
        s.close()
    rid, flags, _, an = struct.unpack(">HHHH", data[:8])
    if rid != qid:
        raise Fail("DNS id mismatch")
    return flags & 0xF, an, bool(flags & 0x0020)


# ------------------------------------------------------------------------------------------------
# Prosody


def _pct(host):
    return re.sub(r"[^A-Za-z0-9]", lambda m: "%%%02x" % ord(m.group(0)), host)


class Prosody(h.Proc):
    """Our own Prosody in frio-prosody. |hosts|: VirtualHost names; each gets the certificate made
    for it by netlab.py (certs/<host>.crt|.key) and the account u@host (password 'pw').
    |secure_auth|: s2s_secure_auth; |extra|: more global config lines."""

    def __init__(self, env, hosts, secure_auth=True, extra="", name="prosody"):
        h.Proc.__init__(self, env, name + "-stdout")
        self.pname = name
        st = state()
        self.ca = st["ca"]
        self.hosts = list(hosts)
        self.dir = env.path(name)
        self.plog = os.path.join(self.dir, "prosody.log")
        certs = os.path.join(self.dir, "certs")
        os.makedirs(certs, exist_ok=True)
        for host in self.hosts:
            crt, key = st["certs"][host]
            for src, ext in ((crt, ".crt"), (key, ".key")):
                with open(src) as f, open(os.path.join(certs, host + ext), "w") as g:
                    g.write(f.read())
            acc = os.path.join(self.dir, "data", _pct(host), "accounts")
            os.makedirs(acc, exist_ok=True)
            with open(os.path.join(acc, "u.dat"), "w") as f:
                f.write('return {\n\t["password"] = "pw";\n};\n')
        self.conffile = os.path.join(self.dir, "prosody.cfg.lua")
        vhosts = "".join('VirtualHost "%s"\n' % x for x in self.hosts)
        with open(self.conffile, "w") as f:
            f.write("""-- generated by tests/interop/lab.py
daemonize = false
run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
certificates = "{d}/certs"
ssl = {{ cafile = "{ca}" }}
log = {{ {{ levels = {{ min = "debug" }}, to = "file", filename = "{log}" }} }}
admins = {{ }}
plugin_paths = {{ }}
modules_enabled = {{ "disco"; "roster"; "saslauth"; "tls"; "dialback"; "ping"; "smacks";
  "s2s_bidi"; "version"; "stanza_debug"; }}
modules_disabled = {{ "offline"; }}
authentication = "internal_plain"
interfaces = {{ "*" }}
c2s_ports = {{ 5222 }}
s2s_ports = {{ 5269 }}
s2s_direct_tls_ports = {{ 5270 }}
s2s_require_encryption = true
s2s_secure_auth = {sa}
dialback_secret = "interop-prosody-dialback-secret"
unbound = {{ options = {{ ["local-zone:"] = "test. transparent" }} }}
{extra}
{vhosts}""".format(d=self.dir, ca=self.ca, log=self.plog, sa="true" if secure_auth else "false",
                   extra=extra, vhosts=vhosts))

    def start(self, timeout=15):
        self.stopped = False
        self._spawn(["ip", "netns", "exec", NS_PROSODY, "prosody", "--config", self.conffile,
                     "-F"])
        _record_pid(self.pname, self.pid, self.conffile)
        log("started %s pid %d in %s (%s)" % (self.pname, self.pid, NS_PROSODY, self.conffile))
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not self.alive():
                self.dump()
                raise Fail("prosody exited during startup with %s" % self.p.returncode)
            if all(_port_open(PROSODY_IP, p) for p in (5222, 5269, 5270)):
                return self
            time.sleep(0.1)
        self.dump()
        raise Fail("prosody not listening within %ds" % timeout)

    def exit_problems(self):
        return [] if self.returncode in (0, None) else [
            "%s exited with code %s" % (self.pname, self.returncode)]

    def log_text(self):
        try:
            with open(self.plog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def dump(self, max_lines=300):
        h.Proc.dump(self, 40)  # stdout/stderr (startup errors)
        lines = self.log_text().splitlines()
        log("----- %s log (%s, %d lines, last %d) -----" % (self.pname, self.plog, len(lines),
                                                         min(len(lines), max_lines)))
        for ln in lines[-max_lines:]:
            log("  | " + ln[:400])
        log("----- end of %s log -----" % self.pname)


def _port_open(ip, port):
    try:
        s = socket.create_connection((ip, port), timeout=0.5)
        s.close()
        return True
    except OSError:
        return False


def _record_pid(name, pid, marker=None):
    """Adds |pid| (with |marker|, a string of its command line) to state.json's scenario_pids so
    netlab.py teardown can stop it if the driver dies without stopping it; pid None removes it."""
    path = os.path.join(STATE, "state.json")
    try:
        with open(path) as f:
            st = json.load(f)
        if pid is None:
            st.setdefault("scenario_pids", {}).pop(name, None)
        else:
            st.setdefault("scenario_pids", {})[name] = [pid, marker]
        with open(path + ".tmp", "w") as f:
            json.dump(st, f, indent=1)
        os.replace(path + ".tmp", path)
    except (OSError, ValueError):
        pass


# ------------------------------------------------------------------------------------------------
# The slixmpp client


class XClient(h.Proc):
    """xclient.py in frio-prosody with one slixmpp session per JID in |jids| (password 'pw').
    .events: dicts the client printed ({'ev': 'ready'|'message'|'disconnected', ...})."""

    def __init__(self, env, jids, name="xclient", ca=None):
        h.Proc.__init__(self, env, name)
        self.ca = ca  # trust store for Prosody's c2s certificate (default: the test CA)
        self.jids = list(jids)
        self.events = []
        self.cond = threading.Condition()

    def start(self, timeout=45):
        self.stopped = False
        self._log = open(self.logfile, "wb")
        args = ["ip", "netns", "exec", NS_PROSODY, "/usr/bin/python3", "-u",
                os.path.join(HERE, "xclient.py"), "--ca", self.ca or state()["ca"]] + self.jids
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self._log, cwd=self.env.dir)
        self.pid = self.p.pid
        _record_pid("xclient", self.pid, "xclient.py")
        threading.Thread(target=self._reader, daemon=True).start()
        got = self.wait(lambda e: e.get("ev") == "ready", len(self.jids), timeout)
        if len(got) < len(self.jids):
            self.dump()
            raise Fail("xclient: only %d of %d sessions online: %r" %
                       (len(got), len(self.jids), self.events[-5:]))
        log("xclient pid %d online as %s" % (self.pid, ", ".join(self.jids)))
        return self

    def _reader(self):
        for line in self.p.stdout:
            try:
                ev = json.loads(line.decode())
            except ValueError:
                continue
            with self.cond:
                self.events.append(ev)
                self.cond.notify_all()

    def send(self, jid, to, mid, body, mtype="chat"):
        cmd = {"cmd": "send", "jid": jid, "to": to, "id": mid, "body": body, "type": mtype}
        self.p.stdin.write((json.dumps(cmd) + "\n").encode())
        self.p.stdin.flush()

    def wait(self, pred, n, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [e for e in self.events if pred(e)]
                left = end - time.monotonic()
                if len(got) >= n or left <= 0:
                    return got
                self.cond.wait(left)

    def messages(self, pred=lambda e: True):
        with self.cond:
            return [e for e in self.events if e.get("ev") == "message" and pred(e)]

    def stop(self, sig=None, timeout=10):
        if self.p is None or self.stopped:
            return []
        self.stopped = True
        try:
            self.p.stdin.write(b'{"cmd": "quit"}\n')
            self.p.stdin.flush()
        except OSError:
            pass
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.returncode = self.p.returncode
        self._log.close()
        return []


# ------------------------------------------------------------------------------------------------
# fedrouter


def fr_conf(env, domains, certs, s2s=None, workers=2, policies=None):
    """A fedrouter config for frio-fr: s2s on 10.77.0.20:5269 (+ direct TLS on :5270),
    components on :5347, metrics on :9269, the test CA, DNS via /etc/resolv.conf (the test
    resolver). |domains|: names; |certs|: [(cert, key, [domains])]."""
    st = state()
    secrets = [(d, "secret-" + d) for d in domains]
    c = []
    for crt, key, doms in certs:
        x = h.Cert(crt, key, doms)
        c.append(x)
    s = {"listen_tls": ["%s:5270" % FR_IP], "stanza_timeout": 20, "idle_timeout": 600,
         "auth_timeout": 15, "connect_timeout": 5}
    s.update(s2s or {})
    conf = h.router_conf(env, FR_IP, 5269, 5347, 9269, secrets, c, st["ca"], s2s=s,
                         workers=workers)
    if policies:
        conf["policies"] = policies  # per remote domain prooftype policies
    return conf, dict(secrets)


def log_connection_counts(m):
    """Logs fedrouter's connection counts from the scrape |m| (harness.Metrics)."""
    log("fedrouter: tcp connects in=%g out=%g, tls handshakes in=%g out=%g, pooled streams=%g, "
        "piggybacked out=%g, bounces=%g" % (
            m.get("fedrouter_tcp_connects_total", direction="in"),
            m.get("fedrouter_tcp_connects_total", direction="out"),
            m.get("fedrouter_tls_handshakes_total", direction="in"),
            m.get("fedrouter_tls_handshakes_total", direction="out"),
            m.get("fedrouter_pool_streams"),
            m.get("fedrouter_pairs_piggybacked_total", direction="out"),
            m.get("fedrouter_bounces_total")))


class Site:
    """A hosted domain's component (harness.Component) on the router."""

    def __init__(self, router, domain, secret):
        self.domain = domain
        self.comp = h.Component(router.comp_addr, domain, secret).connect()


def start_router(env, domains, certs, name="fedrouter", **kw):
    conf, secrets = fr_conf(env, domains, certs, **kw)
    r = env.router(name, conf)
    _record_pid(name, r.pid, r.conffile)
    sites = {d: Site(r, d, secrets[d]) for d in domains}
    return r, sites


# ------------------------------------------------------------------------------------------------
# Exchanges


def client_to_comp(xc, sites, pairs, tag, timeout=20):
    """For every (prosody jid, tenant domain) in |pairs| the client sends one message to
    bob@tenant; asserts each arrives at the tenant's component with from/to/body intact.
    Returns the elapsed seconds."""
    t0 = time.monotonic()
    want = {}
    for jid, dom in pairs:
        mid = "%s-%s-%s-%s" % (tag, jid.split("@")[1], dom, os.urandom(3).hex())
        xc.send(jid, "bob@" + dom, mid, "hello %s <&> from %s" % (dom, jid))
        want[mid] = (jid, dom)
    missing = []
    for mid, (jid, dom) in want.items():
        e = sites[dom].comp.wait_for(h.by_id(mid), max(0.1, timeout - (time.monotonic() - t0)))
        if e is None or not (e.get("from", "").startswith(jid + "/") and
                             e.get("to") == "bob@" + dom and e.get("type") != "error" and
                             e.find("body") is not None and
                             e.find("body").text == "hello %s <&> from %s" % (dom, jid)):
            missing.append((jid, dom, e))
    check(not missing, "%s: %d messages Prosody client -> fedrouter component arrived intact" %
          (tag, len(want)), missing[:5])
    return time.monotonic() - t0


def comp_to_client(xc, sites, pairs, tag, timeout=20):
    """For every (tenant domain, prosody jid) in |pairs| the tenant's component sends one message
    to the client's bare JID; asserts each arrives with from/body intact and no error bounced to
    the component."""
    t0 = time.monotonic()
    want = {}
    for dom, jid in pairs:
        mid = "%s-%s-%s-%s" % (tag, dom, jid.split("@")[1], os.urandom(3).hex())
        sites[dom].comp.message("bob@%s/c" % dom, jid, "reply %s <&>" % dom, id=mid, type="chat")
        want[mid] = (dom, jid)
    xc.wait(lambda e: e.get("ev") == "message" and e.get("id") in want, len(want), timeout)
    got = {e["id"]: e for e in xc.messages(lambda e: e.get("id") in want)}
    missing = []
    for mid, (dom, jid) in want.items():
        e = got.get(mid)
        if e is None or e.get("from") != "bob@%s/c" % dom or e.get("to", "").split("/")[0] != jid \
                or e.get("body") != "reply %s <&>" % dom or e.get("type") == "error":
            missing.append((dom, jid, e))
    errs = []
    for dom in {d for d, _ in pairs}:
        errs += [e for e in sites[dom].comp.received if e.get("type") == "error" and
                 e.get("id") in want]
    check(not missing, "%s: %d messages fedrouter component -> Prosody client arrived intact" %
          (tag, len(want)), missing[:5])
    check(not errs, "%s: no errors bounced to the components" % tag, errs[:3])
    return time.monotonic() - t0


# ------------------------------------------------------------------------------------------------
# What Prosody negotiated, from its debug log (mod_stanza_debug logs every raw SEND/RECV)

_SESS = re.compile(r"^s2s(?:in|out)[0-9a-f]+$")


def negotiation(prosody):
    """Per Prosody s2s session (split at 'Destroying' because session ids are reused): a dict
    with kind (s2sin/s2sout), hosts ('from->to' once complete), features ([('sent'|'recv',
    [names])]: sent = offered by Prosody as receiving server, recv = offered by fedrouter), auth
    (external / dialback / verify), tls (starttls / direct), bidi (negotiated), authed_for (the
    remote domains authenticated on it: more than one = piggybacked senders). Log order."""
    out, cur = [], {}
    for ln in prosody.log_text().splitlines():
        parts = ln.split("\t", 2)
        if len(parts) < 3:
            continue
        sid, msg = parts[0].rsplit(" ", 1)[-1], parts[2]
        if not _SESS.match(sid):
            continue
        s = cur.get(sid)
        if s is None:
            s = cur[sid] = {"id": sid, "kind": "s2sin" if sid.startswith("s2sin") else "s2sout",
                            "features": [], "auth": set(), "tls": None, "bidi": False,
                            "authenticated": False, "hosts": set(), "authed_for": set()}
            out.append(s)
        if msg.startswith("Destroying"):
            del cur[sid]
            continue
        raw = msg.startswith("SEND: ") or msg.startswith("RECV: ")
        if raw and ("<stream:features" in msg or "<features xmlns='http://etherx" in msg):
            s["features"].append(("sent" if msg.startswith("SEND") else "recv",
                                  _feature_names(msg)))
        if raw and re.search(r"<auth [^>]*mechanism=['\"]EXTERNAL", msg):
            s["auth"].add("external")
        if raw and "<db:result" in msg:
            s["auth"].add("dialback")
        if raw and "<db:verify" in msg:
            s["auth"].add("verify")
        if raw and "<starttls" in msg:
            s["tls"] = "starttls"
        if s["tls"] is None and (msg.startswith("Stream encrypted") or
                                 msg.startswith("certificate chain validation")):
            s["tls"] = "direct"
        if msg.startswith("Requested bidirectional stream") or (
                raw and "<bidi xmlns='urn:xmpp:bidi'" in msg):
            s["bidi"] = True
        mm = re.search(r"^connection \S+->\S+ is now authenticated for (\S+)", msg)
        if mm:
            s["authed_for"].add(mm.group(1))
        mm = re.search(r"s2s connection (\S+)->(\S+) complete", msg)
        if mm:
            s["authenticated"] = True
            s["hosts"].add("%s->%s" % mm.groups())
    return [s for s in out if s["features"] or s["hosts"]]


def _feature_names(msg):
    names = []
    for m in re.finditer(r"<(?:[\w-]+:)?([\w-]+)\s+xmlns=['\"]([^'\"]+)['\"]", msg):
        name, ns = m.groups()
        if name in ("features", "stream"):
            continue
        if name == "mechanism":
            continue
        names.append(name)
    for m in re.finditer(r"<mechanism>([^<]+)</mechanism>", msg):
        names.append("mech:" + m.group(1))
    if "<errors/>" in msg:
        names.append("dialback-errors")
    if "<required/>" in msg:
        names.append("required")
    return names


def summarize(prosody, title):
    """Logs Prosody's negotiation per s2s session (for README.md) and returns it."""
    sess = negotiation(prosody)
    log("Prosody's s2s sessions (%s): %d" % (title, len(sess)))
    for s in sess:
        log("  %s %s tls=%s auth=%s bidi=%s complete=%s features=%s" % (
            s["id"], ",".join(sorted(s["hosts"])) or "-", s["tls"],
            ",".join(sorted(s["auth"])) or "-", s["bidi"], s["authenticated"],
            " | ".join("%s:%s" % (d, ",".join(f)) for d, f in s["features"])))
    return sess
