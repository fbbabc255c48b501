#!/usr/bin/python3
"""integ_shutdown: with s2s streams and components up, SIGTERM makes router B exit 0 within 5 s,
closing its component stream; router A then bounces (does not lose) a stanza for b.test, and
SIGINT makes A exit 0 within 5 s. No sanitizer report in either log."""

import os
import signal
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def scenario(env):
    a, b = h.make_pair(env)
    h.exchange(a, b, 2)
    h.exchange(b, a, 2)

    t0 = time.monotonic()
    b.router.send_signal(signal.SIGTERM)
    rc = b.router.wait_exit(5)
    check(rc is not None, "B exited within 5 s of SIGTERM (%.2fs)" % (time.monotonic() - t0))
    check(rc == 0, "B exit code 0", rc)
    problems = b.router.stop()  # collects the exit code and sanitizer checks
    check(not problems, "B: clean exit, no sanitizer report", problems)
    check(h.wait_until(lambda: b.comp.closed is not None, 3),
          "B's component stream was closed", b.comp.closed)

    # A lost its peer: a new stanza must bounce, not vanish.
    a.comp.message("alice@a.test", "bob@b.test", "after shutdown", id="late")
    e = a.comp.wait_for(h.by_id("late"), 12)
    check(e is not None and e.get("type") == "error", "A bounced a stanza for the stopped peer", e)
    check(h.stanza_error_condition(e)[0] in ("remote-server-not-found", "remote-server-timeout"),
          "bounce condition remote-server-not-found or remote-server-timeout",
          h.stanza_error_condition(e))

    t0 = time.monotonic()
    a.router.send_signal(signal.SIGINT)
    rc = a.router.wait_exit(5)
    check(rc is not None, "A exited within 5 s of SIGINT (%.2fs)" % (time.monotonic() - t0))
    problems = a.router.stop()
    check(not problems, "A: exit code 0, no sanitizer report", problems)


if __name__ == "__main__":
    h.run(scenario)
