// `npm run test:upstream`: engine.io's and socket.io's own server test suites (from their published
// tags, laid out by lib/prepare.mjs), each run twice in this one invocation: against
// plain engine.io, and with engine.io's Server replaced by SessionServer (`required: false`, a
// MemoryStore, no cookie: every socket anonymous). Prints passing/failing/pending per suite and
// variant and every test whose outcome differs between the two. A difference is re-run in isolation
// RERUNS times per variant; one that does not show again in most of them is listed as
// timing-dependent and not counted.
//
// Exit: 0 no difference, 1 differences, 2 a suite did not finish (crash or timeout), 3 no sources.
// Bounded: each suite process is killed (with what it started) after its time limit.
//
//   node upstream/run.mjs            needs dist/ (the npm script builds it first); copies it first
//   UPSTREAM_DIST=<dir>              another build of lib/ (default: dist/)
//   UPSTREAM_GIT_DIR=<git dir>       where the tags are read from (see upstream/README.md)

/* global process, console, setTimeout, clearTimeout -- Node */

import { spawn } from "node:child_process";
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { SOURCES, findGitDir, isPrepared, prepare } from "./lib/prepare.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const { distDir, resultsDir } = createRequire(import.meta.url)("./lib/paths.cjs");
const SUITES = ["engine.io", "socket.io"];
const VARIANTS = ["plain", "session"];
const SUITE_MS = 150_000;
const RERUN_MS = 60_000;
const RERUNS = 3;

const built = resolve(process.env.UPSTREAM_DIST ?? join(root, "dist"));
if (!existsSync(join(built, "index.js"))) {
  console.error(
    `upstream: no build at ${built}: run \`npm run build\` (npm run test:upstream does)`,
  );
  process.exit(2);
}
// Every suite process (and the fixtures they start) loads this copy: another `npm run build` in a
// shared checkout empties dist/ for a moment, which would fail tests at random.
const dist = distDir;
rmSync(dist, { recursive: true, force: true });
cpSync(built, dist, { recursive: true });
const { SessionServer } = createRequire(import.meta.url)(join(dist, "index.js"));
if (typeof SessionServer !== "function") {
  console.error(`upstream: ${built} has no SessionServer export (a build under way?)`);
  process.exit(2);
}
// The shim and the build must share one engine.io, or "plain" and "session" test different ones.
const fromShim = createRequire(join(here, "lib", "engine-io.cjs")).resolve("engine.io");
const fromDist = createRequire(join(dist, "index.js")).resolve("engine.io");
if (fromShim !== fromDist) {
  console.error(`upstream: two engine.io copies: ${fromShim} (shim) and ${fromDist} (build)`);
  process.exit(2);
}
if (!isPrepared()) {
  const gitDir = findGitDir();
  if (gitDir === undefined) {
    console.error(
      "upstream: the suites' sources are not laid out and no git directory with the pinned tags " +
        "was found; set UPSTREAM_GIT_DIR (see upstream/README.md)",
    );
    process.exit(3);
  }
  prepare(gitDir);
}
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });

/** Runs one suite in one variant in its own process group; resolves to its result or undefined. */
function runSuite(suite, variant, { only, name, timeoutMs }) {
  const resultFile = join(resultsDir, `${name}.json`);
  const logFile = join(resultsDir, `${name}.log`);
  const log = openSync(logFile, "w");
  const hook = join(here, "lib", "hook.cjs");
  const env = {
    ...process.env,
    UPSTREAM_VARIANT: variant,
    UPSTREAM_DIST: dist,
    // The fixtures the suites start as child processes inherit the hook and the variant.
    NODE_OPTIONS: [process.env.NODE_OPTIONS, `--require ${JSON.stringify(hook)}`]
      .filter(Boolean)
      .join(" "),
  };
  if (only) env.UPSTREAM_ONLY = JSON.stringify(only);
  else delete env.UPSTREAM_ONLY;
  const child = spawn(process.execPath, [join(here, "lib", "suite.cjs"), suite, resultFile], {
    env,
    stdio: ["ignore", log, log],
    detached: true,
  });
  const started = Date.now();
  return new Promise((done) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      // Whatever the suite started and left behind goes with it.
      killGroup(child.pid);
      closeSync(log);
      const ms = Date.now() - started;
      if (timedOut || code !== 0 || !existsSync(resultFile)) {
        const why = timedOut ? `timed out after ${timeoutMs / 1000} s` : `exited ${signal ?? code}`;
        done({ error: `${why}; see ${relative(root, logFile)}`, ms });
        return;
      }
      done({ ...JSON.parse(readFileSync(resultFile, "utf8")), ms, log: relative(root, logFile) });
    });
  });
}

function killGroup(pid) {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Title -> states in declaration order (two tests may share a title). */
function byTitle(result) {
  const map = new Map();
  for (const { title, state, error } of result.outcomes) {
    if (!map.has(title)) map.set(title, []);
    map.get(title).push({ state, error });
  }
  return map;
}

const sameStates = (a = [], b = []) =>
  a.length === b.length && a.every((outcome, i) => outcome.state === b[i].state);

function counts(result) {
  const c = { passed: 0, failed: 0, pending: 0, "not run": 0 };
  for (const { state } of result.outcomes) c[state] += 1;
  return c;
}

const describeStates = (outcomes = []) => outcomes.map((o) => o.state).join("+") || "absent";

const started = Date.now();
const results = {};
let unfinished = false;
for (const suite of SUITES) {
  results[suite] = {};
  for (const variant of VARIANTS) {
    const result = await runSuite(suite, variant, {
      name: `${suite}-${variant}`,
      timeoutMs: SUITE_MS,
    });
    // A swap that silently failed would compare plain with plain and find nothing.
    if (!result.error && (variant === "session") !== result.sessionServers > 0) {
      result.error = `${result.sessionServers} SessionServers built in the ${variant} variant`;
    }
    results[suite][variant] = result;
    if (result.error) unfinished = true;
    console.log(`upstream: ${suite} ${variant} done in ${(result.ms / 1000).toFixed(1)} s`);
  }
}

const differences = [];
const timing = [];
for (const suite of SUITES) {
  const { plain, session } = results[suite];
  if (plain.error || session.error) continue;
  const a = byTitle(plain);
  const b = byTitle(session);
  const titles = [...new Set([...a.keys(), ...b.keys()])].filter(
    (t) => !sameStates(a.get(t), b.get(t)),
  );
  if (titles.length === 0) continue;
  // Re-run the differing tests alone: a difference that never shows again there was timing.
  const reruns = { plain: [], session: [] };
  for (let round = 0; round < RERUNS; round++) {
    for (const variant of VARIANTS) {
      const rerun = await runSuite(suite, variant, {
        only: titles,
        name: `${suite}-${variant}-rerun${round + 1}`,
        timeoutMs: RERUN_MS,
      });
      reruns[variant].push(rerun.error ? undefined : byTitle(rerun));
    }
  }
  for (const title of titles) {
    const shown = [...Array(RERUNS).keys()].filter((round) => {
      const p = reruns.plain[round];
      const s = reruns.session[round];
      return p === undefined || s === undefined || !sameStates(p.get(title), s.get(title));
    }).length;
    const entry = { suite, title, plain: a.get(title), session: b.get(title), shown };
    // Load on a shared machine makes some upstream tests race (plain ones too): a difference counts
    // when it shows again in most isolated re-runs.
    (shown * 2 > RERUNS ? differences : timing).push(entry);
  }
}

const pad = (text, width) => String(text).padEnd(width);
const padStart = (text, width) => String(text).padStart(width);
const versions = Object.values(SOURCES)
  .map((s) => s.tag)
  .join(", ");
console.log(`\nupstream server suites (tests from ${versions}), plain engine.io vs SessionServer`);
console.log(`${pad("suite", 11)}${pad("variant", 9)}passing  failing  pending  not run  time`);
for (const suite of SUITES) {
  for (const variant of VARIANTS) {
    const result = results[suite][variant];
    if (result.error) {
      console.log(`${pad(suite, 11)}${pad(variant, 9)}did not finish: ${result.error}`);
      continue;
    }
    const c = counts(result);
    console.log(
      pad(suite, 11) +
        pad(variant, 9) +
        [c.passed, c.failed, c.pending, c["not run"]].map((n) => padStart(n, 7)).join("  ") +
        `  ${padStart((result.ms / 1000).toFixed(1), 5)} s` +
        (variant === "session" ? `  (${result.sessionServers} SessionServers)` : "") +
        (result.hooks.length > 0 ? `  (${result.hooks.length} failed hooks)` : ""),
    );
  }
}

const show = (entry) => {
  console.log(`  [${entry.suite}] ${entry.title}`);
  console.log(
    `      plain: ${describeStates(entry.plain)}   session: ${describeStates(entry.session)}` +
      `   differed again in ${entry.shown} of ${RERUNS} isolated re-runs`,
  );
  for (const [variant, outcomes] of [
    ["plain", entry.plain],
    ["session", entry.session],
  ]) {
    for (const { error } of outcomes ?? [])
      if (error) console.log(`      ${variant} error: ${error}`);
  }
};
if (timing.length > 0) {
  console.log(
    "\ntiming-dependent (differed in the full run, not in most isolated re-runs; not counted):",
  );
  timing.forEach(show);
}
console.log(`\ndifferences between plain and SessionServer: ${differences.length}`);
differences.forEach(show);
console.log(
  `\nlogs in ${relative(root, resultsDir)}/; total ${((Date.now() - started) / 1000).toFixed(1)} s`,
);

process.exit(unfinished ? 2 : differences.length > 0 ? 1 : 0);
