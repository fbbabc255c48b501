#!/usr/bin/python3
"""interop_dialback (scenario 2): one side's certificate does not cover its domain, so that side
is proven by dialback (XEP-0220, keys per XEP-0185) through the test DNS; s2s_secure_auth = false
on Prosody.

  a. fedrouter's fdb.test is served with a certificate naming nowhere.test: fdb.test writes to
     u@p1.test first (fedrouter initiates; Prosody offers no EXTERNAL, fedrouter must use
     dialback and answer Prosody's db:verify), then the client answers;
  b. Prosody's pdb.test presents a certificate naming elsewhere.test: u@pdb.test writes to
     bob@t3.test first (Prosody initiates with dialback; fedrouter verifies the key with
     Prosody, the authoritative server found by SRV), then the component answers.

Asserts delivery both ways in both parts, dialback counted by fedrouter in both directions, and
in Prosody's log: no EXTERNAL offered to fdb.test, a dialback exchange on the streams for the
badly certified domains, and the db:verify round trip."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check, log  # noqa: E402


def scenario(env):
    st = lab.state()
    good_crt, good_key = st["certs"]["fedrouter"]
    bad_crt, bad_key = st["certs"]["fdb.test"]
    router, sites = lab.start_router(env, ["fdb.test", "t3.test"],
                                     [(bad_crt, bad_key, ["fdb.test"]),
                                      (good_crt, good_key, ["t3.test"])])
    pros = lab.Prosody(env, ["p1.test", "pdb.test"], secure_auth=False)
    env.procs.append(pros)
    pros.start()
    xc = lab.XClient(env, ["u@p1.test", "u@pdb.test"])
    env.procs.append(xc)
    xc.start()

    log("a. fedrouter's certificate does not cover fdb.test; fedrouter initiates")
    lab.comp_to_client(xc, sites, [("fdb.test", "u@p1.test")], "2a-out", timeout=25)
    lab.client_to_comp(xc, sites, [("u@p1.test", "fdb.test")], "2a-back")

    log("b. Prosody's certificate does not cover pdb.test; Prosody initiates")
    lab.client_to_comp(xc, sites, [("u@pdb.test", "t3.test")], "2b-in", timeout=25)
    lab.comp_to_client(xc, sites, [("t3.test", "u@pdb.test")], "2b-back")
    lab.client_to_comp(xc, sites, [("u@pdb.test", "t3.test")] * 3, "2b-more")

    m = router.scrape()
    A = "fedrouter_s2s_auth_total"
    log("fedrouter: auth in/external=%g in/dialback=%g out/external=%g out/dialback=%g "
        "db:verify answered=%g verification connections=%g bounces=%g" % (
            m.get(A, direction="in", mechanism="external"),
            m.get(A, direction="in", mechanism="dialback"),
            m.get(A, direction="out", mechanism="external"),
            m.get(A, direction="out", mechanism="dialback"),
            m.get("fedrouter_dialback_verify_answered_total"),
            m.get("fedrouter_verification_connections_total"),
            m.get("fedrouter_bounces_total")))
    check(m.get(A, direction="out", mechanism="dialback") >= 1,
          "fedrouter authenticated fdb.test->p1.test by dialback (outbound)",
          m.get(A, direction="out"))
    check(m.get(A, direction="in", mechanism="dialback") >= 1,
          "fedrouter accepted pdb.test->t3.test by dialback (inbound)", m.get(A, direction="in"))
    check(m.get("fedrouter_dialback_verify_answered_total") >= 1,
          "fedrouter answered Prosody's db:verify for fdb.test as authoritative server")
    check(m.get("fedrouter_bounces_total") == 0, "no bounces")

    sess = lab.summarize(pros, "dialback")
    text = pros.log_text()
    fdb_in = [s for s in sess if s["kind"] == "s2sin" and "fdb.test->p1.test" in s["hosts"]]
    check(fdb_in and all("dialback" in s["auth"] for s in fdb_in),
          "Prosody authenticated fdb.test by dialback", [(s["id"], s["auth"]) for s in fdb_in])
    check(all("mech:EXTERNAL" not in f for s in fdb_in for d, f in s["features"] if d == "sent"),
          "Prosody did not offer EXTERNAL to fdb.test (certificate does not name it)")
    pdb_out = [s for s in sess if s["kind"] == "s2sout" and "pdb.test->t3.test" in s["hosts"]]
    check(pdb_out and all("dialback" in s["auth"] for s in pdb_out),
          "Prosody's pdb.test->t3.test stream used dialback",
          [(s["id"], s["auth"]) for s in pdb_out])
    check("<db:verify" in text, "Prosody's log shows the db:verify exchange")


if __name__ == "__main__":
    lab.main(scenario)
