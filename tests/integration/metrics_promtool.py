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
First, promtool must reject a known-bad exposition (a counter without _total), so that a
promtool that checks nothing cannot make this test pass. Skips (77) when promtool is missing."""

import os
import re
import shutil
import subprocess
import sys
import urllib.request

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


def scenario(env):
    tool = shutil.which("promtool") or ("/usr/bin/promtool" if os.access("/usr/bin/promtool", os.X_OK)
                                        else None)
    if tool is None:
        raise h.Skip("promtool not installed (Debian package prometheus)")
    rc, out = promtool(tool, "# HELP bad_requests Requests.\n# TYPE bad_requests counter\n"
                             "bad_requests 1\n")
    check(rc != 0 and "_total" in out, "promtool rejects a counter without _total", (rc, out))

    a, b = h.make_pair(env)
    h.exchange(a, b, 5)
    h.exchange(b, a, 5)
    # A bounce, so that a labelled counter family is non-zero too.
    a.comp.message("alice@a.test", "bob@nowhere.invalid", "lost", id="bounce-1")
    check(a.comp.wait_for(h.by_id("bounce-1"), 15) is not None, "A bounced a stanza for nowhere")

    for who, site in (("A", a), ("B", b)):
        ctype, text = scrape(site.router)
        rc, out = promtool(tool, text)
        if rc != 0:
            log(text)
        check(rc == 0, "%s: promtool check metrics passes on a live scrape (%d lines)" %
              (who, len(text.splitlines())), out)
        own_checks(who, ctype, text)


if __name__ == "__main__":
    h.run(scenario)
