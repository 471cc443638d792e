// Instructions per operation: the servers of bench/server.mjs under valgrind's callgrind, loaded over
// loopback by bench/client.mjs, counters zeroed and dumped around each window (callgrind_control).
// A count of instructions does not depend on how fast the machine happens to be that second, which
// the CPU µs of the loopback bench do (the same window of the same build varies 2× on a shared VM):
// windows of one server agree within 0.4–3 %, two processes of one build within ~4 % (a
// `session-again` / `plain-again` variant measures that), so differences of a few percent can be
// told apart where CPU µs cannot tell 1.3× from 1.8×. Every thread of the server is counted (V8's GC and compiler threads too),
// as process.cpuUsage() counts them; what instructions do not see is the time each one takes
// (cache misses, syscalls in the kernel).
//
//   node bench/instructions.mjs [--json] [--variants=later,floor,session] [--windows=N]
//        [--seconds=S] [--parallel=N] [--keep=DIR]
//
// Servers run in parallel (valgrind runs each single-threaded; a count is not changed by the
// others' load). Needs valgrind (apt-get install valgrind); without it, says so and exits 2.
import { execFile, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import console from "node:console";
import { promisify } from "node:util";
import { forkChild, killAll, watchdog } from "./processes.mjs";

const run = promisify(execFile);
const flags = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [key, value] = arg.replace(/^--/, "").split("=");
    return [key, value ?? true];
  }),
);

const HANDSHAKES = ["pollingHandshakes", "wsHandshakes"];
const MESSAGES = ["pollingMessages", "wsMessages"];
const EVERY = [...HANDSHAKES, ...MESSAGES];
/** What each variant is measured on: what a target compares it on. */
const PHASES = {
  plain: MESSAGES,
  later: HANDSHAKES,
  floor: HANDSHAKES,
  session: EVERY,
  use: ["pollingHandshakes"],
  "use-guard": ["pollingHandshakes"],
  "io-plain": MESSAGES,
  "io-later": HANDSHAKES,
  "io-floor": HANDSHAKES,
  "io-session": EVERY,
  "io-use-guard": ["pollingHandshakes"],
  // An A/B of lib/: BENCH_DIST_B=/path/to/other/dist/index.js --variants=later,session,session-b
  "session-b": HANDSHAKES,
  // A/A: a second process of the same variant (how far two processes of one build land apart).
  "session-again": EVERY,
  "plain-again": MESSAGES,
};
const variants = String(
  flags.variants ??
    Object.keys(PHASES)
      .filter((v) => !["session-b", "session-again", "plain-again"].includes(v))
      .join(","),
).split(",");
const config = {
  windows: Number(flags.windows ?? 3),
  seconds: Number(flags.seconds ?? 10),
  warmup: Number(flags.warmup ?? 10),
  warmOps: Number(flags["warm-ops"] ?? 6_000),
  spread: Number(flags.spread ?? 0.03),
  maxWindows: Number(flags["max-windows"] ?? 10),
  parallel: Number(flags.parallel ?? 2),
  concurrency: 8,
  sockets: 8,
  window: 2,
};
watchdog(90);

if (spawnSync("valgrind", ["--version"]).status !== 0) {
  console.error("bench/instructions.mjs: valgrind not found (apt-get install valgrind)");
  process.exit(2);
}

/** Zeroes the counters of the callgrind process `pid`, or dumps them; resolves when it answered. */
async function callgrind(pid, command) {
  await run("callgrind_control", [command, String(pid)], { timeout: 120_000 });
}

/** The newest dump in `dir`. */
function lastDumpFile(dir) {
  const dumps = readdirSync(dir)
    .filter((f) => /^cg\.\d+\.\d+$/.test(f))
    .sort((a, b) => Number(a.split(".").pop()) - Number(b.split(".").pop()));
  return path.join(dir, dumps.at(-1));
}

/** The instruction count of the newest dump in `dir`. */
function lastDump(dir) {
  const file = lastDumpFile(dir);
  const text = readFileSync(file, "utf8");
  const summary = /^summary: (\d+)/m.exec(text) ?? /^totals: (\d+)/m.exec(text);
  if (summary === null) throw new Error(`no summary in ${file}`);
  return Number(summary[1]);
}

const TIMEOUT = 600_000;

/** One variant: its server under callgrind, one client, every phase of it, `windows` windows each. */
async function measureVariant(variant) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `engine.io-session-cg-${variant}-`));
  const server = forkChild(
    "server.mjs",
    [JSON.stringify({ variant })],
    // V8's memory reducer decides from wall-clock allocation rates: under valgrind (~50× slower) it
    // takes a loaded server for an idle one and runs memory-reducing mark-compacts, which throw away
    // compiled code (the next window then counts 4× the instructions). A loaded server never sees it.
    ["--expose-gc", "--no-memory-reducer"],
    `server(${variant})`,
    {
      wrapper: [
        "valgrind",
        "--tool=callgrind",
        `--callgrind-out-file=${path.join(dir, "cg.%p")}`,
        "--dump-line=no",
        "--log-file=" + path.join(dir, "valgrind.log"),
      ],
      readyMs: TIMEOUT,
    },
  );
  const client = forkChild("client.mjs", [], [], `client(${variant})`);
  const result = { variant, phases: {} };
  try {
    const info = await server.ready;
    await client.ready;
    const pid = server.pid;
    const target = {
      key: variant,
      port: info.port,
      host: `127.0.0.1:${info.port}`,
      path: info.path,
      io: info.io,
    };
    await client.call("setCookies", {
      key: variant,
      cookies: await server.call("cookies", {}, TIMEOUT),
    });
    const load = (phase, seconds) =>
      client.call(
        phase,
        {
          target,
          seconds,
          concurrency: config.concurrency,
          sockets: config.sockets,
          window: config.window,
        },
        TIMEOUT,
      );
    const only = typeof flags.phases === "string" ? flags.phases.split(",") : undefined;
    for (const phase of PHASES[variant].filter((p) => only === undefined || only.includes(p))) {
      await server.call("mode", { closeOnConnect: phase === "pollingHandshakes" && !info.io });
      // Warm until V8 has compiled what runs (it tiers up by invocation counts, not time).
      await server.call("reset", undefined, TIMEOUT);
      for (let warm = 0; warm < config.warmOps;) {
        await load(phase, config.warmup);
        await server.call("closeAll", undefined, TIMEOUT);
        const stats = await server.call("stats", undefined, TIMEOUT);
        warm = phase.endsWith("Handshakes") ? stats.handshakes : stats.messages;
      }
      // Then windows until the last `windows` of them agree within `spread` (V8 compiles on
      // background threads, which valgrind runs in turn with the main one: optimized code can
      // arrive thousands of operations late), at most `maxWindows`.
      const all = [];
      const spreadOf = (ws) => {
        const xs = ws.map((w) => w.perOp).sort((a, b) => a - b);
        return (xs.at(-1) - xs[0]) / xs[Math.floor(xs.length / 2)];
      };
      while (all.length < config.maxWindows) {
        await callgrind(pid, "-z");
        await server.call("reset", undefined, TIMEOUT);
        await load(phase, config.seconds);
        // Every socket of the window closed inside it: its close is part of its cost.
        await server.call("closeAll", undefined, TIMEOUT);
        const stats = await server.call("stats", undefined, TIMEOUT);
        await callgrind(pid, "-d");
        const instructions = lastDump(dir);
        const ops = phase.endsWith("Handshakes") ? stats.handshakes : stats.messages;
        all.push({
          ops,
          instructions,
          perOp: instructions / ops,
          gcCount: stats.gcCount,
          gcMajorMicros: Math.round(stats.gcMajorMicros),
        });
        if (all.length >= config.windows && spreadOf(all.slice(-config.windows)) <= config.spread)
          break;
      }
      const windows = all.slice(-config.windows);
      result.converged ??= {};
      result.converged[phase] = spreadOf(windows) <= config.spread;
      result.discarded ??= {};
      result.discarded[phase] = all.slice(0, -config.windows).map((w) => Math.round(w.perOp));
      result.phases[phase] = windows;
      // --keep=DIR: the last window's dump, for callgrind_annotate (native and V8 builtin
      // functions are named; JIT-compiled JavaScript is not).
      if (typeof flags.keep === "string") {
        mkdirSync(flags.keep, { recursive: true });
        copyFileSync(lastDumpFile(dir), path.join(flags.keep, `${variant}.${phase}.callgrind`));
      }
      console.error(
        `instructions ${variant} ${phase}: ${windows.map((w) => `${Math.round(w.perOp)} (${w.ops} ops)`).join(", ")}` +
          (result.discarded[phase].length > 0
            ? `; discarded before: ${result.discarded[phase].join(", ")}`
            : ""),
      );
    }
  } finally {
    await client.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

const started = Date.now();
const queue = [...variants];
const results = [];
try {
  await Promise.all(
    Array.from({ length: config.parallel }, async () => {
      while (queue.length > 0) results.push(await measureVariant(queue.shift()));
    }),
  );
} finally {
  killAll();
}
const out = {
  config,
  seconds: (Date.now() - started) / 1000,
  valgrind: spawnSync("valgrind", ["--version"], { encoding: "utf8" }).stdout.trim(),
  variants: Object.fromEntries(results.map((r) => [r.variant, r])),
};
if (flags.json === true) process.stdout.write(JSON.stringify(out));
else console.log(JSON.stringify(out, null, 2));
