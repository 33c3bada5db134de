#!/bin/sh
# A cluster made on first start (user and database POSTGRES_USER, password POSTGRES_PASSWORD,
# password logins from the stack's network), then postgres in the foreground.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is not set (deploy/compose/.env holds it)}"
: "${POSTGRES_USER:=mle}"
: "${POSTGRES_DB:=mle}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  postgres -D "$PGDATA" -c listen_addresses='' -c unix_socket_directories=/tmp &
  pid=$!
  until pg_isready -h /tmp -q; do sleep 0.2; done
  if [ "$POSTGRES_DB" != postgres ]; then
    createdb -h /tmp -U "$POSTGRES_USER" -O "$POSTGRES_USER" "$POSTGRES_DB"
  fi
  kill -INT "$pid"
  wait "$pid"
  echo "db-entrypoint: cluster made in $PGDATA"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql
