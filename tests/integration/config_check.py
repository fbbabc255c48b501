#!/usr/bin/python3
"""integ_config_check: `fedrouter -c FILE -t` checks a configuration without starting.

Asserts: a valid configuration exits 0 with "is valid"; when admin.socket's directory does not
exist, -t still exits 0 but warns that the start would fail (it cannot create the socket); with
the directory present there is no warning; a configuration with an unknown key exits non-zero
with file:line."""

import os
import subprocess
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from harness import check  # noqa: E402


def run_check(env, name, conf, extra=""):
    path = env.path(name + ".conf")
    with open(path, "w") as f:
        f.write(h.conf_text(conf) + extra)
    r = subprocess.run([env.binary, "-c", path, "-t"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def scenario(env):
    ca = env.ca()
    ip = "127.0.0.1"
    cert = ca.issue("router-a", ["a0.test"])
    ports = (env.free_port((ip,)), env.free_port((ip,)), env.free_port((ip,)))
    conf = h.router_conf(env, ip, ports[0], ports[1], ports[2], [("a0.test", "sec-a0")], [cert],
                         ca.cert)
    conf["admin"] = {"socket": env.path("nodir/admin.sock")}
    rc, out = run_check(env, "missing-dir", conf)
    check(rc == 0 and "is valid" in out, "-t accepts the configuration", (rc, out))
    check("admin.socket's directory" in out and "nodir" in out,
          "-t warns that admin.socket's directory does not exist", out)
    os.makedirs(env.path("nodir"))
    rc, out = run_check(env, "dir-present", conf)
    check(rc == 0 and "warning" not in out, "no warning once the directory exists", out)
    rc, out = run_check(env, "bad-key", conf, "\nbogus_key = 1;\n")
    check(rc != 0 and "bad-key.conf:" in out and "bogus_key" in out,
          "an unknown key is refused with file:line", (rc, out))


if __name__ == "__main__":
    h.run(scenario)
