#!/usr/bin/env bash
# Validates docs/asyncapi.json (or FILE) with the AsyncAPI parser from npm: the rules the
# AsyncAPI CLI's `validate` runs (the CLI itself now needs Node.js 24; the parser runs on
# the machine's Node.js 20). The parser is installed once into .ci/asyncapi.
#   scripts/asyncapi-check.sh [FILE]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
file=${1:-$repo/docs/asyncapi.json}
dir=$repo/.ci/asyncapi
command -v node >/dev/null || { echo "asyncapi-check.sh: needs Node.js and npm (apt-get install nodejs npm)" >&2; exit 2; }
if [ ! -d "$dir/node_modules/@asyncapi/parser" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-audit --no-fund --silent '@asyncapi/parser@3.6.6' >/dev/null
fi
cp "$repo/scripts/asyncapi-validate.mjs" "$dir/validate.mjs"
node "$dir/validate.mjs" "$file"
