#!/usr/bin/python3
"""integ_s2s_dialback: router A cannot prove a.test with its certificate, so B cannot accept SASL
EXTERNAL from A and A must use Server Dialback; B verifies A's key by connecting back to a.test's
authoritative server (A itself, through B's static route), where the dialback key, not the
certificate, is what counts. B's certificate is good, so b.test -> a.test uses EXTERNAL.
Two variants, each with fresh routers:
  1. A's certificate (from the shared CA) names other.test, not a.test;
  2. A's certificate names a.test but comes from a second CA that B does not trust (A trusts both).
Asserts messages both ways, and in the metrics: A out/B in by dialback, no inbound EXTERNAL on B,
A answered db:verify, B -> A by EXTERNAL. (A serverAuth-only EKU would not do: fedrouter accepts
a serverAuth-only certificate as a client certificate on purpose, see router/tls.c.)"""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

AUTH = "fedrouter_s2s_auth_total"


def run_variant(env, label, a, b):
    h.log("variant: %s" % label)
    h.exchange(a, b, 3, prefix=label)
    h.exchange(b, a, 3, prefix=label)
    ma, mb = a.router.scrape(), b.router.scrape()
    check(ma.get(AUTH, direction="out", mechanism="dialback") >= 1,
          "%s: A authenticated a.test -> b.test by dialback" % label, ma.get(AUTH, direction="out"))
    check(mb.get(AUTH, direction="in", mechanism="dialback") >= 1,
          "%s: B accepted inbound a.test by dialback" % label, mb.get(AUTH, direction="in"))
    check(mb.get(AUTH, direction="in", mechanism="external") == 0,
          "%s: B accepted no EXTERNAL for A's certificate" % label,
          mb.get(AUTH, direction="in", mechanism="external"))
    check(ma.get("fedrouter_dialback_verify_answered_total") >= 1,
          "%s: A answered db:verify as authoritative server" % label,
          ma.get("fedrouter_dialback_verify_answered_total"))
    check(mb.get(AUTH, direction="out", mechanism="external") >= 1 and
          ma.get(AUTH, direction="in", mechanism="external") >= 1,
          "%s: b.test -> a.test used EXTERNAL" % label)
    check(ma.get("fedrouter_bounces_total") == 0 and mb.get("fedrouter_bounces_total") == 0,
          "%s: no bounces" % label)
    # later stanzas ride the verified pair: no new dialback round
    h.exchange(a, b, 5, prefix=label + "-again")
    check(a.router.scrape().get(AUTH, direction="out", mechanism="dialback") ==
          ma.get(AUTH, direction="out", mechanism="dialback"),
          "%s: no new dialback round for later stanzas" % label)


def stop_pair(a, b):
    for s in (a, b):
        s.comp.close()
        problems = s.router.stop()
        check(not problems, "%s stopped cleanly" % s.name, problems)


def scenario(env):
    ca = env.ca()
    # 1. certificate naming another domain
    wrong = ca.issue("a-wrongname", ["other.test"])
    wrong.conf_domains = ["a.test"]
    a, b = h.make_pair(env, a_cert=wrong)
    run_variant(env, "wrong-name", a, b)
    stop_pair(a, b)

    # 2. certificate from a CA that B does not trust
    ca2 = h.CA(env, "ca2")
    foreign = ca2.issue("a-foreignca", ["a.test"])
    both = h.concat_pem(env, "ca-both.pem", ca.cert, ca2.cert)
    a, b = h.make_pair(env, a_cert=foreign, a_ca_file=both, b_ca_file=ca.cert, tag="-2")
    run_variant(env, "untrusted-ca", a, b)


if __name__ == "__main__":
    h.run(scenario)
