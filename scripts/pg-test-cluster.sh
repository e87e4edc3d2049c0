#!/usr/bin/env bash
# A real PostgreSQL for tests and CI (tests/support/postgres.py calls this; so can .ci/run or a shell).
#
#   scripts/pg-test-cluster.sh start [PROBE_URL]
#       Prints two lines: the URL of a PostgreSQL superuser connection, then the private cluster's
#       directory (an empty line when none was started).
#       PROBE_URL (default postgresql://postgres@127.0.0.1:5432/test, trust auth) is used when it accepts
#       connections; otherwise a private cluster is created with Debian's binaries
#       (/usr/lib/postgresql/*/bin: apt-get install postgresql) in a new temporary directory and
#       started on a free 127.0.0.1 port, trust auth for local connections only.
#   scripts/pg-test-cluster.sh start-private [SETTING=VALUE ...]
#       Like start, but always a new private cluster; each SETTING=VALUE is passed to the server (-c).
#   scripts/pg-test-cluster.sh start-replicated [SETTING=VALUE ...]
#       Two new private clusters in streaming replication: a primary and a synchronous standby
#       (synchronous_standby_names = the standby; a commit waits for the standby's flush), each on a free
#       port. Prints four lines: the primary's URL, its directory, the standby's URL, its directory.
#   scripts/pg-test-cluster.sh promote DIR
#       Promotes the standby in DIR to a primary (waits until it accepts writes).
#   scripts/pg-test-cluster.sh crash DIR
#       Crashes the private cluster in DIR (immediate shutdown: no checkpoint, recovery at the next
#       start, UNLOGGED tables emptied) and keeps DIR.
#   scripts/pg-test-cluster.sh restart DIR
#       Starts the crashed (or stopped) cluster in DIR again, on the same port with the same settings.
#   scripts/pg-test-cluster.sh stop DIR
#       Stops the private cluster in DIR (immediate shutdown) and removes DIR.
#
# PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` system user.
set -euo pipefail

DEFAULT_PROBE="postgresql://postgres@127.0.0.1:5432/test"

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$dir" ] || [ ! -x "$dir/initdb" ]; then
        echo "pg-test-cluster: no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)" >&2
        exit 2
    fi
    echo "$dir"
}

as_owner() {
    # Run a server binary as the cluster's owner (postgres when we are root).
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    local probe="${1:-$DEFAULT_PROBE}" bin
    bin=$(pg_bin)
    if PGCONNECT_TIMEOUT=3 "$bin/psql" "$probe" -Atqc "SELECT 1" >/dev/null 2>&1; then
        printf '%s\n\n' "$probe"
        return
    fi
    start_private
}

start_private() {
    local bin dir port setting options
    bin=$(pg_bin)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/pyehsm-pg.XXXXXX")
    chmod 700 "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir"
    fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    port=$(free_port)
    options="-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off -c max_connections=200"
    for setting in "$@"; do
        options="$options -c $setting"
    done
    printf '%s\n' "$options" >"$dir/options"
    run_server "$bin" "$dir"
    printf '%s\n%s\n' "postgresql://postgres@127.0.0.1:$port/postgres" "$dir"
}

run_server() {
    local bin="$1" dir="$2"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o "$(cat "$dir/options")" \
        >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
}

start_replicated() {
    local bin primary pport standby sport
    bin=$(pg_bin)
    # the primary: a private cluster that ships WAL to a synchronous standby named pyehsm_standby
    read -r primary_url primary < <(start_private wal_level=replica max_wal_senders=10 hot_standby=on \
        synchronous_standby_names=pyehsm_standby "$@" | paste -sd' ')
    pport=${primary_url##*:}
    pport=${pport%%/*}
    standby=$(mktemp -d "${TMPDIR:-/tmp}/pyehsm-pg.XXXXXX")
    chmod 700 "$standby"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$standby"
    fi
    # -R writes standby.signal and primary_conninfo (application_name names it in synchronous_standby_names)
    as_owner "$bin/pg_basebackup" -D "$standby/data" -R -X stream --no-sync \
        -d "host=127.0.0.1 port=$pport user=postgres application_name=pyehsm_standby" >"$standby/basebackup.log" 2>&1 || {
        cat "$standby/basebackup.log" >&2
        exit 1
    }
    sport=$(free_port)
    # same settings on its own port and socket directory, without synchronous_standby_names: once promoted
    # it has no standby, and with the setting every commit would wait for one forever
    sed -e "s/-p $pport/-p $sport/" -e "s|unix_socket_directories=$primary|unix_socket_directories=$standby|" \
        -e "s/ -c synchronous_standby_names=[^ ]*//" "$primary/options" >"$standby/options"
    run_server "$bin" "$standby"
    printf '%s\n%s\n%s\n%s\n' "$primary_url" "$primary" "postgresql://postgres@127.0.0.1:$sport/postgres" "$standby"
}

promote() {
    local dir="$1"
    [ -f "$dir/options" ] || { echo "pg-test-cluster: $dir holds no private cluster" >&2; exit 1; }
    as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -w -t 60 promote >/dev/null
}

crash() {
    local dir="$1"
    [ -f "$dir/options" ] || { echo "pg-test-cluster: $dir holds no private cluster" >&2; exit 1; }
    as_owner "$(pg_bin)/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
}

restart() {
    local dir="$1"
    [ -f "$dir/options" ] || { echo "pg-test-cluster: $dir holds no private cluster" >&2; exit 1; }
    run_server "$(pg_bin)" "$dir"
}

stop() {
    local dir="$1" bin
    [ -d "$dir/data" ] || { echo "pg-test-cluster: $dir holds no cluster" >&2; exit 1; }
    bin=$(pg_bin)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
start) start "${2:-}" ;;
start-private) shift; start_private "$@" ;;
start-replicated) shift; start_replicated "$@" ;;
promote) promote "${2:?usage: pg-test-cluster.sh promote DIR}" ;;
crash) crash "${2:?usage: pg-test-cluster.sh crash DIR}" ;;
restart) restart "${2:?usage: pg-test-cluster.sh restart DIR}" ;;
stop) stop "${2:?usage: pg-test-cluster.sh stop DIR}" ;;
*)
    echo "usage: pg-test-cluster.sh start [PROBE_URL] | start-private [SETTING=VALUE ...] | start-replicated [SETTING=VALUE ...] | promote DIR | crash DIR | restart DIR | stop DIR" >&2
    exit 2
    ;;
esac
