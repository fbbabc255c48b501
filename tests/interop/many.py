#!/usr/bin/python3
"""interop_many (scenario 3): virtual hosting. fedrouter hosts 20 tenant domains t1..t20.test
whose SRV records all point at fr.test (one certificate names them all); Prosody hosts p1..p4.test.
Every pair exchanges messages both ways (80 pairs, 160 messages).

Prosody's <dialback/> feature carries no <errors/> (a dialback error kills its whole stream), so
fedrouter must not multiplex targets toward it: one stream per Prosody domain, and the other 19
tenants of each stream are piggybacked onto it as new senders (db:result, verified by Prosody
with db:verify against fedrouter). Asserted from /metrics: exactly 4 outbound connections, 4
pooled streams, 76 piggybacked pairs, 80 valid outbound pairs, no bounces; and from Prosody's
log: no host-unknown, every fedrouter stream to one Prosody domain only."""

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
from lab import check, log  # noqa: E402

PROS = lab.PROSODY_DOMAINS
TEN = lab.TENANTS


def scenario(env):
    st = lab.state()
    crt, key = st["certs"]["fedrouter"]
    # Prosody carries each db:verify over its own outbound session for that pair (one TCP
    # connection per pair), so piggybacking 76 pairs makes it open ~76 connections to fedrouter
    # at once, all unauthenticated until their SASL EXTERNAL completes. With the default limits
    # (max_unauth_per_ip 16, 8 times that for peers whose certificate chains to the trust store)
    # they all get through.
    router, sites = lab.start_router(env, TEN, [(crt, key, TEN)])
    pros = lab.Prosody(env, PROS, secure_auth=True)
    env.procs.append(pros)
    pros.start()
    jids = ["u@" + p for p in PROS]
    xc = lab.XClient(env, jids)
    env.procs.append(xc)
    xc.start()

    # First contact per Prosody domain from t1.test: one stream each, authenticated by EXTERNAL.
    t = lab.comp_to_client(xc, sites, [("t1.test", j) for j in jids], "3-first")
    log("first contact to %d Prosody domains: %.2f s" % (len(jids), t))
    # Then every other tenant -> every Prosody domain: new senders on the existing streams.
    pairs = [(d, j) for d in TEN[1:] for j in jids]
    t = lab.comp_to_client(xc, sites, pairs, "3-fanout", timeout=60)
    log("%d piggybacked pairs t->p delivered in %.2f s" % (len(pairs), t))
    # And back: every Prosody domain -> every tenant.
    back = [(j, d) for j in jids for d in TEN]
    t = lab.client_to_comp(xc, sites, back, "3-back", timeout=60)
    log("%d pairs p->t delivered in %.2f s" % (len(back), t))
    # A second round both ways over the established links.
    t0 = time.monotonic()
    lab.comp_to_client(xc, sites, [(d, j) for d in TEN for j in jids], "3-again", timeout=30)
    lab.client_to_comp(xc, sites, back, "3-again-back", timeout=30)
    log("second round (160 messages) in %.2f s" % (time.monotonic() - t0))

    m = router.scrape()
    A = "fedrouter_s2s_auth_total"
    figures = {
        "tcp connects out": m.get("fedrouter_tcp_connects_total", direction="out"),
        "tcp connects in": m.get("fedrouter_tcp_connects_total", direction="in"),
        "pooled streams": m.get("fedrouter_pool_streams"),
        "pool peers": m.get("fedrouter_pool_peers"),
        "pairs out valid": m.get("fedrouter_pairs", direction="out", state="valid"),
        "pairs in valid": m.get("fedrouter_pairs", direction="in", state="valid"),
        "piggybacked out": m.get("fedrouter_pairs_piggybacked_total", direction="out"),
        "auth out external": m.get(A, direction="out", mechanism="external"),
        "auth out dialback": m.get(A, direction="out", mechanism="dialback"),
        "auth in external": m.get(A, direction="in", mechanism="external"),
        "auth in dialback": m.get(A, direction="in", mechanism="dialback"),
        "db:verify answered": m.get("fedrouter_dialback_verify_answered_total"),
        "verification connections": m.get("fedrouter_verification_connections_total"),
        "handshakes avoided": m.get("fedrouter_handshakes_avoided_total"),
        "unauth refused": m.get("fedrouter_unauth_connections_refused_total"),
        "bounces": m.get("fedrouter_bounces_total"),
    }
    log("fedrouter metrics: " + ", ".join("%s=%g" % kv for kv in figures.items()))
    check(figures["tcp connects out"] == len(PROS),
          "fedrouter opened exactly one outbound connection per Prosody domain (4)",
          figures["tcp connects out"])
    check(figures["pooled streams"] == len(PROS), "4 pooled outbound streams",
          figures["pooled streams"])
    check(figures["piggybacked out"] == len(PROS) * (len(TEN) - 1),
          "76 pairs piggybacked as new senders on those streams", figures["piggybacked out"])
    check(figures["pairs out valid"] == len(PROS) * len(TEN), "80 outbound pairs valid",
          figures["pairs out valid"])
    check(figures["auth out external"] == len(PROS),
          "each stream's first pair authenticated by SASL EXTERNAL",
          figures["auth out external"])
    check(figures["bounces"] == 0, "no bounces")

    sess = lab.summarize(pros, "many domains")
    text = pros.log_text()
    check("host-unknown" not in text, "Prosody never saw or sent host-unknown")
    ins = [s for s in sess if s["kind"] == "s2sin" and s["authed_for"] & set(TEN)]
    check(len(ins) == len(PROS), "Prosody accepted exactly 4 inbound streams from fedrouter",
          [(s["id"], sorted(s["hosts"])) for s in ins])
    check(all(len(s["hosts"]) == 1 for s in ins),
          "each of them targets one Prosody domain", [sorted(s["hosts"]) for s in ins])
    check(all(s["authed_for"] == set(TEN) for s in ins),
          "Prosody authenticated all 20 tenants as senders on each (19 piggybacked by dialback)",
          [(s["id"], len(s["authed_for"])) for s in ins])
    check(all("dialback" in s["auth"] and "external" in s["auth"] for s in ins),
          "first sender by SASL EXTERNAL, the others by dialback", [s["auth"] for s in ins])
    outs = [s for s in sess if s["kind"] == "s2sout" and s["authenticated"]]
    log("Prosody outbound sessions to fedrouter: %d (one per pair; they carried the db:verify "
        "requests and the p->t messages)" % len(outs))


if __name__ == "__main__":
    lab.main(scenario)
