#!/usr/bin/python3
"""integ_component_rules: XEP-0114 rules at router A with peer B:
  - a stanza from a.test's component to a.test itself is delivered locally (to the component);
  - a second component for a.test while one is connected: the next stanza for a.test reaches
    exactly one of them (never lost, never duplicated);
  - a component stanza whose from is not its domain (COMP-4) never reaches B: A answers with a
    stream error (invalid-from) or a stanza error."""

import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def scenario(env):
    a, b = h.make_pair(env)
    h.exchange(a, b, 1)

    a.comp.message("alice@a.test/r", "carol@a.test", "local", id="local-1")
    e = a.comp.wait_for(h.by_id("local-1"), 5)
    check(e is not None and e.get("from") == "alice@a.test/r" and e.get("to") == "carol@a.test",
          "a.test -> a.test delivered locally to the component", e)

    second = h.Component(a.router.comp_addr, "a.test", a.secret, name="second")
    conn, ev = second.open()
    accepted = bool(ev and ev[0] == "elem" and ev[1].name == "handshake")
    h.log("  info second component for a.test: %s" % (
        "accepted" if accepted else "refused (%s)" % h.raw_stream_error(conn.raw_in)))
    if accepted:
        second.conn = conn
        import threading
        threading.Thread(target=second._reader, daemon=True).start()
    else:
        conn.close()
    b.comp.message("bob@b.test", "alice@a.test", "which one", id="which-1")
    time.sleep(0.2)
    got1 = a.comp.wait_for(h.by_id("which-1"), 5)
    got2 = second.wait_for(h.by_id("which-1"), 0.5) if accepted else None
    check((got1 is None) != (got2 is None),
          "stanza for a.test delivered to exactly one component (%s)" %
          ("first" if got1 is not None else "second" if got2 is not None else "none"))
    if accepted:
        second.close()
        time.sleep(0.2)
        check(a.comp.closed is None or got2 is not None, "first component state consistent")

    live = a.comp if a.comp.closed is None else None
    if live is None:
        live = a.component()
    live.message("eve@b.test", "bob@b.test", "forged", id="forged-1")
    time.sleep(1.0)
    check(b.comp.count(h.by_id("forged-1")) == 0, "forged from='eve@b.test' did not reach B")
    err = live.wait_for(lambda e: e.get("id") == "forged-1" and e.get("type") == "error", 0.1)
    cond = h.raw_stream_error(live.conn.raw_in)
    check(err is not None or cond is not None,
          "A refused it: %s" % ("stanza error %s" % (h.stanza_error_condition(err),)
                                if err is not None else "stream error <%s/>" % cond))
    if cond is not None:
        check(cond == "invalid-from", "stream error is <invalid-from/>", cond)


if __name__ == "__main__":
    h.run(scenario)
