#!/usr/bin/env bash
# Starts TLS-only servers for the TLS test suites, with certificates from a test CA made
# here by openssl, and prints the variables the tests read:
#   - MariaDB on 127.0.0.1:3307 with require_secure_transport=ON (plain connections are
#     refused), a certificate for the name `localhost` only (so VERIFY_IDENTITY passes for
#     localhost and fails for 127.0.0.1);
#   - Redis on 127.0.0.1:6380, TLS only (`--port 0 --tls-port 6380`), certificate for localhost;
#   - Kafka over TLS on localhost:9093: socat terminating TLS (certificate for localhost) in
#     front of a tansu broker of its own on 9094 that advertises localhost:9093 (tansu's
#     own TLS listener is broken: see shared/KAFKA.md); needs the tansu that
#     scripts/kafka.sh installs.
#   eval "$(scripts/tls-servers.sh start)"
#   scripts/tls-servers.sh stop
set -euo pipefail
TDIR=${TDIR:-$(cd "$(dirname "$0")/.." && pwd)/.tls}
case "${1:-start}" in
start)
  mkdir -p "$TDIR"
  cd "$TDIR"
  if [ ! -f ca.pem ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=Nakku test CA" \
      -keyout ca.key -out ca.pem >/dev/null 2>&1
    for name in server; do
      openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout $name.key -out $name.csr >/dev/null 2>&1
      printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > $name.ext
      openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
        -extfile $name.ext -out $name.pem >/dev/null 2>&1
    done
    chmod 644 ./*.pem ./*.key
  fi
  # --- MariaDB, TLS only ---
  if ! (exec 3<>/dev/tcp/127.0.0.1/3307) 2>/dev/null; then
    if [ ! -d mariadb ]; then
      mariadb-install-db --no-defaults --datadir="$TDIR/mariadb" --user=root \
        --auth-root-authentication-method=normal >"$TDIR/mariadb-install.log" 2>&1
    fi
    nohup mariadbd --no-defaults --datadir="$TDIR/mariadb" --port=3307 --bind-address=127.0.0.1 \
      --socket="$TDIR/mariadb.sock" --user=root --ssl-ca="$TDIR/ca.pem" --ssl-cert="$TDIR/server.pem" \
      --ssl-key="$TDIR/server.key" --require-secure-transport=ON --skip-name-resolve=OFF \
      --innodb-buffer-pool-size=64M --max-connections=500 >"$TDIR/mariadb.log" 2>&1 &
    echo $! > "$TDIR/mariadb.pid"
    for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3307) 2>/dev/null && break; sleep 0.2; done
  fi
  # --- Redis, TLS only ---
  if ! (exec 3<>/dev/tcp/127.0.0.1/6380) 2>/dev/null; then
    redis-server --port 0 --tls-port 6380 --bind 127.0.0.1 --tls-cert-file "$TDIR/server.pem" \
      --tls-key-file "$TDIR/server.key" --tls-ca-cert-file "$TDIR/ca.pem" --tls-auth-clients no \
      --save '' --appendonly no --daemonize yes --pidfile "$TDIR/redis.pid" --logfile "$TDIR/redis.log"
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/6380) 2>/dev/null && break; sleep 0.1; done
  fi
  # --- Kafka over TLS: a broker of its own on 9094 advertising localhost:9093, where
  # socat terminates TLS (clients must reach the advertised address over TLS too) ---
  tansu=$(cd "$TDIR/.." && pwd)/.kafka/tansu
  if [ -x "$tansu" ]; then
    if ! (exec 3<>/dev/tcp/127.0.0.1/9094) 2>/dev/null; then
      nohup "$tansu" broker --listener-url tcp://127.0.0.1:9094 --advertised-listener-url tcp://localhost:9093 \
        --storage-engine memory://tansu/ --cluster-id nakku-tls >"$TDIR/tansu.log" 2>&1 &
      echo $! > "$TDIR/tansu.pid"
      for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9094) 2>/dev/null && break; sleep 0.1; done
    fi
    if ! (exec 3<>/dev/tcp/127.0.0.1/9093) 2>/dev/null; then
      nohup socat "openssl-listen:9093,bind=127.0.0.1,reuseaddr,fork,cert=$TDIR/server.pem,key=$TDIR/server.key,verify=0" \
        tcp:127.0.0.1:9094 >"$TDIR/socat.log" 2>&1 &
      echo $! > "$TDIR/socat.pid"
      for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/9093) 2>/dev/null && break; sleep 0.1; done
    fi
    echo "export NAKKU_TEST_KAFKA_TLS_BROKERS=localhost:9093"
  fi
  (exec 3<>/dev/tcp/127.0.0.1/3307) 2>/dev/null || { echo "tls-servers.sh: MariaDB did not start; see $TDIR/mariadb.log" >&2; exit 1; }
  (exec 3<>/dev/tcp/127.0.0.1/6380) 2>/dev/null || { echo "tls-servers.sh: Redis did not start; see $TDIR/redis.log" >&2; exit 1; }
  echo "export NAKKU_TEST_TLS_CA_FILE=$TDIR/ca.pem"
  echo "export NAKKU_TEST_MYSQL_TLS_URL=mysql://root@localhost:3307"
  echo "export NAKKU_TEST_REDIS_TLS_URL=rediss://localhost:6380"
  ;;
stop)
  for p in mariadb redis socat tansu; do
    [ -f "$TDIR/$p.pid" ] && kill "$(cat "$TDIR/$p.pid")" 2>/dev/null || true
    rm -f "$TDIR/$p.pid"
  done ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
