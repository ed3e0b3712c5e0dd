# Sourced by the registry benchmarks: a throwaway PostgreSQL cluster (Debian's `postgresql`
# binaries) in a temporary folder on PG_PORT (default 54329), as the `postgres` user when run as
# root; stopped and removed on exit. Sets PG_URL and defines `sql` (psql on the cluster).
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pg_bin/initdb" ] || { echo "no PostgreSQL server binaries: apt-get install postgresql" >&2; exit 1; }
PG_PORT=${PG_PORT:-54329}
pg_dir=$(mktemp -d /tmp/yungui-bench-pg.XXXXXX)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres:postgres "$pg_dir"
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync > /dev/null
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
  -o "-p $PG_PORT -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB -c shared_buffers=256MB" start > /dev/null
pg_stop() { as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop > /dev/null 2>&1 || true; rm -rf "$pg_dir"; }
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
export PG_URL
sql() { psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" "$@"; }
