#!/usr/bin/python3
"""integ_systemd_notify: the sd_notify protocol as systemd sees it, without systemd.

Router A runs with NOTIFY_SOCKET = an abstract unix datagram socket (@...) of this script and
WATCHDOG_USEC=200000 (2 workers). Asserts:
  - exactly one READY=1 arrives, with a STATUS= line, and at that moment the s2s and component
    listeners accept connections;
  - WATCHDOG=1 arrives repeatedly (at least 6 in 1.5 s), never more than 200 ms (WATCHDOG_USEC)
    apart;
  - one stalled worker stops the pings: worker thread fr-worker1 alone is stopped with
    PTRACE_SEIZE + PTRACE_INTERRUPT (ptrace stops one thread, unlike SIGSTOP); no WATCHDOG=1
    then arrives for 0.8 s, the log names the stalled worker, and once the thread is detached the
    pings resume and the log says so;
  - SIGTERM brings STOPPING=1, then exit code 0 (and no sanitizer report).
Router B runs with NOTIFY_SOCKET = a filesystem path and no WATCHDOG_USEC: READY=1 arrives, no
WATCHDOG=1 is sent, SIGINT brings STOPPING=1.
If ptrace is not permitted here the stalled-worker case is reported as skipped and the rest still
runs.
Finally tools/fedrouter.service is checked offline with systemd-analyze (when installed): `verify`
accepts it (ExecStart pointed at the binary under test), it is Type=notify with WatchdogSec=, and
its SystemCallFilter= lines, expanded with `systemd-analyze syscall-filter`, allow io_uring_setup,
io_uring_enter, io_uring_register and the other system calls fedrouter's loop and notifier make."""

import ctypes
import os
import shutil
import subprocess
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check, log  # noqa: E402

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000  # __WALL: wait for any thread, cloned or not


class NotifyListener:
    """Receives sd_notify datagrams on a unix socket; keeps (monotonic time, {key: value})."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.2)
        self.msgs = []
        self.lock = threading.Lock()
        self.ready_addrs = None  # [(what, (host, port))] tried the moment READY=1 arrives
        self.ready_result = None
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            kv = {}
            for ln in data.decode(errors="replace").split("\n"):
                k, sep, v = ln.partition("=")
                if sep:
                    kv[k] = v
            if "READY" in kv and self.ready_addrs and self.ready_result is None:
                self.ready_result = listeners_accept(self.ready_addrs)  # now, before anything else
            with self.lock:
                self.msgs.append((now, kv))

    def since(self, t0, key=None):
        with self.lock:
            return [(t, kv) for t, kv in self.msgs if t >= t0 and (key is None or key in kv)]

    def wait_key(self, key, timeout, t0=0.0):
        ok = h.wait_until(lambda: self.since(t0, key), timeout, step=0.01)
        return self.since(t0, key)[0] if ok else None

    def close(self):
        self.stop = True
        self.t.join(2)
        self.sock.close()


def listeners_accept(addrs):
    """Connects to each (what, (host, port)) listener; returns a list of failures."""
    bad = []
    for what, addr in addrs:
        try:
            s = socket.create_connection(addr, timeout=1)
            s.close()
        except OSError as e:
            bad.append("%s %s: %s" % (what, addr, e))
    return bad


def start_site(env, name, ip, domain, notify_addr, watchdog_usec, nl):
    """Like harness.make_site, with NOTIFY_SOCKET (and WATCHDOG_USEC) in this router's
    environment only. |nl| learns the listener addresses before the router starts, so that it
    can try them the moment READY=1 arrives."""
    s = h.Site(name, ip, domain, "secret-%s-%s" % (domain, os.urandom(6).hex()))
    s.cert = env.ca().issue(domain, [domain])
    s.s2s_port = env.free_port()
    s.comp_port = env.free_port()
    s.metrics_port = env.free_port()
    nl.ready_addrs = [("s2s", (ip, s.s2s_port)), ("component", (ip, s.comp_port))]
    conf = h.router_conf(env, ip, s.s2s_port, s.comp_port, s.metrics_port, [(domain, s.secret)],
                         [s.cert], env.ca().cert)
    os.environ["NOTIFY_SOCKET"] = notify_addr
    if watchdog_usec:
        os.environ["WATCHDOG_USEC"] = str(watchdog_usec)
    try:
        s.router = env.router(name, conf)
    finally:
        os.environ.pop("NOTIFY_SOCKET", None)
        os.environ.pop("WATCHDOG_USEC", None)
    s.comp = s.component()
    return s


def worker_tid(pid, name):
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() == name:
                    return int(tid)
        except OSError:
            pass
    return None


def ptrace(libc, req, tid):
    if libc.ptrace(ctypes.c_long(req), ctypes.c_long(tid), None, None) != 0:
        return ctypes.get_errno()
    return 0


def check_stalled_worker(site, nl):
    libc = ctypes.CDLL(None, use_errno=True)
    tid = worker_tid(site.router.pid, "fr-worker1")
    check(tid is not None, "worker thread fr-worker1 found in /proc/%d/task" % site.router.pid)
    err = ptrace(libc, PTRACE_SEIZE, tid)
    if err != 0:
        log("SKIP (stalled-worker case only): PTRACE_SEIZE: %s" % os.strerror(err))
        return
    try:
        err = ptrace(libc, PTRACE_INTERRUPT, tid)
        check(err == 0, "PTRACE_INTERRUPT stops fr-worker1", os.strerror(err))
        wtid, status = os.waitpid(tid, WALL)
        check(wtid == tid and os.WIFSTOPPED(status), "fr-worker1 is stopped", (wtid, status))
        t_stop = time.monotonic()
        # One ping may still be due from ticks before the stop; after that, none.
        time.sleep(0.4)
        t0 = time.monotonic()
        time.sleep(0.8)
        pings = nl.since(t0, "WATCHDOG")
        check(not pings, "no WATCHDOG=1 for 0.8 s while one worker is stalled",
              ["%.3f" % (t - t_stop) for t, _ in pings])
        check(h.wait_until(lambda: "w1: event loop has not ticked" in site.router.log_text(), 2),
              "the log names the stalled worker (w1)")
    finally:
        err = ptrace(libc, PTRACE_DETACH, tid)
    check(err == 0, "PTRACE_DETACH resumes fr-worker1", os.strerror(err))
    t1 = time.monotonic()
    check(nl.wait_key("WATCHDOG", 1.0, t1) is not None, "WATCHDOG=1 resumes after the worker does")
    check(h.wait_until(lambda: "w1: event loop ticks again" in site.router.log_text(), 2),
          "the log says the worker ticks again")


UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools",
                    "fedrouter.service")
# System calls fedrouter cannot run without (io_uring, the notifier, listeners, workers).
NEEDED_SYSCALLS = ("io_uring_setup", "io_uring_enter", "io_uring_register", "socket", "bind",
                   "listen", "sendto", "eventfd2", "rt_sigtimedwait", "clone3", "mmap")


def expand_syscalls(tool, items, seen=None):
    """The system calls named by |items| (names and @groups, groups expanded recursively)."""
    seen = set() if seen is None else seen
    out = set()
    for it in items:
        if not it.startswith("@"):
            out.add(it)
            continue
        if it in seen:
            continue
        seen.add(it)
        r = subprocess.run([tool, "syscall-filter", it], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, timeout=30)
        for ln in r.stdout.decode().splitlines()[1:]:
            ln = ln.strip()
            if ln and not ln.startswith("#"):
                out |= expand_syscalls(tool, [ln.split()[0]], seen)
    return out


def check_unit(env):
    tool = shutil.which("systemd-analyze")
    check(os.path.exists(UNIT), "tools/fedrouter.service exists")
    with open(UNIT) as f:
        text = f.read()
    keys = {}
    for ln in text.splitlines():
        k, sep, v = ln.partition("=")
        if sep and not ln.startswith("#"):
            keys.setdefault(k.strip(), []).append(v.strip())
    check(keys.get("Type") == ["notify"], "unit: Type=notify", keys.get("Type"))
    check(keys.get("WatchdogSec") and keys.get("Restart") == ["on-failure"],
          "unit: WatchdogSec= and Restart=on-failure", (keys.get("WatchdogSec"), keys.get("Restart")))
    if tool is None:
        log("SKIP (unit verification only): systemd-analyze not installed")
        return
    copy = env.path("fedrouter.service")
    with open(copy, "w") as f:
        f.write(text.replace("/usr/local/bin/fedrouter", env.binary))
    r = subprocess.run([tool, "verify", copy], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    check(r.returncode == 0 and not r.stdout.strip(), "systemd-analyze verify accepts the unit",
          r.stdout.decode(errors="replace"))
    allow, deny = set(), set()
    for v in keys.get("SystemCallFilter", []):
        if v.startswith("~"):
            deny |= expand_syscalls(tool, v[1:].split())
        else:
            allow |= expand_syscalls(tool, v.split())
    allowed = (allow or expand_syscalls(tool, ["@known"])) - deny
    missing = [sc for sc in NEEDED_SYSCALLS if sc not in allowed]
    check(not missing, "unit: SystemCallFilter= allows io_uring and fedrouter's other syscalls",
          missing)


def scenario(env):
    check_unit(env)

    # --- A: abstract socket, watchdog 200 ms -------------------------------------------------
    addr = "@fedrouter-integ-notify-%d-%s" % (os.getpid(), os.urandom(4).hex())
    nl = NotifyListener("\0" + addr[1:])
    try:
        a = start_site(env, "router-a", "127.0.0.1", "a.test", addr, 200000, nl)
        ready = nl.wait_key("READY", 10)
        check(ready is not None, "READY=1 received")
        check(len(nl.since(0, "READY")) == 1, "READY=1 sent once")
        check("workers" in ready[1].get("STATUS", ""), "READY=1 carries a STATUS= summary",
              ready[1])
        check(nl.ready_result == [], "listeners accept connections when READY=1 arrives",
              nl.ready_result)
        check(not [m for m in nl.since(0, "WATCHDOG") if m[0] < ready[0]],
              "no WATCHDOG=1 before READY=1")

        t0 = time.monotonic()
        time.sleep(1.5)
        pings = [t for t, _ in nl.since(t0, "WATCHDOG")]
        gaps = [round((y - x) * 1000) for x, y in zip(pings, pings[1:])]
        log("watchdog gaps (ms): %s" % gaps)
        check(len(pings) >= 6, "WATCHDOG=1 repeated: %d in 1.5 s (>= 6)" % len(pings))
        check(max(gaps) < 200, "WATCHDOG=1 never more than WATCHDOG_USEC (200 ms) apart",
              max(gaps))

        check_stalled_worker(a, nl)

        t0 = time.monotonic()
        a.router.send_signal(signal.SIGTERM)
        stop = nl.wait_key("STOPPING", 5, t0)
        check(stop is not None, "STOPPING=1 after SIGTERM (%.3f s)" %
              ((stop[0] - t0) if stop else -1))
        check(a.router.wait_exit(10) == 0, "A exited 0 after SIGTERM")
        problems = a.router.stop()
        check(not problems, "A: clean exit, no sanitizer report", problems)
    finally:
        nl.close()

    # --- B: filesystem socket, no watchdog ------------------------------------------------------
    path = env.path("notify.sock")
    nl = NotifyListener(path)
    try:
        b = start_site(env, "router-b", "127.0.0.2", "b.test", path, None, nl)
        check(nl.wait_key("READY", 10) is not None, "B: READY=1 on a filesystem-path socket")
        time.sleep(0.5)
        check(not nl.since(0, "WATCHDOG"), "B: no WATCHDOG=1 without WATCHDOG_USEC")
        t0 = time.monotonic()
        b.router.send_signal(signal.SIGINT)
        check(nl.wait_key("STOPPING", 5, t0) is not None, "B: STOPPING=1 after SIGINT")
        problems = b.router.stop()
        check(not problems, "B: clean exit, no sanitizer report", problems)
    finally:
        nl.close()


if __name__ == "__main__":
    h.run(scenario)
