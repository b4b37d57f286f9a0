#!/usr/bin/env bash
# A private PostgreSQL 15 cluster in a directory: never touches the system service.
#   scripts/pg.sh start DIR   -> prints a libpq connection string on stdout
#   scripts/pg.sh stop DIR
#   scripts/pg.sh url DIR
# initdb refuses root, so as root the cluster belongs to the 'postgres' user.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pg.sh start|stop|url DIR}
dir=${2:?usage: pg.sh start|stop|url DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
data="$dir/data"
owner=$(id -un)
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}
[ "$(id -u)" -eq 0 ] && owner=postgres

port_file="$dir/port"
url() {
	echo "host=$dir port=$(cat "$port_file") user=$owner dbname=${PGDATABASE_NAME:-terminus}"
}

case "$cmd" in
start)
	if [ ! -f "$data/PG_VERSION" ]; then
		[ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
		as_owner "$PGBIN/initdb" -D "$data" -U "$owner" -A trust -E UTF8 --no-instructions >/dev/null
		# A free port: the socket lives in $dir, so only the number has to be unique.
		port=$(( (RANDOM % 20000) + 30000 ))
		echo "$port" >"$port_file"
		cat >>"$data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
log_min_messages = warning
logging_collector = off
CONF
	fi
	if ! as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		as_owner "$PGBIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start >/dev/null
	fi
	as_owner "$PGBIN/psql" -h "$dir" -p "$(cat "$port_file")" -U "$owner" -d postgres -qAtc \
		"SELECT 1 FROM pg_database WHERE datname='${PGDATABASE_NAME:-terminus}'" | grep -q 1 ||
		as_owner "$PGBIN/createdb" -h "$dir" -p "$(cat "$port_file")" -U "$owner" "${PGDATABASE_NAME:-terminus}"
	url
	;;
stop)
	if [ -f "$data/PG_VERSION" ]; then
		as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	;;
url)
	url
	;;
*)
	echo "usage: pg.sh start|stop|url DIR" >&2
	exit 2
	;;
esac
