#!/usr/bin/python3
"""dnssec_lab.py: a DNSSEC test lab on loopback (no namespaces, no root needed beyond what knotd
and unbound need): knotd is the authoritative server and signs the zone on load, unbound is a
validating resolver in front of it whose trust anchor is knot's KSK. Everything lives in one
directory; both daemons listen on 127.0.0.1 at free ports and are stopped by PID.

Zones (all served by the one knotd):
    test.           signed (ECDSA P-256, keys made by knot on load). Holds your records.
    insecure.test.  NOT signed, delegated from test. without a DS: answers are "insecure"
                    (NOERROR/NXDOMAIN without the AD bit).
    bogus.test.     signed with its own keys, delegated from test. with a DS that matches none of
                    them: every answer under it is "bogus" (SERVFAIL from unbound).
The lab adds $TTL (300), SOA, NS (ns1.test.), "ns1.test. A 127.0.0.1" and the delegations itself.
unbound hands out (and caches) TTLs of at most |max_ttl| seconds (default 5; cache-max-ttl) and
negative answers 1 s at most, so tests see fresh answers soon; raise it when a test wants to
observe its own cache.

Records you pass: zone-file lines (knot syntax), one record per line, e.g.
    _xmpp-server._tcp.sec.test. 300 IN SRV 0 5 5269 host.sec.test.
    host.sec.test. A 127.0.0.1
    _5269._tcp.host.sec.test. TLSA 3 1 1 <64 hex digits>
    _5269._tcp.host.insecure.test. TLSA 3 1 1 <64 hex digits>
Owners are absolute (ending in ".") or relative to test.; a line whose absolute owner is at or
below insecure.test. or bogus.test. goes to that zone (relative owners always stay in test.).
Lines starting with "$" or ";" and empty lines are ignored. Do not pass SOA or NS records for the
three zone apexes.

Command line (exit 0 done, 1 failure, 77 when knotd/knotc/unbound are not installed):
    dnssec_lab.py start DIR RECORDS_FILE [--max-ttl N] [--watch PID]
        (--max-ttl: unbound's cache-max-ttl, see above) builds the lab in DIR (created if
        needed; must not hold a running lab), prints the resolver's address "127.0.0.1:PORT"
        as the last line of stdout and returns with both daemons running. Their PIDs are in
        DIR/pids.json. With --watch PID a small watcher process stops the lab when process PID
        exits (so a crashed test leaks nothing).
    dnssec_lab.py stop DIR
        stops exactly the processes recorded in DIR/pids.json (SIGTERM, then SIGKILL after 5 s;
        a PID is only signalled while its command line still names this lab's config) and
        removes pids.json. The files stay in DIR (logs: knotd.out, unbound.out).

Python API (import with sys.path pointing at tests/support):
    Unavailable                 exception (a RuntimeError) raised by start() when knotd, knotc
                                or unbound is missing; map it to skip (77).
    start(dir, records, watch_pid=None, max_ttl=5) -> Lab
                                builds and starts the lab as the CLI does; |records| is the
                                records text described above. Raises Unavailable or
                                RuntimeError (with the daemons' output) on failure; nothing is
                                left running then.
    stop(dir)                   as the CLI's stop; harmless when nothing runs.
    Lab.dir                     the directory
    Lab.resolver                ("127.0.0.1", port) of the validating unbound (UDP and TCP)
    Lab.addr                    "127.0.0.1:PORT" (the form rt_dns_conf_t.servers takes)
    Lab.knot_port               the authoritative knotd's port (no validation there)
    Lab.trust_anchor            the DNSKEY record (text) unbound uses as trust anchor for test.
    Lab.query(name, qtype, timeout=2.0) -> (rcode, num_answers, ad)
                                one UDP query with RD, AD and EDNS0 DO set to the resolver;
                                num_answers is ANCOUNT (RRSIGs included)
    dns_query(server, name, qtype, timeout=2.0)   the same against any (host, port)
    Lab.stop()                  stop(Lab.dir); Lab is also a context manager (stops on exit)
    TYPE_A, TYPE_AAAA, TYPE_SRV, TYPE_TLSA, TYPE_SOA   query type numbers
"""

import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True

SKIP = 77
TYPE_A, TYPE_SOA, TYPE_AAAA, TYPE_SRV, TYPE_TLSA = 1, 6, 28, 33, 52
ZONES = ("test.", "insecure.test.", "bogus.test.")
DEFAULT_TTL = 300
PIDS = "pids.json"
# A DS for bogus.test. that cannot match a DNSKEY knot makes: key tag 1, ECDSA P-256 (13),
# SHA-256 (2), a digest of 0x42 bytes. unbound treats "supported algorithm, no key matches" as
# bogus (RFC 4035 §5.2).
BOGUS_DS = "bogus.test. DS 1 13 2 " + "42" * 32


class Unavailable(RuntimeError):
    """knotd, knotc or unbound is not installed: the lab cannot run here (skip, 77)."""


def _exe(name):
    for d in ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"):
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name)


def _free_port():
    """A port on 127.0.0.1 that was free for both UDP and TCP."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port on 127.0.0.1")


def dns_query(server, name, qtype, timeout=2.0):
    """One UDP query (RD, AD, EDNS0 DO) to |server| (host, port); returns (rcode, answers, ad)."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0120, 1, 0, 0, 1)
    for label in name.rstrip(".").split("."):
        if label:
            q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    q += b"\0" + struct.pack(">HHIH", 41, 1232, 0x8000, 0)  # OPT, DO=1
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, server)
        while True:
            data, _ = s.recvfrom(65535)
            if len(data) >= 12 and struct.unpack(">H", data[:2])[0] == qid:
                break
    finally:
        s.close()
    _, flags, _, an = struct.unpack(">HHHH", data[:8])
    return flags & 0xF, an, bool(flags & 0x0020)


# ------------------------------------------------------------------------------------------------
# PIDs


def _load_pids(d):
    try:
        with open(os.path.join(d, PIDS)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _save_pids(d, pids):
    tmp = os.path.join(d, PIDS + ".tmp")
    with open(tmp, "w") as f:
        json.dump(pids, f)
    os.replace(tmp, os.path.join(d, PIDS))


def _pid_matches(pid, marker):
    """True when |pid| runs (not a zombie) and its command line contains |marker|: a recorded PID
    the kernel has since given to another process is never signalled."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if marker.encode() not in f.read():
                return False
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _stop_one(pid, marker, timeout=5.0):
    if not _pid_matches(pid, marker):
        _reap(pid)
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    end = time.monotonic() + timeout
    while time.monotonic() < end and _pid_matches(pid, marker):
        _reap(pid)
        time.sleep(0.05)
    if _pid_matches(pid, marker):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)


def stop(d):
    """Stops the processes recorded in |d|/pids.json (daemons first, then the watcher unless it
    is the caller) and removes the file."""
    d = os.path.abspath(d)
    pids = _load_pids(d)
    for name in ("unbound", "knotd", "watch"):
        rec = pids.get(name)
        if rec and rec[0] != os.getpid():
            _stop_one(rec[0], rec[1])
    try:
        os.unlink(os.path.join(d, PIDS))
    except FileNotFoundError:
        pass


def _spawn(d, name, args, pids, marker):
    out = open(os.path.join(d, name + ".out"), "ab")
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                         cwd=d, start_new_session=True)
    out.close()
    pids[name] = [p.pid, marker]
    _save_pids(d, pids)
    return p


# ------------------------------------------------------------------------------------------------
# Zones


def _split_records(records):
    """Sorts the records text into the three zones: {apex: [lines]}."""
    out = {z: [] for z in ZONES}
    for raw in records.splitlines():
        ln = raw.strip()
        if not ln or ln[0] in "$;":
            continue
        owner = ln.split()[0].lower()
        zone = "test."
        if owner.endswith("."):
            for z in ("insecure.test.", "bogus.test."):
                if owner == z or owner.endswith("." + z):
                    zone = z
        out[zone].append(ln)
    return out


def _zone_text(apex, lines):
    serial = int(time.time())
    head = [
        "$ORIGIN %s" % apex,
        "$TTL %d" % DEFAULT_TTL,
        "@ SOA ns1.test. hostmaster.test. %d 3600 600 86400 60" % serial,
        "@ NS ns1.test.",
    ]
    if apex == "test.":
        head += [
            "ns1 A 127.0.0.1",
            "insecure NS ns1.test.",  # no DS: an insecure delegation (NSEC proves it)
            "bogus NS ns1.test.",
            BOGUS_DS,
        ]
    return "\n".join(head + lines) + "\n"


def knot_conf(d, port, extra_zones=True):
    """knotd's configuration: rundir/storage |d|, listening on 127.0.0.1@|port|, signing test.
    (ECDSA P-256, NSEC, keys that never roll) and, with |extra_zones|, the broken bogus.test.
    and the unsigned insecure.test. (also used by tests/interop/netlab.py)."""
    zones = """  - domain: bogus.test.
    dnssec-signing: on
    dnssec-policy: lab
  - domain: insecure.test.
""" if extra_zones else ""
    return """server:
    rundir: "{d}"
    listen: 127.0.0.1@{port}
    pidfile: "{d}/knot.pid"
database:
    storage: "{d}"
log:
  - target: stderr
    any: info
policy:
  - id: lab
    algorithm: ecdsap256sha256
    ksk-lifetime: 0
    zsk-lifetime: 0
    nsec3: off
template:
  - id: default
    storage: "{d}"
    file: "%s.zone"
    zonefile-sync: -1
    zonefile-load: difference-no-serial
    journal-content: all
zone:
  - domain: test.
    dnssec-signing: on
    dnssec-policy: lab
""".format(d=d, port=port) + zones


def unbound_conf(d, port, knot_port, anchor, max_ttl, interface="127.0.0.1", zones=None,
                 allow=("127.0.0.0/8",)):
    """unbound's configuration: a validating resolver on |interface|@|port| with trust anchor
    |anchor|, stub zones |zones| (default: this lab's) at knot on 127.0.0.1@|knot_port|, answers
    cached at most |max_ttl| s, queries allowed from the networks |allow| (also used by
    tests/interop/netlab.py)."""
    stubs = "".join('stub-zone:\n  name: "%s"\n  stub-addr: 127.0.0.1@%d\n' % (z, knot_port)
                    for z in (ZONES if zones is None else zones))
    acl = "".join("  access-control: %s allow\n" % a for a in allow)
    return """server:
  interface: {interface}
  port: {port}
  do-ip6: no
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "{d}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
{acl}  module-config: "validator iterator"
  trust-anchor: "{anchor}"
  do-not-query-localhost: no
  local-zone: "test." transparent
  local-zone: "." refuse
  cache-max-ttl: {max_ttl}
  cache-max-negative-ttl: 1
  val-bogus-ttl: 1
  val-log-level: 2
  num-threads: 1
  so-reuseport: no
  outgoing-range: 32
{stubs}remote-control:
  control-enable: no
""".format(d=d, port=port, anchor=anchor, stubs=stubs, max_ttl=int(max_ttl),
           interface=interface, acl=acl)


def _read_dnskey(knotc, conf, zone, flags):
    """The zone's DNSKEY with |flags| as "zone TTL IN DNSKEY ..." text, or None."""
    out = subprocess.run([knotc, "-c", conf, "zone-read", zone, "@", "DNSKEY"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=10).stdout.decode(errors="replace")
    for ln in out.splitlines():
        f = ln.replace("[%s]" % zone, "").split()
        if "DNSKEY" in f and len(f) > f.index("DNSKEY") + 4 and \
                f[f.index("DNSKEY") + 1] == str(flags):
            return "%s 3600 IN DNSKEY %s" % (zone, " ".join(f[f.index("DNSKEY") + 1:]))
    return None


def _tail(path, n=4000):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except OSError:
        return ""


# ------------------------------------------------------------------------------------------------
# The lab


class Lab:
    def __init__(self, d, port, knot_port, anchor):
        self.dir = d
        self.resolver = ("127.0.0.1", port)
        self.addr = "127.0.0.1:%d" % port
        self.knot_port = knot_port
        self.trust_anchor = anchor

    def query(self, name, qtype, timeout=2.0):
        return dns_query(self.resolver, name, qtype, timeout)

    def stop(self):
        stop(self.dir)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def _watch(d, pid):
    """Stops the lab in |d| as soon as process |pid| is gone (or the lab was stopped)."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        except PermissionError:
            pass
        if not os.path.exists(os.path.join(d, PIDS)):
            return
        time.sleep(0.5)
    stop(d)


def start(d, records, watch_pid=None, max_ttl=5):
    """Builds and starts the lab in |d|; returns a Lab. See the module docstring."""
    knotd, knotc, unbound = _exe("knotd"), _exe("knotc"), _exe("unbound")
    if not knotd or not knotc or not unbound:
        raise Unavailable("knotd/knotc/unbound not installed (Debian: knot, unbound)")
    d = os.path.abspath(d)
    os.makedirs(d, exist_ok=True)
    old = _load_pids(d)
    if any(_pid_matches(r[0], r[1]) for r in old.values()):
        raise RuntimeError("%s holds a running lab; stop it first" % d)
    kd, ud = os.path.join(d, "knot"), os.path.join(d, "unbound")
    shutil.rmtree(kd, ignore_errors=True)  # fresh keys and journal every time
    shutil.rmtree(ud, ignore_errors=True)
    os.makedirs(kd)
    os.makedirs(ud)
    pids = {}
    _save_pids(d, pids)
    try:
        zones = _split_records(records)
        for apex in ZONES:
            with open(os.path.join(kd, apex + "zone"), "w") as f:
                f.write(_zone_text(apex, zones[apex]))
        knot_port = _free_port()
        kconf = os.path.join(kd, "knot.conf")
        with open(kconf, "w") as f:
            f.write(knot_conf(kd, knot_port))
        kp = _spawn(d, "knotd", [knotd, "-c", kconf], pids, kconf)
        anchor, bogus_key = None, None
        end = time.monotonic() + 20
        while time.monotonic() < end and not (anchor and bogus_key):
            if kp.poll() is not None:
                break
            anchor = anchor or _read_dnskey(knotc, kconf, "test.", 257)
            bogus_key = bogus_key or _read_dnskey(knotc, kconf, "bogus.test.", 257)
            if not (anchor and bogus_key):
                time.sleep(0.2)
        if not (anchor and bogus_key):
            raise RuntimeError("knotd did not sign test. and bogus.test. within 20 s:\n" +
                               _tail(os.path.join(d, "knotd.out")))
        port = _free_port()
        uconf = os.path.join(ud, "unbound.conf")
        with open(uconf, "w") as f:
            f.write(unbound_conf(ud, port, knot_port, anchor, max_ttl))
        chk = _exe("unbound-checkconf")
        if chk:
            r = subprocess.run([chk, uconf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if r.returncode != 0:
                raise RuntimeError("unbound-checkconf: " + r.stdout.decode(errors="replace"))
        up = _spawn(d, "unbound", [unbound, "-d", "-c", uconf], pids, uconf)
        lab = Lab(d, port, knot_port, anchor)
        # ready when the apex SOA validates (AD) and bogus.test. is bogus (SERVFAIL)
        end = time.monotonic() + 20
        last = None
        while time.monotonic() < end:
            if up.poll() is not None:
                break
            try:
                a = lab.query("test.", TYPE_SOA, 0.5)
                b = lab.query("bogus.test.", TYPE_SOA, 0.5)
                last = (a, b)
                if a[0] == 0 and a[2] and b[0] == 2:
                    break
            except OSError as e:
                last = repr(e)
            time.sleep(0.2)
        else:
            up = None
        if up is None or up.poll() is not None:
            raise RuntimeError("unbound does not validate test. (last %r):\n%s" %
                               (last, _tail(os.path.join(d, "unbound.out"))))
        if watch_pid:
            me = os.path.abspath(__file__)
            _spawn(d, "watch", [sys.executable or "/usr/bin/python3", "-B", me, "_watch", d,
                                str(int(watch_pid))], pids, me)
        return lab
    except BaseException:
        stop(d)
        raise


def main(argv):
    if len(argv) >= 4 and argv[1] == "start":
        opts = {"--watch": None, "--max-ttl": 5}
        rest = argv[4:]
        while len(rest) >= 2 and rest[0] in opts and rest[1].isdigit():
            opts[rest[0]] = int(rest[1])
            rest = rest[2:]
        if rest:
            print(__doc__, file=sys.stderr)
            return 1
        try:
            with open(argv[3]) as f:
                records = f.read()
            lab = start(argv[2], records, opts["--watch"], opts["--max-ttl"])
        except Unavailable as e:
            print("dnssec_lab: skip: %s" % e, file=sys.stderr)
            return SKIP
        except (OSError, RuntimeError, subprocess.SubprocessError) as e:
            print("dnssec_lab: %s" % e, file=sys.stderr)
            return 1
        print(lab.addr, flush=True)
        return 0
    if len(argv) == 3 and argv[1] == "stop":
        stop(argv[2])
        return 0
    if len(argv) == 4 and argv[1] == "_watch":
        _watch(os.path.abspath(argv[2]), int(argv[3]))
        return 0
    print(__doc__, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
