#!/usr/bin/env bash
# Services the serving/store tests need: a throwaway PostgreSQL cluster and Debian's chromium.
#   scripts/ci-services.sh install            apt-get install postgresql and chromium when missing
#   scripts/ci-services.sh pg-start DIR [PORT] start a cluster in DIR on 127.0.0.1:PORT; prints its URL
#   scripts/ci-services.sh pg-stop DIR         stop that cluster and remove DIR
#   scripts/ci-services.sh chromium            print the chromium path (installing it when missing)
set -euo pipefail

need_apt() {
  if [ "$(id -u)" != 0 ]; then
    echo "ci-services: need root to apt-get install $*" >&2
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ ! -f /tmp/.skutag-apt-updated ]; then
    apt-get update -q >&2 && touch /tmp/.skutag-apt-updated
  fi
  apt-get install -y -q --no-install-recommends "$@" >&2
}

pg_bin() {
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    need_apt postgresql >/dev/null
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  echo "$bin"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

as_pg() {
  # run a command as the unprivileged "postgres" user when we are root (initdb refuses root)
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

cmd=${1:-}
case "$cmd" in
  install)
    pg_bin >/dev/null
    [ -x /usr/bin/chromium ] || need_apt chromium
    ;;
  pg-start)
    dir=${2:?usage: pg-start DIR [PORT]}
    port=${3:-$(free_port)}
    bin=$(pg_bin)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      id postgres >/dev/null 2>&1 || useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
      chown postgres "$dir"
      chmod 700 "$dir"
    fi
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >/dev/null
    echo "$port" >"$dir/port"
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  pg-stop)
    dir=${2:?usage: pg-stop DIR}
    bin=$(pg_bin)
    if [ -d "$dir/data" ]; then
      as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  chromium)
    [ -x /usr/bin/chromium ] || need_apt chromium >/dev/null
    echo /usr/bin/chromium
    ;;
  *)
    sed -n '2,6p' "$0" >&2
    exit 2
    ;;
esac
