// Lays out vendor/ (see paths.cjs): the server test suites of engine.io and socket.io at their published
// tags, read from a git directory of the socketio/socket.io monorepo (UPSTREAM_GIT_DIR, or this
// workplace's mirror), plus what they need around them:
// - `..` of each test folder answers with the module under test (lib/engine-io.cjs, socket.io);
// - engine.io's TLS fixtures are replaced by certs/ (the tag's expire on 2026-12-15);
// - socket.io's two big fixtures (absent from the mirror: large files are not kept) are replaced by
//   generated ones of the same kind (JSON text, binary bytes).
// Nothing is downloaded. Re-run is a no-op while vendor/.sources.json matches SOURCES. The sources
// are read at run time, never committed (upstream/README.md says why).
//
//   node upstream/lib/prepare.mjs      exits 0 when vendor/ is ready, 3 when no source is available

/* global process, console, Buffer -- Node */

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { upstreamDir, vendorDir } = createRequire(import.meta.url)("./paths.cjs");
const requireFromRoot = createRequire(join(upstreamDir, "..", "package.json"));

/** Bump when the layout below changes, so an old vendor/ is laid out again. */
const LAYOUT = 1;

/** What is taken from which tag. Commits pin the tags: a moved tag is refused. */
export const SOURCES = {
  "engine.io": {
    tag: "engine.io@6.6.9",
    commit: "9dbec8128fa76c3143e93cf41991e903adfdc6da",
    dir: "packages/engine.io",
    // webtransport.mjs needs a native QUIC module that downloads at install; util.mjs only serves it.
    skip: ["test/webtransport.mjs", "test/util.mjs", "test/fixtures/"],
    keep: [
      "test/fixtures/server-close.js",
      "test/fixtures/server-close-upgraded.js",
      "test/fixtures/server-close-upgrading.js",
      "test/fixtures/generate_certs.sh",
    ],
  },
  "socket.io": {
    tag: "socket.io@4.8.3",
    commit: "9978574e4f1d4e21593497f94c40053cd0fff359",
    dir: "packages/socket.io",
    // uws.ts needs uWebSockets.js (not on the npm registry); the -d.ts file is a tsd type test.
    skip: [
      "test/uws.ts",
      "test/socket.io.test-d.ts",
      "test/fixtures/big.jpg",
      "test/fixtures/big.json",
    ],
    keep: [],
  },
};

const DEFAULT_GIT_DIRS = ["/work/.mirror/socketio+socket.io/repo"];

function git(gitDir, args, options = {}) {
  return execFileSync("git", ["--git-dir", gitDir, ...args], { maxBuffer: 64 << 20, ...options });
}

/** The first git directory that has both tags at the pinned commits, or undefined. */
export function findGitDir() {
  const candidates = process.env.UPSTREAM_GIT_DIR
    ? [process.env.UPSTREAM_GIT_DIR]
    : DEFAULT_GIT_DIRS;
  for (const gitDir of candidates) {
    if (!existsSync(gitDir)) continue;
    const ok = Object.values(SOURCES).every(({ tag, commit }) => {
      try {
        return (
          git(gitDir, ["rev-parse", `${tag}^{commit}`], { stdio: ["ignore", "pipe", "ignore"] })
            .toString()
            .trim() === commit
        );
      } catch {
        return false;
      }
    });
    if (ok) return gitDir;
    console.warn(
      `upstream: ${gitDir} lacks ${Object.values(SOURCES)
        .map((s) => s.tag)
        .join(" / ")} at the pinned commits`,
    );
  }
  return undefined;
}

function stamp() {
  return JSON.stringify({ layout: LAYOUT, sources: SOURCES }, null, 2);
}

export function isPrepared() {
  const file = join(vendorDir, ".sources.json");
  return existsSync(file) && readFileSync(file, "utf8") === stamp();
}

/** The package.json of an installed package ("exports" may hide it from require). */
function packageOf(name) {
  let dir = dirname(requireFromRoot.resolve(name));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  return JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
}

function write(path, content) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

/** Deterministic bytes: the big fixtures are the same on every machine. */
function bytes(size, seed) {
  const out = Buffer.alloc(size);
  let block = Buffer.from(seed);
  for (let offset = 0; offset < size; offset += 32) {
    block = createHash("sha256").update(block).digest();
    block.copy(out, offset);
  }
  return out;
}

function extract(gitDir, name, { tag, dir, skip, keep }) {
  const target = join(vendorDir, name);
  const files = git(gitDir, [
    "ls-tree",
    "-r",
    "--name-only",
    tag,
    "--",
    `${dir}/LICENSE`,
    `${dir}/test`,
  ])
    .toString()
    .trim()
    .split("\n");
  for (const file of files) {
    const rel = file.slice(dir.length + 1);
    const skipped = skip.some((s) => (s.endsWith("/") ? rel.startsWith(s) : rel === s));
    if (skipped && !keep.includes(rel)) continue;
    write(join(target, rel), git(gitDir, ["cat-file", "blob", `${tag}:${file}`]));
  }
}

export function prepare(gitDir) {
  rmSync(vendorDir, { recursive: true, force: true });
  for (const [name, source] of Object.entries(SOURCES)) extract(gitDir, name, source);

  const eio = join(vendorDir, "engine.io");
  const eioVersion = packageOf("engine.io").version;
  write(
    join(eio, "package.json"),
    JSON.stringify({ name: "engine.io", version: eioVersion, private: true }) + "\n",
  );
  const shim = relative(eio, join(here, "engine-io.cjs"));
  write(join(eio, "index.js"), `module.exports = require(${JSON.stringify(`./${shim}`)});\n`);
  // engine.io's "exports" hides build/: reach it from the resolved entry (build/engine.io.js).
  write(
    join(eio, "build/parser-v3/index.js"),
    'const { dirname, join } = require("node:path");\n' +
      'module.exports = require(join(dirname(require.resolve("engine.io")), "parser-v3/index.js"));\n',
  );
  for (const file of [
    "ca.crt",
    "ca.key",
    "server.crt",
    "server.csr",
    "server.key",
    "client.crt",
    "client.csr",
    "client.key",
    "client.pfx",
  ]) {
    copyFileSync(join(upstreamDir, "certs", file), join(eio, "test/fixtures", file));
  }

  const sio = join(vendorDir, "socket.io");
  const sioVersion = packageOf("socket.io").version;
  write(
    join(sio, "package.json"),
    JSON.stringify({ name: "socket.io", version: sioVersion, private: true }) + "\n",
  );
  write(join(sio, "index.js"), 'module.exports = require("socket.io");\n');
  // Under socket.io's default maxHttpBufferSize (1e6) once the client sends them back.
  const words = bytes(300_000, "big.json")
    .toString("hex")
    .match(/.{1,16}/g);
  write(
    join(sio, "test/fixtures/big.json"),
    JSON.stringify({ words: words.slice(0, 20_000), n: words.length }),
  );
  write(join(sio, "test/fixtures/big.jpg"), bytes(500_000, "big.jpg"));

  writeFileSync(join(vendorDir, ".sources.json"), stamp());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (isPrepared()) process.exit(0);
  const gitDir = findGitDir();
  if (gitDir === undefined) {
    console.error(
      "upstream: no git directory with the pinned tags; set UPSTREAM_GIT_DIR (see upstream/README.md)",
    );
    process.exit(3);
  }
  prepare(gitDir);
  console.log(`upstream: laid out vendor/ from ${gitDir}`);
}
