#!/bin/sh
# setup-deps.sh: installs what the interop suite (tests/interop/) needs, from Debian 12 packages.
# Idempotent: does nothing when every package is already installed. No packaged service is
# started or left running: a policy-rc.d that refuses every start is in place during the install
# (an existing /usr/sbin/policy-rc.d is kept as it is), and the suite runs its own instances of
# Prosody, knot, unbound and nginx with its own configs, data directories and pid files.
#
#   prosody            the XMPP server we federate with (0.12)
#   lua-unbound        Prosody's DNSSEC-capable resolver (libunbound)
#   python3-slixmpp    the real XMPP client on the Prosody side (run with /usr/bin/python3)
#   knot               authoritative DNS, signs the test. zone (DNSSEC, automatic signing)
#   unbound            validating resolver (already a build/test dependency)
#   nginx-light        HTTPS server for POSH documents
#   iproute2           ip netns / veth
#   openssl            test CA
set -eu

PKGS="prosody lua-unbound lua-sec lua-event python3-slixmpp knot knot-dnsutils unbound nginx-light iproute2 openssl"

missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && { echo "interop deps: all installed"; exit 0; }

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

own_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# installed by tests/interop/setup-deps.sh while it runs\nexit 101\n' |
    $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod 755 /usr/sbin/policy-rc.d
  own_policy=1
fi
cleanup() { [ "$own_policy" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d; return 0; }
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
echo "interop deps: installing$missing"
$SUDO apt-get update -qq || true
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing

# Packaged services must not run (policy-rc.d should have prevented a start; stop any anyway,
# each by the pid file its package writes).
for pf in /run/prosody/prosody.pid /run/knot/knot.pid /run/nginx.pid /run/unbound.pid; do
  if [ -s "$pf" ]; then
    pid=$(cat "$pf")
    case "$pid" in *[!0-9]*|"") ;; *) $SUDO kill "$pid" 2>/dev/null || true ;; esac
  fi
done
echo "interop deps: done"
