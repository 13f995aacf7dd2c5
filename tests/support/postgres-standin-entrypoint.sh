#!/usr/bin/env bash
# Entrypoint of the offline postgres stand-in image (see standins.py). It
# reproduces only what the lab relies on from the official image's
# docker-entrypoint.sh: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB /
# POSTGRES_HOST_AUTH_METHOD / POSTGRES_INITDB_ARGS, first-start initdb,
# /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh, then postgres in the
# foreground as the postgres user.
set -Eeuo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

# "docker run img -c foo=bar" means "postgres -c foo=bar", as in the official image.
if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

want_help() {  # "postgres --version" etc. must not initialise a cluster
    local a
    for a; do
        case "$a" in -'?'|--help|--describe-config|-V|--version) return 0 ;; esac
    done
    return 1
}

if [ "$1" != 'postgres' ] || want_help "$@"; then
    exec "$@"
fi

if [ "$(id -u)" = '0' ]; then
    # Volumes arrive root-owned; fix ownership, then drop privileges for good.
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    chmod 3777 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
POSTGRES_HOST_AUTH_METHOD="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
export POSTGRES_USER POSTGRES_DB POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != 'trust' ]; then
        cat >&2 <<'EOM'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
       (or set POSTGRES_HOST_AUTH_METHOD=trust to allow all connections
       without a password; not recommended)
EOM
        exit 1
    fi

    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a word list on purpose
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        ${POSTGRES_INITDB_ARGS:-}

    # The official image listens everywhere and wants passwords over TCP.
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

    # Temporary server on the unix socket only, so nobody connects mid-setup.
    export PGPASSWORD="$POSTGRES_PASSWORD"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start

    psql_base=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER")
    if [ "$POSTGRES_DB" != 'postgres' ]; then
        "${psql_base[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi

    psql_db=("${psql_base[@]}" --dbname "$POSTGRES_DB")
    shopt -s nullglob
    # Glob order is sorted; LANG=C.UTF-8 collates by code point, so
    # 01-schema.sql runs before 02-data.sql as people expect.
    for f in /docker-entrypoint-initdb.d/*; do
        case "$f" in
            *.sh)
                if [ -x "$f" ]; then
                    echo "$0: running $f"; "$f"
                else
                    echo "$0: sourcing $f"; # shellcheck disable=SC1090
                    . "$f"
                fi ;;
            *.sql)    echo "$0: running $f"; "${psql_db[@]}" -f "$f" ;;
            *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | "${psql_db[@]}" ;;
            *)        echo "$0: ignoring $f" ;;
        esac
    done
    shopt -u nullglob

    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGPASSWORD
    echo
    echo 'PostgreSQL init process complete; ready for start up.'
    echo
fi

exec "$@"
