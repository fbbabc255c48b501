#!/usr/bin/python3
"""integ_restart: router B is stopped (SIGTERM) and started again on the same addresses while A
keeps its component connected; A must notice the dead stream, and messages a.test -> b.test and
b.test -> a.test flow again once B is back (stanzas sent while B was down may bounce, none may
be delivered twice). A second fedrouter started on B's listener addresses refuses to start (the
SO_REUSEPORT listeners would otherwise share the ports with it silently)."""

import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def second_instance_refused(env, b):
    """A second fedrouter with B's listeners must refuse to start, not share the ports."""
    conf = dict(b.router.conf)
    conf.pop("metrics", None)  # the listeners alone must be enough to notice
    path = env.path("router-b-second.conf")
    with open(path, "w") as f:
        f.write(h.conf_text(conf))
    p = subprocess.run([env.binary, "-c", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=20)
    out = p.stdout.decode(errors="replace")
    check(p.returncode == 1 and "Address already in use (is another fedrouter running?)" in out,
          "a second fedrouter on B's ports refuses to start (exit %s)" % p.returncode, out[-400:])


def scenario(env):
    a, b = h.make_pair(env)
    h.exchange(a, b, 2)
    h.exchange(b, a, 2)
    second_instance_refused(env, b)
    h.exchange(a, b, 2, prefix="after-second")
    problems = b.router.stop()
    check(not problems, "B stopped cleanly", problems)
    a.comp.message("alice@a.test", "bob@b.test", "while down", id="down-1")
    e = a.comp.wait_for(h.by_id("down-1"), 12)
    check(e is not None and e.get("type") == "error",
          "stanza sent while B is down bounced (%s)" % (h.stanza_error_condition(e)[0]
                                                         if e is not None else None))

    # same config, same ports
    b.router = env.router("router-b-again", b.router.conf)
    b.comp = b.component()
    t0 = time.monotonic()
    delivered = None
    for i in range(20):
        a.comp.message("alice@a.test", "bob@b.test", "retry %d" % i, id="up-%d" % i)
        delivered = b.comp.wait_for(lambda e: (e.get("id") or "").startswith("up-"), 1)
        if delivered is not None:
            break
    check(delivered is not None,
          "a.test -> b.test delivered again after B restarted (%.1fs)" % (time.monotonic() - t0))
    h.exchange(a, b, 3, prefix="after")
    h.exchange(b, a, 3, prefix="after")
    ids = [e.get("id") for e in b.comp.received if (e.get("id") or "").startswith("up-")]
    check(len(ids) == len(set(ids)), "no stanza delivered twice", ids)


if __name__ == "__main__":
    h.run(scenario)
