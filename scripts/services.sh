#!/usr/bin/env bash
# Real, throwaway local servers for tests and development: Redis 7, PostgreSQL 15,
# ClickHouse and an S3 with Object Lock (Ceph RGW on a one-node memstore cluster).
#
#   scripts/services.sh start [name...]   start (or reuse) services; wait until they answer
#   scripts/services.sh stop [name...]    stop services by PID (bounded waits)
#   scripts/services.sh restart name...   stop then start (see s3 below)
#   scripts/services.sh status            one line per service
#   scripts/services.sh env               KEY=value lines for the project's configuration
#
# Names: redis, postgres, clickhouse, s3, plus s3-gateway; no name means the first four.
# Binaries come from scripts/install-deps.sh (run it first on a fresh machine).
#
# S3 choice: `s3` is the whole Ceph cluster (monitor + memstore OSD + radosgw). Its objects
# live in the OSD's RAM, so `stop s3` loses them and the next `start s3` bootstraps a fresh
# cluster (~2 s). `s3-gateway` is radosgw alone: `stop s3-gateway` takes S3 away and
# `start s3-gateway` brings it back with every object intact - that is the S3 outage for
# fault tests. `restart s3` bounces only radosgw too (same as `restart s3-gateway`), so
# a restart never loses data for any service.
#
# State (data, logs, pid files, configs) lives in $STOWAGE_STATE_DIR/<name>/, default
# <repo>/.stowage/services/<name>/ (git-ignored). `start` also writes the `env` lines to
# $STOWAGE_ENV_FILE (default <repo>/.stowage/services.env): the lines of the services it
# started; the other services' lines stay as the file holds them.
#
# Ports (non-default, so a distro server on the default port never collides), overridable:
#   STOWAGE_REDIS_PORT=16379  STOWAGE_PG_PORT=15432
#   STOWAGE_CLICKHOUSE_HTTP_PORT=18123  STOWAGE_CLICKHOUSE_TCP_PORT=19000
#   STOWAGE_CLICKHOUSE_INTERSERVER_PORT=19009
#   STOWAGE_S3_PORT=17480  STOWAGE_CEPH_MON_PORT=13300  STOWAGE_CEPH_OSD_PORTS=16800-16899
# S3 credentials: STOWAGE_S3_ACCESS_KEY_ID, STOWAGE_S3_SECRET_ACCESS_KEY.
# Start-up timeout in seconds: STOWAGE_SERVICE_TIMEOUT (default 60) bounds each wait; Ceph
# waits in a few steps (monitor, OSD, user and pools, gateway), each bounded by it.
# On a timeout or failure the tail of the service's logs goes to stderr, exit status 1.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
STATE_ROOT=${STOWAGE_STATE_DIR:-$REPO_ROOT/.stowage/services}
ENV_FILE=${STOWAGE_ENV_FILE:-$REPO_ROOT/.stowage/services.env}
# Absolute, because servers (and the postgres user's commands, run from /) get these paths.
[[ $STATE_ROOT == /* ]] || STATE_ROOT=$PWD/$STATE_ROOT
[[ $ENV_FILE == /* ]] || ENV_FILE=$PWD/$ENV_FILE
SERVICE_TIMEOUT=${STOWAGE_SERVICE_TIMEOUT:-60}

REDIS_PORT=${STOWAGE_REDIS_PORT:-16379}
PG_PORT=${STOWAGE_PG_PORT:-15432}
CH_HTTP_PORT=${STOWAGE_CLICKHOUSE_HTTP_PORT:-18123}
CH_TCP_PORT=${STOWAGE_CLICKHOUSE_TCP_PORT:-19000}
CH_INTERSERVER_PORT=${STOWAGE_CLICKHOUSE_INTERSERVER_PORT:-19009}
S3_PORT=${STOWAGE_S3_PORT:-17480}
CEPH_MON_PORT=${STOWAGE_CEPH_MON_PORT:-13300}
CEPH_OSD_PORTS=${STOWAGE_CEPH_OSD_PORTS:-16800-16899}
S3_ACCESS_KEY=${STOWAGE_S3_ACCESS_KEY_ID:-stowage-local-access}
S3_SECRET_KEY=${STOWAGE_S3_SECRET_ACCESS_KEY:-stowage-local-secret-key-0123456789}
DB_NAME=stowage

ALL_SERVICES=(redis postgres clickhouse s3)

# ---------------------------------------------------------------------------------------
# Helpers shared by scripts/services/*.sh (they are sourced below, not run on their own).

log() { printf '[services] %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Folder of one service's state, created on demand.
state_dir() {
  local dir=$STATE_ROOT/$1
  mkdir -p -- "$dir"
  printf '%s\n' "$dir"
}

# Prints the PID in a pid file if that process is alive AND is the program we expect
# (its command line contains $2), so a stale pid file whose PID the kernel reused for an
# unrelated process is never mistaken for our server - and never killed.
live_pid() {
  local file=$1 expect=$2 pid
  [[ -r $file ]] || return 1
  # Not `read`: some servers (ClickHouse) write the PID without a trailing newline.
  pid=$(head -n 1 -- "$file" 2>/dev/null | tr -d '[:space:]')
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$expect" || return 1
  printf '%s\n' "$pid"
}

# True if something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp, so no
# extra tool is needed; bounded by `timeout`).
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Refuses to start a server on a port someone else already holds: that would fail later
# with a less obvious error, or worse, tests would talk to a foreign server.
ensure_port_free() {
  local port=$1 what=$2 holder=
  if port_open "$port"; then
    # Name the holder when `ss` (iproute2) is there; its cwd usually shows whose it is.
    local pid
    pid=$(ss -ltnpH "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n 1) || true
    pid=${pid#pid=}
    if [[ -n $pid ]]; then
      holder=" (pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80 |
        sed 's/ *$//')," \
      holder+=" cwd $(readlink "/proc/$pid/cwd" 2>/dev/null || echo '?'))"
    fi
    die "$what: port $port is already in use by a process this checkout did not start$holder." \
      "Another checkout's services? Stop them with that checkout's scripts/services.sh," \
      "or choose other ports via the STOWAGE_*_PORT variables (top of scripts/services.sh)."
  fi
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s until it succeeds;
# returns 1 after SECONDS. Every wait in these scripts goes through here, so none hangs.
wait_until() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.2
  done
  log "$what: timed out after ${seconds}s"
  return 1
}

# Prints the last lines of each existing log file to stderr, so a failed start explains
# itself in CI output.
show_logs() {
  local f
  for f in "$@"; do
    [[ -f $f ]] || continue
    printf '\n----- last 60 lines of %s -----\n' "$f" >&2
    tail -n 60 -- "$f" >&2 || true
  done
  printf '\n' >&2
}

# stop_pid PID NAME [GRACE [SIGNAL]]: sends SIGNAL (default TERM), waits up to GRACE
# seconds (default 30) for the process to exit, then sends SIGKILL.
stop_pid() {
  local pid=$1 name=$2 grace=${3:-30} signal=${4:-TERM}
  kill -"$signal" "$pid" 2>/dev/null || return 0
  if ! wait_until "$grace" "$name (pid $pid) exit after SIG$signal" pid_gone "$pid"; then
    log "$name: sending SIGKILL to $pid"
    kill -KILL "$pid" 2>/dev/null || true
    wait_until 10 "$name (pid $pid) exit after SIGKILL" pid_gone "$pid" || true
  fi
}
# A zombie counts as gone: daemons are re-parented to PID 1, and in some containers PID 1
# never reaps them, so `kill -0` alone would keep "seeing" a process that has exited.
pid_gone() {
  local stat
  kill -0 "$1" 2>/dev/null || return 0
  stat=$(<"/proc/$1/stat") 2>/dev/null || return 0
  [[ ${stat##*) } == Z* ]]
}

# Runs a command as the given system user when we are root, else as ourselves (a developer
# running without root owns the files anyway).
as_user() {
  local user=$1
  shift
  if ((EUID == 0)); then
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

# Seconds since an $EPOCHREALTIME value, e.g. "1.25s" (for progress lines only).
elapsed() {
  local now=$EPOCHREALTIME
  # Strip the decimal point (a comma in some locales): microseconds since the epoch.
  local us=$((${now//[.,]/} - ${1//[.,]/}))
  printf '%d.%02ds' $((us / 1000000)) $((us % 1000000 / 10000))
}

# One aligned status line: NAME STATE PID PORT [EXTRA].
print_status() {
  printf '%-11s %-14s pid=%-8s port=%s%s\n' "$1" "$2" "$3" "$4" "${5:+  $5}"
}

# Lines for the project's configuration keys. Values are shell-quoted only when needed,
# so the file can be `source`d by a shell and read by simple KEY=value parsers alike.
env_line() {
  local key=$1 value=$2
  if [[ $value =~ ^[A-Za-z0-9_./:@%+,=-]*$ ]]; then
    printf '%s=%s\n' "$key" "$value"
  else
    printf "%s='%s'\n" "$key" "${value//\'/\'\\\'\'}"
  fi
}
print_env() {
  env_line REDIS_URL "redis://127.0.0.1:$REDIS_PORT"
  env_line CACHE_REDIS_URL "redis://127.0.0.1:$REDIS_PORT/1"
  env_line DATABASE_URL "postgres://postgres@127.0.0.1:$PG_PORT/$DB_NAME"
  env_line CLICKHOUSE_URL "http://127.0.0.1:$CH_HTTP_PORT"
  env_line CLICKHOUSE_DATABASE "$DB_NAME"
  env_line S3_ENDPOINT "http://127.0.0.1:$S3_PORT"
  env_line S3_ACCESS_KEY_ID "$S3_ACCESS_KEY"
  env_line S3_SECRET_ACCESS_KEY "$S3_SECRET_KEY"
  env_line S3_REGION us-east-1
  env_line S3_FORCE_PATH_STYLE true
  # RGW 16 has no SSE-S3 (AES256 is accepted but not applied); its testing KMS backend
  # holds this key (scripts/services/s3.sh), so local archives are really encrypted.
  env_line ARCHIVE_SSE aws:kms
  env_line ARCHIVE_KMS_KEY_ID stowage-archive-key
}
# The service whose address a configuration key carries.
key_service() {
  case $1 in
    REDIS_URL | CACHE_REDIS_URL) printf 'redis\n' ;;
    DATABASE_URL) printf 'postgres\n' ;;
    CLICKHOUSE_*) printf 'clickhouse\n' ;;
    *) printf 's3\n' ;;
  esac
}
# write_env_file SERVICE...: rewrites the lines of the services this run started (or
# restarted). Every other line stays as the file has it: `STOWAGE_REDIS_PORT=… start redis`
# must not reset the other services' ports, which this run was not told, to the defaults.
write_env_file() {
  local started=" ${*/s3-gateway/s3} " line key old
  mkdir -p -- "$(dirname -- "$ENV_FILE")"
  # Write then rename, so a reader never sees half a file.
  while IFS= read -r line; do
    key=${line%%=*}
    if [[ $started != *" $(key_service "$key") "* && -r $ENV_FILE ]] &&
      old=$(grep -m 1 -- "^$key=" "$ENV_FILE"); then
      printf '%s\n' "$old"
    else
      printf '%s\n' "$line"
    fi
  done < <(print_env) >"$ENV_FILE.tmp"
  mv -f -- "$ENV_FILE.tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------------------------------
# Per-service logic: each file defines <svc>_start, <svc>_stop and <svc>_status.

# shellcheck source=services/redis.sh
source "$SCRIPT_DIR/services/redis.sh"
# shellcheck source=services/postgres.sh
source "$SCRIPT_DIR/services/postgres.sh"
# shellcheck source=services/clickhouse.sh
source "$SCRIPT_DIR/services/clickhouse.sh"
# shellcheck source=services/s3.sh
source "$SCRIPT_DIR/services/s3.sh"

# Maps a command-line name to its function prefix; rejects unknown names early.
fn_prefix() {
  case $1 in
    redis | postgres | clickhouse | s3) printf '%s\n' "$1" ;;
    s3-gateway) printf 's3_gateway\n' ;;
    *) die "unknown service '$1' (known: ${ALL_SERVICES[*]} s3-gateway)" ;;
  esac
}

usage() {
  sed -n '2,/^# shellcheck source-path/{/^# shellcheck/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

main() {
  local cmd=${1:-}
  [[ -n $cmd ]] || usage
  shift
  local names=("$@") name prefix
  if ((${#names[@]} == 0)); then
    names=("${ALL_SERVICES[@]}")
  fi
  # Validate every name before doing anything.
  for name in "${names[@]}"; do fn_prefix "$name" >/dev/null; done
  [[ $cmd != restart || $# -gt 0 ]] || die "restart needs a service name"

  # One services.sh at a time per state folder: two concurrent starts (say vitest's
  # globalSetup and a developer's shell) would otherwise race to bootstrap the same
  # servers. The script re-runs itself under flock(1); -o keeps the lock with flock
  # alone - a lock descriptor inherited by the servers we start would be held forever.
  # Bounded like every other wait.
  if [[ $cmd =~ ^(start|stop|restart)$ && -z ${STOWAGE_SERVICES_LOCKED:-} ]]; then
    mkdir -p -- "$STATE_ROOT"
    local rc=0
    STOWAGE_SERVICES_LOCKED=1 flock -o -E 75 -w 300 "$STATE_ROOT/.lock" \
      bash "${BASH_SOURCE[0]}" "$cmd" "$@" || rc=$?
    ((rc != 75)) || die "another scripts/services.sh held $STATE_ROOT/.lock for 300s"
    exit "$rc"
  fi

  case $cmd in
    start)
      for name in "${names[@]}"; do
        prefix=$(fn_prefix "$name")
        local t0=$EPOCHREALTIME
        "${prefix}_start"
        log "$name: ready ($(elapsed "$t0"))"
      done
      write_env_file "${names[@]}"
      ;;
    stop)
      for name in "${names[@]}"; do
        prefix=$(fn_prefix "$name")
        "${prefix}_stop"
      done
      ;;
    restart)
      for name in "${names[@]}"; do
        prefix=$(fn_prefix "$name")
        # A full s3 restart would drop every object (memstore); bounce the gateway only.
        [[ $prefix == s3 ]] && prefix=s3_gateway
        "${prefix}_stop"
        "${prefix}_start"
        log "$name: restarted"
      done
      write_env_file "${names[@]}"
      ;;
    status)
      for name in "${ALL_SERVICES[@]}"; do "${name}_status"; done
      ;;
    env)
      print_env
      ;;
    -h | --help | help)
      usage
      ;;
    *)
      log "unknown command '$cmd'"
      usage
      ;;
  esac
}

main "$@"
