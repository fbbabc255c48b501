#!/usr/bin/python3
"""blackdns.py: a tiny hostile DNS responder (UDP, loopback only) for fedrouter's abuse tests.

It plays the part of a resolver that a hostile peer controls through the names it makes fedrouter
look up: some names are never answered (each lookup then holds a resolver job until c-ares gives
up), some answer NXDOMAIN only after a delay (a domain check that stays in flight for a while),
and SRV records can name the root ("." : no service) so that a check moves on to POSH at once.
Nothing it answers carries the AD bit: to a validating client everything is insecure.

Usage:
  blackdns.py --port-file FILE [--port N] [--rule NAME[:QTYPES]=ACTION]...
    --port N        UDP port on 127.0.0.1 (default 0: a free port picked by the kernel)
    --port-file F   once listening, the port number is written to F (written to F.tmp, then
                    renamed: a reader never sees a partial file)
    --rule ...      the first rule whose NAME matches decides the answer. NAME matches itself
                    and every name below it (label boundary: "evil.test" matches
                    "_xmpp-server._tcp.d1.evil.test" but not "devil.test"). QTYPES is a comma
                    list of A, AAAA, SRV, TLSA (default: every type). ACTION is one of
                      drop      never answer
                      nx        NXDOMAIN (no AD)
                      nx@SECS   NXDOMAIN after SECS seconds (a slow answer; other queries go on)
                      nosrv     an SRV record "0 0 0 ." (RFC 2782: the service is not available);
                                NXDOMAIN for other types
                      local     A 127.0.0.1 for A queries, NXDOMAIN for other types
  Without a matching rule: A 127.0.0.1 for A queries, NXDOMAIN for everything else.

It prints one line per 2 s of activity with counters, and a final line on SIGTERM/SIGINT (the
test stops it by PID). It only binds 127.0.0.1; it never sends anything but answers to queries.
"""

import argparse
import os
import signal
import socket
import struct
import sys
import threading
import time

QTYPES = {"A": 1, "AAAA": 28, "SRV": 33, "TLSA": 52}
QR_RD_RA = 0x8180  # response, recursion desired + available, NOERROR
RCODE_NXDOMAIN = 3
TTL = 60


class Rule:
    def __init__(self, text):
        try:
            lhs, action = text.split("=", 1)
        except ValueError:
            raise argparse.ArgumentTypeError("rule %r: want NAME[:QTYPES]=ACTION" % text)
        name, _, types = lhs.partition(":")
        self.name = name.strip(".").lower()
        self.types = None
        if types:
            try:
                self.types = {QTYPES[t.strip().upper()] for t in types.split(",")}
            except KeyError as e:
                raise argparse.ArgumentTypeError("rule %r: unknown query type %s" % (text, e))
        self.delay = 0.0
        if action.startswith("nx@"):
            self.delay = float(action[3:])
            action = "nx"
        if action not in ("drop", "nx", "nosrv", "local"):
            raise argparse.ArgumentTypeError("rule %r: unknown action %r" % (text, action))
        self.action = action

    def matches(self, qname, qtype):
        if self.types is not None and qtype not in self.types:
            return False
        return qname == self.name or qname.endswith("." + self.name)


def parse_question(msg):
    """(qname lower-case, qtype, end offset of the question) of a query; ValueError if bad."""
    if len(msg) < 12 or msg[2] & 0x80:
        raise ValueError("not a query")
    off, labels = 12, []
    while True:
        if off >= len(msg):
            raise ValueError("truncated name")
        n = msg[off]
        if n == 0:
            off += 1
            break
        if n & 0xC0 or off + 1 + n > len(msg) or len(labels) > 127:
            raise ValueError("bad label")
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    if off + 4 > len(msg):
        raise ValueError("truncated question")
    qtype = struct.unpack(">H", msg[off:off + 2])[0]
    return ".".join(labels).lower(), qtype, off + 4


def answer(query, qend, rcode, rr_type=None, rdata=b""):
    """A response echoing the query's id and question, with one answer record or none."""
    flags = QR_RD_RA | rcode
    if rr_type is None:
        return query[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + query[12:qend]
    rr = b"\xc0\x0c" + struct.pack(">HHIH", rr_type, 1, TTL, len(rdata)) + rdata
    return query[:2] + struct.pack(">HHHHH", flags, 1, 1, 0, 0) + query[12:qend] + rr


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--rule", type=Rule, action="append", default=[])
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(args.port_file + ".tmp", args.port_file)
    print("blackdns: listening on 127.0.0.1:%d, %d rule(s)" % (port, len(args.rule)), flush=True)

    stats = {"queries": 0, "dropped": 0, "answered": 0, "delayed": 0, "bad": 0}
    lock = threading.Lock()  # sendto from timer threads

    def send(data, addr):
        with lock:
            try:
                sock.sendto(data, addr)
            except OSError:
                pass

    def bye(signum, frame):
        print("blackdns: stopping (%s): %r" % (signal.Signals(signum).name, stats), flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    last = time.monotonic()
    while True:
        msg, addr = sock.recvfrom(4096)
        stats["queries"] += 1
        try:
            qname, qtype, qend = parse_question(msg)
        except ValueError:
            stats["bad"] += 1
            continue
        rule = next((r for r in args.rule if r.matches(qname, qtype)), None)
        action = rule.action if rule is not None else "local"
        if action == "drop":
            stats["dropped"] += 1
        elif action == "nosrv" and qtype == QTYPES["SRV"]:
            send(answer(msg, qend, 0, QTYPES["SRV"], struct.pack(">HHH", 0, 0, 0) + b"\x00"),
                 addr)
            stats["answered"] += 1
        elif action == "local" and qtype == QTYPES["A"]:
            send(answer(msg, qend, 0, QTYPES["A"], bytes([127, 0, 0, 1])), addr)
            stats["answered"] += 1
        else:
            resp = answer(msg, qend, RCODE_NXDOMAIN)
            if rule is not None and rule.delay > 0:
                t = threading.Timer(rule.delay, send, (resp, addr))
                t.daemon = True
                t.start()
                stats["delayed"] += 1
            else:
                send(resp, addr)
                stats["answered"] += 1
        if time.monotonic() - last > 2:
            print("blackdns: %r" % stats, flush=True)
            last = time.monotonic()


if __name__ == "__main__":
    sys.exit(main())
