#!/usr/bin/python3
"""integ_s2s_many: 200 messages each way between the components of A and B, sent concurrently in
both directions without waiting: all arrive, in order, with bodies intact (sizes 1 B .. 4 KiB)."""

import os
import sys
import threading

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402

N = 200


def body(i):
    return ("x%d:" % i) + ("é<&>" * (i * 7 % 1024))


def send_all(src, dst, tag):
    for i in range(N):
        src.comp.message("u%d@%s" % (i % 3, src.domain), "bob@%s/r" % dst.domain, body(i),
                         id="%s-%d" % (tag, i))


def verify(src, dst, tag):
    got = dst.comp.wait_count(lambda e: (e.get("id") or "").startswith(tag + "-"), N, 30)
    check(len(got) == N, "%d messages %s -> %s arrived" % (N, src.domain, dst.domain),
          "got %d" % len(got))
    ids = [int(e.get("id").rsplit("-", 1)[1]) for e in got]
    check(ids == list(range(N)), "%s -> %s in order" % (src.domain, dst.domain),
          ids[:20])
    bad = [i for i, e in enumerate(got)
           if e.find("body") is None or e.find("body").text != body(i) or
           e.get("from") != "u%d@%s" % (i % 3, src.domain) or
           e.get("to") != "bob@%s/r" % dst.domain]
    check(not bad, "%s -> %s bodies and addresses intact" % (src.domain, dst.domain), bad[:5])


def scenario(env):
    a, b = h.make_pair(env)
    h.exchange(a, b, 1, prefix="warm")  # streams up in one direction first, then both at once
    t1 = threading.Thread(target=send_all, args=(a, b, "ab"))
    t2 = threading.Thread(target=send_all, args=(b, a, "ba"))
    t1.start()
    t2.start()
    t1.join()
    t2.join()
    verify(a, b, "ab")
    verify(b, a, "ba")
    ma, mb = a.router.scrape(), b.router.scrape()
    check(ma.get("fedrouter_bounces_total") == 0 and mb.get("fedrouter_bounces_total") == 0,
          "no bounces")
    check(ma.get("fedrouter_stanzas_routed_total") >= 2 * N + 1,
          "A counted >= %d routed stanzas" % (2 * N + 1), ma.get("fedrouter_stanzas_routed_total"))


if __name__ == "__main__":
    h.run(scenario)
