#!/usr/bin/python3
"""interop_dane (scenario 4): Prosody's pdane.test proven by DANE (TLSA under DNSSEC), its
certificate self-signed, not from the test CA.

The lab publishes _xmpp-server._tcp.pdane.test SRV -> dane.prosody.test:5269 and
_5269._tcp.dane.prosody.test TLSA 3 1 1 <SPKI SHA-256 of pdane.test's certificate>, signed by
knot and validated by unbound. This script checks that infrastructure (the TLSA answer is
DNSSEC-validated, the AD bit is set, the digest matches the certificate) and then skips (77):
fedrouter does not implement the DANE prooftype yet (README, Status and limits)."""

import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
import netlab  # noqa: E402
import harness as h  # noqa: E402
from lab import check  # noqa: E402

DNS_TLSA = 52


def scenario(env):
    st = lab.state()
    rc, an, ad = lab.dns_query_ad("_5269._tcp.dane.prosody.test.", DNS_TLSA)
    check(rc == 0 and an == 1 and ad, "TLSA for dane.prosody.test:5269 answered, DNSSEC-validated",
          (rc, an, ad))
    rc, an, ad = lab.dns_query_ad("_xmpp-server._tcp.pdane.test.", h.DNS_SRV)
    check(rc == 0 and an == 1 and ad, "pdane.test's SRV answered, DNSSEC-validated", (rc, an, ad))
    crt = st["certs"]["pdane.test"][0]
    zone = open(os.path.join(netlab.STATE, "knot", "test.zone")).read()
    check(netlab.spki_sha256(crt) in zone, "the TLSA record carries the certificate's SPKI digest")
    p = subprocess.run(["openssl", "verify", "-CAfile", st["ca"], crt], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    check(p.returncode != 0, "pdane.test's certificate does not chain to the test CA")
    raise h.Skip("fedrouter does not implement the DANE prooftype (RFC 7673/7712) yet; "
                 "the DNSSEC/TLSA infrastructure is in place and checked")


if __name__ == "__main__":
    lab.main(scenario)
