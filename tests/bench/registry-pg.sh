#!/usr/bin/env bash
# The registry in PostgreSQL at scale (issue 13; figures in BENCHMARKS.md). Starts a throwaway
# cluster, loads N tenants (default 10,000,000) with generate_series (triggers bypassed, then one
# NOTIFY '*'), imports the example registry's other entities, then:
#   1. cargo bench --bench registry with YUNGUI_BENCH_PG_URL: cold and warm decisions over the
#      database vs a 1,000-tenant file registry;
#   2. two `yungui serve --registry postgres://…`: an UPDATE in force on both (p50/p99), and RSS
#      while deciding more distinct tenants than the cache holds.
# The cluster and its data are removed at the end. Needs Debian's postgresql and ~10 GB of disk
# at 10M. SERVE_ARGS: more serve options; SKIP_BENCH=1 skips step 1; ROUNDS, DISTINCT: see
# registry-pg.py. With PG_URL set, that database is used (and loaded only when it has no registry table).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
N=${N:-10000000}
CACHE=${CACHE:-20000}
servers=()
if [ -n "${PG_URL:-}" ]; then
  # A database already loaded (as below): used as it is.
  pg_dir=$(mktemp -d)
  pg_stop() { rm -rf "$pg_dir"; }
  sql() { psql -X -q -v ON_ERROR_STOP=1 "$PG_URL" "$@"; }
else
  source tests/bench/pg-cluster.sh
fi
cleanup() { for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done; pg_stop; }
trap cleanup EXIT
if [ "$(sql -At -c "SELECT to_regclass('yungui_registry') IS NOT NULL")" != t ]; then
  sql -f host/engine/src/registry/schema.sql 2>/dev/null
  t0=$(date +%s.%N)
  sql <<SQL
SET session_replication_role = replica;
INSERT INTO yungui_registry (uid_type, uid_id, entity)
SELECT 'Cloud::Tenant', 't' || i,
  jsonb_build_object('uid', jsonb_build_object('type', 'Cloud::Tenant', 'id', 't' || i),
    'attrs', jsonb_build_object('operator', jsonb_build_object('type', 'Cloud::Operator', 'id', 'acme-cloud'),
      'kind', 'website', 'real_name_verified', true, 'icp_domains', jsonb_build_array('t' || i || '.example.cn'),
      'agreed_purposes', jsonb_build_array('website'), 'status', 'active', 'serves_domestic_users', true),
    'parents', '[]'::jsonb)
FROM generate_series(0, $N - 1) AS i;
NOTIFY yungui_registry, '*';
SQL
  echo "loaded $N tenants in $(echo "$(date +%s.%N) - $t0" | bc) s"
fi
echo "table: $(sql -At -c "SELECT count(*) || ' rows, ' || pg_size_pretty(pg_total_relation_size('yungui_registry')) FROM yungui_registry")"
cargo build --release -p yungui --quiet
bin=${CARGO_TARGET_DIR:-target}/release/yungui
"$bin" registry import --registry "$PG_URL" examples/registry.json

[ -n "${SKIP_BENCH:-}" ] || YUNGUI_BENCH_PG_URL=$PG_URL YUNGUI_BENCH_PG_TENANTS=$N YUNGUI_BENCH_PG_ONLY=1 \
  cargo bench --bench registry --quiet

ports=(18701 18702)
for port in "${ports[@]}"; do
  "$bin" serve --plain-http --listen "127.0.0.1:$port" --registry "$PG_URL" \
    --registry-cache-entities "$CACHE" ${SERVE_ARGS:-} 2> "$pg_dir/serve-$port.log" &
  servers+=($!)
done
for port in "${ports[@]}"; do
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/readyz" > /dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/readyz"
done
echo "two servers, --registry-cache-entities $CACHE; $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
TENANTS=$N python3 tests/bench/registry-pg.py "$PG_URL" "${ports[@]}" "${servers[@]}"
