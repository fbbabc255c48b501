#!/usr/bin/env python3
"""run.py: run bench scenarios with fedbench against fedrouter and Prosody, side by side.

  bench/run.py --build DIR [--scenarios a,b|all] [--targets fedrouter,prosody] [--smoke]
               [--report DIR] [--workers N] [--keep] [--quiet]

For each scenario (bench/scenarios/NAME.conf) and each target router, in one invocation:
  1. a throwaway CA and certificates (openssl CLI): one for the router naming every local
     domain, one per simulated peer address naming the remote domains hosted there;
  2. the router's config (fedrouter: libconfig with static routes; Prosody: its own instance,
     own config, data dir, pid file and ports, the same component domains and secrets, the same
     CA, routes through bench/prosody/mod_bench_routes.lua);
  3. the router is started, fedbench runs against it (components + simulated peers), the router
     is stopped (SIGTERM to the PID started here, never anything else);
  4. fedbench's JSON and CSV are kept.
Then the results are printed with fedrouter/Prosody ratios, and with --report DIR written as
REPORT.md, results.json, csv/*.csv and PNG plots (gnuplot).

--smoke uses each scenario's smoke.* sizes, checks consistency (fedbench's exit status: sent =
delivered + bounced, peer connects = the router's outbound connects, ...) and the scenario's
max_rss_mb; exit status 0 only when every run passed. Exit 77 when a needed tool is missing.
"""
import argparse
import datetime
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCEN_DIR = os.path.join(HERE, "scenarios")
PEER_BASE = "127.0.0.10"
LOCAL_FMT = "l%zu.bench.example"
REMOTE_FMT = "r%zu.bench.example"

DEFAULTS = {
    "title": "", "local": 1, "remote": 1, "remote_initial": 0, "peers": 1, "window": 1000,
    "rate": 0, "duration": 5, "body": 200, "churn": 0, "slow_peers": 0, "slow_bps": 0,
    "setup_timeout": 60, "drain_timeout": 30, "max_rss_mb": 0,
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def load_scenario(name, smoke):
    path = os.path.join(SCEN_DIR, name + ".conf")
    sc = dict(DEFAULTS)
    smoke_over = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip()
            target = sc
            if key.startswith("smoke."):
                key = key[len("smoke."):]
                target = smoke_over
            if key not in DEFAULTS:
                raise SystemExit(f"{path}: unknown key {key}")
            target[key] = value if key == "title" else float(value)
    if smoke:
        sc.update(smoke_over)
        sc["setup_timeout"] = min(sc["setup_timeout"], 20)
        sc["drain_timeout"] = min(sc["drain_timeout"], 15)
    for k in ("local", "remote", "remote_initial", "peers", "window", "body", "slow_peers"):
        sc[k] = int(sc[k])
    sc["name"] = name
    return sc


def all_scenarios():
    return sorted(f[:-5] for f in os.listdir(SCEN_DIR) if f.endswith(".conf"))


def port_free(port):
    for fam, addr in ((socket.AF_INET, "127.0.0.1"),):
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_ports(n, peers=0):
    """n distinct ports below the ephemeral range that nothing uses on 127.0.0.1 (and on the
    peer addresses for the first one when peers > 0)."""
    picked = []
    for _ in range(20000):
        p = random.randint(20000, 32000)
        if p in picked or not port_free(p):
            continue
        if not picked and peers:
            ok = True
            for i in range(peers):
                s = socket.socket()
                try:
                    s.bind((peer_ip(i), p))
                except OSError:
                    ok = False
                finally:
                    s.close()
            if not ok:
                continue
        picked.append(p)
        if len(picked) == n:
            return picked
    raise SystemExit("no free ports")


def peer_ip(i):
    a = [int(x) for x in PEER_BASE.split(".")]
    v = (a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3]) + i
    return f"{v >> 24 & 255}.{v >> 16 & 255}.{v >> 8 & 255}.{v & 255}"


def local_name(i):
    return LOCAL_FMT.replace("%zu", str(i + 1))


def remote_name(j):
    return REMOTE_FMT.replace("%zu", str(j + 1))


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_cert(work, name, domains):
    san = ",".join("DNS:" + d for d in domains)
    cfg = os.path.join(work, name + ".cnf")
    with open(cfg, "w") as f:
        f.write("[req]\ndistinguished_name=dn\n[dn]\n[ext]\n"
                f"subjectAltName={san}\nextendedKeyUsage=serverAuth,clientAuth\n"
                "keyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n")
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", os.path.join(work, name + ".key"),
            "-out", os.path.join(work, name + ".pem"), "-days", "2", "-subj", f"/CN={name}",
            "-CA", os.path.join(work, "ca.pem"), "-CAkey", os.path.join(work, "ca.key"),
            "-config", cfg, "-extensions", "ext")


def make_pki(work, sc):
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", os.path.join(work, "ca.key"), "-out", os.path.join(work, "ca.pem"),
            "-days", "2", "-subj", "/CN=fedbench CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    make_cert(work, "router", [local_name(i) for i in range(sc["local"])])
    for p in range(sc["peers"]):
        make_cert(work, f"peer{p}", [remote_name(j) for j in range(sc["remote"])
                                     if j % sc["peers"] == p])
    for f in os.listdir(work):
        if f.endswith(".key"):
            os.chmod(os.path.join(work, f), 0o644)  # Prosody may run as another user


def write_secrets(work, sc):
    secrets = {local_name(i): os.urandom(12).hex() for i in range(sc["local"])}
    path = os.path.join(work, "secrets")
    with open(path, "w") as f:
        for d, s in secrets.items():
            f.write(f"{d} {s}\n")
    os.chmod(path, 0o600)
    return secrets


def fedrouter_conf(work, sc, secrets, ports, workers):
    s2s, comp, metrics, peer_port = ports
    locals_ = ", ".join(f'"{d}"' for d in secrets)
    lines = [
        "# generated by bench/run.py",
        f"workers = {workers};",
        'log_level = "warn";',
        "s2s = {",
        f'  listen = [ "127.0.0.1:{s2s}" ];',
        "  require_tls = true;",
        f'  ca_file = "{work}/ca.pem";',
        f'  dialback_secret = "{os.urandom(16).hex()}";',
        "  stanza_timeout = 60;",
        "};",
        f'components = {{ listen = [ "127.0.0.1:{comp}" ]; }};',
        f'metrics = {{ listen = "127.0.0.1:{metrics}"; }};',
        f'certificates = ( {{ cert = "{work}/router.pem"; key = "{work}/router.key"; '
        f"domains = [ {locals_} ]; }} );",
        "domains = (",
        ",\n".join(f'  {{ name = "{d}"; secret = "{s}"; }}' for d, s in secrets.items()),
        ");",
        "routes = (",
        ",\n".join(f'  {{ domain = "{remote_name(j)}"; host = "{peer_ip(j % sc["peers"])}"; '
                   f"port = {peer_port}; direct_tls = false; }}" for j in range(sc["remote"])),
        ");",
    ]
    path = os.path.join(work, "fedrouter.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)
    return path


def prosody_conf(work, sc, secrets, ports):
    s2s, comp, c2s, peer_port = ports
    data = os.path.join(work, "prosody-data")
    os.makedirs(data, exist_ok=True)
    routes = "\n".join(f'  ["{remote_name(j)}"] = {{ "{peer_ip(j % sc["peers"])}", {peer_port} }};'
                       for j in range(sc["remote"]))
    comps = "\n".join(f'Component "{d}"\n  component_secret = "{s}"' for d, s in secrets.items())
    text = f"""-- generated by bench/run.py: a private Prosody instance for the bench
run_as_root = true
pidfile = "{work}/prosody.pid"
data_path = "{data}"
plugin_paths = {{ "{HERE}/prosody" }}
log = {{ {{ levels = {{ min = "warn" }}, to = "file", filename = "{work}/prosody.log" }} }}
modules_enabled = {{ "tls", "dialback", "saslauth", "bench_routes" }}
modules_disabled = {{ "c2s", "offline", "s2s_bidi" }}
c2s_ports = {{ {c2s} }}
c2s_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ {s2s} }}
s2s_interfaces = {{ "127.0.0.1" }}
component_ports = {{ {comp} }}
component_interfaces = {{ "127.0.0.1" }}
http_ports = {{ }}
https_ports = {{ }}
s2s_require_encryption = true
s2s_secure_auth = false
s2s_timeout = 60
ssl = {{ certificate = "{work}/router.pem"; key = "{work}/router.key"; cafile = "{work}/ca.pem" }}
bench_routes = {{
{routes}
}}
-- Prosody needs one VirtualHost; nothing talks to it.
VirtualHost "host.prosody.bench.example"
{comps}
"""
    path = os.path.join(work, "prosody.cfg.lua")
    with open(path, "w") as f:
        f.write(text)
    return path


def listening(ip, port):
    a = [int(x) for x in ip.split(".")]
    want = "%02X%02X%02X%02X:%04X" % (a[3], a[2], a[1], a[0], port)
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            cols = line.split()
            if cols[1] == want and cols[3] == "0A":
                return True
    return False


def stop(proc, timeout=15):
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def run_one(args, sc, target, work):
    """Runs scenario |sc| against |target| in directory |work|; returns fedbench's JSON plus
    'exit', 'router_exit', 'problems'."""
    os.makedirs(work, exist_ok=True)
    make_pki(work, sc)
    secrets = write_secrets(work, sc)
    s2s, comp, metrics, c2s, peer_port = free_ports(5, peers=0)
    peer_port = free_ports(1, peers=sc["peers"])[0]
    env = dict(os.environ)
    if target == "fedrouter":
        conf = fedrouter_conf(work, sc, secrets, (s2s, comp, metrics, peer_port), args.workers)
        cmd = [os.path.join(args.build, "router", "fedrouter"), "-c", conf]
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    else:
        conf = prosody_conf(work, sc, secrets, (s2s, comp, c2s, peer_port))
        cmd = ["prosody", "-F", "--config", conf]
    logf = open(os.path.join(work, target + ".stderr"), "w")
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)
    problems = []
    result = {}
    try:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"{target} exited during start-up (see {work})")
            if listening("127.0.0.1", comp):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"{target} does not listen on its component port")
        fb = [os.path.join(args.build, "bench", "fedbench"),
              "--router-comp", f"127.0.0.1:{comp}", "--secrets", os.path.join(work, "secrets"),
              "--certdir", work, "--peer-port", str(peer_port), "--peer-base", PEER_BASE,
              "--local-fmt", LOCAL_FMT, "--remote-fmt", REMOTE_FMT,
              "--local", str(sc["local"]), "--remote", str(sc["remote"]),
              "--peers", str(sc["peers"]), "--window", str(sc["window"]),
              "--rate", str(sc["rate"]), "--duration", str(sc["duration"]),
              "--body", str(sc["body"]), "--churn", str(sc["churn"]),
              "--setup-timeout", str(sc["setup_timeout"]),
              "--drain-timeout", str(sc["drain_timeout"]),
              "--router-pid", str(proc.pid), "--label", f"{sc['name']}/{target}",
              "--json", os.path.join(work, "result.json"),
              "--csv", os.path.join(work, "result.csv")]
        if sc["remote_initial"]:
            fb += ["--remote-initial", str(sc["remote_initial"])]
        if sc["slow_peers"]:
            fb += ["--slow-peers", str(sc["slow_peers"]), "--slow-bps", str(sc["slow_bps"])]
        if target == "fedrouter":
            fb += ["--metrics", f"127.0.0.1:{metrics}"]
        budget = 30 + sc["setup_timeout"] + sc["duration"] + sc["drain_timeout"] + 30
        with open(os.path.join(work, "fedbench.out"), "w") as out, \
                open(os.path.join(work, "fedbench.err"), "w") as err:
            fbp = subprocess.run(fb, stdout=out, stderr=err, timeout=budget)
        result["exit"] = fbp.returncode
        if not args.quiet:
            with open(os.path.join(work, "fedbench.out")) as f:
                sys.stdout.write(f.read())
        with open(os.path.join(work, "fedbench.err")) as f:
            errtext = f.read().strip()
        if errtext:
            log("\n".join("  " + l for l in errtext.splitlines()[:15]))
        if os.path.exists(os.path.join(work, "result.json")):
            with open(os.path.join(work, "result.json")) as f:
                result.update(json.load(f))
        if fbp.returncode != 0:
            problems.append(f"fedbench exit {fbp.returncode}: {result.get('why', '')}")
        if proc.poll() is not None:
            problems.append(f"{target} died during the run (exit {proc.returncode})")
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        problems.append(str(e))
    finally:
        rc = stop(proc)
        logf.close()
    result["router_exit"] = rc
    if target == "fedrouter" and rc not in (0, None):
        problems.append(f"fedrouter exit status {rc} at shutdown (see {work}/fedrouter.stderr)")
    if sc["max_rss_mb"] and result.get("router_rss_peak_kb"):
        if result["router_rss_peak_kb"] > sc["max_rss_mb"] * 1024:
            problems.append(f"peak RSS {result['router_rss_peak_kb']} kB > {sc['max_rss_mb']} MB")
    result["problems"] = problems
    return result


RATIOS = [
    # (label, field, better): the ratio printed is fedrouter / Prosody
    ("throughput (stanzas/s)", "stanzas_per_s", "higher"),
    ("router CPU s per 10^6 stanzas", "router_cpu_s_per_mstanza", "lower"),
    ("router peak RSS (kB)", "router_rss_peak_kb", "lower"),
    ("TCP connects", "tcp_connects", "lower"),
    ("TLS handshakes", "tls_handshakes", "lower"),
    ("pair set-up time (s)", "setup_s", "lower"),
    ("latency p50 (ms)", "latency_p50_ms", "lower"),
    ("latency p99 (ms)", "latency_p99_ms", "lower"),
]

EXTRA = [
    ("pairs (setup / total)", None),
    ("stanzas sent", "sent"), ("delivered", "delivered"), ("bounced", "bounced"),
    ("lost (neither)", "lost"), ("latency p90 (ms)", "latency_p90_ms"),
    ("latency max (ms)", "latency_max_ms"), ("router CPU total (s)", "router_cpu_total_s"),
    ("SASL EXTERNAL / db:result at peers", None), ("consistent", "consistent"),
]


def fmt(v):
    if v is None:
        return "–"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:.0f}"
        return f"{v:.3g}"
    return str(v)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def table(name, sc, res):
    f = res.get("fedrouter", {})
    p = res.get("prosody")
    cols = ["metric", "fedrouter"] + (["Prosody", "fedrouter/Prosody"] if p is not None else [])
    rows = []
    for label, key, _ in RATIOS:
        row = [label, fmt(f.get(key))]
        if p is not None:
            r = ratio(f.get(key), p.get(key))
            row += [fmt(p.get(key)), "–" if r is None else f"{r:.3g}"]
        rows.append(row)
    for label, key in EXTRA:
        if key is None and label.startswith("pairs"):
            vals = [f"{fmt(x.get('pairs_setup'))} / {fmt(x.get('pairs_total'))}" for x in [f] +
                    ([p] if p is not None else [])]
        elif key is None:
            vals = [f"{fmt(x.get('sasl_external'))} / {fmt(x.get('db_results'))}" for x in [f] +
                    ([p] if p is not None else [])]
        else:
            vals = [fmt(x.get(key)) for x in [f] + ([p] if p is not None else [])]
        rows.append([label] + vals + ([""] if p is not None else []))
    out = [f"### {sc['title'] or name} (`{name}`)", "",
           f"L={sc['local']} local domains, R={sc['remote']} remote domains"
           f"{' (' + str(sc['remote_initial']) + ' at start)' if sc['remote_initial'] else ''}, "
           f"P={sc['peers']} peer addresses, "
           + (f"rate {sc['rate']:.0f}/s" if sc["rate"] else f"window {sc['window']}")
           + f", load {sc['duration']:g} s, body {sc['body']} B"
           + (f", churn {sc['churn']:g} pairs/s" if sc["churn"] else "")
           + (f", {sc['slow_peers']} slow peer(s) at {sc['slow_bps'] / 1024:.0f} KiB/s"
              if sc["slow_peers"] else ""), "",
           "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    for t, r in res.items():
        if r.get("problems"):
            out.append("")
            out.append(f"*{t}: " + "; ".join(r["problems"]) + "*")
    return "\n".join(out) + "\n"


def plots(report_dir, scenarios, results):
    if shutil.which("gnuplot") is None:
        log("gnuplot not found: no plots")
        return []
    made = []
    dat = os.path.join(report_dir, "plots.dat")
    specs = [
        ("throughput.png", "stanzas_per_s", "delivered stanzas/s (higher is better)"),
        ("cpu.png", "router_cpu_s_per_mstanza", "router CPU s per 10^6 stanzas (lower is better)"),
        ("rss.png", "router_rss_peak_kb", "router peak RSS, MiB (lower is better)"),
        ("connects.png", "tcp_connects", "TCP connects at the peers (log, lower is better)"),
        ("setup.png", "setup_s", "pair set-up time, s (lower is better)"),
        ("latency.png", "latency_p99_ms", "latency p99, ms (lower is better)"),
    ]
    for png, key, title in specs:
        with open(dat, "w") as f:
            for name in scenarios:
                r = results.get(name, {})
                fv = r.get("fedrouter", {}).get(key)
                pv = r.get("prosody", {}).get(key) if "prosody" in r else None
                if key == "router_rss_peak_kb":
                    fv = fv / 1024 if fv is not None else None
                    pv = pv / 1024 if pv is not None else None
                f.write(f'"{name}" {fv if fv is not None else "NaN"} '
                        f'{pv if pv is not None else "NaN"}\n')
        logscale = "set logscale y\n" if key == "tcp_connects" else ""
        script = f"""set terminal pngcairo size 900,420 noenhanced
set output '{os.path.join(report_dir, png)}'
set title '{title}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
{logscale}set grid ytics
set xtics rotate by -20
plot '{dat}' using 2:xtic(1) title 'fedrouter' lc rgb '#1f77b4', '' using 3 title 'Prosody' lc rgb '#ff7f0e'
"""
        if logscale:
            script = script.replace("set yrange [0:*]", "set yrange [0.5:*]")
        try:
            subprocess.run(["gnuplot"], input=script, text=True, check=True,
                           stderr=subprocess.PIPE)
            made.append(png)
        except subprocess.CalledProcessError as e:
            log(f"gnuplot failed for {png}: {e.stderr.strip()[:300]}")
    os.unlink(dat)
    return made


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.node()}: {model}, {os.cpu_count()} CPUs, Linux {platform.release()}"


def prosody_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "prosody"],
                             capture_output=True, text=True)
        return out.stdout.strip()
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", required=True, help="build dir with router/fedrouter, bench/fedbench")
    ap.add_argument("--scenarios", default="all")
    ap.add_argument("--targets", default="fedrouter,prosody")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--report", help="write REPORT.md, results.json, csv/, *.png here")
    ap.add_argument("--workers", type=int, default=1, help="fedrouter workers (default 1)")
    ap.add_argument("--work", help="work dir (default: a new temporary dir)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a scenario key (e.g. --set duration=30)")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    for tool in ("openssl",):
        if shutil.which(tool) is None:
            log(f"run.py: {tool} is needed")
            return 77
    for b in ("router/fedrouter", "bench/fedbench"):
        if not os.access(os.path.join(args.build, b), os.X_OK):
            log(f"run.py: {args.build}/{b} is not built")
            return 2
    targets = [t for t in args.targets.split(",") if t]
    if "prosody" in targets and shutil.which("prosody") is None:
        log("run.py: prosody is not installed (bench/setup installs it): fedrouter only")
        targets.remove("prosody")
    names = all_scenarios() if args.scenarios == "all" else args.scenarios.split(",")
    work = args.work or tempfile.mkdtemp(prefix="fedbench.")
    os.makedirs(work, exist_ok=True)
    results = {}
    scs = {}
    failed = False
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        for name in names:
            sc = load_scenario(name, args.smoke)
            for kv in args.set:
                key, _, value = kv.partition("=")
                if key not in DEFAULTS:
                    raise SystemExit(f"--set: unknown key {key}")
                sc[key] = value if key == "title" else (int(float(value)) if isinstance(
                    sc[key], int) else float(value))
            scs[name] = sc
            results[name] = {}
            for t in targets:
                log(f"== {name} / {t}")
                r = run_one(args, sc, t, os.path.join(work, name, t))
                results[name][t] = r
                for p in r["problems"]:
                    log(f"   PROBLEM: {p}")
                    if t == "fedrouter":
                        failed = True
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
        elif args.keep:
            log(f"work dir kept: {work}")
    md = [table(n, scs[n], results[n]) for n in names]
    print("\n".join(md))
    if args.report:
        rep = os.path.abspath(args.report)
        os.makedirs(os.path.join(rep, "csv"), exist_ok=True)
        for n in names:
            for t, r in results[n].items():
                with open(os.path.join(rep, "csv", f"{n}-{t}.csv"), "w") as f:
                    keys = [k for k in r if k not in ("problems",)]
                    f.write(",".join(keys) + "\n")
                    f.write(",".join("" if r[k] is None else str(r[k]).replace(",", ";")
                                     for k in keys) + "\n")
        with open(os.path.join(rep, "results.json"), "w") as f:
            json.dump({"date": started.isoformat(), "machine": machine(),
                       "scenarios": scs, "results": results}, f, indent=1)
        pngs = plots(rep, names, results)
        head = [
            "# fedbench report", "",
            f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}",
            f"- machine: {machine()}",
            f"- fedrouter: `{args.build}` ({args.workers} worker(s)); "
            f"Prosody {prosody_version()}" if "prosody" in targets else
            f"- fedrouter: `{args.build}` ({args.workers} worker(s))",
            "- both routers ran one after the other in the same invocation, on the same "
            "machine, with the same domains, certificates, CA and load; fedbench (one thread) "
            "plays the components and the remote servers. Ratios are fedrouter / Prosody.",
            "", "![throughput](throughput.png)", "![cpu](cpu.png)", "![rss](rss.png)",
            "![connects](connects.png)", "![setup](setup.png)", "![latency](latency.png)", "",
        ]
        head = [h for h in head if not h.startswith("![") or h.split("(")[1][:-1] in pngs]
        with open(os.path.join(rep, "REPORT.md"), "w") as f:
            f.write("\n".join(head) + "\n" + "\n".join(md))
        log(f"report written to {rep}/REPORT.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
