#!/usr/bin/env bash
# Starts TLS-only servers for the TLS test suites, with certificates from a test CA made
# here by openssl, and prints the variables the tests read:
#   - MariaDB with require_secure_transport=ON (plain connections are refused) and a
#     certificate for the name `localhost` only (so VERIFY_IDENTITY passes for localhost
#     and fails for 127.0.0.1);
#   - Redis, TLS only (`--port 0 --tls-port …`), certificate for localhost;
#   - Kafka over TLS: socat terminating TLS (certificate for localhost) in front of a tansu
#     broker of its own that advertises socat's address (tansu's own TLS listener is
#     broken: see shared/KAFKA.md), installed by `scripts/kafka.sh install`.
# Each server gets a free port of 127.0.0.1 (saved in .tls/<name>.port) and is reused by a
# later `start` while it runs; servers of another checkout are never mistaken for ours.
#   eval "$(scripts/tls-servers.sh start)"
#   scripts/tls-servers.sh stop
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TDIR=${TDIR:-$(cd "$HERE/.." && pwd)/.tls}
alive() { [ -f "$TDIR/$1.pid" ] && kill -0 "$(cat "$TDIR/$1.pid")" 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_up() { for _ in $(seq 150); do up "$1" && return 0; sleep 0.1; done; return 1; }
port_of() { cat "$TDIR/$1.port"; }
case "${1:-start}" in
start)
  mkdir -p "$TDIR"
  cd "$TDIR"
  if [ ! -f ca.pem ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Nakku test CA" \
      -keyout ca.key -out ca.pem >/dev/null 2>&1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr >/dev/null 2>&1
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile server.ext -out server.pem >/dev/null 2>&1
    chmod 644 ./*.pem ./*.key
  fi
  # --- MariaDB, TLS only ---
  if ! alive mariadb; then
    if [ ! -d mariadb ]; then
      mariadb-install-db --no-defaults --datadir="$TDIR/mariadb" --user=root \
        --auth-root-authentication-method=normal >"$TDIR/mariadb-install.log" 2>&1
    fi
    free_port > mariadb.port
    nohup mariadbd --no-defaults --datadir="$TDIR/mariadb" --port="$(port_of mariadb)" --bind-address=127.0.0.1 \
      --socket="$TDIR/mariadb.sock" --user=root --ssl-ca="$TDIR/ca.pem" --ssl-cert="$TDIR/server.pem" \
      --ssl-key="$TDIR/server.key" --require-secure-transport=ON \
      --innodb-buffer-pool-size=128M --max-connections=800 >"$TDIR/mariadb.log" 2>&1 &
    echo $! > mariadb.pid
  fi
  wait_up "$(port_of mariadb)" || { echo "tls-servers.sh: MariaDB did not start; see $TDIR/mariadb.log" >&2; exit 1; }
  # --- Redis, TLS only ---
  if ! alive redis; then
    free_port > redis.port
    redis-server --port 0 --tls-port "$(port_of redis)" --bind 127.0.0.1 --tls-cert-file "$TDIR/server.pem" \
      --tls-key-file "$TDIR/server.key" --tls-ca-cert-file "$TDIR/ca.pem" --tls-auth-clients no \
      --save '' --appendonly no --daemonize yes --pidfile "$TDIR/redis.pid" --logfile "$TDIR/redis.log"
    for _ in $(seq 50); do [ -s redis.pid ] && break; sleep 0.1; done
  fi
  wait_up "$(port_of redis)" || { echo "tls-servers.sh: Redis did not start; see $TDIR/redis.log" >&2; exit 1; }
  # --- Kafka over TLS: tansu advertising socat's TLS address ---
  tansu=$("$HERE/kafka.sh" install 2>/dev/null || true)
  if [ -x "$tansu" ]; then
    if ! alive socat; then
      free_port > socat.port
      alive tansu && kill "$(cat tansu.pid)" 2>/dev/null || true
    fi
    if ! alive tansu; then
      free_port > tansu.port
      nohup "$tansu" broker --listener-url "tcp://127.0.0.1:$(port_of tansu)" \
        --advertised-listener-url "tcp://localhost:$(port_of socat)" \
        --storage-engine memory://tansu/ --cluster-id nakku-tls >"$TDIR/tansu.log" 2>&1 &
      echo $! > tansu.pid
      wait_up "$(port_of tansu)" || { echo "tls-servers.sh: tansu did not start; see $TDIR/tansu.log" >&2; exit 1; }
    fi
    if ! alive socat; then
      nohup socat "openssl-listen:$(port_of socat),bind=127.0.0.1,reuseaddr,fork,cert=$TDIR/server.pem,key=$TDIR/server.key,verify=0" \
        "tcp:127.0.0.1:$(port_of tansu)" >"$TDIR/socat.log" 2>&1 &
      echo $! > socat.pid
    fi
    wait_up "$(port_of socat)" || { echo "tls-servers.sh: socat did not start; see $TDIR/socat.log" >&2; exit 1; }
    echo "export NAKKU_TEST_KAFKA_TLS_BROKERS=localhost:$(port_of socat)"
  fi
  echo "export NAKKU_TEST_TLS_CA_FILE=$TDIR/ca.pem"
  echo "export NAKKU_TEST_MYSQL_TLS_URL=mysql://root@localhost:$(port_of mariadb)"
  echo "export NAKKU_TEST_REDIS_TLS_URL=rediss://localhost:$(port_of redis)"
  ;;
stop)
  for p in mariadb redis socat tansu; do
    if alive "$p"; then kill "$(cat "$TDIR/$p.pid")" 2>/dev/null || true; fi
    rm -f "$TDIR/$p.pid"
  done ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
