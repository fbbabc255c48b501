#!/usr/bin/python3
"""integ_reload_bad: a configuration that does not load or apply is refused, the running one stays.

Routers A (a.test, old.test, admin socket) and B (b.test) federate with traffic both ways
a.test <-> b.test all along. On A, each of these attempts adds new.test and is refused:
  1. SIGHUP with a syntax error in the file;
  2. `fedctl reload` with the same file: exits non-zero and prints "file:line: reason";
  3. SIGHUP with new.test's certificate file missing;
  4. `fedctl reload` with a certificate whose key does not match it (only the TLS layer sees it).
Asserts, for each: exactly one new error line "configuration reload failed, keeping the running
configuration: <reason>" naming the cause; fedctl's message carries the same reason; sd_notify
gets RELOADING=1 (with MONOTONIC_USEC) then READY=1 with a STATUS= saying it failed; new.test was
not added (a component for it is refused with host-unknown); the reload failure counter counts it
and the ok counter stays 0. After all of them: every a.test <-> b.test stanza sent was delivered
(none lost, none bounced), old.test still works, and a good `fedctl reload` then succeeds
(exit 0, new.test accepted)."""

import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check, log  # noqa: E402
import fedctl as fc  # noqa: E402
import reload_traffic as rtr  # noqa: E402
import systemd_notify as sdn  # noqa: E402

FAIL_LINE = "configuration reload failed, keeping the running configuration: "


def fail_lines(router):
    return [ln for ln in router.log_text().splitlines() if FAIL_LINE in ln]


def new_domain_refused(a, secret):
    conn, ev = h.Component(a.comp_addr, "new.test", secret).open()
    conn.close()
    return ev is not None and ev[0] == "elem" and ev[1].name == "error" and \
        h.stream_error_condition(ev[1]) == "host-unknown" or \
        (isinstance(ev, tuple) and ev[0] == "no id")


def scenario(env):
    tool = fc.fedctl_bin(env)
    addr = "\0fedrouter-reload-bad-%s" % os.urandom(6).hex()
    nl = sdn.NotifyListener(addr)
    s = rtr.setup(env, with_admin=True, notify_a="@" + addr[1:])
    check(nl.wait_key("READY", 10) is not None, "A sent READY=1 at start")
    a, comps = s["a"], s["comps"]
    sock = s["a_conf"]["admin"]["socket"]
    for src, dst in (("a.test", "b.test"), ("b.test", "a.test")):
        w = rtr.Sender(comps[src], src, dst, "warm", limit=3).start()
        w.t.join(5)
        check(rtr.wait_accounted([(w, comps[dst])], 15), "warm-up %s -> %s" % (src, dst))
    senders = [
        (rtr.Sender(comps["a.test"], "a.test", "b.test", "ab", period=0.01).start(),
         comps["b.test"]),
        (rtr.Sender(comps["b.test"], "b.test", "a.test", "ba", period=0.01).start(),
         comps["a.test"]),
    ]
    new_conf = dict(s["a_conf"])
    new_conf["domains"] = s["a_conf"]["domains"] + [{"name": "new.test",
                                                     "secret": s["sec"]["new.test"]}]
    nc = s["new_cert"]
    good_cert = {"cert": nc.cert, "key": nc.key, "domains": ["new.test"]}
    good_text = h.conf_text(dict(new_conf, certificates=s["a_conf"]["certificates"] + [good_cert]))
    missing = dict(good_cert, cert=env.path("no-such-cert.pem"))
    mismatch = dict(good_cert, key=s["a_cert"].key)
    attempts = [
        ("syntax error", "sighup", "this is not libconfig\n" + good_text, ["router-a.conf:1:"]),
        ("syntax error", "fedctl", "this is not libconfig\n" + good_text, ["router-a.conf:1:"]),
        ("missing certificate", "sighup",
         h.conf_text(dict(new_conf, certificates=s["a_conf"]["certificates"] + [missing])),
         ["no-such-cert.pem"]),
        ("key does not match", "fedctl",
         h.conf_text(dict(new_conf, certificates=s["a_conf"]["certificates"] + [mismatch])),
         ["does not match certificate", "a.test.key"]),
    ]
    for n, (what, how, text, needles) in enumerate(attempts, 1):
        with open(a.conffile, "w") as f:
            f.write(text)
        before = len(fail_lines(a))
        t_try = time.monotonic()
        if how == "sighup":
            a.send_signal(signal.SIGHUP)
        else:
            rc, out, err = fc.fedctl(tool, sock, "reload")
            check(rc != 0, "%s: fedctl reload exits non-zero" % what, (rc, out, err))
            check(all(x in err for x in needles) and err.startswith("fedctl: "),
                  "%s: fedctl prints the reason" % what, err)
            log("  fedctl said: %s" % err.strip())
        check(h.wait_until(lambda: len(fail_lines(a)) == before + 1, 10),
              "%s (%s): one error line" % (what, how))
        time.sleep(0.2)
        lines = fail_lines(a)
        check(len(lines) == before + 1, "%s: exactly one error line" % what, lines[before:])
        check(" error " in lines[-1] and all(x in lines[-1] for x in needles),
              "%s: the error line names the cause" % what, lines[-1])
        log("  log: %s" % lines[-1].split(FAIL_LINE)[-1])
        rl, rd = nl.wait_key("RELOADING", 3, t_try), nl.wait_key("READY", 3, t_try)
        check(rl is not None and rd is not None and rl[0] <= rd[0] and
              "MONOTONIC_USEC" in rl[1] and "failed" in rd[1].get("STATUS", ""),
              "%s: sd_notify RELOADING=1, then READY=1 with a STATUS saying it failed" % what,
              nl.since(t_try))
        check(new_domain_refused(a, s["sec"]["new.test"]),
              "%s: new.test not added (its component is refused)" % what)
        m = a.scrape()
        check(m.get("fedrouter_config_reloads_total", result="failed") == n and
              m.get("fedrouter_config_reloads_total", result="ok") == 0,
              "%s: reload counters failed=%d ok=0" % (what, n),
              (m.get("fedrouter_config_reloads_total", result="failed"),
               m.get("fedrouter_config_reloads_total", result="ok")))
    time.sleep(0.5)
    for snd, _ in senders:
        snd.stop()
    check(rtr.wait_accounted(senders, 15), "traffic during the refused reloads accounted for")
    for snd, dst in senders:
        delivered, bounced, lost = snd.account(dst)
        log("  %s -> %s: sent %d, delivered %d, bounced %d, lost %d" % (
            snd.frm_dom, snd.to_dom, len(snd.sent), len(delivered), len(bounced), len(lost)))
        check(len(delivered) == len(snd.sent) and not bounced,
              "%s -> %s: all delivered" % (snd.frm_dom, snd.to_dom))
    w = rtr.Sender(comps["old.test"], "old.test", "b.test", "old", limit=3).start()
    w.t.join(5)
    check(rtr.wait_accounted([(w, comps["b.test"])], 15) and not w.account(comps["b.test"])[1],
          "old.test (running configuration) still federates")

    # The good file now: fedctl reload succeeds.
    with open(a.conffile, "w") as f:
        f.write(good_text)
    t_try = time.monotonic()
    rc, out, err = fc.fedctl(tool, sock, "reload")
    rd = nl.wait_key("READY", 3, t_try)
    check(nl.wait_key("RELOADING", 3, t_try) is not None and rd is not None and
          "reloaded" in rd[1].get("STATUS", ""), "good reload: RELOADING=1 then READY=1",
          nl.since(t_try))
    nl.close()
    check(rc == 0 and "reloaded" in out, "good configuration: fedctl reload exits 0", (rc, out, err))
    comp = h.Component(a.comp_addr, "new.test", s["sec"]["new.test"]).connect()
    comp.close()
    log("  ok   ... new.test's component is accepted after the good reload")
    m = a.scrape()
    check(m.get("fedrouter_config_reloads_total", result="ok") == 1, "ok counter 1")


if __name__ == "__main__":
    h.run(scenario)
