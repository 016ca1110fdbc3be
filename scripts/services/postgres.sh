# shellcheck shell=bash
# PostgreSQL 15 (Debian's postgresql-15). Sourced by scripts/services.sh.
#
# initdb and the server refuse to run as root, so as root they run as the `postgres`
# system user (runuser); a non-root developer runs them as themself. The cluster is made
# with `-U postgres --auth=trust`, so the role `postgres` always exists and connects
# without a password - acceptable because it listens on 127.0.0.1 only.

PG_BIN=/usr/lib/postgresql/15/bin

# Where the cluster lives (data/, run/ for the socket, postgres.log). Normally
# <state>/postgres/cluster; but when root runs this from a checkout the postgres user
# cannot reach (e.g. under /root, mode 700), the server could not open its own files, so
# fall back to /tmp/stowage-pg-<hash of the state folder's path> (one per checkout, or
# per STOWAGE_STATE_DIR) and say so.
pg_base() {
  local dir base hash
  dir=$(state_dir postgres)
  base=$dir/cluster
  if ((EUID == 0)) && ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
    hash=$(printf '%s' "$STATE_ROOT" | sha256sum | cut -c1-12)
    base=/tmp/stowage-pg-$hash
    if [[ ! -e $dir/LOCATION ]]; then
      log "postgres: user 'postgres' cannot traverse $dir; using $base instead"
    fi
    printf 'The PostgreSQL cluster of this checkout is in %s\n' "$base" >"$dir/LOCATION"
  fi
  mkdir -p -- "$base/data" "$base/run"
  # Data folders must be owned by the server's user and private (initdb/postgres check).
  if ((EUID == 0)); then chown postgres:postgres "$base" "$base/data" "$base/run"; fi
  chmod 700 "$base/data"
  printf '%s\n' "$base"
}

# Runs a PostgreSQL tool as the server's user, from / so a cwd that user cannot read
# (root's home) does not produce warnings.
pg_as_owner() { (cd / && as_user postgres "$@"); }

pg_psql() {
  PGCONNECT_TIMEOUT=5 timeout 30 "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -v ON_ERROR_STOP=1 "$@"
}

pg_answers() {
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -t 2 &&
    [[ $(pg_psql -d postgres -tAc 'select 1' 2>/dev/null) == 1 ]]
}

pg_pid() { live_pid "$1/data/postmaster.pid" postgres; }

pg_create_database() {
  local exists
  exists=$(pg_psql -d postgres -tAc "select 1 from pg_database where datname = '$DB_NAME'")
  if [[ $exists != 1 ]]; then
    pg_psql -d postgres -c "create database $DB_NAME"
    log "postgres: created database $DB_NAME"
  fi
}

postgres_start() {
  local base pid
  base=$(pg_base)
  if pid=$(pg_pid "$base"); then
    if wait_until "$SERVICE_TIMEOUT" "postgres (pid $pid)" pg_answers; then
      log "postgres: already running (pid $pid), reusing"
      pg_create_database
      return 0
    fi
    show_logs "$base/postgres.log"
    die "postgres: pid $pid is alive but does not answer on port $PG_PORT"
  fi
  # Lock files left by a crash whose PID now belongs to another process would make the
  # server refuse to start; they are ours, so remove them (live_pid already said stale).
  rm -f -- "$base/data/postmaster.pid" "$base/run/.s.PGSQL.$PG_PORT.lock"
  ensure_port_free "$PG_PORT" postgres

  if [[ ! -f $base/data/PG_VERSION ]]; then
    # Half-made data folder from an interrupted initdb: initdb needs it empty.
    find "$base/data" -mindepth 1 -delete
    log "postgres: initdb in $base/data"
    if ! pg_as_owner "$PG_BIN/initdb" -D "$base/data" -U postgres --auth=trust -E UTF8 \
      --locale=C.UTF-8 >"$base/initdb.log" 2>&1; then
      show_logs "$base/initdb.log"
      die "postgres: initdb failed"
    fi
  fi

  # Settings go on the command line (not postgresql.conf) so a changed port applies on
  # the next start. fsync=off: these are throwaway test servers; a server crash still
  # loses nothing, only an OS crash could corrupt the cluster - not worth the slowdown.
  if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$base/data" -l "$base/postgres.log" \
    -w -t "$SERVICE_TIMEOUT" \
    -o "-p $PG_PORT -k $base/run -c listen_addresses=127.0.0.1 -c fsync=off" \
    start </dev/null >>"$base/pg_ctl.log" 2>&1 ||
    ! wait_until "$SERVICE_TIMEOUT" postgres pg_answers; then
    show_logs "$base/pg_ctl.log" "$base/postgres.log"
    die "postgres: failed to start (log: $base/postgres.log)"
  fi
  pg_create_database
}

postgres_stop() {
  local base pid
  base=$(pg_base)
  if pid=$(pg_pid "$base"); then
    # SIGINT is PostgreSQL's "fast" shutdown: it disconnects clients (SIGTERM, "smart",
    # would wait for every open pool) and checkpoints, so the data survives a restart.
    stop_pid "$pid" postgres 30 INT
    log "postgres: stopped"
  else
    log "postgres: not running"
  fi
}

postgres_status() {
  local base pid
  base=$(pg_base)
  if pid=$(pg_pid "$base"); then
    if pg_answers; then
      print_status postgres running "$pid" "$PG_PORT"
    else
      print_status postgres not-answering "$pid" "$PG_PORT"
    fi
  else
    print_status postgres stopped - "$PG_PORT"
  fi
}
