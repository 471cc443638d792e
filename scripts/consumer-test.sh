#!/usr/bin/env bash
# Packaging check: what a user gets from `npm install engine.io-session`.
#
#   1. build + pack   `npm run build`, `npm pack` into a temp dir; the tarball holds only
#                     package.json, LICENSE, README.md, CHANGELOG.md and dist/**, and every file
#                     package.json points at (main, types, exports); dist/ loads only declared
#                     dependencies, peer dependencies and Node builtins.
#   2. install        a fresh consumer project (scripts/consumer/*) outside the repo installs the
#                     tarball plus engine.io, engine.io-client, express, express-session, their types,
#                     @types/node@20 and typescript@~6.0.3.
#   3. types          `tsc --noEmit`, strict, skipLibCheck off, on app.ts (DESIGN §1 + every §2 name):
#                     module nodenext (ESM and CJS files), bundler + esnext, bundler + preserve.
#   4. run            real express + express-session + SessionServer, real engine.io-client: from
#                     require (cjs.cjs), from named ESM imports (esm.mjs), and the compiled app.ts.
#                     Each run fails after 20 s instead of hanging.
#
# Usage: npm run test:consumer (after npm ci). Exits non-zero when any step fails.
# CONSUMER_TEST_KEEP=1 keeps the temp dir (consumer project, logs) for a look afterwards.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FIXTURES="$ROOT/scripts/consumer"
RUN_TIMEOUT=20
STARTED=$SECONDS

WORK=$(mktemp -d "${TMPDIR:-/tmp}/engine.io-session-consumer.XXXXXX") || exit 1
cleanup() {
  if [ -n "${CONSUMER_TEST_KEEP:-}" ]; then
    echo "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The consumer must see only what it installed.
unset NODE_PATH NODE_OPTIONS DEBUG
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

FAILURES=0
STEP_STARTED=$SECONDS
# Each PASS/FAIL line ends with the seconds the step took.
pass() {
  printf 'PASS  %s (%ss)\n' "$1" "$((SECONDS - STEP_STARTED))"
  STEP_STARTED=$SECONDS
}
fail() {
  printf 'FAIL  %s (%ss)\n' "$1" "$((SECONDS - STEP_STARTED))"
  STEP_STARTED=$SECONDS
  FAILURES=$((FAILURES + 1))
}
# Prints the captured output of a failed command, indented.
show() { sed 's/^/      | /' "$1" | tail -n "${2:-60}"; }
finish() {
  local took=$((SECONDS - STARTED))
  if [ "$FAILURES" -eq 0 ]; then
    printf '\nPASS  consumer test (%ss)\n' "$took"
    exit 0
  fi
  printf '\nFAIL  consumer test: %s step(s) failed (%ss)\n' "$FAILURES" "$took"
  exit 1
}
abort() {
  fail "$1"
  finish
}

# Runs "$@" with a time limit; exit status 124 means it timed out.
run_timed() {
  if command -v timeout >/dev/null 2>&1; then
    timeout -k 5 "$RUN_TIMEOUT" "$@"
    return
  fi
  # No timeout(1): a watchdog subshell that marks the timeout, then stops the command.
  local marker="$WORK/timed-out.$RANDOM" pid watchdog rc
  "$@" &
  pid=$!
  (
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    sleep "$RUN_TIMEOUT" &
    nap=$!
    wait "$nap"
    : >"$marker"
    kill -TERM "$pid" 2>/dev/null
    sleep 5 &
    nap=$!
    wait "$nap"
    kill -KILL "$pid" 2>/dev/null
  ) &
  watchdog=$!
  wait "$pid"
  rc=$?
  kill "$watchdog" 2>/dev/null
  wait "$watchdog" 2>/dev/null
  if [ -e "$marker" ]; then
    rm -f "$marker"
    rc=124
  fi
  return "$rc"
}

# ---- 1. build and pack ----------------------------------------------------------------------------

cd "$ROOT" || exit 1
if npm run build >"$WORK/build.log" 2>&1; then
  pass "build: npm run build"
else
  show "$WORK/build.log"
  abort "build: npm run build"
fi

mkdir -p "$WORK/pack"
if ! npm pack --json --pack-destination "$WORK/pack" >"$WORK/pack.json" 2>"$WORK/pack.log"; then
  show "$WORK/pack.log"
  abort "pack: npm pack"
fi
TARBALL=$(ls "$WORK"/pack/*.tgz 2>/dev/null | head -n 1)
[ -n "$TARBALL" ] || abort "pack: npm pack wrote no tarball"

# Checks the file list npm reports against package.json and the allowed set; prints sizes.
if node - "$WORK/pack.json" "$ROOT" >"$WORK/contents.log" 2>&1 <<'EOF'; then
const fs = require("node:fs");
const path = require("node:path");
const [packJson, root] = process.argv.slice(2);
const [info] = JSON.parse(fs.readFileSync(packJson, "utf8"));
const files = info.files.map((file) => file.path).sort();
const kb = (bytes) => `${(bytes / 1000).toFixed(1)} kB`;
const problems = [];

const allowed = new Set(["package.json", "LICENSE", "README.md", "CHANGELOG.md"]);
const stray = files.filter((file) => !allowed.has(file) && !file.startsWith("dist/"));
if (stray.length > 0) problems.push(`not allowed in the tarball: ${stray.join(", ")}`);

const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const required = ["package.json", "LICENSE"];
for (const optional of ["README.md", "CHANGELOG.md"]) {
  if (fs.existsSync(path.join(root, optional))) required.push(optional);
}
// Every file package.json points at, including the conditions of "exports".
const targets = [pkg.main, pkg.types, pkg.typings];
(function collect(value) {
  if (typeof value === "string") targets.push(value);
  else if (value && typeof value === "object") Object.values(value).forEach(collect);
})(pkg.exports);
for (const target of targets) {
  if (typeof target === "string" && !target.includes("*")) required.push(path.posix.normalize(target));
}
const missing = [...new Set(required)].filter((file) => !files.includes(file));
if (missing.length > 0) problems.push(`missing from the tarball: ${missing.join(", ")}`);

const dist = info.files.filter((file) => file.path.startsWith("dist/"));
const distSize = dist.reduce((sum, file) => sum + file.size, 0);
console.log(`tarball ${info.filename}: ${files.length} files`);
for (const file of files) console.log(`  ${file}`);
console.log(
  `packed ${kb(info.size)}, unpacked ${kb(info.unpackedSize)}, dist ${kb(distSize)} in ${dist.length} files`,
);
for (const problem of problems) console.error(problem);
process.exit(problems.length > 0 ? 1 : 0);
EOF
  pass "pack: tarball holds only package.json, LICENSE, README/CHANGELOG and dist/**"
  sed 's/^/      /' "$WORK/contents.log"
else
  fail "pack: tarball contents"
  show "$WORK/contents.log" 200
fi

# Every module the packed code loads must come from dependencies, peerDependencies or Node itself:
# in the consumer, hoisting could hide a missing one (express-session brings cookie-signature...).
if node - "$WORK/pack.json" "$ROOT" >"$WORK/deps.log" 2>&1 <<'EOF'; then
const fs = require("node:fs");
const path = require("node:path");
const { builtinModules } = require("node:module");
const [packJson, root] = process.argv.slice(2);
const [info] = JSON.parse(fs.readFileSync(packJson, "utf8"));
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const declared = new Set([
  ...Object.keys(pkg.dependencies ?? {}),
  ...Object.keys(pkg.peerDependencies ?? {}),
]);
const builtin = new Set(builtinModules);
const problems = [];
const used = new Set();
const specifiers =
  /\b(?:require|import)\s*\(\s*["']([^"']+)["']|\bfrom\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm;
for (const { path: file } of info.files) {
  if (!/\.[cm]?js$|\.d\.[cm]?ts$/.test(file)) continue;
  const text = fs.readFileSync(path.join(root, file), "utf8");
  for (const match of text.matchAll(specifiers)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    if (specifier.startsWith(".") || specifier.startsWith("node:") || builtin.has(specifier)) {
      continue;
    }
    const parts = specifier.split("/");
    const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
    if (name === pkg.name) continue; // its own subpaths, e.g. in TSDoc examples
    used.add(name);
    if (!declared.has(name)) problems.push(`${file} loads "${specifier}", not in dependencies`);
  }
}
console.log(`packages the tarball loads: ${[...used].sort().join(", ") || "none"}`);
for (const problem of problems) console.error(problem);
process.exit(problems.length > 0 ? 1 : 0);
EOF
  pass "pack: dist/ loads only dependencies, peerDependencies and Node builtins"
  sed 's/^/      /' "$WORK/deps.log"
else
  fail "pack: dist/ loads a package that is not a dependency"
  show "$WORK/deps.log"
fi

# ---- 2. a consumer project outside the repo installs the tarball ---------------------------------

APP="$WORK/consumer"
mkdir -p "$APP"
cp "$FIXTURES"/package.json "$FIXTURES"/tsconfig.json "$FIXTURES"/app.ts "$FIXTURES"/*.cjs \
  "$FIXTURES"/*.mjs "$APP"/ || abort "install: copy fixtures"
cd "$APP" || exit 1
if npm install --no-audit --no-fund --prefer-offline "$TARBALL" >"$WORK/install.log" 2>&1; then
  pass "install: tarball + engine.io, engine.io-client, express, express-session, types, typescript"
else
  show "$WORK/install.log"
  abort "install: npm install in the consumer project"
fi
node -e 'const fs = require("node:fs");
  const names = ["engine.io-session", "engine.io", "engine.io-client", "express", "express-session",
    "@types/express", "@types/express-session", "@types/node", "typescript"];
  const version = (name) => JSON.parse(fs.readFileSync(`node_modules/${name}/package.json`, "utf8")).version;
  console.log(`      ${names.map((name) => `${name}@${version(name)}`).join(" ")}`);'

# ---- 3. strict TypeScript -------------------------------------------------------------------------

TSC="$APP/node_modules/.bin/tsc"
# variant name, module, moduleResolution, entry file (app.cts is app.ts as a CommonJS module)
cp app.ts app.cts
VARIANTS=(
  "nodenext-esm nodenext nodenext app.ts"
  "nodenext-cjs nodenext nodenext app.cts"
  "bundler-esnext esnext bundler app.ts"
  "bundler-preserve preserve bundler app.ts"
)
# The checks run side by side (and the emitting build for step 4 with them), then report in order.
declare -A TSC_PID
for line in "${VARIANTS[@]}"; do
  read -r variant module resolution entry <<<"$line"
  cat >"tsconfig.$variant.json" <<EOF
{
  "extends": "./tsconfig.json",
  "compilerOptions": { "module": "$module", "moduleResolution": "$resolution", "noEmit": true },
  "include": ["$entry"]
}
EOF
  "$TSC" -p "tsconfig.$variant.json" >"$WORK/tsc-$variant.log" 2>&1 &
  TSC_PID[$variant]=$!
done
"$TSC" -p tsconfig.json >"$WORK/tsc-emit.log" 2>&1 &
TSC_PID[emit]=$!
for line in "${VARIANTS[@]}"; do
  read -r variant module resolution entry <<<"$line"
  title="types: tsc --noEmit strict, module $module, moduleResolution $resolution ($entry)"
  if wait "${TSC_PID[$variant]}"; then
    pass "$title"
  else
    fail "$title"
    show "$WORK/tsc-$variant.log"
  fi
done

# ---- 4. run it for real ---------------------------------------------------------------------------

run_check() {
  local title=$1 log="$WORK/run-$2.log"
  shift 2
  run_timed "$@" >"$log" 2>&1
  local rc=$?
  if [ "$rc" -eq 0 ]; then
    pass "$title"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    fail "$title: timed out after ${RUN_TIMEOUT}s"
    show "$log"
  else
    fail "$title: exit code $rc"
    show "$log"
  fi
}

run_check "run: require(\"engine.io-session\") from CommonJS (cjs.cjs)" cjs node cjs.cjs
run_check "run: import { SessionServer, attach, SessionError } from ESM (esm.mjs)" esm node esm.mjs
if wait "${TSC_PID[emit]}"; then
  run_check "run: compiled app.ts (nodenext ESM output)" app node out/app.js
else
  fail "run: compile app.ts"
  show "$WORK/tsc-emit.log"
fi

finish
