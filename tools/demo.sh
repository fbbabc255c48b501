#!/usr/bin/env bash
# demo.sh: two fedrouter instances federating many hosted domains over loopback.
#
#   tools/demo.sh <builddir> [--domains N] [--messages M] [--keep] [--deadline S] [--rate R]
#                 [--cert-per-domain]
#
# Router A (127.0.0.1) hosts a1..aN.demo.example, router B (127.0.0.2) hosts b1..bN.demo.example.
# Each router has one certificate from a throwaway CA naming all its domains (EC P-256,
# serverAuth+clientAuth; --cert-per-domain gives every domain its own), the CA file is both
# routers' trust store, and static routes point each
# side's domains at the other router. One democomp per router attaches a component for each of
# its domains and sends M messages for every (local, remote) pair; each democomp waits until it
# received every message the other one sent. Then both routers' /metrics are scraped and
# cross-checked against what the democomps counted.
#
# Prints `name: value` lines. Exit 0 only when every stanza arrived once and the cross-checks
# hold; 1 otherwise; 2 on usage errors. Only the processes started here are stopped (by PID).
set -euo pipefail

usage() {
    echo "usage: $0 <builddir> [--domains N] [--messages M] [--keep] [--deadline S] [--rate R] [--cert-per-domain]" >&2
    exit 2
}

[[ $# -ge 1 ]] || usage
case $1 in -h | --help) echo "usage: $0 <builddir> [--domains N] [--messages M] [--keep] [--deadline S] [--rate R] [--cert-per-domain]"; exit 0 ;; esac
BUILD=$1
shift
DOMAINS=10
MESSAGES=10
KEEP=0
DEADLINE=120
RATE=
CERT_PER_DOMAIN=0
while [[ $# -gt 0 ]]; do
    case $1 in
    --domains) DOMAINS=${2:-}; shift 2 || usage ;;
    --messages) MESSAGES=${2:-}; shift 2 || usage ;;
    --deadline) DEADLINE=${2:-}; shift 2 || usage ;;
    --rate) RATE=${2:-}; shift 2 || usage ;;
    --keep) KEEP=1; shift ;;
    --cert-per-domain) CERT_PER_DOMAIN=1; shift ;;
    -h | --help) usage ;;
    *) echo "demo.sh: unknown argument: $1" >&2; usage ;;
    esac
done
for v in "$DOMAINS" "$MESSAGES" "$DEADLINE" ${RATE:+"$RATE"}; do
    [[ $v =~ ^[1-9][0-9]{0,6}$ ]] || { echo "demo.sh: not a positive number: $v" >&2; exit 2; }
done

ROUTER_BIN=$BUILD/router/fedrouter
DEMOCOMP_BIN=$BUILD/tools/democomp
for b in "$ROUTER_BIN" "$DEMOCOMP_BIN"; do
    [[ -x $b ]] || { echo "demo.sh: $b not built (cmake --build $BUILD)" >&2; exit 2; }
done
for t in openssl curl awk; do
    command -v "$t" >/dev/null || { echo "demo.sh: $t is needed" >&2; exit 2; }
done

IP_A=127.0.0.1
IP_B=127.0.0.2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fedrouter-demo.XXXXXX")
PIDS=()
STATUS=1

# shellcheck disable=SC2317 # (invoked by the EXIT trap)
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ $KEEP == 1 ]]; then
        echo "work dir kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# show_logs prints, for a failed run, the warnings, errors and failures each router logged and
# the end of each democomp's stderr.
show_logs() {
    local f pid
    for f in a b; do
        [[ -s $WORK/router-$f.log ]] || continue
        pid=PID_${f^^}
        if [[ -n ${!pid:-} ]] && ! kill -0 "${!pid}" 2>/dev/null; then
            echo "---- router ${f^^} is no longer running; end of router-$f.log" >&2
            grep -E -A 14 '^==[0-9]+==ERROR|runtime error' "$WORK/router-$f.log" | head -n 30 >&2 ||
                true
            tail -n 5 "$WORK/router-$f.log" >&2
            continue
        fi
        echo "---- router-$f.log: warnings, errors, failures (first 20)" >&2
        grep -E ' (warn|error) |fail|bounc|refus' "$WORK/router-$f.log" | head -n 20 >&2 || true
    done
    for f in "$WORK"/democomp-a.err "$WORK"/democomp-b.err; do
        [[ -s $f ]] || continue
        echo "---- last lines of $(basename "$f")" >&2
        tail -n 10 "$f" >&2
    done
}

fail() {
    echo "demo.sh: $*" >&2
    show_logs
    exit 1
}

# port_used PORT: true when some IPv4/IPv6 TCP socket is bound to local port PORT (any address,
# any state), read from /proc so the check opens no connection a router would have to handle.
port_used() {
    awk -v p="$(printf ':%04X' "$1")" 'FNR > 1 && substr($2, length($2) - 4) == p { f = 1 }
        END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# listening IP PORT: true when a socket listens on IP:PORT (IPv4, from /proc/net/tcp).
listening() {
    local o
    IFS=. read -r -a o <<<"$1"
    awk -v w="$(printf '%02X%02X%02X%02X:%04X' "${o[3]}" "${o[2]}" "${o[1]}" "${o[0]}" "$2")" \
        'FNR > 1 && $2 == w && $4 == "0A" { f = 1 } END { exit !f }' /proc/net/tcp
}

# free_ports COUNT: COUNT distinct TCP ports nothing uses, below the kernel's ephemeral range so
# the routers' outbound connections cannot take them meanwhile.
free_ports() {
    local lo=20000 hi eph picked=() p tries
    read -r eph _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || eph=32768
    hi=$((eph - 1 > lo + 1000 ? eph - 1 : lo + 1000))
    for ((tries = 0; tries < 10000 && ${#picked[@]} < $1; tries++)); do
        p=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo + 1)))
        [[ " ${picked[*]} " == *" $p "* ]] && continue
        port_used "$p" && continue
        picked+=("$p")
    done
    [[ ${#picked[@]} == "$1" ]] || fail "no free ports"
    echo "${picked[*]}"
}

read -r S2S_A COMP_A METRICS_A S2S_B COMP_B METRICS_B <<<"$(free_ports 6)"
[[ -n $METRICS_B ]] || exit 1

# Throwaway CA and one certificate per hosted domain.
(
    cd "$WORK"
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout ca.key -out ca.pem -days 2 -subj "/CN=fedrouter demo CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
) || fail "cannot create the CA"

make_cert() { # make_cert NAME DOMAIN...: key and CA-signed certificate naming every DOMAIN
    local name=$1 san="" d
    shift
    for d in "$@"; do san+="${san:+,}DNS:$d"; done
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$WORK/$name.key" -out "$WORK/$name.pem" -days 2 -subj "/CN=$1" \
        -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
        -addext "subjectAltName=$san" -addext "extendedKeyUsage=serverAuth,clientAuth" \
        -addext "keyUsage=critical,digitalSignature" \
        -addext "basicConstraints=critical,CA:FALSE" 2>/dev/null
}

A_DOMAINS=()
B_DOMAINS=()
for ((i = 1; i <= DOMAINS; i++)); do
    A_DOMAINS+=("a$i.demo.example")
    B_DOMAINS+=("b$i.demo.example")
done
# By default each router has one certificate for all its domains, as a virtual host would; with
# --cert-per-domain every domain has its own, so the pool has to verify each new domain.
if ((CERT_PER_DOMAIN)); then
    for d in "${A_DOMAINS[@]}" "${B_DOMAINS[@]}"; do
        make_cert "$d" "$d" || fail "cannot create the certificate for $d"
    done
else
    make_cert router-a "${A_DOMAINS[@]}" || fail "cannot create router A's certificate"
    make_cert router-b "${B_DOMAINS[@]}" || fail "cannot create router B's certificate"
fi

# Component secrets: one per domain, in a file democomp reads (not on its command line).
: >"$WORK/secrets"
chmod 600 "$WORK/secrets"
for d in "${A_DOMAINS[@]}" "${B_DOMAINS[@]}"; do
    echo "$d $(openssl rand -hex 16)" >>"$WORK/secrets"
done
secret_of() { awk -v d="$1" '$1 == d { print $2 }' "$WORK/secrets"; }

# write_conf FILE IP S2S COMP METRICS PEER_IP PEER_S2S LOCAL_DOMAINS... -- REMOTE_DOMAINS...
write_conf() {
    local file=$1 ip=$2 s2s=$3 comp=$4 metrics=$5 peer_ip=$6 peer_s2s=$7
    shift 7
    local locals=() remotes=() d sep
    while [[ $1 != -- ]]; do locals+=("$1"); shift; done
    shift
    remotes=("$@")
    {
        echo "# generated by tools/demo.sh"
        echo "workers = 2;"
        echo "log_level = \"info\";"
        echo "s2s = {"
        echo "  listen = [ \"$ip:$s2s\" ];"
        echo "  require_tls = true;"
        echo "  ca_file = \"$WORK/ca.pem\";"
        # Both routers connect from 127.0.0.1; with a certificate per domain every new domain
        # may need a verification connection, unauthenticated for a moment: more than the
        # default limit of 16 from one address.
        ((CERT_PER_DOMAIN)) && echo "  max_unauth_per_ip = $((${#locals[@]} * ${#remotes[@]} + 16));"
        echo "  dialback_secret = \"$(openssl rand -hex 16)\";"
        echo "};"
        echo "components = { listen = [ \"$ip:$comp\" ]; };"
        echo "metrics = { listen = \"$ip:$metrics\"; };"
        echo "certificates = ("
        sep=""
        if ((CERT_PER_DOMAIN)); then
            for d in "${locals[@]}"; do
                printf '%s  { cert = "%s"; key = "%s"; domains = [ "%s" ]; }' "$sep" \
                    "$WORK/$d.pem" "$WORK/$d.key" "$d"
                sep=$',\n'
            done
        else
            local name=router-${locals[0]:0:1} list=""
            for d in "${locals[@]}"; do list+="${list:+, }\"$d\""; done
            printf '  { cert = "%s"; key = "%s"; domains = [ %s ]; }' \
                "$WORK/$name.pem" "$WORK/$name.key" "$list"
        fi
        echo
        echo ");"
        echo "domains = ("
        sep=""
        for d in "${locals[@]}"; do
            printf '%s  { name = "%s"; secret = "%s"; }' "$sep" "$d" "$(secret_of "$d")"
            sep=$',\n'
        done
        echo
        echo ");"
        echo "routes = ("
        sep=""
        for d in "${remotes[@]}"; do
            printf '%s  { domain = "%s"; host = "%s"; port = %d; direct_tls = false; }' "$sep" \
                "$d" "$peer_ip" "$peer_s2s"
            sep=$',\n'
        done
        echo
        echo ");"
    } >"$file"
    chmod 600 "$file"
}

write_conf "$WORK/a.conf" $IP_A "$S2S_A" "$COMP_A" "$METRICS_A" $IP_B "$S2S_B" \
    "${A_DOMAINS[@]}" -- "${B_DOMAINS[@]}"
write_conf "$WORK/b.conf" $IP_B "$S2S_B" "$COMP_B" "$METRICS_B" $IP_A "$S2S_A" \
    "${B_DOMAINS[@]}" -- "${A_DOMAINS[@]}"

# distinct_routes CONF: the distinct host:port the routes of CONF point at (the peer addresses
# that router sends to: every remote domain democomp addresses has a route here).
distinct_routes() {
    awk -F'"' '/domain = .*host = / { split($0, a, "port = "); split(a[2], p, ";");
               print $4 ":" p[1] }' "$1" | sort -u | wc -l
}

"$ROUTER_BIN" -c "$WORK/a.conf" 2>"$WORK/router-a.log" &
PIDS+=($!)
PID_A=$!
"$ROUTER_BIN" -c "$WORK/b.conf" 2>"$WORK/router-b.log" &
PIDS+=($!)
PID_B=$!

wait_listen() { # wait_listen PID IP PORT...
    local pid=$1 ip=$2 port
    shift 2
    for port in "$@"; do
        for ((t = 0; t < 150; t++)); do
            kill -0 "$pid" 2>/dev/null || fail "router $ip exited during start-up"
            listening "$ip" "$port" && continue 2
            sleep 0.1
        done
        fail "router $ip does not listen on port $port after 15 s"
    done
}
wait_listen $PID_A $IP_A "$S2S_A" "$COMP_A" "$METRICS_A"
wait_listen $PID_B $IP_B "$S2S_B" "$COMP_B" "$METRICS_B"

# Both democomps connect and authenticate; sending starts when both are ready (the go file), so
# no stanza reaches a router before the component of its destination is attached.
DC_COMMON=(--secrets "$WORK/secrets" --messages "$MESSAGES" --deadline "$DEADLINE"
    --go "$WORK/go" ${RATE:+--rate "$RATE"})
"$DEMOCOMP_BIN" --router "$IP_A:$COMP_A" --local 'a*.demo.example' --local-count "$DOMAINS" \
    --remote 'b*.demo.example' --remote-count "$DOMAINS" --ready "$WORK/a.ready" \
    "${DC_COMMON[@]}" >"$WORK/democomp-a.out" 2>"$WORK/democomp-a.err" &
PIDS+=($!)
DC_A=$!
"$DEMOCOMP_BIN" --router "$IP_B:$COMP_B" --local 'b*.demo.example' --local-count "$DOMAINS" \
    --remote 'a*.demo.example' --remote-count "$DOMAINS" --ready "$WORK/b.ready" \
    "${DC_COMMON[@]}" >"$WORK/democomp-b.out" 2>"$WORK/democomp-b.err" &
PIDS+=($!)
DC_B=$!

for ((t = 0; t < 300; t++)); do
    [[ -e $WORK/a.ready && -e $WORK/b.ready ]] && break
    kill -0 $DC_A 2>/dev/null || break
    kill -0 $DC_B 2>/dev/null || break
    sleep 0.1
done
[[ -e $WORK/a.ready && -e $WORK/b.ready ]] || {
    wait $DC_A || true
    wait $DC_B || true
    fail "the components did not all complete their handshakes"
}
touch "$WORK/go"
RC_A=0
RC_B=0
wait $DC_A || RC_A=$?
wait $DC_B || RC_B=$?

# dc FILE KEY: a value printed by democomp (0 when absent).
dc() { awk -F': ' -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? 0 : v + 0) }' "$1"; }
dc_elapsed() { awk -F': ' '$1 == "elapsed" { split($2, a, " "); print a[1] }' "$1"; }

kill -0 $PID_A 2>/dev/null || fail "router A died during the run"
kill -0 $PID_B 2>/dev/null || fail "router B died during the run"
curl -fsS --max-time 5 "http://$IP_A:$METRICS_A/metrics" >"$WORK/metrics-a.txt" ||
    fail "cannot scrape router A's /metrics"
curl -fsS --max-time 5 "http://$IP_B:$METRICS_B/metrics" >"$WORK/metrics-b.txt" ||
    fail "cannot scrape router B's /metrics"

# metric FILE NAME [LABELS]: the sum of the series of NAME whose label set is LABELS or contains
# it as a run of labels (0 when absent); with LABELS "*", the sum of every series of NAME.
metric() {
    awk -v n="$2" -v l="${3:-}" '
        /^#/ { next }
        {
            key = $1; val = $2
            name = key; labels = ""
            i = index(key, "{")
            if (i > 0) { name = substr(key, 1, i - 1); labels = substr(key, i + 1, length(key) - i - 1) }
            if (name != n) next
            # |l| matches the whole label set or a run of labels in it (direction="out" counts
            # every family of fedrouter_tcp_connects_total).
            if (l == "*" || labels == l || index("," labels ",", "," l ",") > 0) sum += val
        }
        END { printf "%d\n", sum }' "$1"
}

MA=$WORK/metrics-a.txt
MB=$WORK/metrics-b.txt
PAIRS=$(($(dc "$WORK/democomp-a.out" pairs) + $(dc "$WORK/democomp-b.out" pairs)))
SENT=$(($(dc "$WORK/democomp-a.out" "stanzas sent") + $(dc "$WORK/democomp-b.out" "stanzas sent")))
PLANNED=$((2 * DOMAINS * DOMAINS * MESSAGES))
DELIVERED=$(($(dc "$WORK/democomp-a.out" "stanzas delivered") +
    $(dc "$WORK/democomp-b.out" "stanzas delivered")))
BOUNCES=$(($(dc "$WORK/democomp-a.out" bounces) + $(dc "$WORK/democomp-b.out" bounces)))
DUPS=$(($(dc "$WORK/democomp-a.out" duplicates) + $(dc "$WORK/democomp-b.out" duplicates)))
PEERS=$(($(distinct_routes "$WORK/a.conf") + $(distinct_routes "$WORK/b.conf")))
CONN_OUT_A=$(metric "$MA" fedrouter_tcp_connects_total 'direction="out"')
CONN_OUT_B=$(metric "$MB" fedrouter_tcp_connects_total 'direction="out"')
CONN_IN_A=$(metric "$MA" fedrouter_tcp_connects_total 'direction="in"')
CONN_IN_B=$(metric "$MB" fedrouter_tcp_connects_total 'direction="in"')
TLS_OUT_A=$(metric "$MA" fedrouter_tls_handshakes_total 'direction="out"')
TLS_OUT_B=$(metric "$MB" fedrouter_tls_handshakes_total 'direction="out"')
TLS_IN_A=$(metric "$MA" fedrouter_tls_handshakes_total 'direction="in"')
TLS_IN_B=$(metric "$MB" fedrouter_tls_handshakes_total 'direction="in"')
ROUTED_A=$(metric "$MA" fedrouter_stanzas_routed_total)
ROUTED_B=$(metric "$MB" fedrouter_stanzas_routed_total)
RBOUNCES=$(($(metric "$MA" fedrouter_bounces_total '*') + $(metric "$MB" fedrouter_bounces_total '*')))
ELAPSED=$(printf '%s\n%s\n' "$(dc_elapsed "$WORK/democomp-a.out")" \
    "$(dc_elapsed "$WORK/democomp-b.out")" | sort -g | tail -n 1)

echo "pairs: $PAIRS"
echo "peer addresses: $PEERS"
echo "stanzas sent: $SENT"
echo "stanzas delivered: $DELIVERED"
echo "tcp connects: $((CONN_OUT_A + CONN_OUT_B))"
echo "tls handshakes: $((TLS_OUT_A + TLS_OUT_B))"
echo "elapsed: ${ELAPSED:-0} s"
# Pool metrics, when this build has them.
for m in fedrouter_verification_connections_total:"verification connections" \
    fedrouter_handshakes_avoided_total:"handshakes avoided"; do
    if grep -q "^${m%%:*}[ {]" "$MA" "$MB"; then
        echo "${m#*:}: $(($(metric "$MA" "${m%%:*}" '*') + $(metric "$MB" "${m%%:*}" '*')))"
    fi
done

OK=1
mismatch() {
    echo "MISMATCH: $*" >&2
    OK=0
}
[[ $RC_A == 0 ]] || mismatch "democomp A exited $RC_A"
[[ $RC_B == 0 ]] || mismatch "democomp B exited $RC_B"
[[ $SENT == "$PLANNED" ]] || mismatch "stanzas sent $SENT != planned $PLANNED"
[[ $DELIVERED == "$PLANNED" ]] || mismatch "stanzas delivered $DELIVERED != planned $PLANNED"
[[ $BOUNCES == 0 && $RBOUNCES == 0 ]] ||
    mismatch "bounces: democomps received $BOUNCES, routers counted $RBOUNCES (fedrouter_bounces_total)"
[[ $DUPS == 0 ]] || mismatch "$DUPS stanzas arrived more than once"
# fedrouter_stanzas_routed_total counts each stanza twice: once when the origin router writes it
# to the s2s stream, once when the destination router hands it to the component.
[[ $((ROUTED_A + ROUTED_B)) == $((SENT + DELIVERED)) ]] ||
    mismatch "fedrouter_stanzas_routed_total A $ROUTED_A + B $ROUTED_B = $((ROUTED_A + ROUTED_B))" \
        "!= stanzas sent $SENT + delivered $DELIVERED = $((SENT + DELIVERED))"
# Every connection one router makes is one the other accepts; both ends count its TLS handshake.
[[ $CONN_OUT_A == "$CONN_IN_B" && $CONN_OUT_B == "$CONN_IN_A" ]] ||
    mismatch "tcp connects: A out $CONN_OUT_A, B in $CONN_IN_B; B out $CONN_OUT_B, A in $CONN_IN_A"
[[ $TLS_OUT_A == "$TLS_IN_B" && $TLS_OUT_B == "$TLS_IN_A" ]] ||
    mismatch "tls handshakes: A out $TLS_OUT_A, B in $TLS_IN_B; B out $TLS_OUT_B, A in $TLS_IN_A"
[[ $((CONN_OUT_A + CONN_OUT_B)) -ge $PEERS ]] ||
    mismatch "tcp connects $((CONN_OUT_A + CONN_OUT_B)) < peer addresses $PEERS"
[[ $((TLS_OUT_A + TLS_OUT_B)) -ge $PEERS ]] ||
    mismatch "tls handshakes $((TLS_OUT_A + TLS_OUT_B)) < peer addresses $PEERS (require_tls is on)"

if [[ $OK == 1 ]]; then
    STATUS=0
else
    show_logs
fi
exit $STATUS
