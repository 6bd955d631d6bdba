#!/usr/bin/env bash
# Start the servers the storage tests run against: PostgreSQL and Redis on loopback, from
# Debian's packages, installed here when missing. Prints the export lines for their URLs.
# Usage: eval "$(bash .ci/services.sh)"
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

# PostgreSQL: the Debian cluster, a role and a database for the tests.
ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h 2>/dev/null | grep -q "^$ver main"; then
  pg_createcluster "$ver" main >&2
fi
pg_ctlcluster "$ver" main start >&2 2>/dev/null || true
for _ in $(seq 1 30); do
  su postgres -c "psql -tAc 'select 1'" >/dev/null 2>&1 && break
  sleep 1
done
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='dse'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE ROLE dse LOGIN PASSWORD 'dse'\"" >&2
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='dse_test'\"" | grep -q 1 \
  || su postgres -c "createdb -O dse dse_test" >&2

# Redis: a private instance on loopback.
if ! redis-cli -p 6390 ping >/dev/null 2>&1; then
  redis-server --port 6390 --bind 127.0.0.1 --daemonize yes --save "" --appendonly no >&2
fi
for _ in $(seq 1 30); do
  redis-cli -p 6390 ping >/dev/null 2>&1 && break
  sleep 0.5
done

echo "export DSE_TEST_POSTGRES_URL=postgresql+psycopg://dse:dse@127.0.0.1:5432/dse_test"
echo "export DSE_TEST_REDIS_URL=redis://127.0.0.1:6390/0"
