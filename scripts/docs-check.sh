#!/usr/bin/env bash
# Staleness check of the API reference: regenerates it from the TSDoc in lib/ (typedoc.json) into a
# temp dir and compares it with the committed docs/api/. Fails when TypeDoc warns (an exported type
# left out, a symbol without TSDoc, a broken {@link}) or when docs/api/ differs.
#
# Usage: npm run docs:check (after npm ci). Fix: npm run docs, then commit docs/api/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

WORK=$(mktemp -d "${TMPDIR:-/tmp}/engine.io-session-docs.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

if ! node_modules/.bin/typedoc --out "$WORK/api" >"$WORK/typedoc.log" 2>&1; then
  cat "$WORK/typedoc.log"
  echo "docs:check: TypeDoc failed (warnings count as errors): fix the TSDoc in lib/, then run npm run docs" >&2
  exit 1
fi

if [ ! -d docs/api ]; then
  echo "docs:check: docs/api/ is missing: run npm run docs and commit docs/api/" >&2
  exit 1
fi

if ! diff -ru docs/api "$WORK/api" >"$WORK/diff.txt"; then
  sed -e "s|$WORK/api|(regenerated)|g" "$WORK/diff.txt" | head -n 80
  echo "docs:check: docs/api/ is out of date with the TSDoc in lib/: run npm run docs and commit docs/api/" >&2
  exit 1
fi
echo "docs:check: docs/api/ is up to date ($(find docs/api -type f | wc -l | tr -d ' ') files)"
