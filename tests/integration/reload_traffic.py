#!/usr/bin/python3
"""integ_reload_traffic: configuration reload under traffic, nothing lost, streams kept.

Router A hosts a.test and old.test, router B hosts b.test (certificates from the test CA, static
routes both ways; B also routes new.test and old.test to A). Components send continuously
a.test -> b.test, b.test -> a.test and b.test -> old.test (old.test sends a few stanzas first, so
its pair to b.test exists). During the traffic A gets SIGHUP three times:
  1. new.test added (domain, secret and a new certificate file naming it);
  2. old.test removed;
  3. the same file again.
Asserts:
  - each reload is logged as done, the reload counter is 3 (result="ok") and no reload failed;
  - the last-success timestamp moved;
  - for every sender: sent == delivered + bounced, zero lost; a.test <-> b.test nothing bounced;
  - old.test's component got <system-shutdown/> and its stream closed; every b.test -> old.test
    stanza after that bounced with remote-server-not-found (cancel);
  - fedrouter_tcp_connects_total (in + out) on A and B did not grow across the three reloads:
    the s2s streams survived;
  - afterwards new.test federates both ways (its component connects on A, stanzas delivered) and
    a new TLS session with SNI new.test is served the certificate added by the reload.
Figures are printed (sent/delivered/bounced per direction)."""

import os
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check, log  # noqa: E402


class Sender:
    """Sends messages frm -> to from |comp| every |period| s in a thread until stop()."""

    def __init__(self, comp, frm_dom, to_dom, tag, period=0.004, limit=None):
        self.comp, self.frm_dom, self.to_dom = comp, frm_dom, to_dom
        self.tag = "%s-%s" % (tag, os.urandom(2).hex())
        self.period = period
        self.limit = limit
        self.sent = []
        self.times = []
        self._stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.t.start()
        return self

    def _run(self):
        i = 0
        while not self._stop.is_set() and (self.limit is None or i < self.limit):
            mid = "%s-%d" % (self.tag, i)
            try:
                self.comp.message("u@%s/r" % self.frm_dom, "v@%s" % self.to_dom, "n %d" % i,
                                  id=mid)
            except OSError:
                return
            self.sent.append(mid)
            self.times.append(time.monotonic())
            i += 1
            time.sleep(self.period)

    def stop(self):
        self._stop.set()
        self.t.join(5)

    def account(self, dst_comp):
        """Returns (delivered ids, bounced {id: condition}, lost ids)."""
        ids = set(self.sent)
        with dst_comp.cond:
            delivered = {e.get("id") for e in dst_comp.received
                         if e.get("id") in ids and e.get("type") != "error"}
        with self.comp.cond:
            bounced = {e.get("id"): h.stanza_error_condition(e) for e in self.comp.received
                       if e.get("id") in ids and e.get("type") == "error"}
        lost = [i for i in self.sent if i not in delivered and i not in bounced]
        return delivered, bounced, lost


def wait_accounted(pairs, timeout):
    """Waits until every Sender in |pairs| [(sender, dst_comp)] has nothing lost."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if all(not s.account(d)[2] for s, d in pairs):
            return True
        time.sleep(0.1)
    return False


def reloads_done(router):
    return router.log_text().count("configuration reloaded:")


def write_conf(router, conf):
    with open(router.conffile, "w") as f:
        f.write(h.conf_text(conf))


def connects(router):
    return router.scrape().get("fedrouter_tcp_connects_total")


def setup(env, with_admin=False, notify_a=None):
    """A (a.test, old.test) and B (b.test) federating; returns a dict of what was made.
    |notify_a|: a NOTIFY_SOCKET address for router A only."""
    ca = env.ca()
    a_ip, b_ip = "127.0.0.1", "127.0.0.2"
    ports = {k: env.free_port() for k in ("a_s2s", "a_comp", "a_met", "b_s2s", "b_comp", "b_met")}
    sec = {d: "secret-%s-%s" % (d, os.urandom(4).hex()) for d in ("a.test", "old.test",
                                                                 "new.test", "b.test")}
    a_cert = ca.issue("a.test", ["a.test", "old.test"])
    b_cert = ca.issue("b.test", ["b.test"])
    new_cert = ca.issue("new.test", ["new.test"])
    a_conf = h.router_conf(env, a_ip, ports["a_s2s"], ports["a_comp"], ports["a_met"],
                           [("a.test", sec["a.test"]), ("old.test", sec["old.test"])], [a_cert],
                           ca.cert, routes=[("b.test", b_ip, ports["b_s2s"])], log_level="info")
    b_conf = h.router_conf(env, b_ip, ports["b_s2s"], ports["b_comp"], ports["b_met"],
                           [("b.test", sec["b.test"])], [b_cert], ca.cert,
                           routes=[(d, a_ip, ports["a_s2s"]) for d in ("a.test", "old.test",
                                                                       "new.test")],
                           log_level="info")
    if with_admin:
        a_conf["admin"] = {"socket": env.path("router-a-admin.sock")}
    if notify_a:
        os.environ["NOTIFY_SOCKET"] = notify_a
    try:
        a = env.router("router-a", a_conf)
    finally:
        os.environ.pop("NOTIFY_SOCKET", None)
    b = env.router("router-b", b_conf)
    comps = {
        "a.test": h.Component(a.comp_addr, "a.test", sec["a.test"]).connect(),
        "old.test": h.Component(a.comp_addr, "old.test", sec["old.test"]).connect(),
        "b.test": h.Component(b.comp_addr, "b.test", sec["b.test"]).connect(),
    }
    return {"a": a, "b": b, "a_conf": a_conf, "b_conf": b_conf, "sec": sec, "comps": comps,
            "new_cert": new_cert, "a_cert": a_cert}


def scenario(env):
    s = setup(env)
    a, b, comps = s["a"], s["b"], s["comps"]
    # Warm up every pair (streams and dialback done before the measured part).
    for src, dst in (("a.test", "b.test"), ("b.test", "a.test"), ("old.test", "b.test"),
                     ("b.test", "old.test")):
        w = Sender(comps[src], src, dst, "warm", limit=3).start()
        w.t.join(5)
        check(wait_accounted([(w, comps[dst])], 15) and not w.account(comps[dst])[1],
              "warm-up %s -> %s delivered" % (src, dst))
    ts0 = a.scrape().get("fedrouter_config_last_reload_success_timestamp_seconds")
    conn0 = (connects(a), connects(b))

    senders = [
        (Sender(comps["a.test"], "a.test", "b.test", "ab").start(), comps["b.test"]),
        (Sender(comps["b.test"], "b.test", "a.test", "ba").start(), comps["a.test"]),
        (Sender(comps["b.test"], "b.test", "old.test", "bo").start(), comps["old.test"]),
    ]
    time.sleep(1.0)

    # 1. Add new.test with its own certificate.
    conf1 = dict(s["a_conf"])
    conf1["domains"] = s["a_conf"]["domains"] + [{"name": "new.test", "secret": s["sec"]["new.test"]}]
    conf1["certificates"] = s["a_conf"]["certificates"] + [
        {"cert": s["new_cert"].cert, "key": s["new_cert"].key, "domains": ["new.test"]}]
    write_conf(a, conf1)
    a.send_signal(signal.SIGHUP)
    check(h.wait_until(lambda: reloads_done(a) >= 1, 10), "reload 1 (new.test added) done")
    time.sleep(1.0)

    # 2. Remove old.test.
    conf2 = dict(conf1)
    conf2["domains"] = [d for d in conf1["domains"] if d["name"] != "old.test"]
    write_conf(a, conf2)
    t_removed = time.monotonic()
    a.send_signal(signal.SIGHUP)
    check(h.wait_until(lambda: reloads_done(a) >= 2, 10), "reload 2 (old.test removed) done")
    check(h.wait_until(lambda: comps["old.test"].closed is not None, 5),
          "old.test's component stream was closed", comps["old.test"].closed)
    errs = [e for e in comps["old.test"].received if e.name == "error"]
    check(errs and h.stream_error_condition(errs[-1]) == "system-shutdown",
          "old.test's component got <system-shutdown/>", errs)
    time.sleep(1.0)

    # 3. Unchanged.
    a.send_signal(signal.SIGHUP)
    check(h.wait_until(lambda: reloads_done(a) >= 3, 10), "reload 3 (unchanged) done")
    time.sleep(1.0)
    for snd, _ in senders:
        snd.stop()
    check(wait_accounted(senders, 20), "every stanza sent during the reloads is accounted for")

    total_sent = total_del = total_bnc = 0
    for snd, dst in senders:
        delivered, bounced, lost = snd.account(dst)
        total_sent += len(snd.sent)
        total_del += len(delivered)
        total_bnc += len(bounced)
        log("  %s -> %s: sent %d, delivered %d, bounced %d, lost %d" % (
            snd.frm_dom, snd.to_dom, len(snd.sent), len(delivered), len(bounced), len(lost)))
        check(not lost, "%s -> %s: nothing lost" % (snd.frm_dom, snd.to_dom), lost[:5])
        check(len(snd.sent) == len(delivered) + len(bounced),
              "%s -> %s: sent == delivered + bounced" % (snd.frm_dom, snd.to_dom))
        if snd.to_dom != "old.test":
            check(not bounced, "%s -> %s: nothing bounced" % (snd.frm_dom, snd.to_dom),
                  list(bounced.items())[:5])
        else:
            conds = set(bounced.values())
            check(bounced and conds == {("remote-server-not-found", "cancel")},
                  "b.test -> old.test after its removal bounced with remote-server-not-found",
                  conds)
            late = [i for i, t in zip(snd.sent, snd.times) if t > t_removed + 2.0]
            check(late and all(i in bounced for i in late),
                  "every b.test -> old.test stanza sent after the removal bounced",
                  [i for i in late if i not in bounced][:5])
    log("  total: sent %d, delivered %d, bounced %d" % (total_sent, total_del, total_bnc))

    conn1 = (connects(a), connects(b))
    check(conn1 == conn0, "no new TCP connection across the reloads (streams survived)",
          (conn0, conn1))
    m = a.scrape()
    check(m.get("fedrouter_config_reloads_total", result="ok") == 3, "reload counter ok is 3",
          m.get("fedrouter_config_reloads_total", result="ok"))
    check(m.get("fedrouter_config_reloads_total", result="failed") == 0, "no failed reload")
    check(m.get("fedrouter_config_last_reload_success_timestamp_seconds") >= ts0 > 0,
          "last reload success timestamp set", (ts0, m.get(
              "fedrouter_config_last_reload_success_timestamp_seconds")))

    # The added domain federates.
    comps["new.test"] = h.Component(a.comp_addr, "new.test", s["sec"]["new.test"]).connect()
    for src, dst in (("new.test", "b.test"), ("b.test", "new.test")):
        snd = Sender(comps[src], src, dst, "new", limit=5).start()
        snd.t.join(5)
        check(wait_accounted([(snd, comps[dst])], 20), "%s -> %s accounted" % (src, dst))
        delivered, bounced, _ = snd.account(comps[dst])
        check(len(delivered) == 5 and not bounced, "added domain: %s -> %s delivered" % (src, dst),
              (len(delivered), bounced))
    # New TLS sessions use the reloaded certificates: new.test's own certificate for its SNI.
    c = h.S2S(a.s2s_addr, bind_ip="127.0.0.12")
    c.open("b.test", "new.test")
    c.starttls(env.ca().cert, sni="new.test")  # verified for new.test against the test CA
    names = h._cert_names(c.sock.getpeercert())
    c.close()
    check(names == ["new.test"], "a new TLS session for new.test gets the added certificate", names)
    check("configuration reload failed" not in a.log_text(), "A logged no failed reload")


if __name__ == "__main__":
    h.run(scenario)
