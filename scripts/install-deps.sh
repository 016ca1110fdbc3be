#!/usr/bin/env bash
# Installs the Debian packages that scripts/services.sh needs (Redis 7, PostgreSQL 15,
# ClickHouse, Ceph RGW, curl), Chromium (test/e2e/dashboard-browser.test.ts drives it
# headless through playwright-core) plus docker-compose (used only to validate compose files).
#
# Idempotent: when every binary is already present it changes nothing and does not touch
# the network. Otherwise it runs `apt-get update` once and installs only what is missing.
# Works as root (CI) or as a user with sudo; non-interactive (CI has no stdin).
set -euo pipefail

log() { printf '[install-deps] %s\n' "$*" >&2; }

# Package -> a file it installs. A package is "missing" when its file is absent, so a
# machine where everything is installed never needs apt (or the network, or root).
declare -A probe=(
  [redis-server]=/usr/bin/redis-server
  [redis-tools]=/usr/bin/redis-cli
  [postgresql-15]=/usr/lib/postgresql/15/bin/initdb
  [postgresql-client-15]=/usr/lib/postgresql/15/bin/psql
  [clickhouse-server]=/usr/sbin/clickhouse-server
  [clickhouse-client]=/usr/bin/clickhouse-client
  [radosgw]=/usr/bin/radosgw
  [ceph-mon]=/usr/bin/ceph-mon
  [ceph-osd]=/usr/bin/ceph-osd
  [ceph-common]=/usr/bin/radosgw-admin
  [ceph-base]=/usr/bin/monmaptool
  [curl]=/usr/bin/curl
)
# Installed apart, with --no-install-recommends: its recommends pull in docker.io,
# containerd and runc, which we do not want (see shared/notes/compose-and-sdk.md).
compose_probe=/usr/bin/docker-compose
# Debian's Chromium, not Playwright's downloaded browsers, also without recommends (they
# pull in upower, udev, avahi, cups helpers and a notification daemon, none of which a
# headless test needs); fonts-liberation is the one recommend kept, so screenshots have text.
chromium_probe=/usr/bin/chromium
chromium_pkgs=(chromium fonts-liberation)

missing=()
for pkg in "${!probe[@]}"; do
  [[ -e ${probe[$pkg]} ]] || missing+=("$pkg")
done
need_compose=false
[[ -e $compose_probe ]] || need_compose=true
need_chromium=false
[[ -e $chromium_probe ]] || need_chromium=true

if ((${#missing[@]} == 0)) && [[ $need_compose == false ]] && [[ $need_chromium == false ]]; then
  log "all packages present; nothing to do"
  exit 0
fi

# Root runs apt directly; anyone else needs sudo (-n: never prompt, CI has no stdin).
SUDO=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
  else
    log "not root and sudo is not installed; as root run this script again"
    exit 1
  fi
fi

# Keep apt from starting the distro's own redis/postgres/clickhouse/ceph services: we run
# private instances on other ports, and CI has no systemd anyway. policy-rc.d exiting 101
# is Debian's documented "do not start services" switch. Only add it if none exists, and
# remove only the one we added.
policy=/usr/sbin/policy-rc.d
added_policy=false
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
  "${SUDO[@]}" chmod 755 "$policy"
  added_policy=true
fi
cleanup() {
  if [[ $added_policy == true ]]; then
    "${SUDO[@]}" rm -f "$policy"
  fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
wanted=("${missing[@]}")
[[ $need_compose == true ]] && wanted+=(docker-compose)
[[ $need_chromium == true ]] && wanted+=("${chromium_pkgs[@]}")
log "missing: ${wanted[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
if ((${#missing[@]} > 0)); then
  # Sorted so the log is stable from run to run.
  mapfile -t sorted < <(printf '%s\n' "${missing[@]}" | sort)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${sorted[@]}"
fi
if [[ $need_compose == true ]]; then
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends docker-compose
fi
if [[ $need_chromium == true ]]; then
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${chromium_pkgs[@]}"
fi
log "done"
