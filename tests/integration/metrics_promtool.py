#!/usr/bin/python3
"""integ_metrics_promtool: a live /metrics scrape passes `promtool check metrics`.

Routers A and B federate (certificates, one stream each way) and exchange stanzas both ways;
then each router's /metrics is scraped and checked:
  - promtool (Debian package `prometheus`) parses it and reports no lint problem (Prometheus
    naming and type conventions: counters end in _total, HELP on every family, units...);
  - our own checks: the Content-Type is the text format 0.0.4; each family has exactly one HELP
    and one TYPE line, before its samples, and its samples are contiguous; no series appears
    twice; the traffic shows (stanzas routed, s2s auth) and build_info is 1; the histograms
    (stanza routing time, pair set-up time) have observations, non-decreasing buckets and a
    +Inf bucket equal to their _count.
Then the operational series (README "Metrics") are checked for presence and movement:
  - tcp_connects_total by family: all loopback IPv4, so family="ipv4" carries every connection;
  - tls_sessions_total: one per completed handshake (equal to tls_handshakes_total per
    direction), with protocol="TLSv1.3" and a listed cipher (not "other");
  - s2s_auth_total mechanisms come from {external, dialback, dialback_optimized};
  - stream_errors_total: garbage sent to B's s2s port counts {sent, not-well-formed}; a
    <stream:error><host-unknown/> sent to B counts {received, host-unknown}; the sent series
    sum to stream_errors_sent_total;
  - worker_busy_seconds_total > 0 for each of the 2 workers, workers == 2;
  - verdict_table_entries > 0 after the certificate checks, evictions 0;
  - start_time_seconds within the test's run time;
  - local_certificate_expiry_seconds{certificate="<file>"} within a minute of the test
    certificate's notAfter (openssl x509 -enddate);
  - queued_stanzas, queued_bytes and output_buffered_bytes are 0 when idle; a stanza for a domain
    routed to a silent peer (accepts, never answers) makes queued_stanzas 1 and queued_bytes > 0;
  - after A's certificate is re-signed for one day and A reloads (SIGHUP), the expiry series
    follows the new certificate.
First, promtool must reject a known-bad exposition (a counter without _total), so that a
promtool that checks nothing cannot make this test pass. Skips (77) when promtool is missing."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check, log  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+\S+$')


def promtool(promtool_bin, text):
    r = subprocess.run([promtool_bin, "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    return r.returncode, r.stdout.decode(errors="replace").strip()


def scrape(router):
    with urllib.request.urlopen("http://%s/metrics" % router.metrics_addr, timeout=3) as r:
        return r.headers.get("Content-Type", ""), r.read().decode()


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) in ("histogram", "summary"):
            return base
    return name


def own_checks(who, ctype, text):
    check(ctype.startswith("text/plain") and "version=0.0.4" in ctype,
          "%s: Content-Type is the text format 0.0.4" % who, ctype)
    helps, types, seen_series, done = {}, {}, set(), set()
    current = None
    problems = []
    for ln in text.splitlines():
        if not ln:
            continue
        if ln.startswith("# HELP ") or ln.startswith("# TYPE "):
            kind, name = ln[2:6], ln.split(" ")[2]
            d = helps if kind == "HELP" else types
            if name in d:
                problems.append("second %s line for %s" % (kind, name))
            d[name] = ln.split(" ", 3)[3] if ln.count(" ") >= 3 else ""
            if current != name and current is not None:
                done.add(current)
            current = name
            continue
        if ln.startswith("#"):
            continue
        m = SAMPLE.match(ln)
        if not m:
            problems.append("unparsable line %r" % ln)
            continue
        fam = family_of(m.group(1), types)
        if fam not in helps or fam not in types:
            problems.append("sample %r before its HELP/TYPE" % ln)
        if fam in done:
            problems.append("family %s not contiguous (%r)" % (fam, ln))
        if fam != current and current is not None:
            done.add(current)
        current = fam
        key = (m.group(1), m.group(2) or "")
        if key in seen_series:
            problems.append("series twice: %s%s" % key)
        seen_series.add(key)
    check(not problems, "%s: HELP/TYPE once per family, families contiguous, no duplicate series"
          % who, problems)
    check(all(helps.values()), "%s: every HELP text is non-empty" % who,
          [n for n, t in helps.items() if not t])
    m = h.Metrics(text)
    check(m.get("fedrouter_build_info") == 1, "%s: fedrouter_build_info is 1" % who)
    check(m.get("fedrouter_stanzas_routed_total") >= 3,
          "%s: the traffic shows (stanzas routed %g)" % (who, m.get("fedrouter_stanzas_routed_total")))
    check(m.get("fedrouter_s2s_auth_total") >= 1,
          "%s: the authentication shows (s2s auth %g)" % (who, m.get("fedrouter_s2s_auth_total")))
    for fam in ("fedrouter_stanza_routing_seconds", "fedrouter_pair_setup_seconds"):
        check(types.get(fam) == "histogram", "%s: %s is a histogram" % (who, fam), types.get(fam))
        count = m.get(fam + "_count")
        check(count > 0, "%s: %s has observations (_count %g)" % (who, fam, count))
        buckets = [(float(ls["le"]), v) for n, ls, v in m.series if n == fam + "_bucket"]
        check(len(buckets) >= 2 and buckets == sorted(buckets) and
              [v for _, v in buckets] == sorted(v for _, v in buckets),
              "%s: %s buckets are ordered by le and cumulative" % (who, fam), buckets)
        check(buckets and buckets[-1][0] == float("inf") and buckets[-1][1] == count,
              "%s: %s +Inf bucket equals _count" % (who, fam), (buckets[-1:], count))
        check(0 <= m.get(fam + "_sum") < 60 * count, "%s: %s _sum is plausible" % (who, fam),
              m.get(fam + "_sum"))


def cert_not_after(path):
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", path],
                         stdout=subprocess.PIPE, check=True, timeout=10).stdout.decode().strip()
    when = datetime.strptime(out.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
    return when.replace(tzinfo=timezone.utc).timestamp()


def wait_gauges(router, names, want, timeout=5.0):
    """Scrapes |router| until every gauge in |names| satisfies |want| (sampled every 0.5 s)."""
    deadline = time.time() + timeout
    while True:
        m = router.scrape()
        vals = {n: m.get(n) for n in names}
        if all(want(v) for v in vals.values()) or time.time() > deadline:
            return vals
        time.sleep(0.2)


def operational_checks(who, site, m, t0):
    tcp = m.get("fedrouter_tcp_connects_total")
    check(tcp >= 1 and m.get("fedrouter_tcp_connects_total", family="ipv4") == tcp and
          m.get("fedrouter_tcp_connects_total", family="ipv6") == 0,
          "%s: tcp_connects_total: all %g on family=ipv4 (loopback IPv4)" % (who, tcp),
          [x for x in m.series if x[0] == "fedrouter_tcp_connects_total"])
    for d in ("in", "out"):
        hs = m.get("fedrouter_tls_handshakes_total", direction=d)
        check(m.get("fedrouter_tls_sessions_total", direction=d) == hs,
              "%s: tls_sessions_total{%s} == tls_handshakes_total{%s} (%g)" % (who, d, d, hs))
    listed = sum(v for n, ls, v in m.series if n == "fedrouter_tls_sessions_total" and
                 ls.get("protocol") == "TLSv1.3" and ls.get("cipher") != "other")
    check(listed >= 1 and listed == m.get("fedrouter_tls_sessions_total"),
          "%s: every TLS session is TLSv1.3 with a listed cipher (%g)" % (who, listed),
          [x for x in m.series if x[0] == "fedrouter_tls_sessions_total" and x[2] > 0])
    mechs = {ls.get("mechanism") for n, ls, _ in m.series if n == "fedrouter_s2s_auth_total"}
    check(mechs == {"external", "dialback", "dialback_optimized"},
          "%s: s2s_auth_total mechanisms are external, dialback, dialback_optimized" % who, mechs)
    busy = [(ls.get("worker"), v) for n, ls, v in m.series
            if n == "fedrouter_worker_busy_seconds_total"]
    check(m.get("fedrouter_workers") == 2 and [w for w, _ in busy] == ["0", "1"] and
          all(0 < v < 120 for _, v in busy),
          "%s: workers == 2, worker_busy_seconds_total > 0 for worker 0 and 1" % who, busy)
    check(m.get("fedrouter_verdict_table_entries") >= 1 and
          m.get("fedrouter_verdict_table_evictions_total") == 0,
          "%s: verdict_table_entries > 0 (%g), no eviction" %
          (who, m.get("fedrouter_verdict_table_entries")))
    st = m.get("fedrouter_start_time_seconds")
    check(t0 - 2 <= st <= time.time(), "%s: start_time_seconds %g within the test run" % (who, st))
    base = os.path.basename(site.cert.cert)
    exp = [v for n, ls, v in m.series if n == "fedrouter_local_certificate_expiry_seconds" and
           ls.get("certificate") == base]
    want = cert_not_after(site.cert.cert) - time.time()
    check(len(exp) == 1 and abs(exp[0] - want) < 60 and exp[0] > 3600,
          "%s: local_certificate_expiry_seconds{certificate=%r} %s ~ notAfter - now (%d)" %
          (who, base, exp, want))


def scenario(env):
    tool = shutil.which("promtool") or ("/usr/bin/promtool" if os.access("/usr/bin/promtool", os.X_OK)
                                        else None)
    if tool is None:
        raise h.Skip("promtool not installed (Debian package prometheus)")
    rc, out = promtool(tool, "# HELP bad_requests Requests.\n# TYPE bad_requests counter\n"
                             "bad_requests 1\n")
    check(rc != 0 and "_total" in out, "promtool rejects a counter without _total", (rc, out))

    t0 = time.time()
    # silent.test is routed to a listener that accepts and never answers: a stanza for it waits.
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    silent_port = env.free_port(("127.0.0.1",))
    silent.bind(("127.0.0.1", silent_port))
    silent.listen(16)
    a, b = h.make_pair(env, extra_routes_a=[("silent.test", "127.0.0.1", silent_port)])
    h.exchange(a, b, 5)
    h.exchange(b, a, 5)
    # A bounce, so that a labelled counter family is non-zero too.
    a.comp.message("alice@a.test", "bob@nowhere.invalid", "lost", id="bounce-1")
    check(a.comp.wait_for(h.by_id("bounce-1"), 15) is not None, "A bounced a stanza for nowhere")

    # Stream errors on B: garbage (we get not-well-formed), then one we send (host-unknown).
    g = h.S2S(b.router.s2s_addr)
    g.send("<<<not xml at all>>>")
    h.check_stream_error("garbage to B", g.expect_stream_error(), "not-well-formed")
    e = h.S2S(b.router.s2s_addr)
    e.open("x.test", "b.test")
    e.send("<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
           "</stream:error></stream:stream>")
    idle = ("fedrouter_queued_stanzas", "fedrouter_queued_bytes", "fedrouter_output_buffered_bytes")
    for site in (a, b):
        wait_gauges(site.router, idle, lambda v: v == 0)
        wait_gauges(site.router, ("fedrouter_verdict_table_entries",), lambda v: v >= 1)
    mb = b.router.scrape()
    check(mb.get("fedrouter_stream_errors_total", direction="sent", condition="not-well-formed") >= 1,
          "B: stream_errors_total{sent,not-well-formed} counts the garbage",
          [x for x in mb.series if x[0] == "fedrouter_stream_errors_total" and x[2] > 0])
    check(mb.get("fedrouter_stream_errors_total", direction="received", condition="host-unknown")
          == 1, "B: stream_errors_total{received,host-unknown} == 1",
          [x for x in mb.series if x[0] == "fedrouter_stream_errors_total" and x[2] > 0])
    check(mb.get("fedrouter_stream_errors_total", direction="sent") ==
          mb.get("fedrouter_stream_errors_sent_total"),
          "B: stream_errors_total{sent} sums to stream_errors_sent_total",
          mb.get("fedrouter_stream_errors_sent_total"))

    for who, site in (("A", a), ("B", b)):
        ctype, text = scrape(site.router)
        rc, out = promtool(tool, text)
        if rc != 0:
            log(text)
        check(rc == 0, "%s: promtool check metrics passes on a live scrape (%d lines)" %
              (who, len(text.splitlines())), out)
        own_checks(who, ctype, text)
        m = h.Metrics(text)
        check(all(m.has(n) and m.get(n) == 0 for n in idle),
              "%s: queued_stanzas, queued_bytes, output_buffered_bytes are 0 when idle" % who,
              [(n, m.get(n)) for n in idle])
        operational_checks(who, site, m, t0)

    # A stanza for silent.test waits in A's queue (the peer never answers its stream header).
    a.comp.message("alice@a.test", "carol@silent.test", "waiting", id="silent-1")
    q = wait_gauges(a.router, idle[:2], lambda v: v > 0)
    check(q["fedrouter_queued_stanzas"] == 1 and 100 < q["fedrouter_queued_bytes"] < 4096,
          "A: queued_stanzas == 1 and queued_bytes > 0 while silent.test does not answer", q)
    silent.close()

    # A reload publishes the reloaded certificate's expiry: A's certificate re-signed for one day.
    ca = env.ca()
    subprocess.run(["openssl", "x509", "-req", "-in", env.path("a.test.csr"), "-CA", ca.cert,
                    "-CAkey", ca.key, "-set_serial", "77", "-days", "1", "-sha256", "-extfile",
                    env.path("a.test.ext"), "-out", a.cert.cert], check=True, timeout=30,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a.router.send_signal(signal.SIGHUP)
    base = os.path.basename(a.cert.cert)
    want = cert_not_after(a.cert.cert) - time.time()
    deadline = time.time() + 10
    while True:
        m = a.router.scrape()
        exp = [v for n, ls, v in m.series if n == "fedrouter_local_certificate_expiry_seconds" and
               ls.get("certificate") == base]
        if (exp and abs(exp[0] - want) < 60) or time.time() > deadline:
            break
        time.sleep(0.2)
    check(m.get("fedrouter_config_reloads_total", result="ok") == 1 and len(exp) == 1 and
          abs(exp[0] - want) < 60 and exp[0] < 86400 + 60,
          "A: after a reload, local_certificate_expiry_seconds follows the new certificate (%d)" %
          want, (exp, m.get("fedrouter_config_reloads_total", result="ok")))


if __name__ == "__main__":
    h.run(scenario)
