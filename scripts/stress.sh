#!/usr/bin/env bash
# Runs the README's test command N times in a row, each on a fresh clone of HEAD, with both
# cores kept busy by `stress --cpu 2` (Debian's `stress`): the check that no test depends on
# a quiet machine or a lucky clock. Stops at the first red run. Each clone's own crates are
# built afresh, in this checkout's target directory (so the dependencies, seven minutes to
# build, are not built again: that would test nothing more);
# the backends are whatever NAKKU_TEST_* variables are set, as for scripts/test.sh.
#   scripts/stress.sh [N]        # default 10
set -uo pipefail
runs=${1:-10}
repo=$(cd "$(dirname "$0")/.." && pwd)
command -v stress >/dev/null || { echo "stress.sh: needs \`stress\` (apt-get install stress)" >&2; exit 2; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
work=$(mktemp -d)
stress --cpu 2 >/dev/null 2>&1 &
load=$!
trap 'kill $load 2>/dev/null; rm -rf "$work"' EXIT
for i in $(seq "$runs"); do
  clone="$work/clone"
  rm -rf "$clone"
  git clone -q "$repo" "$clone"
  started=$(date +%s)
  if (cd "$clone" && scripts/test.sh) > "$work/run$i.log" 2>&1; then
    echo "run $i/$runs: green in $(( $(date +%s) - started )) s, $(grep -E '^  in all:' "$work/run$i.log" | sed 's/^  //')"
  else
    cp "$work/run$i.log" "$repo/target/stress-failure.log" 2>/dev/null || true
    echo "run $i/$runs: RED after $(( $(date +%s) - started )) s (log: target/stress-failure.log)" >&2
    grep -E '^test .* FAILED$|panicked' "$work/run$i.log" | head -20 >&2
    exit 1
  fi
done
echo "$runs consecutive green runs under stress --cpu 2"
