#!/usr/bin/python3
"""netlab.py: the interop suite's test "internet" (network namespaces, DNSSEC-signed DNS, a test CA).

    netlab.py setup      builds it (idempotent: tears down a previous lab first)
    netlab.py teardown   stops what setup started (by PID) and deletes the namespaces
    netlab.py status     prints the state file

Layout (every address is ours, inside our own namespaces; the root namespace is not connected):

    frio-hub      a bridge (br0); every other namespace has a veth into it
    frio-dns      10.77.0.2   knotd (authoritative, signs test. on load) on 127.0.0.1:5300,
                              unbound (validating resolver, trust anchor = knot's KSK) on :53
    frio-prosody  10.77.0.10  Prosody (started per scenario by lab.py); 10.77.0.11 = DANE host
    frio-fr       10.77.0.20  fedrouter (started per scenario); the scenario scripts run here
    frio-web      10.77.0.30  nginx (HTTPS, POSH documents for tposh.test)

/etc/netns/<ns>/resolv.conf points every namespace at 10.77.0.2. The state directory
(FEDROUTER_INTEROP_STATE, default /run/fedrouter-interop) holds the CA, the certificates, the
zone, the daemons' configs, logs and pid files, and state.json.

Exit codes: 0 done, 1 failure, 77 when the lab cannot be built here (not root, no `ip netns`,
packages missing: run tests/interop/setup-deps.sh).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness as h  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "support"))
import dnssec_lab  # noqa: E402  (knot's and unbound's configurations)

STATE = os.environ.get("FEDROUTER_INTEROP_STATE", "/run/fedrouter-interop")
LOCK = STATE.rstrip("/") + ".lock"  # outside STATE: setup deletes STATE
SKIP = 77

NETS = {  # short name -> (namespace, address)
    "dns": ("frio-dns", "10.77.0.2"),
    "prosody": ("frio-prosody", "10.77.0.10"),
    "fr": ("frio-fr", "10.77.0.20"),
    "web": ("frio-web", "10.77.0.30"),
}
HUB = "frio-hub"
PROSODY_DANE_IP = "10.77.0.11"
PREFIX = 24

# Domains. Prosody side: several hosts on one server (xmpp.prosody.test).
PROSODY_DOMAINS = ["p1.test", "p2.test", "p3.test", "p4.test"]
PROSODY_BADCERT = "pdb.test"     # its certificate names another domain (dialback scenario)
PROSODY_TLS = "ptls.test"        # reachable only by direct TLS (_xmpps-server)
PROSODY_DANE = "pdane.test"      # DANE-EE TLSA, self-signed certificate (not from the test CA)
# fedrouter side: 20 tenants, all SRV to fr.test (virtual hosting).
TENANTS = ["t%d.test" % i for i in range(1, 21)]
FR_BADCERT = "fdb.test"          # served with a certificate that does not name it
FR_TLS = "ftls.test"             # _xmpps-server only (direct TLS to fedrouter's listen_tls)
FR_POSH = "tposh.test"           # delegated to fr.test by a POSH document on https://tposh.test
PROSODY_DANE_BAD = "pdanebad.test"  # SRV to danebad.prosody.test, whose TLSA does not match
PROSODY_POSH = "pposh.test"      # hosted by Prosody with p1.test's certificate; POSH delegates it


def log(msg):
    print(msg, flush=True)


def sh(args, check=True, ns=None, capture=True, timeout=30):
    """Runs |args| (optionally inside namespace |ns|); returns stdout text."""
    if ns:
        args = ["ip", "netns", "exec", ns] + list(args)
    p = subprocess.run(args, stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.STDOUT if capture else None, timeout=timeout)
    out = p.stdout.decode(errors="replace") if capture else ""
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s" % (p.returncode, " ".join(args), out))
    return out


def state_path(*parts):
    return os.path.join(STATE, *parts)


def load_state():
    try:
        with open(state_path("state.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save_state(st):
    tmp = state_path("state.json.tmp")
    with open(tmp, "w") as f:
        json.dump(st, f, indent=1)
    os.replace(tmp, state_path("state.json"))


# ------------------------------------------------------------------------------------------------
# Prerequisites


LOCK_WAIT = int(os.environ.get("FEDROUTER_INTEROP_LOCK_WAIT", "60"))


class LockBusy(RuntimeError):
    pass


def lock(timeout=LOCK_WAIT):
    """Takes the lab's exclusive lock (flock on LOCK), waiting up to |timeout| s; returns the fd
    (inheritable, so a scenario keeps the lock across exec). The namespaces are global: two ctest
    runs (two build directories) must not set up, use or tear down the lab at the same time."""
    import fcntl
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    end = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= end:
                os.close(fd)
                raise LockBusy("interop lab lock %s held by another run for %d s" %
                               (LOCK, timeout))
            time.sleep(0.2)
    os.set_inheritable(fd, True)
    return fd


def ensure_up():
    """Sets the lab up unless it is up and its daemons run (call with the lock held). Returns
    None when up, else the reason it cannot be."""
    st = load_state()
    if st and st.get("up") and all(pid_matches(*r) for r in st.get("pids", {}).values()) and \
            all(ns_exists(n) for n, _ in NETS.values()):
        return None
    rc = setup()
    if rc == 0:
        return None
    st = load_state() or {}
    return st.get("unavailable", "setup failed")


def missing_prereqs():
    """A reason string when the lab cannot be built here, else None."""
    if os.geteuid() != 0:
        return "needs root (ip netns)"
    for exe in ("ip", "openssl", "knotd", "knotc", "unbound", "unbound-checkconf", "prosody",
                "prosodyctl", "nginx"):
        if not shutil.which(exe) and not os.path.exists("/usr/sbin/" + exe):
            return "%s not installed (run tests/interop/setup-deps.sh)" % exe
    p = subprocess.run(["/usr/bin/python3", "-c", "import slixmpp"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    if p.returncode != 0:
        return "python3-slixmpp not installed (run tests/interop/setup-deps.sh)"
    return None


def exe(name):
    return shutil.which(name) or "/usr/sbin/" + name


# ------------------------------------------------------------------------------------------------
# Certificates


class _CaEnv:
    """The bit of harness.Env that harness.CA uses: a directory for files."""

    def __init__(self, d):
        self.dir = d

    def path(self, name):
        return os.path.join(self.dir, name)


def make_certs():
    d = state_path("certs")
    os.makedirs(d, exist_ok=True)
    ca = h.CA(_CaEnv(d), "ca")
    certs = {}
    for dom in PROSODY_DOMAINS + [PROSODY_TLS]:
        c = ca.issue(dom, [dom])
        certs[dom] = (c.cert, c.key)
    # pdb.test presents a certificate for another name: only dialback can prove it.
    c = ca.issue(PROSODY_BADCERT, ["elsewhere.test"])
    certs[PROSODY_BADCERT] = (c.cert, c.key)
    # fedrouter: one certificate for every tenant (and ftls.test); fdb.test gets one naming
    # another domain.
    c = ca.issue("fedrouter", TENANTS + [FR_TLS])
    certs["fedrouter"] = (c.cert, c.key)
    c = ca.issue(FR_BADCERT, ["nowhere.test"])
    certs[FR_BADCERT] = (c.cert, c.key)
    # POSH web server.
    c = ca.issue("web", [FR_POSH, PROSODY_POSH])
    certs["web"] = (c.cert, c.key)
    # pposh.test is served by Prosody with p1.test's certificate (it does not name pposh.test):
    # only its POSH document proves it.
    certs[PROSODY_POSH] = certs["p1.test"]
    # DANE: a self-signed certificate for pdane.test (not from the test CA).
    key, crt = os.path.join(d, "pdane.key"), os.path.join(d, "pdane.pem")
    sh(["openssl", "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt",
        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt, "-days", "3",
        "-subj", "/CN=" + PROSODY_DANE, "-addext", "subjectAltName=DNS:" + PROSODY_DANE])
    certs[PROSODY_DANE] = (crt, key)
    # pdanebad.test: the same self-signed certificate behind a TLSA record that does not match it.
    certs[PROSODY_DANE_BAD] = (crt, key)
    return ca.cert, certs


def cert_sha256(cert_pem):
    """SHA-256 of the DER certificate (a POSH fingerprint, RFC 7711 §3.2)."""
    der = subprocess.run(["openssl", "x509", "-in", cert_pem, "-outform", "DER"],
                         stdout=subprocess.PIPE, check=True).stdout
    import hashlib
    return hashlib.sha256(der).digest()


def spki_sha256(cert_pem):
    """Hex SHA-256 of the certificate's SubjectPublicKeyInfo (TLSA 3 1 1, POSH spki)."""
    pub = subprocess.run(["openssl", "x509", "-in", cert_pem, "-noout", "-pubkey"],
                         stdout=subprocess.PIPE, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         stdout=subprocess.PIPE, check=True).stdout
    import hashlib
    return hashlib.sha256(der).hexdigest()


# ------------------------------------------------------------------------------------------------
# Namespaces


def ns_exists(ns):
    return os.path.exists("/run/netns/" + ns)


def make_network():
    sh(["ip", "netns", "add", HUB])
    sh(["ip", "-n", HUB, "link", "set", "lo", "up"])
    sh(["ip", "-n", HUB, "link", "add", "br0", "type", "bridge"])
    sh(["ip", "-n", HUB, "link", "set", "br0", "up"])
    for short, (ns, ip) in NETS.items():
        sh(["ip", "netns", "add", ns])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        sh(["ip", "link", "add", "v-" + short, "netns", HUB, "type", "veth",
            "peer", "name", "eth0", "netns", ns])
        sh(["ip", "-n", HUB, "link", "set", "v-" + short, "master", "br0"])
        sh(["ip", "-n", HUB, "link", "set", "v-" + short, "up"])
        sh(["ip", "-n", ns, "addr", "add", "%s/%d" % (ip, PREFIX), "dev", "eth0"])
        if short == "prosody":
            sh(["ip", "-n", ns, "addr", "add", "%s/%d" % (PROSODY_DANE_IP, PREFIX), "dev",
                "eth0"])
        sh(["ip", "-n", ns, "link", "set", "eth0", "up"])
        etc = "/etc/netns/" + ns
        os.makedirs(etc, exist_ok=True)
        with open(etc + "/resolv.conf", "w") as f:
            f.write("# fedrouter interop lab (tests/interop/netlab.py)\nnameserver %s\n"
                    "options attempts:2 timeout:2\n" % NETS["dns"][1])
        with open(etc + "/hosts", "w") as f:
            f.write("127.0.0.1 localhost\n")


def delete_network():
    for ns in [n for n, _ in NETS.values()] + [HUB]:
        if ns_exists(ns):
            # every process we started in it is gone by now; the namespace goes with its veths
            subprocess.run(["ip", "netns", "del", ns])
        etc = "/etc/netns/" + ns
        if os.path.isdir(etc):
            shutil.rmtree(etc, ignore_errors=True)
    try:
        os.rmdir("/etc/netns")  # only when empty: other namespaces' files stay
    except OSError:
        pass


# ------------------------------------------------------------------------------------------------
# Daemons (started inside a namespace, tracked by PID)


def spawn(name, ns, args, st):
    logf = open(state_path(name + ".out"), "wb")
    p = subprocess.Popen(["ip", "netns", "exec", ns] + args, stdin=subprocess.DEVNULL,
                         stdout=logf, stderr=subprocess.STDOUT, cwd=STATE,
                         start_new_session=True)
    st.setdefault("pids", {})[name] = [p.pid, args[-1]]
    save_state(st)
    log("started %s pid %d in %s" % (name, p.pid, ns))
    return p


def pid_matches(pid, marker):
    """True when process |pid| runs and its command line contains |marker| (our config path):
    a recorded pid that the kernel has since reused for another process is never signalled."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return marker.encode() in f.read()
    except OSError:
        return False


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # a zombie of ours counts as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_pid(name, rec, timeout=5.0):
    pid, marker = rec
    if not pid_alive(pid) or not pid_matches(pid, marker):
        return
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end and pid_alive(pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    if pid_alive(pid):
        log("%s (pid %d) ignored SIGTERM; SIGKILL" % (name, pid))
        os.kill(pid, signal.SIGKILL)
    log("stopped %s pid %d" % (name, pid))


ZONE_TTL = 300


def zone_text(certs):
    P = "xmpp.prosody.test."
    lines = [
        "$ORIGIN test.",
        "$TTL %d" % ZONE_TTL,
        "@ SOA ns1.test. hostmaster.test. %d 3600 600 86400 300" % int(time.time()),
        "@ NS ns1.test.",
        "ns1 A " + NETS["dns"][1],
        "xmpp.prosody A " + NETS["prosody"][1],
        "dane.prosody A " + PROSODY_DANE_IP,
        "danebad.prosody A " + PROSODY_DANE_IP,
        "fr A " + NETS["fr"][1],
        "web A " + NETS["web"][1],
    ]
    for d in PROSODY_DOMAINS + [PROSODY_BADCERT]:
        lines.append("_xmpp-server._tcp.%s. SRV 0 5 5269 %s" % (d, P))
    lines.append("_xmpps-server._tcp.%s. SRV 0 5 5270 %s" % (PROSODY_TLS, P))
    lines.append("_xmpp-server._tcp.%s. SRV 0 5 5269 dane.prosody.test." % PROSODY_DANE)
    lines.append("_5269._tcp.dane.prosody.test. TLSA 3 1 1 %s" %
                 spki_sha256(certs[PROSODY_DANE][0]))
    # Same server, a TLSA record that matches nothing it presents (one digit off).
    good = spki_sha256(certs[PROSODY_DANE][0])
    bad = ("0" if good[0] != "0" else "1") + good[1:]
    lines.append("_xmpp-server._tcp.%s. SRV 0 5 5269 danebad.prosody.test." % PROSODY_DANE_BAD)
    lines.append("_5269._tcp.danebad.prosody.test. TLSA 3 1 1 %s" % bad)
    lines.append("_xmpp-server._tcp.%s. SRV 0 5 5269 %s" % (PROSODY_POSH, P))
    lines.append("%s. A %s" % (PROSODY_POSH, NETS["web"][1]))  # its POSH document's web server
    for d in TENANTS + [FR_BADCERT, FR_POSH]:
        lines.append("_xmpp-server._tcp.%s. SRV 0 5 5269 fr.test." % d)
    lines.append("_xmpps-server._tcp.%s. SRV 0 5 5270 fr.test." % FR_TLS)
    lines.append("%s. A %s" % (FR_POSH, NETS["web"][1]))  # the POSH document's web server
    return "\n".join(lines) + "\n"


def start_dns(st, certs):
    ns = NETS["dns"][0]
    kd = state_path("knot")
    os.makedirs(kd, exist_ok=True)
    with open(os.path.join(kd, "test.zone"), "w") as f:
        f.write(zone_text(certs))
    conf = os.path.join(kd, "knot.conf")
    with open(conf, "w") as f:
        f.write(dnssec_lab.knot_conf(kd, 5300, extra_zones=False))
    spawn("knotd", ns, [exe("knotd"), "-c", conf], st)
    # wait for the signed zone: the KSK (flags 257) is our trust anchor
    ksk = None
    end = time.monotonic() + 20
    while time.monotonic() < end and not ksk:
        out = subprocess.run(["ip", "netns", "exec", ns, exe("knotc"), "-c", conf, "zone-read",
                              "test.", "@", "DNSKEY"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT).stdout.decode(errors="replace")
        for ln in out.splitlines():
            f = ln.replace("[test.]", "").split()
            if "DNSKEY" in f and f[f.index("DNSKEY") + 1] == "257":
                i = f.index("DNSKEY")
                ksk = "test. 3600 IN DNSKEY " + " ".join(f[i + 1:])
        if not ksk:
            time.sleep(0.2)
    if not ksk:
        raise RuntimeError("knot did not sign test. within 20 s:\n" + out +
                           open(state_path("knotd.out")).read())
    st["ksk"] = ksk
    ud = state_path("unbound")
    os.makedirs(ud, exist_ok=True)
    uconf = os.path.join(ud, "unbound.conf")
    with open(uconf, "w") as f:
        f.write(dnssec_lab.unbound_conf(ud, 53, 5300, ksk, 5, interface=NETS["dns"][1],
                                        zones=("test.",), allow=("10.77.0.0/24", "127.0.0.0/8")))
    sh([exe("unbound-checkconf"), uconf])
    spawn("unbound", ns, [exe("unbound"), "-d", "-c", uconf], st)
    # the resolver answers, with the AD bit, from the fr namespace (across the bridge)
    end = time.monotonic() + 20
    last = None
    while time.monotonic() < end:
        try:
            last = dns_probe("_xmpp-server._tcp.t1.test.")
            if last[0] == 0 and last[2] and last[1]:
                break
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = repr(e)
        time.sleep(0.2)
    else:
        raise RuntimeError("unbound does not answer a validated SRV: %r" % (last,))
    log("DNS up: validated answer (AD) for _xmpp-server._tcp.t1.test. %r" % (last[1],))


def dns_probe(name, qtype=h.DNS_SRV):
    """Asks the test resolver from inside frio-fr (DO+AD set); returns (rcode, answers, ad)."""
    code = ("import sys; sys.path.insert(0, %r); import lab; print(repr(lab.dns_query_ad(%r, %d)))"
            % (HERE, name, qtype))
    out = sh(["/usr/bin/python3", "-B", "-c", code], ns=NETS["fr"][0])
    return eval(out.strip().splitlines()[-1])  # noqa: S307 - our own repr()


def start_web(st, certs):
    """nginx in frio-web serving https://tposh.test/.well-known/posh/xmpp-server.json (RFC 7711)
    with the SPKI fingerprint of fedrouter's tenant certificate."""
    wd = state_path("web")
    os.makedirs(os.path.join(wd, "root", ".well-known", "posh"), exist_ok=True)
    import base64
    # tposh.test -> fedrouter's tenant certificate; pposh.test -> the certificate Prosody presents
    # for it (p1.test's). POSH fingerprints hash the whole DER certificate (RFC 7711 §3.2).
    for dom, cert in ((FR_POSH, certs["fedrouter"][0]), (PROSODY_POSH, certs[PROSODY_POSH][0])):
        d = os.path.join(wd, "root", dom, ".well-known", "posh")
        os.makedirs(d, exist_ok=True)
        fp = base64.b64encode(cert_sha256(cert)).decode()
        with open(os.path.join(d, "xmpp-server.json"), "w") as f:
            json.dump({"fingerprints": [{"sha-256": fp}], "expires": 3600}, f)
    conf = os.path.join(wd, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 64; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/tmp;
  proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp;
  scgi_temp_path {d}/tmp;
  types {{ application/json json; }}
  server {{
    listen {ip}:443 ssl;
    server_name {posh} {pposh};
    ssl_certificate {crt};
    ssl_certificate_key {key};
    root {d}/root/$host;
  }}
}}
""".format(d=wd, ip=NETS["web"][1], posh=FR_POSH, pposh=PROSODY_POSH, crt=certs["web"][0], key=certs["web"][1]))
    os.makedirs(os.path.join(wd, "tmp"), exist_ok=True)
    spawn("nginx", NETS["web"][0], [exe("nginx"), "-c", conf, "-e", wd + "/error.log"], st)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        p = subprocess.run(["ip", "netns", "exec", NETS["web"][0], "openssl", "s_client",
                            "-connect", NETS["web"][1] + ":443", "-servername", FR_POSH,
                            "-verify_return_error", "-CAfile", st["ca"]],
                           input=b"", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode == 0:
            log("POSH web server up (https://%s)" % FR_POSH)
            return
        time.sleep(0.2)
    raise RuntimeError("nginx not serving TLS on %s:443" % NETS["web"][1])


# ------------------------------------------------------------------------------------------------
# setup / teardown


def teardown():
    st = load_state()
    if st:
        # Prosody/fedrouter/xclient of a scenario whose driver died: lab.py records them too
        for name, rec in st.get("scenario_pids", {}).items():
            stop_pid(name, rec)
        for name, rec in reversed(list(st.get("pids", {}).items())):
            stop_pid(name, rec)
    delete_network()
    if st:
        st["pids"] = {}
        st["scenario_pids"] = {}
        st["up"] = False
        save_state(st)
    log("lab torn down")


def setup():
    why = missing_prereqs()
    if why:
        os.makedirs(STATE, exist_ok=True)
        save_state({"up": False, "unavailable": why})
        log("SKIP: interop lab unavailable: " + why)
        return SKIP
    if os.path.isdir(STATE):
        teardown()
        shutil.rmtree(STATE, ignore_errors=True)
    os.makedirs(STATE, exist_ok=True)
    for short, (ns, _) in NETS.items():
        if ns_exists(ns):
            raise RuntimeError("namespace %s exists but not in our state; remove it by hand "
                               "(ip netns del %s)" % (ns, ns))
    t0 = time.monotonic()
    st = {"up": False, "pids": {}, "scenario_pids": {}}
    save_state(st)
    ca, certs = make_certs()
    st.update({"ca": ca, "certs": certs, "nets": NETS, "prosody_dane_ip": PROSODY_DANE_IP})
    save_state(st)
    make_network()
    start_dns(st, certs)
    try:
        start_web(st, certs)
        st["web"] = True
    except Exception as e:  # noqa: BLE001 - POSH infrastructure is optional (scenario 5 skips)
        log("POSH web server not available: %s" % e)
        st["web"] = False
    st["up"] = True
    save_state(st)
    log("lab up in %.1f s (state %s)" % (time.monotonic() - t0, STATE))
    return 0


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd in ("setup", "teardown") and os.geteuid() == 0:
        try:
            lock()
        except LockBusy as e:
            # Another ctest run (another build directory) is using the lab: its own fixture
            # tears it down; our scenarios wait for the lock or skip.
            log("%s: %s" % ("SKIP" if cmd == "setup" else "left to its user", e))
            return SKIP if cmd == "setup" else 0
    try:
        if cmd == "setup":
            rc = setup()
            if rc == 1:
                teardown()
            return rc
        if cmd == "teardown":
            teardown()
            return 0
        if cmd == "status":
            print(json.dumps(load_state(), indent=1))
            return 0
    except Exception as e:  # noqa: BLE001
        log("FAIL: %s" % e)
        if cmd == "setup":
            for f in ("knotd.out", "unbound.out", "nginx.out"):
                p = state_path(f)
                if os.path.exists(p):
                    log("----- %s -----\n%s" % (f, open(p, errors="replace").read()[-4000:]))
            try:
                teardown()
            except Exception as e2:  # noqa: BLE001
                log("teardown after failed setup: %s" % e2)
        return 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
