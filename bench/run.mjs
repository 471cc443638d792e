// engine.io-session benchmarks: `npm run bench` (builds first).
//
// Every variant runs in the same run, in alternating rounds (the order rotates each round, so each
// variant takes each position once over 5 rounds). Each (round, variant) gets a fresh server process
// (bench/server.mjs, --expose-gc) and a fresh load-generator process (bench/client.mjs), both on
// 127.0.0.1. Medians over rounds are reported with ratios to the first variant (plain engine.io).
//
// Knobs (environment): BENCH_ROUNDS=5 BENCH_SECONDS=3 BENCH_WARMUP=0.5 BENCH_CONCURRENCY=50
// BENCH_SOCKETS=5000 BENCH_BURST=1000 BENCH_MEMORY_ROUNDS=2 BENCH_VARIANTS=plain,use,...
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import console from "node:console";
import { forkChild, here, killAll, root, runScript, startRedis, watchdog } from "./processes.mjs";
import { evaluate, markdownReport, svgChart } from "./report.mjs";

watchdog(20);

const env = (name, fallback) => {
  const value = process.env[name];
  return value === undefined || value === "" ? fallback : Number(value);
};
const config = {
  rounds: env("BENCH_ROUNDS", 5),
  seconds: env("BENCH_SECONDS", 3),
  warmup: env("BENCH_WARMUP", 0.5),
  concurrency: env("BENCH_CONCURRENCY", 50),
  wsMessageSockets: env("BENCH_WS_SOCKETS", 50),
  wsMessageWindow: env("BENCH_WS_WINDOW", 2),
  sockets: env("BENCH_SOCKETS", 5000),
  burst: env("BENCH_BURST", 1000),
  memoryRounds: env("BENCH_MEMORY_ROUNDS", 2),
  maxCount: 2_000_000, // per measurement: a bound, never reached in 3 s on loopback
};

const VARIANTS = [
  { key: "plain", label: "engine.io Server (plain)" },
  { key: "use", label: "engine.use(session)" },
  { key: "use-guard", label: "engine.use(onlyForHandshake(session))" },
  { key: "session-memory", label: "SessionServer + MemoryStore" },
  { key: "session-redis", label: "SessionServer + connect-redis" },
  { key: "session-window", label: "SessionServer + MemoryStore, coalesceWindow 2 s" },
];

const PHASES = [
  { key: "pollingHandshakes", closeOnConnect: true },
  { key: "wsHandshakes", closeOnConnect: false },
  { key: "pollingMessages", closeOnConnect: false },
  { key: "wsMessages", closeOnConnect: false },
];

// ---------------------------------------------------------------- one measured run
async function withProcesses(variant, redisPort, body) {
  const server = forkChild(
    "server.mjs",
    [variant, String(redisPort ?? 0)],
    ["--expose-gc"],
    `server(${variant})`,
  );
  const client = forkChild("client.mjs", [], [], "client");
  try {
    const info = await server.ready;
    await client.ready;
    return await body(server, client, info);
  } finally {
    await Promise.all([server.stop(), client.stop()]);
  }
}

async function throughputRun(variant, redisPort) {
  return withProcesses(variant, redisPort, async (server, client, info) => {
    const result = { recordJsonLength: info.recordJsonLength };
    for (const phase of PHASES) {
      const args = {
        port: info.port,
        cookie: info.cookie,
        concurrency: config.concurrency,
        sockets: config.wsMessageSockets,
        window: config.wsMessageWindow,
        maxCount: config.maxCount,
      };
      const timeout = (config.seconds + config.warmup) * 1000 + 60_000;
      await server.call("mode", { closeOnConnect: phase.closeOnConnect, echo: true });
      if (config.warmup > 0) {
        await client.call(phase.key, { ...args, seconds: config.warmup }, timeout);
        await server.call("closeAll");
      }
      await server.call("reset");
      const measured = await client.call(phase.key, { ...args, seconds: config.seconds }, timeout);
      const stats = await server.call("stats");
      const left = await server.call("closeAll");
      result[phase.key] = {
        ...measured,
        serverCpu: stats.cpuMicros / 1e6 / measured.seconds,
        serverMicrosPerOp: measured.count > 0 ? stats.cpuMicros / measured.count : null,
        storeGets: stats.get,
        leftOpen: left,
      };
    }
    return result;
  });
}

async function memoryRun(variant, redisPort) {
  return withProcesses(variant, redisPort, async (server, client, info) => {
    // 1. Store reads for `burst` concurrent handshakes of one session.
    await server.call("mode", { closeOnConnect: true, echo: true });
    await server.call("reset");
    const burst = await client.call(
      "burst",
      { port: info.port, cookie: info.cookie, n: config.burst },
      90_000,
    );
    const burstStats = await server.call("stats");
    await server.call("closeAll");
    // 2. Memory per open websocket socket, after GC, against a warmed-up baseline.
    await server.call("mode", { closeOnConnect: false, echo: true });
    const wsArgs = { port: info.port, cookie: info.cookie, concurrency: 100 };
    await client.call("openWs", { ...wsArgs, n: 200 }, 60_000);
    await client.call("closeWs");
    await server.call("closeAll");
    const recordHeapBytes = await server.call("recordHeapBytes");
    const before = await server.call("memory");
    const opened = await client.call("openWs", { ...wsArgs, n: config.sockets }, 180_000);
    const held = await server.call("stats");
    const after = await server.call("memory");
    await client.call("closeWs");
    const open = held.clients;
    return {
      recordJsonLength: info.recordJsonLength,
      recordHeapBytes,
      burst: { ...burst, storeGets: burstStats.get, storeTouches: burstStats.touch },
      memory: {
        open,
        failed: opened.failed,
        heapPerSocket: open > 0 ? (after.heapUsed - before.heapUsed) / open : null,
        rssPerSocket: open > 0 ? (after.rss - before.rss) / open : null,
        before,
        after,
      },
    };
  });
}

// ---------------------------------------------------------------- main
function rotate(list, by) {
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

function fmt(n) {
  return typeof n === "number" ? n.toFixed(0) : String(n);
}

/** Which code was measured: the commit, and whether lib/ had uncommitted changes. */
function revision() {
  const git = (...args) => spawnSync("git", args, { cwd: root, encoding: "utf8" }).stdout?.trim();
  return {
    commit: git("rev-parse", "--short", "HEAD") ?? null,
    libDirty: git("status", "--porcelain", "lib") !== "",
  };
}

function machine() {
  const cpus = os.cpus();
  return {
    nproc: os.availableParallelism?.() ?? cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    memoryGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadavgAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
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

async function main() {
  const startedAt = Date.now();
  const info = machine();
  const rev = revision();
  console.log(
    `bench: ${info.nproc} CPU(s) ${info.cpuModel}, ${info.memoryGiB} GiB, Node ${info.node}; ` +
      `${config.rounds} rounds x ${config.seconds}s (+${config.warmup}s warm-up) per figure`,
  );
  const only = process.env.BENCH_VARIANTS?.split(",").filter(Boolean);
  let variants = VARIANTS.filter((v) => only === undefined || only.includes(v.key));
  const skipped = {};
  let redis;
  if (variants.some((v) => v.key === "session-redis")) {
    redis = await startRedis();
    if (redis.skipped !== undefined) {
      skipped["session-redis"] = redis.skipped;
      console.log(`bench: skipping 'SessionServer + connect-redis': ${redis.skipped}`);
      variants = variants.filter((v) => v.key !== "session-redis");
    } else {
      console.log(`bench: ${redis.version}, on 127.0.0.1:${redis.port}`);
    }
  }
  const redisPort = redis?.port;

  const runs = Object.fromEntries(variants.map((v) => [v.key, []]));
  const failures = [];
  for (let round = 0; round < config.rounds; round++) {
    const order = rotate(variants, round);
    for (const variant of order) {
      const t0 = Date.now();
      try {
        const result = await throughputRun(variant.key, redisPort);
        runs[variant.key].push({ round, loadavg1: os.loadavg()[0], ...result });
        console.log(
          `round ${round + 1}/${config.rounds} ${variant.key.padEnd(15)} ` +
            `polling hs/s ${fmt(result.pollingHandshakes.rate).padStart(6)} ` +
            `ws hs/s ${fmt(result.wsHandshakes.rate).padStart(6)} ` +
            `POST/s ${fmt(result.pollingMessages.rate).padStart(6)} ` +
            `ws msg/s ${fmt(result.wsMessages.rate).padStart(7)} ` +
            `(${((Date.now() - t0) / 1000).toFixed(1)} s)`,
        );
      } catch (error) {
        failures.push({ round, variant: variant.key, error: String(error?.message ?? error) });
        console.error(`round ${round + 1} ${variant.key}: FAILED: ${error?.message ?? error}`);
      }
    }
  }
  const memoryRuns = Object.fromEntries(variants.map((v) => [v.key, []]));
  for (let round = 0; round < config.memoryRounds; round++) {
    for (const variant of rotate(variants, round)) {
      try {
        const result = await memoryRun(variant.key, redisPort);
        memoryRuns[variant.key].push({ round, ...result });
        console.log(
          `memory ${round + 1}/${config.memoryRounds} ${variant.key.padEnd(15)} ` +
            `${result.memory.open} sockets: heap ${fmt(result.memory.heapPerSocket)} B/socket, ` +
            `rss ${fmt(result.memory.rssPerSocket)} B/socket; ` +
            `${config.burst} handshakes of one session: ${result.burst.storeGets} store reads ` +
            `(${result.burst.ok} ok)`,
        );
      } catch (error) {
        failures.push({ round, variant: variant.key, error: String(error?.message ?? error) });
        console.error(`memory ${round + 1} ${variant.key}: FAILED: ${error?.message ?? error}`);
      }
    }
  }

  // The library's own CPU per handshake, in one process, without sockets (robust to machine load).
  let handshakeCost = null;
  try {
    handshakeCost = JSON.parse(await runScript("handshake-cost.mjs", ["--json"]));
    for (const r of handshakeCost) {
      console.log(`in-process: ${r.case}: ${r.medianMicros.toFixed(2)} µs CPU per handshake`);
    }
  } catch (error) {
    failures.push({ round: 0, variant: "handshake-cost", error: String(error?.message ?? error) });
  }

  const seconds = (Date.now() - startedAt) / 1000;
  const results = {
    date: new Date().toISOString(),
    machine: info,
    revision: rev,
    config,
    totalSeconds: Number(seconds.toFixed(1)),
    loadavgAtEnd: os.loadavg().map((x) => Number(x.toFixed(2))),
    variants: variants.map((v) => ({ ...v })),
    skipped,
    failures,
    runs,
    memoryRuns,
    handshakeCost,
  };
  const summaryTables = evaluate(results);
  results.summary = summaryTables;
  const markdown = markdownReport(results);
  console.log(`\n${markdown}`);
  console.log(`bench: done in ${seconds.toFixed(0)} s`);

  const jsonPath = path.join(here, "results.json");
  writeFileSync(jsonPath, await formatted(JSON.stringify(results, null, 2), jsonPath));
  const mdPath = path.join(here, "results.md");
  writeFileSync(mdPath, await formatted(markdown, mdPath));
  writeFileSync(path.join(root, "docs", "benchmarks.svg"), svgChart(results));
  console.log("bench: wrote bench/results.json, bench/results.md, docs/benchmarks.svg");
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
