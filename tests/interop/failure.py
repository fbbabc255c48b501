#!/usr/bin/python3
"""interop_failure (scenario 6): Prosody stopped mid-run, then restarted.

t1.test and t2.test (fedrouter) federate with p1.test (Prosody) by certificates. While the t1.test
component streams messages to u@p1.test, Prosody is stopped (SIGTERM); more messages follow from
t1.test (known pair) and t2.test (a new pair) while it is down; then Prosody restarts.

Every message the components sent must be accounted for: delivered to the client, bounced to its
sender with a stanza error whose condition RFC 6120 allows for it (remote-server-not-found,
remote-server-timeout, service-unavailable, recipient-unavailable) and addresses swapped, or (for
those handed over just before the shutdown) logged by Prosody as received from fedrouter. None may
vanish. Then federation resumes: messages both ways after the restart arrive, over new streams."""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
import harness as h  # noqa: E402
from lab import check, log  # noqa: E402

OK_CONDS = {"remote-server-not-found", "remote-server-timeout", "service-unavailable",
            "recipient-unavailable"}


def scenario(env):
    st = lab.state()
    crt, key = st["certs"]["fedrouter"]
    doms = ["t1.test", "t2.test"]
    router, sites = lab.start_router(env, doms, [(crt, key, doms)],
                                     s2s={"stanza_timeout": 12})
    pros = lab.Prosody(env, ["p1.test"], secure_auth=True)
    env.procs.append(pros)
    pros.start()
    xc = lab.XClient(env, ["u@p1.test"])
    env.procs.append(xc)
    xc.start()
    lab.comp_to_client(xc, sites, [("t1.test", "u@p1.test")], "6-before")
    lab.client_to_comp(xc, sites, [("u@p1.test", "t1.test")], "6-before-back")

    sent = []  # (domain, id)
    comp1 = sites["t1.test"].comp

    def burst():
        for i in range(40):
            mid = "6-burst-%d" % i
            comp1.message("bob@t1.test/c", "u@p1.test", "burst %d" % i, id=mid, type="chat")
            sent.append(("t1.test", mid))
            time.sleep(0.025)

    th = threading.Thread(target=burst)
    th.start()
    time.sleep(0.4)
    log("stopping Prosody (SIGTERM) in the middle of a 40-message burst")
    problems = pros.stop()
    check(not problems, "Prosody stopped cleanly", problems)
    th.join()
    for i in range(10):
        mid = "6-down-t1-%d" % i
        comp1.message("bob@t1.test/c", "u@p1.test", "while down %d" % i, id=mid, type="chat")
        sent.append(("t1.test", mid))
    for i in range(5):
        mid = "6-down-t2-%d" % i
        sites["t2.test"].comp.message("bob@t2.test/c", "u@p1.test", "new pair while down %d" % i,
                                      id=mid, type="chat")
        sent.append(("t2.test", mid))
    xc.stop()  # its session died with the server
    time.sleep(2)
    log("restarting Prosody")
    pros.start()
    xc2 = lab.XClient(env, ["u@p1.test"], name="xclient2")
    env.procs.append(xc2)
    xc2.start()

    # Account for every message: delivered, bounced with a proper error, or received by Prosody.
    def outcome():
        res = {}
        got = {e.get("id") for x in (xc, xc2) for e in x.messages() if e.get("error") is None}
        for dom, mid in sent:
            if mid in got:
                res[mid] = ("delivered", None)
                continue
            err = [e for e in sites[dom].comp.received
                   if e.get("id") == mid and e.get("type") == "error"]
            if err:
                res[mid] = ("bounced", err[0])
        return res

    h.wait_until(lambda: len(outcome()) == len(sent), 40, 0.2)
    res = outcome()
    plog = pros.log_text()
    vanished, handed = [], []
    for dom, mid in sent:
        if mid in res:
            continue
        if ("RECV: <message id='%s'" % mid) in plog or ("id='%s'" % mid) in plog:
            handed.append(mid)  # fedrouter delivered it; Prosody's shutdown dropped it
        else:
            vanished.append(mid)
    bounced = [(mid, r[1]) for mid, r in res.items() if r[0] == "bounced"]
    delivered = [mid for mid, r in res.items() if r[0] == "delivered"]
    conds = {}
    bad = []
    for mid, e in bounced:
        cond, etype = h.stanza_error_condition(e)
        conds[cond] = conds.get(cond, 0) + 1
        dom = mid.split("-")[2] if mid.startswith("6-down-") else "t1"
        if cond not in OK_CONDS or etype not in ("cancel", "wait") or \
                e.get("from") != "u@p1.test" or not e.get("to", "").startswith("bob@"):
            bad.append((mid, cond, etype, e.get("from"), e.get("to"), dom))
    log("outcome of %d messages: delivered %d, bounced %d %r, handed to Prosody before it "
        "stopped %d, vanished %d" % (len(sent), len(delivered), len(bounced), conds, len(handed),
                                     len(vanished)))
    check(not vanished, "no message silently vanished", vanished)
    check(not bad, "every bounce carries a proper condition and type, addresses swapped", bad)
    late = [m for m in delivered if m.startswith("6-down-")]
    log("messages sent while Prosody was down and delivered after its restart: %d" % len(late))

    log("federation resumes after the restart")
    lab.comp_to_client(xc2, sites, [("t1.test", "u@p1.test"), ("t2.test", "u@p1.test")],
                       "6-after", timeout=30)
    lab.client_to_comp(xc2, sites, [("u@p1.test", "t1.test"), ("u@p1.test", "t2.test")],
                       "6-after-back", timeout=30)
    m = router.scrape()
    log("fedrouter: tcp connects out=%g in=%g bounces=%g %s" % (
        m.get("fedrouter_tcp_connects_total", direction="out"),
        m.get("fedrouter_tcp_connects_total", direction="in"), m.get("fedrouter_bounces_total"),
        [(ls.get("condition"), v) for n, ls, v in m.series if n == "fedrouter_bounces_total"]))
    check(m.get("fedrouter_tcp_connects_total", direction="out") >= 2,
          "fedrouter reconnected to Prosody after its restart")
    fr_bounces = m.get("fedrouter_bounces_total")
    own = sum(n for c, n in conds.items() if c.startswith("remote-server-"))
    check(own <= fr_bounces <= len(bounced),
          "fedrouter counted the bounces it made (remote-server-*) and no others",
          (fr_bounces, conds))
    lab.summarize(pros, "failure")


if __name__ == "__main__":
    lab.main(scenario)
