#!/usr/bin/python3
"""integ_s2s_dialback: router A's certificate names a.test but carries only the serverAuth EKU.
As a TLS client certificate it is not acceptable, so B cannot authenticate A with SASL EXTERNAL
and A must use Server Dialback; B verifies the key by connecting back to a.test's authoritative
server (A), whose server certificate IS valid. B's certificate has both EKUs, so B -> A uses
EXTERNAL. Asserts messages arrive both ways and the metrics name the mechanisms."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def scenario(env):
    a, b = h.make_pair(env, a_eku="serverAuth")
    check(not env.ca().verify(a.cert, "sslclient") and env.ca().verify(a.cert, "sslserver"),
          "A's certificate is valid as server, not as client (openssl verify)")
    h.exchange(a, b, 3)
    h.exchange(b, a, 3)

    ma, mb = a.router.scrape(), b.router.scrape()
    A = "fedrouter_s2s_auth_total"
    check(ma.get(A, direction="out", mechanism="dialback") >= 1,
          "A: a.test -> b.test authenticated by dialback (out)", ma.get(A, direction="out"))
    check(mb.get(A, direction="in", mechanism="dialback") >= 1,
          "B: inbound a.test authenticated by dialback", mb.get(A, direction="in"))
    check(mb.get(A, direction="in", mechanism="external") == 0,
          "B: did not accept EXTERNAL for a serverAuth-only client certificate",
          mb.get(A, direction="in", mechanism="external"))
    check(ma.get("fedrouter_dialback_verify_answered_total") >= 1,
          "A answered db:verify as authoritative server",
          ma.get("fedrouter_dialback_verify_answered_total"))
    check(mb.get(A, direction="out", mechanism="external") >= 1 and
          ma.get(A, direction="in", mechanism="external") >= 1,
          "b.test -> a.test used EXTERNAL (B's certificate has clientAuth)")
    check(ma.get("fedrouter_bounces_total") == 0 and mb.get("fedrouter_bounces_total") == 0,
          "no bounces")

    # A second burst on the established dialback pair: no new authentication needed.
    h.exchange(a, b, 5, prefix="again")
    ma2 = a.router.scrape()
    check(ma2.get(A, direction="out", mechanism="dialback") ==
          ma.get(A, direction="out", mechanism="dialback"),
          "A: no new dialback round for later stanzas on the verified pair")


if __name__ == "__main__":
    h.run(scenario)
