#!/usr/bin/env bash
# The README's test command: the whole workspace suite, then how many tests ran against
# which backend and which were skipped, and why.
#
# Tests that need a server are `#[ignore = "needs NAKKU_TEST_…"]` and live in a module
# named after it: `mysql::` (MariaDB/MySQL), `kafka::` (a Kafka-protocol broker),
# `mysql_kafka::` (both: the production pairing), `redis::`, and `mysql_tls::`,
# `redis_tls::`, `kafka_tls::` (the TLS-only servers of scripts/tls-servers.sh). Plain `cargo test` reports
# them as ignored, with that reason. This script runs the ignored ones whose variables are
# set (`--include-ignored`, leaving out by name those whose variables are not), so nothing
# that did not run is counted as passed, and a test run without its server fails.
#
#   scripts/test.sh [cargo test options] [-- test binary options]
#   NAKKU_TEST_REQUIRE=mysql,kafka,redis,tls scripts/test.sh   # CI: fail unless those ran
set -uo pipefail
NAKKU_TEST_REQUIRE=${NAKKU_TEST_REQUIRE:-}
cd "$(dirname "$0")/.."

cargo_args=()
test_args=()
seen_dashes=0
for a in "$@"; do
  if [ "$seen_dashes" = 0 ] && [ "$a" = "--" ]; then seen_dashes=1; continue; fi
  if [ "$seen_dashes" = 0 ]; then cargo_args+=("$a"); else test_args+=("$a"); fi
done

set_var() { [ -n "${!1:-}" ]; }
skips=()
off=()
if ! set_var NAKKU_TEST_MYSQL_URL; then skips+=(--skip mysql:: --skip mysql_kafka::); off+=(mysql); fi
if ! set_var NAKKU_TEST_KAFKA_BROKERS; then skips+=(--skip kafka::); off+=(kafka); fi
if ! set_var NAKKU_TEST_REDIS_URL; then skips+=(--skip redis::); off+=(redis); fi
# The TLS-only servers of scripts/tls-servers.sh (MariaDB, Redis, Kafka behind TLS).
if ! set_var NAKKU_TEST_TLS_CA_FILE; then
  skips+=(--skip mysql_tls:: --skip redis_tls:: --skip kafka_tls::); off+=(tls)
elif ! set_var NAKKU_TEST_KAFKA_TLS_BROKERS; then
  skips+=(--skip kafka_tls::)
else
  # librdkafka's TLS is OpenSSL's: the kafka-tls feature (needs libssl-dev to build).
  cargo_args+=(--features nakku-cli/kafka-tls)
fi

for need in ${NAKKU_TEST_REQUIRE//,/ }; do
  for o in "${off[@]}"; do
    if [ "$need" = "$o" ]; then
      echo "test.sh: NAKKU_TEST_REQUIRE names $need but its NAKKU_TEST_* variable is not set" >&2
      exit 2
    fi
  done
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace "${cargo_args[@]}" -- --include-ignored "${skips[@]}" "${test_args[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Every test the run reported, one per line: "<name> <ok|FAILED|ignored>".
results=$(sed -nE 's/^test (.+) \.\.\. (ok|FAILED|ignored.*)$/\1 \2/p' "$log" | sed -E 's/ ignored.*$/ ignored/')
count() { # count <name regex> <outcome>
  printf '%s\n' "$results" | grep -E "$1" | grep -cE " $2\$" || true
}
filtered=$(sed -nE 's/^test result: .* ([0-9]+) filtered out.*$/\1/p' "$log" | awk '{s += $1} END {print s + 0}')

# The same substrings the --skip filters above use.
mysql='mysql::|mysql_kafka::'
kafka='kafka::'
redis='redis::'
tls='mysql_tls::|redis_tls::|kafka_tls::'
# The backend tests that exist (all `#[ignore]`d by default), to count what was left out.
listed=$(cargo test --workspace -q "${cargo_args[@]}" -- --list --ignored 2>/dev/null | sed -nE 's/^(.+): test$/\1/p')
row() { # row <label> <regex> <variable> <how to set it>
  local ran passed failed
  passed=$(count "$2" ok)
  failed=$(count "$2" FAILED)
  ran=$((passed + failed))
  if set_var "$3"; then
    printf '  %-24s %4d ran: %d passed, %d failed\n' "$1" "$ran" "$passed" "$failed"
  else
    printf '  %-24s %4d skipped: set %s\n' "$1" "$(printf '%s\n' "$listed" | grep -cE "$2" || true)" "$4"
  fi
}
all_passed=$(printf '%s\n' "$results" | grep -cE ' ok$' || true)
all_failed=$(printf '%s\n' "$results" | grep -cE ' FAILED$' || true)
local_passed=$(printf '%s\n' "$results" | grep -vE "$mysql|$kafka|$redis|$tls" | grep -cE ' ok$' || true)
local_failed=$(printf '%s\n' "$results" | grep -vE "$mysql|$kafka|$redis|$tls" | grep -cE ' FAILED$' || true)
echo
echo "=== tests by backend ==="
printf '  %-24s %4d ran: %d passed, %d failed\n' "SQLite + embedded log" $((local_passed + local_failed)) "$local_passed" "$local_failed"
row "MariaDB/MySQL" "$mysql" NAKKU_TEST_MYSQL_URL "NAKKU_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306"
row "Kafka" "$kafka" NAKKU_TEST_KAFKA_BROKERS "NAKKU_TEST_KAFKA_BROKERS=\$(scripts/kafka.sh start)"
row "Redis" "$redis" NAKKU_TEST_REDIS_URL "NAKKU_TEST_REDIS_URL=redis://127.0.0.1:6379"
row "TLS servers" "$tls" NAKKU_TEST_TLS_CA_FILE "eval \"\$(scripts/tls-servers.sh start)\""
echo "  in all: $((all_passed + all_failed)) ran ($all_passed passed, $all_failed failed); $filtered left out for an unset backend or a filter"
echo "  (a test on MariaDB with Kafka counts in both rows)"

for need in ${NAKKU_TEST_REQUIRE//,/ }; do
  case $need in
    mysql) re=$mysql ;; kafka) re=$kafka ;; redis) re=$redis ;; tls) re=$tls ;;
    *) echo "test.sh: unknown backend in NAKKU_TEST_REQUIRE: $need" >&2; exit 2 ;;
  esac
  if [ "$(count "$re" ok)" -eq 0 ]; then
    echo "FAIL: NAKKU_TEST_REQUIRE names $need, but no $need test passed" >&2
    [ "$status" -eq 0 ] && status=1
  fi
done
exit "$status"
