#!/usr/bin/python3
"""integ_dialback_outcomes: router A (a.test) talks to scripted receiving servers (FakePeer)
that offer only dialback after STARTTLS, to check A as Initiating Server:
  - answer 'valid': A's db:result carries from=a.test, to=the peer, and the XEP-0185 key computed
    with A's dialback secret and the peer's POST-TLS stream id; queued stanzas then arrive,
    re-scoped to jabber:server, with from/to/body intact;
  - answer 'invalid' -> stanzas bounce with internal-server-error (XEP-0220, SPEC CORE-58);
  - dialback error -> stanzas bounce with remote-server-timeout (DB-13);
  - host-unknown stream error on the header -> stanzas bounce (remote-server-not-found or
    remote-server-timeout)."""

import os
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def scenario(env):
    ca = env.ca()
    peers = {
        "valid.test": h.FakePeer(env, ca, "valid.test", "valid"),
        "invalid.test": h.FakePeer(env, ca, "invalid.test", "invalid"),
        "error.test": h.FakePeer(env, ca, "error.test", "error"),
        "unknown.test": h.FakePeer(env, ca, "unknown.test", mode="host-unknown"),
    }
    a = h.make_site(env, "router-a", "127.0.0.1", "a.test",
                    routes=[(d, "127.0.0.1", p.port) for d, p in peers.items()])
    secret = a.router.conf["s2s"]["dialback_secret"]
    for d in peers:
        for i in range(2):
            a.comp.message("alice@a.test/r", "bob@%s" % d, "to %s %d <&>" % (d, i),
                           id="%s-%d" % (d, i))

    v = peers["valid.test"]
    r = v.wait(lambda it: it[0] == "db:result", 10)
    check(r is not None, "valid.test: A sent db:result", v.errors)
    attrs, key, sid = r[1], r[2].strip(), r[3]
    check(attrs.get("from") == "a.test" and attrs.get("to") == "valid.test",
          "db:result from='a.test' to='valid.test'", attrs)
    check(key == h.dialback_key(secret, "valid.test", "a.test", sid),
          "db:result key = XEP-0185 HMAC with the post-TLS stream id", key)
    got = [v.wait(lambda it, i=i: it[0] == "stanza" and it[1].get("id") == "valid.test-%d" % i,
                  10) for i in range(2)]
    check(all(got), "valid.test: both queued stanzas arrived after type='valid'", v.log)
    stanzas = [it[1] for it in v.log if it[0] == "stanza"]
    check([e.get("id") for e in stanzas] == ["valid.test-0", "valid.test-1"], "in order")
    for i, e in enumerate(stanzas):
        check(e.ns == h.NS_SERVER and e.get("from") == "alice@a.test/r" and
              e.get("to") == "bob@valid.test" and e.find("body").text == "to valid.test %d <&>" % i,
              "valid.test: stanza %d in jabber:server, from/to/body intact" % i, e)

    for d, conds in (("invalid.test", ("internal-server-error",)),
                     ("error.test", ("remote-server-timeout",)),
                     ("unknown.test", ("remote-server-not-found", "remote-server-timeout"))):
        for i in range(2):
            e = a.comp.wait_for(h.by_id("%s-%d" % (d, i)), 15)
            check(e is not None and e.get("type") == "error", "%s: stanza %d bounced" % (d, i), e)
            cond = h.stanza_error_condition(e)[0]
            check(cond in conds, "%s: condition <%s/>" % (d, "/>|<".join(conds)), cond)
            check(e.get("from") == "bob@%s" % d and e.get("to") == "alice@a.test/r",
                  "%s: bounce addressed back to the sender" % d, e)
        check(not any(it[0] == "stanza" for it in peers[d].log),
              "%s: no stanza was sent to the peer" % d)
    check(a.comp.count(lambda e: (e.get("id") or "").startswith("valid.test")) == 0,
          "valid.test: nothing bounced")
    for p in peers.values():
        p.close()


if __name__ == "__main__":
    h.run(scenario)
