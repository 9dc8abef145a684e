#!/usr/bin/env bash
# A private PostgreSQL server for team tracking (an MLflow server's backend store), from
# Debian's packages. tests/team/ uses it; so can a person trying `mlflow server` on PostgreSQL.
#
#   bash scripts/postgres.sh install          Debian's postgresql, if missing (root, or sudo)
#   bash scripts/postgres.sh start DIR [PORT] a private cluster in DIR, on 127.0.0.1 only;
#                                             prints its URL (role and database: lensflow)
#   bash scripts/postgres.sh url DIR          prints the URL of DIR's cluster
#   bash scripts/postgres.sh stop DIR         stops DIR's cluster (the folder stays)
#
# Idempotent: `install` does nothing when PostgreSQL is there; `start` initialises DIR only
# once, starts the server only if it is not running, and creates the role and database only if
# missing. The server listens on 127.0.0.1:PORT (a free port unless given) and on a unix socket
# in DIR; the machine's own clusters (pg_ctlcluster) are left alone. initdb refuses root: as root
# the cluster belongs to the `postgres` user, so DIR must be reachable by that user (a folder
# under /tmp is; pytest's tmp_path, mode 0700 under /tmp/pytest-of-root, is not).
set -euo pipefail

ROLE=lensflow
PASSWORD=lensflow
DATABASE=lensflow

die() {
  echo "postgres.sh: $*" >&2
  exit 1
}

# The newest installed PostgreSQL's bin folder (Debian keeps them in /usr/lib/postgresql/N/bin).
pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
    echo "$dir"
  elif command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  fi
}

install() {
  local start bin
  start=$(date +%s)
  bin=$(pg_bin)
  if [ -n "$bin" ]; then
    echo "postgres.sh: PostgreSQL already installed ($("$bin/postgres" --version))"
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "no apt-get here: install PostgreSQL (initdb, pg_ctl, psql) by hand"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "postgres.sh: apt-get install postgresql"
  "${sudo[@]}" apt-get update -qq
  # policy-rc.d may or may not let the package start its own cluster; ours is separate anyway.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  bin=$(pg_bin)
  [ -n "$bin" ] || die "apt-get installed postgresql but no initdb was found"
  echo "postgres.sh: installed $("$bin/postgres" --version) in $(($(date +%s) - start)) s"
}

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

owner() {
  if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

# A TCP port on 127.0.0.1 nobody listens on (postgres itself reports a race, and we retry).
free_port() {
  local port
  for port in $(shuf -i 20000-60999 -n 40); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  die "found no free port on 127.0.0.1"
}

url_of() {
  local dir=$1
  [ -f "$dir/port" ] || die "$dir holds no cluster started by this script"
  echo "postgresql://$ROLE:$PASSWORD@127.0.0.1:$(cat "$dir/port")/$DATABASE"
}

psql_admin() {
  local dir=$1 bin=$2
  shift 2
  as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(cat "$dir/port")" \
    -U "$(owner)" -d postgres "$@"
}

start() {
  local dir=${1:-} port=${2:-} fixed=${2:-} bin started
  [ -n "$dir" ] || die "usage: postgres.sh start DIR [PORT]"
  started=$(date +%s%N)
  bin=$(pg_bin)
  [ -n "$bin" ] || die "PostgreSQL is not installed: run \`bash scripts/postgres.sh install\` first"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  # The unix socket lives in DIR: its path must stay under 107 bytes.
  [ "${#dir}" -le 80 ] || die "$dir is too long for a unix socket path; choose a shorter folder"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    as_owner test -w "$dir" ||
      die "the postgres user cannot write $dir (a parent folder is private?): choose a folder under /tmp"
  fi

  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$dir/data" -U "$(owner)" --auth-local=peer \
      --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      die "initdb failed: $(tail -n 5 "$dir/initdb.log")"
  fi

  if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    echo "postgres.sh: already running on port $(cat "$dir/port")" >&2
  else
    local attempt
    for attempt in 1 2 3 4 5; do
      [ -n "$port" ] || port=$(free_port)
      echo "$port" >"$dir/port"
      if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir" start >/dev/null; then
        break
      fi
      if [ -n "$fixed" ] || [ "$attempt" -eq 5 ]; then
        die "PostgreSQL did not start: $(tail -n 5 "$dir/postgres.log")"
      fi
      port="" # taken meanwhile: try another
    done
  fi

  if [ "$(psql_admin "$dir" "$bin" -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
    psql_admin "$dir" "$bin" -c "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
  fi
  if [ "$(psql_admin "$dir" "$bin" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
    psql_admin "$dir" "$bin" -c "CREATE DATABASE $DATABASE OWNER $ROLE"
  fi
  echo "postgres.sh: $dir ready in $(( ($(date +%s%N) - started) / 1000000 )) ms" >&2
  url_of "$dir"
}

stop() {
  local dir=${1:-} bin
  [ -n "$dir" ] || die "usage: postgres.sh stop DIR"
  [ -f "$dir/data/PG_VERSION" ] || return 0
  bin=$(pg_bin)
  [ -n "$bin" ] || die "PostgreSQL is not installed"
  if as_owner "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
    echo "postgres.sh: stopped $dir" >&2
  fi
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-}" "${3:-}" ;;
  url) url_of "${2:?usage: postgres.sh url DIR}" ;;
  stop) stop "${2:-}" ;;
  *) die "usage: postgres.sh install | start DIR [PORT] | url DIR | stop DIR" ;;
esac
