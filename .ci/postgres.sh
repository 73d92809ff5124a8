#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on 127.0.0.1 for the SQL adapter test (Debian, as root).
# Sourced by .ci/run: on success it exports LAB2PROD_TEST_PG_URL; on any failure it only warns,
# so the test skips with its reason instead of failing the whole CI. `pg_ci_stop` stops the server.
PG_CI_PORT="${PG_CI_PORT:-55432}"
PG_CI_CLUSTER=lab2prod_ci

pg_ci_start() {
  if ! command -v pg_lsclusters >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
        || { echo "warning: apt-get install postgresql failed: the PostgreSQL test will skip" >&2; return 0; }
    else
      echo "warning: PostgreSQL not installed and apt-get unavailable (or not root): the PostgreSQL test will skip" >&2
      return 0
    fi
  fi
  local version
  version="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)"
  [ -n "$version" ] || { echo "warning: no PostgreSQL server binaries found: the PostgreSQL test will skip" >&2; return 0; }
  # our own cluster on our own port: never touches a cluster the machine already runs
  if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -qx "$version $PG_CI_CLUSTER"; then
    pg_createcluster -q "$version" "$PG_CI_CLUSTER" -p "$PG_CI_PORT" -- --auth-host=scram-sha-256 --auth-local=peer >/dev/null 2>&1 \
      || { echo "warning: pg_createcluster failed: the PostgreSQL test will skip" >&2; return 0; }
  fi
  # a cluster left running (an earlier run on this machine) is used as it is
  if ! pg_lsclusters -h | awk -v v="$version" -v c="$PG_CI_CLUSTER" '$1==v && $2==c && $4=="online"' | grep -q .; then
    pg_ctlcluster "$version" "$PG_CI_CLUSTER" start -o "-c listen_addresses=127.0.0.1" \
      || { echo "warning: PostgreSQL did not start: the PostgreSQL test will skip" >&2; return 0; }
  fi
  PG_CI_VERSION="$version"
  local password="lab2prod-ci-$RANDOM$RANDOM"
  runuser -u postgres -- psql -q -p "$PG_CI_PORT" -v ON_ERROR_STOP=1 >/dev/null <<SQL || { echo "warning: could not create the test role: the PostgreSQL test will skip" >&2; return 0; }
SET client_min_messages = warning;
DROP DATABASE IF EXISTS lab2prod_test;
DROP ROLE IF EXISTS lab2prod;
CREATE ROLE lab2prod LOGIN PASSWORD '$password';
CREATE DATABASE lab2prod_test OWNER lab2prod;
SQL
  export LAB2PROD_TEST_PG_URL="postgresql+psycopg://lab2prod:${password}@127.0.0.1:${PG_CI_PORT}/lab2prod_test"
  echo "PostgreSQL $version running on 127.0.0.1:$PG_CI_PORT for the tests"
}

pg_ci_stop() {
  if [ -n "${PG_CI_VERSION:-}" ]; then
    pg_ctlcluster "$PG_CI_VERSION" "$PG_CI_CLUSTER" stop >/dev/null 2>&1 || true
  fi
}
