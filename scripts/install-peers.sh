#!/usr/bin/env bash
# Install the real peers the interop tests run against (Debian 12, as root).
#
#   bash scripts/install-peers.sh
#
# Idempotent: when every package is already installed it only says so and exits.
# It never leaves a daemon running: service start-up is blocked with a temporary
# policy-rc.d (exit 101) during the install, and any peer daemon that still
# appeared during the install is stopped by PID afterwards.
set -euo pipefail

PACKAGES=(
  krb5-kdc krb5-admin-server krb5-user krb5-gss-samples libkrb5-dev
  gss-ntlmssp python3-gssapi winbind tshark redis-server curl
  apache2 libapache2-mod-auth-gssapi heimdal-kcm nginx-light haproxy chromium
  firefox-esr libnss3-tools python3-requests-ntlm python3-requests-kerberos python3-cryptography
  squid
  g++ make  # for npm to build better-sqlite3 when no prebuilt binary is reachable (the tests need the on-disk store)
)
# Daemons that any of the packages above could try to launch.
DAEMONS=(krb5kdc kadmind winbindd smbd nmbd redis-server dumpcap apache2 httpd kcm nginx haproxy squid)

log() { printf 'install-peers: %s\n' "$*"; }

started=$(date +%s)

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg -s succeeds for packages in "deinstall" state too: check the status line.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

versions() { dpkg-query -W -f='${Package}=${Version} ' "${PACKAGES[@]}" 2>/dev/null; echo; }

if [[ ${#missing[@]} -eq 0 ]]; then
  log "all ${#PACKAGES[@]} packages already installed; nothing to do ($(( $(date +%s) - started ))s)"
  log "versions: $(versions)"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  log "must run as root to install: ${missing[*]}" >&2
  exit 1
fi

log "missing: ${missing[*]}"

# PIDs of peer daemons that were running before we started: those are not ours to stop.
pids_of() { local d; for d in "${DAEMONS[@]}"; do pgrep -x "$d" || true; done | sort -n; }
before=$(pids_of)

# Block service start-up during the install. Keep whatever policy-rc.d was there.
POLICY=/usr/sbin/policy-rc.d
policy_backup=""
if [[ -e $POLICY ]]; then
  policy_backup=$(mktemp)
  cp -p "$POLICY" "$policy_backup"
fi
restore_policy() {
  if [[ -n $policy_backup ]]; then
    cp -p "$policy_backup" "$POLICY"
    rm -f "$policy_backup"
  else
    rm -f "$POLICY"
  fi
}
trap restore_policy EXIT
printf '#!/bin/sh\n# temporary, from tslsa scripts/install-peers.sh\nexit 101\n' > "$POLICY"
chmod 755 "$POLICY"

# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
apt-get update -qq
log "apt-get install ${missing[*]}"
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null

# Anything that started anyway (no systemd here, but be sure) is stopped by PID.
after=$(pids_of)
new=$(comm -13 <(echo "$before") <(echo "$after") | grep -v '^$' || true)
if [[ -n $new ]]; then
  for pid in $new; do
    log "stopping daemon started during install: pid $pid ($(ps -o comm= -p "$pid" 2>/dev/null || echo '?'))"
    kill "$pid" 2>/dev/null || true
  done
fi

# Prove the binaries the tests call are there.
for b in krb5kdc kdb5_util kadmin.local kinit klist kvno gss-server gss-client ntlm_auth tshark text2pcap redis-server curl apache2 chromium firefox-esr certutil squid; do
  command -v "$b" >/dev/null || { log "binary $b missing after install" >&2; exit 1; }
done
/usr/bin/python3 -c 'import gssapi' || { log "/usr/bin/python3 cannot import gssapi" >&2; exit 1; }
/usr/bin/python3 -c 'import requests_ntlm, ntlm_auth, requests_kerberos, kerberos' || { log "/usr/bin/python3 cannot import requests_ntlm or requests_kerberos" >&2; exit 1; }
[[ -x /usr/sbin/kcm ]] || { log "/usr/sbin/kcm (heimdal-kcm) missing after install" >&2; exit 1; }
[[ -x /usr/lib/squid/negotiate_kerberos_auth ]] || { log "squid's negotiate_kerberos_auth helper missing after install" >&2; exit 1; }
[[ -f /usr/lib/apache2/modules/mod_auth_gssapi.so ]] || { log "mod_auth_gssapi.so missing after install" >&2; exit 1; }
[[ -n $(ls /etc/gss/mech.d/ 2>/dev/null) ]] || { log "gss-ntlmssp mech not registered in /etc/gss/mech.d" >&2; exit 1; }

log "versions: $(versions)"
log "installed ${#missing[@]} package(s) in $(( $(date +%s) - started ))s"
