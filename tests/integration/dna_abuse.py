#!/usr/bin/python3
"""integ_dna_abuse: a hostile peer against fedrouter's domain checks (router/proof.c), with a
hostile DNS responder (blackdns.py, a child process on a free 127.0.0.1 UDP port, stopped by PID)
as the router's s2s.resolver. One router per case, workers = 1 (every connection shares the one
worker's DNS and POSH capacity, as the attacker wants). Regression tests for 8f02134.

  dnsjobs   An attacker opens 64 TLS streams (16 from each of 4 addresses) and sends 128
            db:results on each, every one naming a distinct domain under evil.test whose SRV
            lookups are never answered (8192 lookups > the worker's 4096 DNS jobs). Before
            8f02134 every db:result started its lookups at once, the job budget ran out and a
            legitimate db:result from another address failed at once ("the SRV lookup could not
            start", a temporary failure). Asserts: a legitimate db:result (no client certificate,
            a domain under legit.test that DNS says does not exist) sent during the flood gets
            its check started (no "could not start" for it; the router logs its verdict, "not
            proven, dialback decides") and the same answer as before the flood (dialback cannot
            reach the domain: remote-server-not-found); at most a few "could not start" lines in
            all; the router still answers /metrics and a probe after the attacker left.
  reload    victim.test's SRV answer (NXDOMAIN) takes 2 s. A stream presenting a CA-valid
            victim.test certificate sends a db:result for victim.test (default policy: PKIX
            proves it); while that check waits for DNS, the operator reloads a configuration
            that makes victim.test DANE-only with a proof required (the CA is not trusted for it
            any more). Before 8f02134 the in-flight check recorded its PKIX verdict after the
            reload flushed the table, and a fresh stream was offered SASL EXTERNAL and its
            db:result was answered valid from that stale verdict. Asserts: the reload completed
            while the check was in flight (set-up); the router logs "configuration reloaded
            during the check"; the in-flight db:result is not answered valid; a fresh stream with
            the same certificate is not offered EXTERNAL and its db:result is not answered valid.
  poshbusy  victim.test (and victimb.test) are POSH-only with a proof required; their POSH server
            is down (a closed port on 127.0.0.1, s2s.posh_private_addresses = true), which is a
            temporary failure. An attacker with a certificate opens 36 streams and sends 24
            db:results each for domains under slow.test (SRV "no service", A never answered:
            each POSH fetch waits until dna_timeout), more than the fetcher's 256 retrievals
            even at 8 running checks per stream. Before 8f02134 a busy fetcher meant "no POSH
            material": victim.test was refused (not-authorized) and the refusal was cached for a
            minute. Asserts: the baseline (victimb.test, no flood) is remote-server-timeout;
            under the flood victim.test's db:result is answered remote-server-timeout and the
            router logs the busy fetcher for it; after the flood (every attacker fetch timed
            out) victim.test is again remote-server-timeout, not a cached not-authorized; no
            refusal of victim.test is logged.
Exit 0 pass, 1 fail, 77 skip (no fedrouter binary).  deferred  A check queued behind 8 slow ones (SRV answers after 4 s) for victim.test starts only
            after a reload made victim.test DANE-only: it is decided under the new policy (not
            answered valid, no EXTERNAL on a fresh stream). Regression test for the review of
            8f02134 (the waiting check kept the policy it was queued under).
  recurse   4000 db:results from IP-literal senders (their checks end at once) queued behind 8 slow
            ones: the waiting checks start in a loop, not recursively (the recursion overflowed
            the stack), and at most 128 wait per connection.
"""

import os
import re
import signal
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402
from harness import check, S2S  # noqa: E402

BLACKDNS = os.path.join(HERE, "blackdns.py")
LEGIT_IP = "127.0.0.20"
DNA_TIMEOUT = 3  # s2s.dna_timeout of the poshbusy router: how long an attacker fetch holds a slot


class BlackDns(h.Proc):
    """blackdns.py as a child process (stopped by PID with the other processes of |env|)."""

    def __init__(self, env, name, rules):
        h.Proc.__init__(self, env, name)
        self.portfile = env.path(name + ".port")
        self._spawn([sys.executable, BLACKDNS, "--port-file", self.portfile] +
                    ["--rule=" + r for r in rules])
        env.procs.append(self)
        if not h.wait_until(lambda: os.path.exists(self.portfile) or not self.alive(), 10):
            raise h.Fail("blackdns did not start within 10 s")
        if not self.alive():
            self.dump()
            raise h.Fail("blackdns exited at start")
        with open(self.portfile) as f:
            self.port = int(f.read().strip())
        h.log("started %s pid %d on 127.0.0.1:%d (UDP)" % (name, self.pid, self.port))

    def exit_problems(self):
        return [] if self.returncode == 0 else ["%s exited with %s" % (self.name, self.returncode)]


def dbres(frm, to="a.test"):
    return "<db:result from='%s' to='%s'>%s</db:result>" % (frm, to, "ab" * 32)


def answer_of(e):
    """(type, [error conditions]) of a db:result answer."""
    err = e.find("error")
    return (e.get("type"), [x.name for x in err.findall()] if err is not None else [])


def new_router(env, name, dns, s2s, policies=()):
    ca = env.ca()
    cert = ca.issue("a-" + name, ["a.test"])
    p, cp, mp = env.free_port(), env.free_port(), env.free_port()
    s = {"auth_timeout": 60, "connect_timeout": 2}
    s.update(s2s)
    conf = h.router_conf(env, "127.0.0.1", p, cp, mp, [("a.test", "s-" + name)], [cert], ca.cert,
                         resolver="127.0.0.1:%d" % dns.port, workers=1, log_level="info", s2s=s)
    if policies:
        conf["policies"] = list(policies)
    return env.router(name, conf), conf


def stop_router(r):
    problems = r.stop()
    check(not problems, "%s stopped cleanly" % r.name, problems)


def log_lines(r, *needles):
    return [ln for ln in r.log_text().splitlines() if all(n in ln for n in needles)]


def verdict_lines(r, domain):
    return [ln for ln in r.log_text().splitlines()
            if re.search(r"domain %s: (proven|not proven|refused|temporary failure)" %
                         re.escape(domain), ln)]


# ---- dnsjobs ------------------------------------------------------------------------------------

def probe(r, ca, domain, vcert=None, frm=None, timeout=8.0):
    """A legitimate initiator from LEGIT_IP (client certificate |vcert|, header 'from' |frm|,
    default |domain|) sends one db:result for |domain|; returns the answer."""
    c = S2S(r.s2s_addr, bind_ip=LEGIT_IP)
    try:
        c.open(frm or domain, "a.test", timeout=timeout)
        c.starttls(ca.cert, vcert, "a.test", timeout=timeout)
        t0 = time.monotonic()
        c.send(dbres(domain))
        got = answer_of(c.next_elem(timeout, "db:result answer for %s" % domain))
        h.log("       %s answered %r in %.2f s" % (domain, got, time.monotonic() - t0))
        return got
    finally:
        c.close()


def case_dnsjobs(env):
    h.log("== dnsjobs: a flood of never-answered SRV lookups vs a legitimate db:result")
    ca = env.ca()
    dns = BlackDns(env, "blackdns-dnsjobs", ["evil.test=drop", "nx.test=nx", "legit.test=nx"])
    r, _ = new_router(env, "dnsjobs", dns, {})
    base = probe(r, ca, "p0.legit.test", frm="legit.test")
    check(h.wait_until(lambda: verdict_lines(r, "p0.legit.test"), 3),
          "dnsjobs: baseline: the router logs a verdict for p0.legit.test", r.log_text()[-800:])
    conns = []
    n = 0
    for ip in ["127.0.0.%d" % i for i in range(11, 15)]:
        for _ in range(16):
            c = S2S(r.s2s_addr, bind_ip=ip)
            c.open("x.nx.test", "a.test")
            c.starttls(ca.cert, None, "a.test")
            c.send("".join(dbres("d%d.evil.test" % (n + j)) for j in range(128)))
            n += 128
            conns.append(c)
    h.log("       attacker: %d db:results for never-answered domains on %d streams" %
          (n, len(conns)))
    try:
        dnsjobs_under_flood(r, ca, base)
    finally:
        for c in conns:
            c.close()
    after = probe(r, ca, "p2.legit.test", frm="legit.test")
    check(after == base, "dnsjobs: after the attacker left the answer is still %r" % (base,),
          after)
    stop_router(r)


def dnsjobs_under_flood(r, ca, base):
    time.sleep(0.5)
    under = probe(r, ca, "p1.legit.test", frm="legit.test")
    check(h.wait_until(lambda: verdict_lines(r, "p1.legit.test"), 3),
          "dnsjobs: under the flood the router logs a verdict for p1.legit.test",
          log_lines(r, "p1.legit.test"))
    h.log("       %s" % verdict_lines(r, "p1.legit.test")[0][:240])
    check(not log_lines(r, "p1.legit.test", "could not start"),
          "dnsjobs: the legitimate check started its lookups (no 'could not start')",
          log_lines(r, "p1.legit.test", "could not start"))
    check(under == base, "dnsjobs: the legitimate db:result gets the same answer as without the "
          "flood (%r)" % (base,), under)
    nstart = len(log_lines(r, "could not start"))
    check(nstart <= 4, "dnsjobs: at most a few lookups could not start (%d)" % nstart,
          log_lines(r, "could not start")[:3])
    m = r.scrape()
    check(m.get("fedrouter_domain_checks_total") >= 2,
          "dnsjobs: /metrics still answers (domain checks counted: %g)" %
          m.get("fedrouter_domain_checks_total"))


# ---- reload -------------------------------------------------------------------------------------

def case_reload(env):
    h.log("== reload: a check in flight across a reload that makes victim.test DANE-only")
    ca = env.ca()
    vcert = ca.issue("victim-reload", ["victim.test"])  # CA-valid (e.g. mis-issued)
    dns = BlackDns(env, "blackdns-reload", ["victim.test:SRV=nx@2.0", "nx.test=nx"])
    r, conf = new_router(env, "reload", dns, {})
    conf2 = dict(conf)
    conf2["policies"] = [{"domain": "victim.test", "prooftypes": ["dane"],
                          "dialback_without_proof": False, "on_failure": "refuse"}]
    c = S2S(r.s2s_addr, bind_ip=LEGIT_IP)
    c.open("x.nx.test", "a.test")
    c.starttls(ca.cert, vcert, "a.test")
    c.send(dbres("victim.test"))
    time.sleep(0.3)  # the check waits for victim.test's SRV answer (2 s)
    with open(r.conffile, "w") as f:
        f.write(h.conf_text(conf2))
    r.send_signal(signal.SIGHUP)
    check(h.wait_until(lambda: log_lines(r, "configuration reloaded:"), 5),
          "reload: the router reloaded its configuration", log_lines(r, "reload"))
    early = verdict_lines(r, "victim.test")
    if early:
        raise h.Fail("set-up: victim.test was decided before the reload (%r); the machine is "
                     "too slow for the 2 s DNS delay" % early)
    e = c.next_elem(8.0, "in-flight db:result answer")
    first = answer_of(e)
    h.log("       in-flight db:result for victim.test answered %r" % (first,))
    c.close()
    c2 = S2S(r.s2s_addr, bind_ip=LEGIT_IP)
    c2.open("victim.test", "a.test", timeout=8.0)
    c2.starttls(ca.cert, vcert, "a.test", timeout=8.0)
    mechs = c2.mechanisms()
    c2.send(dbres("victim.test"))
    second = answer_of(c2.next_elem(8.0, "post-reload db:result answer"))
    c2.close()
    check("EXTERNAL" not in mechs, "reload: a fresh victim.test stream is not offered SASL "
          "EXTERNAL (%r)" % (mechs,), mechs)
    check(second[0] != "valid", "reload: the fresh stream's db:result is not answered valid (%r)"
          % (second,), second)
    check(first[0] != "valid", "reload: the in-flight db:result is not answered valid (it was "
          "decided again under the new policy)", first)
    check(log_lines(r, "domain victim.test: configuration reloaded during the check"),
          "reload: the router logs 'configuration reloaded during the check' for victim.test",
          log_lines(r, "victim.test"))
    for ln in log_lines(r, "victim.test"):
        h.log("       LOG " + ln[:220])
    stop_router(r)


# ---- poshbusy -----------------------------------------------------------------------------------

def case_poshbusy(env):
    h.log("== poshbusy: a flood of POSH work vs a POSH-only, proof-required domain")
    ca = env.ca()
    vcert = ca.issue("victim-posh", ["mail.victim-hosting.test"])  # PKIX proves nothing
    acert = ca.issue("att-posh", ["att.test"])
    dns = BlackDns(env, "blackdns-posh", ["slow.test:A,AAAA=drop", "slow.test=nosrv",
                                          "nx.test=nx"])
    closed = env.free_port(("127.0.0.1",))  # nothing listens: the POSH server is down
    pol = [{"domain": d, "prooftypes": ["posh"], "dialback_without_proof": False,
            "on_failure": "refuse"} for d in ("victim.test", "victimb.test")]
    r, _ = new_router(env, "poshbusy", dns, {"posh_private_addresses": True, "posh_port": closed,
                                             "dna_timeout": DNA_TIMEOUT}, pol)
    tempfail = ("error", ["remote-server-timeout"])
    base = probe(r, ca, "victimb.test", vcert)
    check(base == tempfail, "poshbusy: baseline: POSH server down is remote-server-timeout", base)
    conns = []
    t_flood = time.monotonic()
    for k in range(36):
        c = S2S(r.s2s_addr, bind_ip="127.0.0.%d" % (11 + k // 12))
        c.open("x.nx.test", "a.test")
        c.starttls(ca.cert, acert, "a.test")
        c.send("".join(dbres("d%d-%d.slow.test" % (k, j)) for j in range(24)))
        conns.append(c)
    h.log("       attacker: 36 streams x 24 db:results for slow.test domains (opened in %.1f s)"
          % (time.monotonic() - t_flood))
    try:
        time.sleep(0.3)
        under = probe(r, ca, "victim.test", vcert)
    finally:
        for c in conns:
            c.close()
    busy = log_lines(r, "domain victim.test:", "POSH fetcher is busy")
    busy += log_lines(r, "domain victim.test:", "POSH fetcher is not available")
    check(busy, "poshbusy: the flood filled the POSH fetcher while victim.test was checked "
          "(set-up)", log_lines(r, "victim.test"))
    time.sleep(DNA_TIMEOUT + 1.5)  # every attacker fetch has timed out
    after = probe(r, ca, "victim.test", vcert)
    check(under == tempfail, "poshbusy: under the flood victim.test is a temporary failure "
          "(remote-server-timeout), not a refusal", under)
    check(after == tempfail, "poshbusy: after the flood victim.test is checked again "
          "(remote-server-timeout), not refused from a cached verdict", after)
    refused = [ln for ln in verdict_lines(r, "victim.test") if "victim.test: refused" in ln]
    check(not refused, "poshbusy: no refusal of victim.test was logged", refused)
    stop_router(r)


# ---- deferred -----------------------------------------------------------------------------------
# A check that waited for a slot (8 slow ones ahead of it) starts after a reload made its domain
# DANE-only: it must be decided under the new policy (regression: it kept the old one).

def case_deferred(env):
    h.log("== deferred: a check deferred behind 8 slow ones spans a reload")
    ca = env.ca()
    vcert = ca.issue("victim-def", ["victim.test"])
    dns = BlackDns(env, "blackdns-def", ["slow.test=nx@4.0", "victim.test=nx", "nx.test=nx"])
    r, conf = new_router(env, "deferred", dns, {"dna_timeout": 20})
    conf2 = dict(conf)
    conf2["policies"] = [{"domain": "victim.test", "prooftypes": ["dane"],
                          "dialback_without_proof": False, "on_failure": "refuse"}]
    c = S2S(r.s2s_addr, bind_ip=LEGIT_IP)
    c.open("x.nx.test", "a.test")
    c.starttls(ca.cert, vcert, "a.test")
    c.send("".join(dbres("d%d.slow.test" % j) for j in range(8)) + dbres("victim.test"))
    time.sleep(0.5)
    with open(r.conffile, "w") as f:
        f.write(h.conf_text(conf2))
    r.send_signal(signal.SIGHUP)
    check(h.wait_until(lambda: log_lines(r, "configuration reloaded:"), 5), "deferred: reloaded")
    got = {}
    t0 = time.monotonic()
    while time.monotonic() - t0 < 25 and "victim.test" not in got:
        e = c.next_elem(25.0, "answers")
        if e.name == "result":
            got[e.get("to")] = answer_of(e)
    h.log("       answers %r" % got)
    c.close()
    c2 = S2S(r.s2s_addr, bind_ip=LEGIT_IP)
    c2.open("victim.test", "a.test", timeout=8.0)
    c2.starttls(ca.cert, vcert, "a.test", timeout=8.0)
    mechs = c2.mechanisms()
    c2.close()
    for ln in log_lines(r, "victim.test"):
        h.log("       LOG " + ln[:260])
    h.log("       fresh stream mechanisms %r" % (mechs,))
    check("EXTERNAL" not in mechs, "deferred: a fresh victim.test stream is not offered EXTERNAL", mechs)
    check(got.get("victim.test", ("?",))[0] != "valid",
          "deferred: the check that waited across the reload is not answered valid", got)
    stop_router(r)


# ---- recurse ------------------------------------------------------------------------------------
# Thousands of db:results whose checks end at once (IP-literal senders), queued behind 8 slow ones:
# the waiting checks start in a loop, not by recursion (regression: stack overflow), and at most
# 128 wait per connection.

N = 4000


def case_recurse(env):
    h.log("== recurse: thousands of checks that end at once, queued behind 8 slow ones")
    ca = env.ca()
    acert = ca.issue("att", ["att.test"])
    dns = BlackDns(env, "blackdns-rec", ["slow.test:A,AAAA=drop", "slow.test=nosrv", "nx.test=nx"])
    r, conf = new_router(env, "recurse", dns, {"prooftypes": ["pkix", "posh"], "dna_timeout": 3,
                         "max_pending_pairs": 65536, "posh_private_addresses": True})
    c = S2S(r.s2s_addr, bind_ip=LEGIT_IP)
    c.open("x.nx.test", "a.test")
    c.starttls(ca.cert, acert, "a.test")
    c.send("".join(dbres("d%d.slow.test" % j) for j in range(8)))
    lits = "".join(dbres("10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255))
                   for i in range(1, N + 1))
    t0 = time.monotonic()
    c.send(lits)
    h.log("       sent %d ip-literal db:results in %.2fs" % (N, time.monotonic() - t0))
    time.sleep(6)
    alive = r.p.poll() is None
    h.log("       router alive after the slow checks ended: %r" % alive)
    n = len(log_lines(r, "domain 10."))
    h.log("       ip-literal verdict lines: %d" % n)
    h.log("       busy lines: %d" % len(log_lines(r, "10.", "POSH fetcher is busy")))
    txt = r.log_text()
    i = txt.find("AddressSanitizer")
    if i >= 0:
        h.log("       ASAN: " + txt[i:i + 300])
    check(alive, "recurse: the router survives (no stack overflow)", txt[-600:])
    check(n <= 140, "recurse: at most 128 checks wait per connection, the rest fail at once (%d)"
          % n)
    stop_router(r)


def scenario(env):
    cases = h.Cases()  # independent: each case has its own router and DNS responder
    cases.run("dnsjobs", case_dnsjobs, env)
    cases.run("reload", case_reload, env)
    cases.run("poshbusy", case_poshbusy, env)
    cases.run("deferred", case_deferred, env)
    cases.run("recurse", case_recurse, env)
    cases.finish()


h.run(scenario)
