#!/usr/bin/python3
"""xclient.py: a real XMPP client (Debian's python3-slixmpp) for the interop suite.

    /usr/bin/python3 xclient.py --ca CA.pem JID [JID...]     (password 'pw', server 127.0.0.1)

Logs in every JID (STARTTLS verified against CA.pem, SASL PLAIN/SCRAM), sends available
presence, then reads JSON commands on stdin, one a line:
    {"cmd": "send", "jid": FROM, "to": TO, "id": ID, "body": TEXT, "type": "chat"}
    {"cmd": "quit"}
and prints JSON events on stdout, one a line:
    {"ev": "ready", "jid": JID}
    {"ev": "message", "jid": JID, "from":, "to":, "id":, "type":, "body":, "error": condition}
    {"ev": "disconnected", "jid": JID}
Runs inside frio-prosody (lab.py starts it with ip netns exec).
"""

import asyncio
import json
import logging
import sys
import threading

import slixmpp


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, ca):
        slixmpp.ClientXMPP.__init__(self, jid, password)
        self.ca_certs = ca
        self.me = jid
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("message_error", self.on_error)
        self.add_event_handler("disconnected", self.on_disc)
        self.add_event_handler("failed_auth", lambda e: emit({"ev": "auth_failed", "jid": jid}))

    async def on_start(self, event):
        self.send_presence()
        emit({"ev": "ready", "jid": self.me})

    def _ev(self, msg, error=None):
        emit({"ev": "message", "jid": self.me, "from": str(msg["from"]), "to": str(msg["to"]),
              "id": msg["id"], "type": msg["type"], "body": msg["body"], "error": error})

    def on_message(self, msg):
        if msg["type"] != "error":
            self._ev(msg)

    def on_error(self, msg):
        self._ev(msg, msg["error"]["condition"] or "unknown")

    def on_disc(self, event):
        emit({"ev": "disconnected", "jid": self.me})


def main():
    args = sys.argv[1:]
    ca = None
    if args[:1] == ["--ca"]:
        ca, args = args[1], args[2:]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    clients = {}
    for jid in args:
        c = Client(jid, "pw", ca)
        c.connect(address=("127.0.0.1", 5222))
        clients[jid] = c
    done = asyncio.Event()

    def handle(line):
        try:
            cmd = json.loads(line)
        except ValueError:
            return
        if cmd.get("cmd") == "quit":
            for c in clients.values():
                c.disconnect(wait=0.5)
            loop.call_later(1.0, done.set)
        elif cmd.get("cmd") == "send":
            c = clients[cmd["jid"]]
            m = c.make_message(mto=cmd["to"], mbody=cmd["body"], mtype=cmd.get("type", "chat"))
            m["id"] = cmd["id"]
            m.send()

    def reader():
        for line in sys.stdin:
            loop.call_soon_threadsafe(handle, line)
        loop.call_soon_threadsafe(handle, '{"cmd": "quit"}')

    threading.Thread(target=reader, daemon=True).start()
    loop.run_until_complete(done.wait())


if __name__ == "__main__":
    main()
