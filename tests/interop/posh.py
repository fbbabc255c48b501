#!/usr/bin/python3
"""interop_posh (scenario 5): the tenant domain tposh.test delegated to fedrouter's host by a
POSH document (RFC 7711).

The lab serves https://tposh.test/.well-known/posh/xmpp-server.json from nginx (frio-web, test-CA
certificate for tposh.test) holding the SPKI SHA-256 fingerprint of fedrouter's tenant
certificate (which does not name tposh.test), and publishes _xmpp-server._tcp.tposh.test SRV ->
fr.test. This script checks that infrastructure (the document is fetched over verified HTTPS
through the test DNS and its fingerprint matches) and then skips (77): fedrouter does not
implement the POSH prooftype yet, and Prosody 0.12 only has it as a community module."""

import base64
import json
import os
import ssl
import sys
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
import netlab  # noqa: E402
import harness as h  # noqa: E402
from lab import check  # noqa: E402


def scenario(env):
    st = lab.state()
    if not st.get("web"):
        raise h.Skip("the lab's POSH web server (nginx) is not running")
    ctx = ssl.create_default_context(cafile=st["ca"])
    url = "https://tposh.test/.well-known/posh/xmpp-server.json"
    with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
        doc = json.loads(r.read().decode())
    fp = base64.b64encode(bytes.fromhex(netlab.spki_sha256(st["certs"]["fedrouter"][0]))).decode()
    check(any(f.get("sha-256") == fp for f in doc.get("fingerprints", [])),
          "POSH document for tposh.test fetched over verified HTTPS; it names fedrouter's key",
          doc)
    rc, an, ad = lab.dns_query_ad("_xmpp-server._tcp.tposh.test.", h.DNS_SRV)
    check(rc == 0 and an == 1 and ad, "tposh.test's SRV points at fr.test (validated)",
          (rc, an, ad))
    raise h.Skip("fedrouter does not implement the POSH prooftype (RFC 7711) yet; the HTTPS "
                 "and DNS infrastructure is in place and checked")


if __name__ == "__main__":
    lab.main(scenario)
