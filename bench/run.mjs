// engine.io-session benchmarks: `npm run bench` (builds first); `npm run bench -- --quick` for a
// short run. See docs/benchmarks.md for what is measured and how.
//
// Primary figures: server CPU µs per operation (process.cpuUsage() of the server process ÷ the
// operations it completed in the window) and GC pause µs per operation (perf_hooks 'gc' entries),
// with throughput beside them. Load comes from two client processes on raw keep-alive sockets.
// Every variant of a section runs in the same run, in alternating rounds (order rotated each round);
// "extra" is the per-round paired difference to the loop-turn-later baseline, then the median.
//
// Flags: --quick  --only=inprocess,main,shared,growth,memory,instructions  --variants=plain,session,...  --rounds=N
//        --phases=pollingHandshakes,wsHandshakes,pollingMessages,wsMessages (main section)
//        --seconds=S  --no-write (print only)  --out=FILE (the raw results as JSON)  --pin (taskset)
//        --from=FILE (report a kept run again, measuring nothing)
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import console from "node:console";
import { clearInterval, setInterval } from "node:timers";
import {
  forkChild,
  here,
  killAll,
  pinSelf,
  pinning,
  root,
  runScript,
  watchdog,
} from "./processes.mjs";
import { evaluate, markdownReport, svgChart } from "./report.mjs";

watchdog(75);

const flags = Object.fromEntries(
  process.argv.slice(2).map((arg) => {
    const [key, value] = arg.replace(/^--/, "").split("=");
    return [key, value ?? true];
  }),
);
const quick = flags.quick === true;
pinning.enabled = flags.pin === true;
pinSelf();
const config = {
  quick,
  // Many short rounds rather than a few long ones: variants measured seconds apart see the same
  // machine (see pairedExtra in report.mjs).
  rounds: Number(flags.rounds ?? (quick ? 1 : 10)),
  seconds: Number(flags.seconds ?? 0.5),
  // Servers live for a whole section: a longer warm-up in the first round only.
  warmup: quick ? 0.2 : 1,
  warmupLater: 0.1,
  growthRounds: Number(flags["growth-rounds"] ?? (quick ? 1 : 5)),
  growthSeconds: 0.5,
  clients: 2,
  concurrency: 24, // per client process: 48 requests or handshakes in flight
  wsMessageSockets: 24, // per client process
  wsMessageWindow: 2,
  sessions: 10_000,
  openSockets: quick ? [1000] : [1000, 5000, 10_000],
  spreadSockets: quick ? 500 : 2000, // the "1 vs 50 sockets per session" case
  memorySockets: quick ? 500 : 2000,
  memoryRounds: quick ? 1 : 2,
};
const sections = String(flags.only ?? "inprocess,main,shared,growth,memory,instructions").split(
  ",",
);

const MAIN = [
  { key: "plain", label: "engine.io (plain)" },
  { key: "later", label: "engine.io, handshake one loop turn later (baseline)" },
  { key: "floor", label: "engine.io + floor allowRequest" },
  { key: "session", label: "SessionServer" },
  { key: "session-again", label: "SessionServer again, a second process (A/A: the noise)" },
  ...(process.env.BENCH_DIST_B
    ? [{ key: "session-b", label: "SessionServer of BENCH_DIST_B" }]
    : []),
  { key: "use", label: "engine.use(session) recipe" },
  { key: "use-guard", label: "engine.use(onlyForHandshake(session)) recipe" },
  { key: "io-plain", label: "socket.io (plain)" },
  { key: "io-later", label: "socket.io, handshake one loop turn later (baseline)" },
  { key: "io-floor", label: "socket.io + floor allowRequest" },
  { key: "io-session", label: "socket.io on SessionServer (createSessionIo)" },
  { key: "io-use", label: "socket.io engine.use(session) recipe" },
  { key: "io-use-guard", label: "socket.io engine.use(onlyForHandshake(session)) recipe" },
  { key: "io-esis", label: "socket.io + express-socket.io-session" },
];
const GROWTH_VARIANTS = ["later", "floor", "session"];
const HANDSHAKES = ["pollingHandshakes", "wsHandshakes"];
const ALL_PHASES = [...HANDSHAKES, "pollingMessages", "wsMessages"].filter(
  (phase) => typeof flags.phases !== "string" || flags.phases.split(",").includes(phase),
);

// ---------------------------------------------------------------- processes
const clients = [];

async function startClients() {
  for (let k = 0; k < config.clients; k++) {
    const client = forkChild("client.mjs", [], [], `client${k}`);
    await client.ready;
    clients.push(client);
  }
}

/** Starts a server of `variant` for a scenario; hands each client its share of the cookies. */
async function startServer(scenario, variant) {
  const serverConfig = { variant, ...scenario.server };
  const server = forkChild(
    "server.mjs",
    [JSON.stringify(serverConfig)],
    ["--expose-gc", ...(scenario.execArgv ?? [])],
    `server(${variant})`,
  );
  const info = await server.ready;
  const key = `${scenario.name}:${variant}`;
  const target = {
    key,
    port: info.port,
    host: `127.0.0.1:${info.port}`,
    path: info.path,
    io: info.io,
  };
  const handshakeCount = scenario.handshakeSessions ?? info.sessions;
  const cookies = await server.call("cookies", { from: 0, to: handshakeCount }, 60_000);
  await Promise.all(
    clients.map((client, k) =>
      client.call("setCookies", {
        key,
        // Each its own share; one shared cookie goes to every client.
        cookies:
          cookies.length < clients.length
            ? cookies
            : cookies.filter((_, i) => i % clients.length === k),
      }),
    ),
  );
  return { variant, server, target, info };
}

async function stopServer(entry) {
  await Promise.all(clients.map((c) => c.call("dropCookies", { key: entry.target.key })));
  await Promise.all(clients.map((c) => c.call("closeWs", { key: entry.target.key })));
  await entry.server.stop();
}

/** Opens `n` websockets held by the clients, with `cookies` (cycled). */
async function hold(entry, cookies, n) {
  const share = Math.ceil(n / clients.length);
  const results = await Promise.all(
    clients.map((client, k) =>
      client.call(
        "openWs",
        { target: entry.target, cookies, n: Math.min(share, n - k * share), offset: k * share },
        300_000,
      ),
    ),
  );
  const failed = results.reduce((a, r) => a + r.failed, 0);
  if (failed > 0) console.log(`  (${failed} of ${n} held websockets failed to open)`);
  return results.reduce((a, r) => a + r.opened, 0);
}

/** One measured window of `phase` against `entry`: warm-up, reset, load, stats. */
async function measure(entry, phase, round, seconds) {
  const { server, target } = entry;
  const closeOnConnect = phase === "pollingHandshakes" && !target.io;
  await server.call("mode", { closeOnConnect });
  const args = (seconds) => ({
    target,
    seconds,
    concurrency: config.concurrency,
    sockets: config.wsMessageSockets,
    window: config.wsMessageWindow,
  });
  const timeout = 120_000;
  const warmup = round === 0 ? config.warmup : config.warmupLater;
  await Promise.all(clients.map((c) => c.call(phase, args(warmup), timeout)));
  await server.call("closeAll");
  await server.call("reset");
  const loads = await Promise.all(clients.map((c) => c.call(phase, args(seconds), timeout)));
  const stats = await server.call("stats");
  await server.call("closeAll");
  const ops = phase.endsWith("Handshakes") ? stats.handshakes : stats.messages;
  return {
    ops,
    cpuPerOp: ops > 0 ? stats.cpuMicros / ops : null,
    systemPerOp: ops > 0 ? stats.systemMicros / ops : null,
    mainThreadPerOp: ops > 0 ? stats.mainThreadMicros / ops : null,
    gcPerOp: ops > 0 ? stats.gcMicros / ops : null,
    gcMajorPerOp: ops > 0 ? stats.gcMajorMicros / ops : null,
    rate: ops / (stats.wallMicros / 1e6),
    busy: stats.busy,
    serverCores: stats.cpuMicros / stats.wallMicros,
    clientCores: loads.reduce((a, l) => a + l.clientCpu, 0),
    clientCount: loads.reduce((a, l) => a + l.count, 0),
    errors: loads.reduce((a, l) => a + l.errors, 0),
    storeGets: stats.gets,
  };
}

function rotate(list, by) {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

const fmt = (n, digits = 0) => (typeof n === "number" ? n.toFixed(digits) : "–");

/**
 * Runs `rounds` alternating rounds of `variants` × `phases` of one scenario, with one server per
 * variant kept for the whole scenario (started once, `prepare`d once).
 * @returns runs[variant][phase] = [{ round, ...measure }]
 */
async function scenarioRuns(
  scenario,
  variants,
  phases,
  rounds,
  prepare,
  seconds = config.growthSeconds,
) {
  const entries = [];
  for (const variant of variants) {
    const entry = await startServer(scenario, variant);
    if (prepare !== undefined) await prepare(entry);
    entries.push(entry);
  }
  const runs = Object.fromEntries(variants.map((v) => [v, {}]));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const entry of rotate(entries, round)) {
        const line = [];
        for (const phase of phases) {
          try {
            const result = await measure(entry, phase, round, seconds);
            (runs[entry.variant][phase] ??= []).push({ round, ...result });
            line.push(
              `${phase} ${fmt(result.cpuPerOp, 1)} µs/op (sys ${fmt(result.systemPerOp, 1)}, main thread ${fmt(result.mainThreadPerOp, 1)}, busy ${fmt(result.busy * 100)} %, clients ${fmt(result.clientCores * 100)} %) gc ${fmt(result.gcPerOp, 1)}`,
            );
          } catch (error) {
            failures.push({
              scenario: scenario.name,
              variant: entry.variant,
              phase,
              round,
              error: String(error?.message ?? error),
            });
            line.push(`${phase} FAILED`);
            console.error(
              `  ${scenario.name} ${entry.variant} ${phase}: ${error?.message ?? error}`,
            );
          }
        }
        console.log(
          `${scenario.name} r${round + 1}/${rounds} ${entry.variant.padEnd(12)} ${line.join(", ")}`,
        );
      }
    }
  } finally {
    for (const entry of entries) await stopServer(entry);
  }
  return runs;
}

const failures = [];

// ---------------------------------------------------------------- sections
async function mainSection() {
  const only = typeof flags.variants === "string" ? flags.variants.split(",") : undefined;
  const variants = MAIN.filter((v) => only === undefined || only.includes(v.key)).map((v) => v.key);
  // engine.io and socket.io variants in two groups of rounds: a round of one group takes half as
  // long, so the variants paired within it are measured closer together in time.
  const runs = {};
  for (const group of [
    variants.filter((v) => !v.startsWith("io-")),
    variants.filter((v) => v.startsWith("io-")),
  ]) {
    if (group.length === 0) continue;
    Object.assign(
      runs,
      await scenarioRuns(
        { name: "main", server: { sessions: config.sessions } },
        group,
        ALL_PHASES,
        config.rounds,
        undefined,
        config.seconds,
      ),
    );
  }
  return runs;
}

async function sharedSection() {
  return scenarioRuns(
    { name: "shared", server: { shared: true } },
    [
      "later",
      "floor",
      "session",
      "session-window",
      ...(process.env.BENCH_DIST_B ? ["session-window-b"] : []),
    ],
    HANDSHAKES,
    config.growthRounds,
  );
}

async function growthSection() {
  const growth = {};
  for (const n of config.openSockets) {
    growth[`open-${n}`] = await scenarioRuns(
      {
        name: `open-${n}`,
        server: { sessions: config.sessions + n },
        handshakeSessions: config.sessions,
      },
      GROWTH_VARIANTS,
      HANDSHAKES,
      config.growthRounds,
      async (entry) => {
        const cookies = await entry.server.call("cookies", { from: config.sessions }, 60_000);
        const open = await hold(entry, cookies, n);
        console.log(`  ${entry.variant}: ${open} websockets held`);
      },
    );
  }
  for (const bytes of [10_000, 100_000]) {
    growth[`record-${bytes}`] = await scenarioRuns(
      { name: `record-${bytes}`, server: { sessions: config.sessions, recordBytes: bytes } },
      GROWTH_VARIANTS,
      HANDSHAKES,
      config.growthRounds,
    );
  }
  growth["secrets-5"] = await scenarioRuns(
    { name: "secrets-5", server: { sessions: config.sessions, secrets: 5 } },
    GROWTH_VARIANTS,
    HANDSHAKES,
    config.growthRounds,
  );
  for (const perSession of [1, 50]) {
    const sessions = Math.ceil(config.spreadSockets / perSession);
    growth[`per-session-${perSession}`] = await scenarioRuns(
      { name: `per-session-${perSession}`, server: { sessions } },
      GROWTH_VARIANTS,
      HANDSHAKES,
      config.growthRounds,
      async (entry) => {
        const cookies = await entry.server.call("cookies", {}, 60_000);
        await hold(entry, cookies, config.spreadSockets);
      },
    );
  }
  return growth;
}

/** The library's own CPU in one process, no sockets (bench/handshake-cost.mjs), both transports. */
async function inProcessSection() {
  const rounds = quick ? 5 : 21;
  const out = {};
  for (const transport of ["polling", "websocket"]) {
    const text = await runScript(
      "handshake-cost.mjs",
      ["--json", `--rounds=${rounds}`, `--transport=${transport}`],
      300_000,
    );
    out[transport] = { rounds, cases: JSON.parse(text) };
    console.log(
      `inprocess ${transport}: ${out[transport].cases.map((c) => `${c.case.split(" ")[0]} ${c.extraMicros.toFixed(2)}`).join(", ")} µs extra`,
    );
  }
  return out;
}

/** Instructions per operation under callgrind (bench/instructions.mjs); skipped without valgrind. */
async function instructionSection() {
  const args = quick
    ? ["--variants=later,floor,session", "--windows=1", "--seconds=4", "--warm-ops=1000"]
    : [];
  try {
    return JSON.parse(await runScript("instructions.mjs", ["--json", ...args], 60 * 60_000));
  } catch (error) {
    console.log(`instructions: not measured (${error.message})`);
    return undefined;
  }
}

async function memorySection() {
  const runs = { plain: [], floor: [], session: [] };
  const scenario = { name: "memory", server: { sessions: config.memorySockets + 200 } };
  for (let round = 0; round < config.memoryRounds; round++) {
    for (const variant of rotate(Object.keys(runs), round)) {
      const entry = await startServer(scenario, variant);
      try {
        const cookies = await entry.server.call("cookies", {}, 60_000);
        await entry.server.call("mode", { closeOnConnect: false });
        await hold(entry, cookies.slice(config.memorySockets), 200);
        await Promise.all(clients.map((c) => c.call("closeWs", { key: entry.target.key })));
        await entry.server.call("closeAll");
        const recordHeapBytes = await entry.server.call("recordHeapBytes");
        const before = await entry.server.call("memory");
        const open = await hold(
          entry,
          cookies.slice(0, config.memorySockets),
          config.memorySockets,
        );
        const after = await entry.server.call("memory");
        const heapPerSocket = (after.heapUsed - before.heapUsed) / open;
        runs[variant].push({
          round,
          open,
          heapPerSocket,
          rssPerSocket: (after.rss - before.rss) / open,
          recordHeapBytes,
          recordJsonLength: entry.info.recordJsonLength,
        });
        console.log(
          `memory r${round + 1} ${variant.padEnd(8)} ${open} websockets: ${fmt(heapPerSocket)} B heap per socket (record: ${fmt(recordHeapBytes)} B on the heap)`,
        );
      } finally {
        await stopServer(entry);
      }
    }
  }
  return runs;
}

// ---------------------------------------------------------------- main
function revision() {
  const git = (...args) => spawnSync("git", args, { cwd: root, encoding: "utf8" }).stdout?.trim();
  return {
    commit: git("rev-parse", "--short", "HEAD") ?? null,
    libDirty: git("status", "--porcelain", "lib") !== "",
  };
}

/** What else ran on the machine: load averages and the busiest other processes. */
function machineLoad() {
  const ps = spawnSync("ps", ["-eo", "pcpu,comm", "--sort=-pcpu", "--no-headers"], {
    encoding: "utf8",
  });
  const top = (ps.stdout ?? "")
    .trim()
    .split("\n")
    .slice(0, 6)
    .map((l) => l.trim());
  return { loadavg: os.loadavg().map((x) => Number(x.toFixed(2))), top };
}

function machine() {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism?.() ?? cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

async function formatted(text, filepath) {
  try {
    const prettier = await import("prettier");
    const options = (await prettier.resolveConfig(filepath)) ?? {};
    return await prettier.format(text, { ...options, filepath });
  } catch {
    return text;
  }
}

/** Replaces what is between the bench markers of docs/benchmarks.md with the generated tables. */
async function updateDocs(markdown) {
  const file = path.join(root, "docs", "benchmarks.md");
  const text = readFileSync(file, "utf8");
  const begin = "<!-- bench:begin (generated by npm run bench) -->";
  const end = "<!-- bench:end -->";
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) return false;
  const next = `${text.slice(0, a + begin.length)}\n\n${markdown}\n${text.slice(b)}`;
  writeFileSync(file, await formatted(next, file));
  return true;
}

/** Evaluates `results`, prints the report and (unless --no-write) writes it everywhere. */
async function report(results) {
  // The raw rounds first: a report that fails can be made again from them (--from).
  if (typeof flags.out === "string") writeFileSync(flags.out, JSON.stringify(results));
  results.summary = evaluate(results, MAIN);
  const markdown = markdownReport(results, MAIN);
  console.log(`\n${markdown}`);
  console.log(`bench: done in ${results.totalSeconds} s`);
  if (flags["no-write"] !== true) {
    const jsonPath = path.join(here, "results.json");
    writeFileSync(jsonPath, await formatted(JSON.stringify(results, null, 2), jsonPath));
    const mdPath = path.join(here, "results.md");
    writeFileSync(mdPath, await formatted(markdown, mdPath));
    writeFileSync(path.join(root, "docs", "benchmarks.svg"), svgChart(results, MAIN));
    const docs = await updateDocs(markdown);
    console.log(
      `bench: wrote bench/results.json, bench/results.md, docs/benchmarks.svg${docs ? ", docs/benchmarks.md" : ""}`,
    );
  }
}

async function main() {
  if (typeof flags.from === "string") {
    // Re-reports a run kept with --out (or bench/results.json): no measuring.
    await report(JSON.parse(readFileSync(flags.from, "utf8")));
    return;
  }
  const startedAt = Date.now();
  const info = machine();
  const loadAtStart = machineLoad();
  console.log(
    `bench: ${info.nproc} CPU(s) ${info.cpuModel}, Node ${info.node}; load ${loadAtStart.loadavg.join(" ")}; ` +
      `${config.rounds} rounds × ${config.seconds} s per figure${quick ? " (quick)" : ""}`,
  );
  await startClients();
  const results = {
    date: new Date().toISOString(),
    machine: info,
    revision: revision(),
    config,
    loadAtStart,
  };
  const loadSamples = [];
  const sampler = setInterval(() => loadSamples.push(machineLoad()), 30_000);
  if (sections.includes("inprocess")) results.inProcess = await inProcessSection();
  if (sections.includes("main")) results.main = await mainSection();
  if (sections.includes("shared")) results.shared = await sharedSection();
  if (sections.includes("growth")) results.growth = await growthSection();
  if (sections.includes("memory")) results.memory = await memorySection();
  if (sections.includes("instructions")) results.instructions = await instructionSection();
  clearInterval(sampler);
  results.loadAtEnd = machineLoad();
  results.loadSamples = loadSamples;
  results.failures = failures;
  results.totalSeconds = Number(((Date.now() - startedAt) / 1000).toFixed(1));
  await report(results);
  await Promise.all(clients.map((c) => c.stop()));
  killAll();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error("bench: failed", error);
    killAll();
    process.exit(1);
  },
);
