#!/usr/bin/env bash
# Runs a command against a PostgreSQL 15 of its own: initdb on a temp directory
# (as the postgres user when root, since initdb refuses root), listening on
# 127.0.0.1 and a free port, TEST_DATABASE_URL exported to the command; the
# server is stopped by its pid and the directory removed whatever happens.
#
#   scripts/with-postgres.sh npx vitest run test/integration/sessions.test.ts
#   npm run test:pg -- test/integration/sessions.test.ts      (the same, PostgreSQL only)
#
# PG_BIN (default /usr/lib/postgresql/15/bin) names the server's binaries.
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: $0 <command> [args…]" >&2
  exit 64
fi

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DIR=""
PG_PID=""
launcher=""

postmaster_pid() {
  [ -s "$PG_DIR/data/postmaster.pid" ] && head -n 1 "$PG_DIR/data/postmaster.pid"
}

stop_postgres() {
  # Stopped while the server was starting: its pid shows in postmaster.pid shortly.
  if [ -z "$PG_PID" ] && [ -n "$launcher" ]; then
    for _ in $(seq 1 50); do
      PG_PID=$(postmaster_pid || true)
      [ -n "$PG_PID" ] || ! kill -0 "$launcher" 2>/dev/null && break
      sleep 0.1
    done
  fi
  if [ -n "$PG_PID" ] && kill -0 "$PG_PID" 2>/dev/null; then
    kill -INT "$PG_PID" 2>/dev/null || true # fast shutdown
    for _ in $(seq 1 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PG_PID" 2>/dev/null || true
  fi
  if [ -n "$PG_DIR" ]; then rm -rf "$PG_DIR"; fi
}
trap stop_postgres EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

PG_DIR=$(mktemp -d /tmp/gateway-with-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$PG_DIR"
  as_pg=(runuser -u postgres --)
fi
"${as_pg[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1 \
  || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
PG_PORT=$(free_port)
"${as_pg[@]}" "$PG_BIN/postgres" -D "$PG_DIR/data" -h 127.0.0.1 -p "$PG_PORT" -k "$PG_DIR" \
  -c max_connections=200 -c fsync=on >"$PG_DIR/server.log" 2>&1 &
launcher=$!
for _ in $(seq 1 100); do
  # The postmaster's own pid (runuser forks): known as soon as it has written postmaster.pid.
  [ -n "$PG_PID" ] || PG_PID=$(postmaster_pid || true)
  if "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q; then break; fi
  kill -0 "$launcher" 2>/dev/null || break
  sleep 0.2
done
"$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q || { cat "$PG_DIR/server.log" >&2; exit 1; }
[ -n "$PG_PID" ] || PG_PID=$(postmaster_pid)
export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (pid $PG_PID)" >&2

# In the background, so that a signal to this script is handled at once (bash defers traps while a
# foreground command runs): the command gets it too, then the server is stopped.
"$@" &
command_pid=$!
forward() {
  kill "-$1" "$command_pid" 2>/dev/null || true
  wait "$command_pid" 2>/dev/null || true
  exit "$2"
}
trap 'forward INT 130' INT
trap 'forward TERM 143' TERM HUP
status=0
wait "$command_pid" || status=$?
exit "$status"
