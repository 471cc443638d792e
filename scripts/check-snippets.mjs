// Guide snippet check (npm run test:snippets): every code block of README.md and docs/*.md (not
// docs/api) against the packed tarball, as a reader would copy it.
//
//   ```ts blocks    compiled together by tsc under `strict` (module nodenext, ESM, DOM + Node
//                   types), each block its own module, against the tarball and the app packages
//   ```js blocks    `node --check` (CommonJS when they use require(), ESM otherwise)
//   run blocks      also started, one at a time, for a few seconds on 127.0.0.1: the app must
//                   listen, stay up, answer HTTP, and (when it has /login) accept a logged-in
//                   handshake and refuse an anonymous one
//
// An HTML comment on the line before a fence says what a block is:
//   <!-- snippet: run -->        a complete app: compile (or check) and run it
//   <!-- snippet: continues -->  a fragment that continues the previous ts block of the same file:
//                                compiled appended to it
//   <!-- snippet: skip -->       not checked (pseudo-code, or a fragment that cannot stand alone)
//   <!-- snippet: run #app -->   ... names the block; `<!-- snippet: continues #app -->` appends a
//                                later fragment to that one instead of the previous block
// Runnable apps listen on 3000 in the docs; `.listen(3000` is rewritten to a private port.
//
// Setup, offline: `npm run build`, `npm pack`, the tarball unpacked as
// node_modules/engine.io-session of a temp project whose other packages are links to this repo's
// node_modules (what `npm ci` installed: express, express-session, socket.io, ...). Nothing is
// downloaded.
//
// Known failures of files being fixed elsewhere: scripts/snippets-known.json, { "<key>": "why" },
// the key printed with each failure (file, block number and a hash of the code). They are
// reported and do not fail the run; once one passes, or its block changed, the run says so
// (remove it then).
//
//   node scripts/check-snippets.mjs [file.md ...]     default: README.md docs/*.md
//   node scripts/check-snippets.mjs --write-known     record today's failures as known (review
//                                                     the diff of scripts/snippets-known.json)
//   SNIPPETS_PORT=25850                               first port for run blocks (127.0.0.1)
//   SNIPPETS_KEEP=1                                   keep the temp project for a look
//
// Bounded: each run block gets 10 s, the whole check 5 minutes. Exit code 1 on any failure.

/* global process, console, setTimeout, fetch */

import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const basePort = Number(process.env.SNIPPETS_PORT ?? 25850);
const RUN_MS = 3000;
const START_MS = 10_000;
const knownPath = join(root, "scripts", "snippets-known.json");
const known = existsSync(knownPath) ? JSON.parse(readFileSync(knownPath, "utf8")) : {};

const overall = setTimeout(() => {
  console.log("FAIL  the snippet check took longer than 5 minutes");
  process.exit(1);
}, 300_000);
overall.unref();

// ---- 1. the blocks --------------------------------------------------------------------------------

const COMPILED = new Set(["ts", "typescript"]);
const CHECKED = new Set(["js", "javascript", "cjs", "mjs"]);

function markdownFiles() {
  const args = process.argv.slice(2).filter((arg) => !arg.startsWith("--"));
  if (args.length > 0) return args.map((file) => relative(root, resolve(file)));
  const docs = readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...docs];
}

/** Every fenced block of `file`: its language, code, first line, and the snippet comment. */
function blocksOf(file) {
  const lines = readFileSync(join(root, file), "utf8").split("\n");
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})\s*([\w-]*)/.exec(lines[i]);
    if (open === null) continue;
    const [, indent, fence, lang] = open;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end].trimStart().startsWith(fence)) end++;
    let previous = i - 1;
    while (previous >= 0 && lines[previous].trim() === "") previous--;
    const mark = /^\s*<!--\s*snippet:\s*([\w-]+)(?:\s+#([\w-]+))?\s*-->\s*$/.exec(
      lines[previous] ?? "",
    );
    const code = lines
      .slice(start, end)
      .map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line.trimStart()))
      .join("\n");
    const number = blocks.length + 1;
    const hash = createHash("sha1").update(code).digest("hex").slice(0, 8);
    blocks.push({
      file,
      number,
      line: start + 1,
      lang: lang.toLowerCase(),
      code,
      mark: mark?.[1],
      name: mark?.[2],
      key: `${file}#${number}:${hash}`,
    });
    i = end;
  }
  return blocks;
}

const files = markdownFiles();
const all = files.flatMap(blocksOf);
const badMarks = all.filter(
  (b) => b.mark !== undefined && !["run", "skip", "continues"].includes(b.mark),
);
for (const block of badMarks) {
  console.log(`FAIL  ${block.file}:${block.line}: unknown mark "snippet: ${block.mark}"`);
}

// ---- 2. the temp project --------------------------------------------------------------------------

const work = mkdtempSync(join(tmpdir(), "engine.io-session-snippets."));
process.on("exit", () => {
  if (process.env.SNIPPETS_KEEP) console.log(`kept ${work}`);
  else rmSync(work, { recursive: true, force: true });
});

function sh(command, args, options = {}) {
  return execFileSync(command, args, { cwd: root, encoding: "utf8", stdio: "pipe", ...options });
}

try {
  sh("npm", ["run", "build"]);
  const [packed] = JSON.parse(sh("npm", ["pack", "--json", "--pack-destination", work]));
  sh("tar", ["-xzf", join(work, packed.filename), "-C", work]);
} catch (error) {
  console.log(`FAIL  build and pack: ${String(error.stderr ?? error.message).slice(0, 2000)}`);
  process.exit(1);
}
const modules = join(work, "node_modules");
mkdirSync(modules);
renameSync(join(work, "package"), join(modules, "engine.io-session"));
for (const name of readdirSync(join(root, "node_modules"))) {
  if (name === "engine.io-session" || name === ".package-lock.json") continue;
  symlinkSync(join(root, "node_modules", name), join(modules, name));
}
writeFileSync(join(work, "package.json"), JSON.stringify({ name: "snippets", type: "module" }));
const tsconfig = {
  compilerOptions: {
    strict: true,
    target: "ES2022",
    module: "nodenext",
    moduleResolution: "nodenext",
    lib: ["ES2022", "DOM", "DOM.Iterable"],
    types: ["node"],
    skipLibCheck: true,
    esModuleInterop: true,
    rootDir: "src",
    outDir: "out",
    noEmitOnError: false,
  },
  include: ["src"],
};
writeFileSync(join(work, "tsconfig.json"), JSON.stringify(tsconfig, null, 2));
mkdirSync(join(work, "src"));

// ---- 3. compile and check -------------------------------------------------------------------------

/** One unit per ts block (a `continues` block joins the unit before it). */
const units = [];
const unitOf = new Map();
const lastTsUnit = new Map();
const named = new Map();
const slug = (file) => file.replace(/\W+/g, "_");
for (const block of all) {
  if (block.mark === "skip") continue;
  if (COMPILED.has(block.lang)) {
    const previous =
      block.name === undefined
        ? lastTsUnit.get(block.file)
        : named.get(`${block.file}#${block.name}`);
    if (block.mark === "continues" && previous !== undefined) {
      previous.blocks.push(block);
      unitOf.set(block, previous);
      continue;
    }
    const unit = { name: `${slug(block.file)}_${block.number}`, kind: "ts", blocks: [block] };
    units.push(unit);
    unitOf.set(block, unit);
    lastTsUnit.set(block.file, unit);
    if (block.name !== undefined) named.set(`${block.file}#${block.name}`, unit);
  } else if (CHECKED.has(block.lang)) {
    const cjs =
      block.lang === "cjs" || (/\brequire\(/.test(block.code) && !/^\s*import\s/m.test(block.code));
    const unit = {
      name: `${slug(block.file)}_${block.number}`,
      kind: cjs ? "cjs" : "mjs",
      blocks: [block],
    };
    units.push(unit);
    unitOf.set(block, unit);
  }
}

/** The unit's source, and where each block starts in it (to map errors back). */
function sourceOf(unit) {
  let text = "";
  const starts = [];
  for (const block of unit.blocks) {
    starts.push({ block, from: text.split("\n").length });
    let code = block.code;
    if (block.mark === "run")
      code = code.replace(/\.listen\(\s*3000\b/g, '.listen(Number(process.env.PORT), "127.0.0.1"');
    text += `${code}\n`;
  }
  if (unit.kind === "ts") text += "export {};\n"; // a module, even without imports
  return { text, starts };
}

const failures = new Map(); // block -> messages
function failBlock(block, message) {
  const list = failures.get(block) ?? [];
  list.push(message);
  failures.set(block, list);
}

/** The block of `unit` that holds `line` (1-based in the unit's source), and the line in the .md. */
function locate(unit, line) {
  const { starts } = sourceOf(unit);
  let found = starts[0];
  for (const each of starts) if (each.from <= line) found = each;
  return { block: found.block, mdLine: found.block.line + (line - found.from) };
}

const unitByFile = new Map();
for (const unit of units) {
  const extension = unit.kind === "ts" ? "ts" : unit.kind;
  const file = join(work, "src", `${unit.name}.${extension}`);
  unit.file = file;
  unit.out = unit.kind === "ts" ? join(work, "out", `${unit.name}.js`) : file;
  unitByFile.set(`src/${unit.name}.${extension}`, unit);
  writeFileSync(file, sourceOf(unit).text);
}

/**
 * tsc reports only syntax errors while any file has one: compile, set aside the units with syntax
 * errors (reporting them), and compile the rest again.
 */
let tsUnits = units.filter((unit) => unit.kind === "ts");
while (tsUnits.length > 0) {
  writeFileSync(
    join(work, "tsconfig.json"),
    JSON.stringify({ ...tsconfig, include: undefined, files: tsUnits.map((unit) => unit.file) }),
  );
  let output = "";
  try {
    sh(join(modules, ".bin", "tsc"), ["-p", "tsconfig.json", "--pretty", "false"], { cwd: work });
  } catch (error) {
    output = String(error.stdout ?? "") + String(error.stderr ?? "");
  }
  const syntax = new Set();
  for (const line of output.split("\n")) {
    const match = /^(src\/[^(]+)\((\d+),(\d+)\): error TS(\d+): (.*)$/.exec(line.trim());
    if (match === null) continue;
    const unit = unitByFile.get(match[1]);
    if (unit === undefined) continue;
    const { block, mdLine } = locate(unit, Number(match[2]));
    failBlock(block, `${block.file}:${mdLine}: TS${match[4]} ${match[5]}`);
    if (Number(match[4]) < 2000) syntax.add(unit);
  }
  if (syntax.size === 0) break;
  tsUnits = tsUnits.filter((unit) => !syntax.has(unit));
}
for (const unit of units.filter((each) => each.kind !== "ts")) {
  try {
    sh(process.execPath, ["--check", unit.file], { cwd: work });
  } catch (error) {
    failBlock(
      unit.blocks[0],
      `${unit.blocks[0].file}:${unit.blocks[0].line}: ${String(error.stderr).replaceAll(`${work}/src/`, "").trim().split("\n").slice(0, 5).join(" / ")}`,
    );
  }
}

// ---- 4. run the apps ------------------------------------------------------------------------------

const delay = (ms) => new Promise((done) => setTimeout(done, ms));

async function get(url, cookie) {
  const res = await fetch(url, {
    headers: cookie === undefined ? {} : { cookie },
    redirect: "manual",
  });
  return { status: res.status, body: await res.text(), setCookie: res.headers.getSetCookie() };
}

/** Starts the app, waits for its port, probes it, keeps it up for RUN_MS, stops it. */
async function runApp(unit, port) {
  const block = unit.blocks.find((each) => each.mark === "run") ?? unit.blocks[0];
  if (!existsSync(unit.out)) {
    failBlock(block, `${block.file}:${block.line}: not compiled`);
    return;
  }
  const child = spawn(process.execPath, [unit.out], {
    cwd: work,
    env: { ...process.env, PORT: String(port), NODE_OPTIONS: "", DEBUG: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  let exited = null;
  child.on("exit", (code, signal) => (exited = { code, signal }));
  const url = `http://127.0.0.1:${port}`;
  const notes = [];
  try {
    const started = Date.now();
    let up = false;
    while (!up && exited === null && Date.now() - started < START_MS) {
      try {
        await get(`${url}/`);
        up = true;
      } catch {
        await delay(100);
      }
    }
    if (!up)
      throw new Error(
        exited === null
          ? `no answer on ${url} within ${START_MS / 1000} s`
          : `exited (${exited.code ?? exited.signal}) before listening`,
      );
    const login = await get(`${url}/login?name=ada`);
    const cookie = login.setCookie.map((line) => line.split(";")[0]).join("; ") || undefined;
    const path = await enginePath(url);
    if (path !== undefined && cookie !== undefined && login.status < 400) {
      const withCookie = await get(`${url}${path}?EIO=4&transport=polling`, cookie);
      if (withCookie.status !== 200 || !withCookie.body.startsWith("0{")) {
        throw new Error(
          `a logged-in handshake at ${path} answered ${withCookie.status} ${withCookie.body.slice(0, 120)}`,
        );
      }
      notes.push(`logged-in handshake at ${path} accepted`);
    }
    if (path !== undefined) notes.push(`engine at ${path}`);
    await delay(RUN_MS);
    if (exited !== null) throw new Error(`exited (${exited.code ?? exited.signal}) while running`);
    if (/\b(Unhandled|TypeError|ReferenceError|SyntaxError)\b/.test(output))
      throw new Error("an error was printed");
  } catch (error) {
    failBlock(
      block,
      `${block.file}:${block.line}: run: ${error.message}\n${output
        .trim()
        .split("\n")
        .slice(-8)
        .map((line) => `        | ${line}`)
        .join("\n")}`,
    );
  } finally {
    if (exited === null) {
      child.kill("SIGTERM");
      await Promise.race([new Promise((done) => child.once("exit", done)), delay(2000)]);
      if (exited === null) child.kill("SIGKILL");
    }
  }
  return notes;
}

/** Which engine path the app serves: socket.io's or engine.io's (an anonymous handshake). */
async function enginePath(url) {
  for (const path of ["/socket.io/", "/engine.io/"]) {
    const res = await get(`${url}${path}?EIO=4&transport=polling`);
    if (res.status === 403 || res.body.startsWith("0{")) return path;
  }
  return undefined;
}

const runUnits = units.filter((unit) => unit.blocks.some((block) => block.mark === "run"));
const runNotes = new Map();
for (const [index, unit] of runUnits.entries()) {
  const hasErrors = unit.blocks.some((block) => failures.has(block));
  if (hasErrors) continue; // a compile error is the failure to report
  runNotes.set(unit, await runApp(unit, basePort + index));
}

// ---- 5. report ------------------------------------------------------------------------------------

let failed = badMarks.length;
let knownFailures = 0;
const counts = { compiled: 0, checked: 0, ran: 0, skipped: 0, ignored: 0 };
for (const block of all) {
  const unit = unitOf.get(block);
  if (block.mark === "skip") counts.skipped++;
  else if (unit === undefined) counts.ignored++;
  else if (unit.kind === "ts") counts.compiled++;
  else counts.checked++;
  if (block.mark === "run") counts.ran++;
  const messages = failures.get(block);
  const isKnown = Object.hasOwn(known, block.key);
  if (messages === undefined) {
    if (isKnown)
      console.log(`fixed ${block.key} passes now: remove it from scripts/snippets-known.json`);
    continue;
  }
  if (isKnown) {
    knownFailures++;
    console.log(`KNOWN ${block.key} (${known[block.key]})`);
  } else {
    failed++;
    console.log(`FAIL  ${block.key}`);
  }
  for (const message of messages) console.log(`      ${message}`);
}
const keys = new Set(all.map((block) => block.key));
const checkedFiles = new Set(files);
for (const key of Object.keys(known)) {
  if (checkedFiles.has(key.split("#")[0]) && !keys.has(key)) {
    console.log(`stale ${key}: no such block any more (changed or gone): remove it from the list`);
  }
}
for (const [unit, notes] of runNotes) {
  const block = unit.blocks.find((each) => each.mark === "run");
  if (!failures.has(block))
    console.log(
      `ran   ${block.key}: up ${RUN_MS / 1000} s, ${notes.join(", ") || "HTTP answered"}`,
    );
}
console.log(
  `\nsnippets: ${files.length} files, ${all.length} blocks: ${counts.compiled} ts compiled, ${counts.checked} js checked, ${counts.ran} run, ${counts.skipped} skipped, ${counts.ignored} not code (sh, text, ...)`,
);
const passed = all.filter((block) => unitOf.has(block) && !failures.has(block)).length;
console.log(
  `snippets: ${passed} passed, ${failed} failed${knownFailures > 0 ? `, ${knownFailures} known failures` : ""}`,
);
if (process.argv.includes("--write-known")) {
  const record = {};
  for (const [block, messages] of failures) {
    record[block.key] = known[block.key] ?? messages[0].replace(/^[^:]+:\d+: /, "").split("\n")[0];
  }
  writeFileSync(knownPath, `${JSON.stringify(record, null, 2)}\n`);
  console.log(`wrote ${failures.size} known failures to ${relative(root, knownPath)}`);
  process.exit(0);
}
process.exit(failed > 0 ? 1 : 0);
