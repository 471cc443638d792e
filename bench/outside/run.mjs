// The outside benchmark: server CPU µs per handshake for plain engine.io ("later", the baseline),
// the outside floor and SessionServer, plus a second SessionServer process as an A/A pair.
// Usage: node bench/outside/run.mjs [--rounds 12] [--warm-rounds 1] [--window 500] [--warmup 200]
//        [--suites polling,websocket,io-websocket] [--concurrency 16] [--ws-concurrency 32]
//        [--loaders 2] [--out FILE] [--profile DIR] [--callgrind [--warm-ops 6000] [--settle 0.03]
//        [--max-warm 16] [--keep-dumps]] [--watchdog MINUTES]
// Each variant is its own server process; each round runs every variant once per transport, in an
// order rotated by one each round; per-round ratios to the baseline cancel the machine's speed
// drift. Everything talks to 127.0.0.1 only and the whole run is killed after 6 minutes.
// --callgrind: every server runs under valgrind's callgrind and the figure is instructions per
// handshake (callgrind_control -z before a window, -d after it), with an adaptive warm-up and a
// 45-minute watchdog; see README.md.
import { execFile, fork } from "node:child_process";
import console from "node:console";
import { mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { clearInterval, setInterval, setTimeout } from "node:timers";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { cookieHeader, COOKIE_NAME } from "./sessions.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
function option(name, fallback) {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : args[at + 1];
}
// Instruction-count mode: servers under callgrind, ~40-50x slower, so longer windows, fewer rounds.
const CALLGRIND = args.includes("--callgrind");
const ROUNDS = Number(option("rounds", CALLGRIND ? 4 : 12));
// Run first, not recorded (JIT, heap sizes). Under --callgrind: the least number of warm-up
// windows per server and suite; more are run until the count settles (see warmUp below).
const WARM_ROUNDS = Number(option("warm-rounds", CALLGRIND ? 2 : 1));
const WINDOW_MS = Number(option("window", CALLGRIND ? 8000 : 500));
const WARMUP_MS = Number(option("warmup", CALLGRIND ? 1000 : 200));
// --callgrind warm-up: a server (per suite) is warm when it has done WARM_OPS handshakes of the
// suite in warm-up windows and its instructions per handshake changed by less than SETTLE between
// its last two warm-up windows; at most MAX_WARM warm-up windows each.
const WARM_OPS = Number(option("warm-ops", 6000));
const SETTLE = Number(option("settle", 0.03));
const MAX_WARM = Number(option("max-warm", 16));
const KEEP_DUMPS = args.includes("--keep-dumps");
const CONCURRENCY = Number(option("concurrency", 16)); // per load process, polling
// Websocket handshakes wait on more round trips (connect, upgrade, close): more in flight.
const WS_CONCURRENCY = Number(option("ws-concurrency", 32));
const LOADERS = Number(option("loaders", 2));
const OUT = option("out", path.join(here, CALLGRIND ? "results-callgrind.json" : "results.json"));
const runStarted = Date.now(); // started (below) is after the servers are up
const PROFILE_DIR = option("profile", undefined); // --cpu-prof the floor and SessionServer processes
const IDLE_MS = Number(option("idle", 1000)); // machine load sampled before starting
const WATCHDOG_MIN = Number(option("watchdog", CALLGRIND ? 45 : 6));
const WATCHDOG_MS = WATCHDOG_MIN * 60 * 1000;

/**
 * What one round runs, per suite: the load's transport and the server labels, in the roles
 * [baseline, floor, SessionServer, A/A twin of SessionServer (optional)]. label → server variant.
 */
const SUITE_DEFS = {
  polling: { transport: "polling", labels: ["later", "floor", "session", "session-b"] },
  websocket: { transport: "websocket", labels: ["later", "floor", "session", "session-b"] },
  "io-websocket": { transport: "io-websocket", labels: ["io-later", "io-floor", "io-session"] },
};
const SUITES = option("suites", "polling,websocket,io-websocket").split(",");
const VARIANTS = {
  later: "later",
  floor: "floor",
  session: "session",
  // The A/A twin; with OUTSIDE_DIST_B=<dist>/index.js, another build (an A/B).
  "session-b": "session-b",
  "io-later": "io-later",
  "io-floor": "io-floor",
  "io-session": "io-session",
};
const LABELS = [...new Set(SUITES.flatMap((name) => SUITE_DEFS[name].labels))];

const children = [];
function killAll() {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
}
setTimeout(() => {
  console.error(`run: watchdog after ${WATCHDOG_MIN} minutes, killing everything`);
  killAll();
  process.exit(3);
}, WATCHDOG_MS).unref();
process.on("exit", killAll);

const childEnv = { ...process.env, OUTSIDE_WATCHDOG_MS: String(WATCHDOG_MS) };
// Under --callgrind: dumps and valgrind logs go here (removed at the end unless --keep-dumps).
const CG_DIR = CALLGRIND ? mkdtempSync(path.join(os.tmpdir(), "outside-cg-")) : undefined;
function valgrindArgv() {
  return [
    "--tool=callgrind",
    `--callgrind-out-file=${path.join(CG_DIR, "cg.%p")}`,
    "--dump-line=no",
    // One log per process (several servers run at once; one shared file would be clobbered).
    `--log-file=${path.join(CG_DIR, "vg.%p.log")}`,
    process.execPath,
    // V8's memory reducer judges allocation rates by the wall clock: it takes a server slowed 50x
    // by valgrind for idle and runs memory-reducing mark-compacts that throw compiled code away.
    "--no-memory-reducer",
  ];
}
function start(script, argv) {
  const profiled = PROFILE_DIR && script === "server.mjs" && argv[0] !== "later";
  const execArgv = profiled
    ? [
        "--cpu-prof",
        "--cpu-prof-dir",
        PROFILE_DIR,
        "--cpu-prof-name",
        `${argv[0]}-${children.length}.cpuprofile`,
      ]
    : [];
  const underValgrind = CALLGRIND && script === "server.mjs";
  const child = fork(path.join(here, script), argv, {
    env: childEnv,
    stdio: "inherit",
    // fork runs execPath with execArgv then the script: valgrind [its args] node [flags] script.
    // The child's pid is valgrind's, which is the guest's (valgrind does not fork).
    ...(underValgrind ? { execPath: "valgrind", execArgv: [...valgrindArgv(), ...execArgv] } : {}),
    ...(underValgrind ? {} : { execArgv }),
  });
  children.push(child);
  child.on("exit", (code) => {
    if (code !== 0 && code !== null && !stopping) {
      console.error(`${script} ${argv.join(" ")} exited with ${code}`);
      killAll();
      process.exit(1);
    }
  });
  return child;
}
let stopping = false;

/** Sends `msg` and resolves with the child's next message whose cmd is `reply`. */
function ask(child, msg, reply) {
  return new Promise((resolve) => {
    const listener = (answer) => {
      if (answer.cmd !== reply) return;
      child.off("message", listener);
      resolve(answer);
    };
    child.on("message", listener);
    if (msg) child.send(msg);
  });
}

/** /proc/stat's cpu line: [busy, steal, total] jiffies of the whole machine. */
function cpuTimes() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f.map(Number);
    const busy = user + nice + system + irq + softirq;
    return { busy, steal, total: busy + idle + iowait + steal };
  } catch {
    return undefined;
  }
}
function machineShare(a, b) {
  if (!a || !b) return undefined;
  const total = b.total - a.total;
  return { busy: (b.busy - a.busy) / total, steal: (b.steal - a.steal) / total };
}

function get(port, cookie, where) {
  return new Promise((resolve) => {
    const headers = cookie ? { cookie } : {};
    const at = `/${where}/?EIO=4&transport=polling`;
    http
      .get({ host: "127.0.0.1", port, path: at, headers }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      })
      .on("error", (err) => resolve(err.code));
  });
}

// --- statistics ---
const median = (xs) => quantile(xs, 0.5);
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}
let seed = 12345;
function random() {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
/** 5th and 95th percentile of `stat` over rounds resampled with replacement. */
function bootstrap(n, stat, times = 2000) {
  const values = [];
  for (let t = 0; t < times; t++) {
    const pick = Array.from({ length: n }, () => Math.floor(random() * n));
    const v = stat(pick);
    if (Number.isFinite(v)) values.push(v);
  }
  return [quantile(values, 0.05), quantile(values, 0.95)];
}

// --- the run ---
const idleBefore = cpuTimes();
await sleep(IDLE_MS);
const backgroundLoad = machineShare(idleBefore, cpuTimes());
const loadavgBefore = os.loadavg();

const servers = {};
for (const label of LABELS) {
  const child = start("server.mjs", [VARIANTS[label]]);
  servers[label] = { child, port: (await ask(child, null, "ready")).port };
}
const loaders = [];
for (let k = 0; k < LOADERS; k++) {
  const child = start("load.mjs", []);
  await ask(child, null, "ready");
  loaders.push(child);
}

// Behaviour check first: a good cookie opens, none or a forged one is refused (except by "later").
const checks = {};
const forged = `${COOKIE_NAME}=${encodeURIComponent(`s:${"A".repeat(32)}.forgedsignature`)}`;
for (const label of LABELS) {
  const { port } = servers[label];
  const where = label.startsWith("io-") ? "socket.io" : "engine.io";
  checks[label] = {
    good: await get(port, cookieHeader(7), where),
    none: await get(port, undefined, where),
    forged: await get(port, forged, where),
  };
  // createSessionIo accepts a refused engine.io handshake on purpose, to tell socket.io's client
  // the refusal as a CONNECT_ERROR; its refusals are not checked here.
  const refuses = !label.endsWith("later") && label !== "io-session";
  const c = checks[label];
  if (c.good !== 200 || (refuses && (c.none !== 403 || c.forged !== 403))) {
    console.error(`behaviour check failed for ${label}: ${JSON.stringify(c)}`);
    process.exit(1);
  }
}

// --- callgrind ---
/**
 * Runs `callgrind_control <flag> <pid>` (it returns once valgrind has acknowledged). An idle
 * guest (blocked in epoll_wait) is served by vgdb only through ptrace or when it next runs: with
 * `wake`, IPC pings keep it running until the command returns.
 */
function callgrindControl(flag, pid, wake) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const pinger = wake ? setInterval(() => wake.send({ cmd: "ping" }), 50) : undefined;
    execFile("callgrind_control", [flag, String(pid)], { timeout: 120_000 }, (err, _, stderr) => {
      if (pinger) clearInterval(pinger);
      if (err) reject(new Error(`callgrind_control ${flag} ${pid}: ${err.message} ${stderr}`));
      else resolve(performance.now() - t0);
    });
  });
}
const lastDumpOf = new Map(); // pid → the number of the dump last read
/** The newest dump `cg.<pid>.<n>` (highest n, which must be new): its `summary:` instructions. */
function readDump(pid) {
  const prefix = `cg.${pid}.`;
  const numbers = readdirSync(CG_DIR)
    .filter((f) => f.startsWith(prefix))
    .map((f) => Number(f.slice(prefix.length)))
    .filter((n) => Number.isInteger(n));
  const n = Math.max(...numbers);
  if (!(n > (lastDumpOf.get(pid) ?? 0))) throw new Error(`no new callgrind dump for ${pid}`);
  lastDumpOf.set(pid, n);
  const file = path.join(CG_DIR, `${prefix}${n}`);
  const text = readFileSync(file, "utf8");
  const found = /^summary:\s*(\d+)/m.exec(text) ?? /^totals:\s*(\d+)/m.exec(text);
  if (!found) throw new Error(`no summary line in ${file}`);
  if (!KEEP_DUMPS) unlinkSync(file);
  return { dump: n, instructions: Number(found[1]) };
}

async function window(label, transport) {
  const server = servers[label];
  for (const [k, loader] of loaders.entries()) {
    loader.send({
      cmd: "start",
      port: server.port,
      transport,
      concurrency: transport === "polling" ? CONCURRENCY : WS_CONCURRENCY,
      first: k,
      stride: LOADERS,
    });
  }
  await sleep(WARMUP_MS);
  const machine0 = cpuTimes();
  const zeroMs = CALLGRIND ? await callgrindControl("-z", server.child.pid) : undefined;
  await ask(server.child, { cmd: "begin" }, "begun");
  await sleep(WINDOW_MS);
  let m;
  let stops;
  let cg;
  let dumpMs;
  const stopLoad = () => Promise.all(loaders.map((l) => ask(l, { cmd: "stop" }, "stopped")));
  if (CALLGRIND) {
    // The load drains before "end": every handshake started in the window is then complete and
    // counted, and between "end" and the dump the server is idle (no uncounted handshakes).
    stops = await stopLoad();
    m = await ask(server.child, { cmd: "end" }, "ended");
    dumpMs = await callgrindControl("-d", server.child.pid, server.child);
    cg = readDump(server.child.pid);
  } else {
    m = await ask(server.child, { cmd: "end" }, "ended");
  }
  const machine = machineShare(machine0, cpuTimes());
  stops ??= await stopLoad();
  return {
    ...m,
    usPerOp: m.cpuUs / m.ops,
    ...(cg
      ? { instructions: cg.instructions, irPerOp: cg.instructions / m.ops, dump: cg.dump }
      : {}),
    zeroMs,
    dumpMs,
    gcUsPerOp: (m.gcMs * 1000) / m.ops,
    opsPerSec: m.ops / (m.wallMs / 1000),
    machineBusy: machine?.busy,
    machineSteal: machine?.steal,
    loadDone: stops.reduce((s, x) => s + x.done, 0),
    loadFailed: stops.reduce((s, x) => s + x.failed, 0),
    loadErrors: stops.flatMap((x) => x.errors),
    loadCpuUs: stops.reduce((s, x) => s + x.cpuUs, 0),
  };
}

const started = Date.now();
const secondsSoFar = () => ((Date.now() - started) / 1000).toFixed(0);

// --callgrind warm-up: V8 tiers code up by invocation counts, and valgrind runs its background
// compiler threads in turn, so a server's count per handshake falls for thousands of handshakes.
// Warm-up windows are run, suite by suite and server by server in rounds, for every server not
// yet warm (see WARM_OPS, SETTLE), at most MAX_WARM each; none of them is recorded.
const warmUp = {};
if (CALLGRIND) {
  for (let w = 0; w < MAX_WARM; w++) {
    let cold = 0;
    for (const name of SUITES) {
      const { transport, labels } = SUITE_DEFS[name];
      warmUp[name] ??= {};
      for (const label of labels) {
        const st = (warmUp[name][label] ??= { windows: [], handshakes: 0, warm: false });
        if (st.warm) continue;
        const m = await window(label, transport);
        st.windows.push({ irPerOp: m.irPerOp, usPerOp: m.usPerOp, ops: m.ops });
        st.handshakes += m.loadDone;
        const k = st.windows.length;
        st.change = k < 2 ? undefined : st.windows[k - 1].irPerOp / st.windows[k - 2].irPerOp - 1;
        st.warm =
          k >= WARM_ROUNDS &&
          st.handshakes >= WARM_OPS &&
          st.change !== undefined &&
          Math.abs(st.change) < SETTLE;
        if (!st.warm) cold++;
        process.stderr.write(
          `warm-up ${name} ${label} #${k}: ${(m.irPerOp / 1000).toFixed(1)}k instructions/op` +
            `${st.change === undefined ? "" : ` (${(st.change * 100).toFixed(1)}%)`}, ${m.ops} ops in window, ` +
            `${st.handshakes} handshakes so far${st.warm ? ", warm" : ""} (${secondsSoFar()} s)\n`,
        );
      }
    }
    if (cold === 0) break;
  }
}

const rounds = Object.fromEntries(SUITES.map((name) => [name, []]));
for (let r = CALLGRIND ? 0 : -WARM_ROUNDS; r < ROUNDS; r++) {
  for (const name of SUITES) {
    const { transport, labels } = SUITE_DEFS[name];
    const order = labels.map(
      (_, i) => labels[(((i + r) % labels.length) + labels.length) % labels.length],
    );
    const round = {};
    for (const label of order) {
      round[label] = await window(label, transport);
      if (CALLGRIND) {
        const w = round[label];
        process.stderr.write(
          `round ${r + 1} ${name} ${label}: ${(w.irPerOp / 1000).toFixed(1)}k instructions/op, ${w.ops} ops (${secondsSoFar()} s)\n`,
        );
      }
    }
    if (r >= 0) rounds[name].push(round);
  }
  process.stderr.write(
    `round ${r + 1}/${ROUNDS}${r < 0 ? " (warm-up)" : ""} done (${secondsSoFar()} s)\n`,
  );
}
const elapsedS = (Date.now() - started) / 1000;
stopping = true;
const exited = Promise.all(
  children.map(
    (child) =>
      new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", resolve))),
  ),
);
// Children exit on disconnect (a --cpu-prof child writes its profile then): wait for them.
if (CALLGRIND) {
  // Each valgrind writes a last dump as it exits: two at a time, so at most two are busy.
  const exitOf = (child) =>
    new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", resolve)));
  for (let i = 0; i < children.length; i += 2) {
    const pair = children.slice(i, i + 2);
    for (const child of pair) child.disconnect();
    await Promise.race([Promise.all(pair.map(exitOf)), sleep(60_000)]);
  }
  if (!KEEP_DUMPS) rmSync(CG_DIR, { recursive: true, force: true });
} else {
  for (const child of children) child.disconnect();
}
await Promise.race([exited, sleep(15_000)]);

// --- report ---
const f1 = (x) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(1));
const f2 = (x) => (x === undefined || Number.isNaN(x) ? "–" : x.toFixed(2));
const pct = (x) => (x === undefined ? "–" : `${(x * 100).toFixed(0)}%`);
// The figure the ratios are made of: CPU µs per handshake, or under --callgrind instructions per
// handshake (printed in thousands; CPU µs, slowed by valgrind, are kept for information).
const FIGURE = CALLGRIND ? "irPerOp" : "usPerOp";
const UNIT = CALLGRIND ? "k instructions" : "µs";
const fig = (x) => (CALLGRIND ? f1(x / 1000) : f1(x));
const summary = {};
const lines = [];
for (const transport of SUITES) {
  const [BASE, FLOOR, SESSION, TWIN] = SUITE_DEFS[transport].labels;
  const LABELS = SUITE_DEFS[transport].labels;
  const rs = rounds[transport];
  const n = rs.length;
  const us = (label, pick = rs.map((_, i) => i)) => pick.map((i) => rs[i][label][FIGURE]);
  const ratio = (label, base, pick) => {
    const a = us(label, pick);
    const b = us(base, pick);
    return a.map((x, i) => x / b[i]);
  };
  const extra = (label, pick) => (median(ratio(label, BASE, pick)) - 1) * median(us(BASE, pick));
  const per = {};
  for (const label of LABELS) {
    const w = rs.map((x) => x[label]);
    per[label] = {
      figure: median(w.map((x) => x[FIGURE])),
      usPerOp: median(w.map((x) => x.usPerOp)),
      ...(CALLGRIND
        ? {
            irPerOp: median(w.map((x) => x.irPerOp)),
            irPerOpRange: [
              Math.min(...w.map((x) => x.irPerOp)),
              Math.max(...w.map((x) => x.irPerOp)),
            ],
            opsPerWindow: median(w.map((x) => x.ops)),
          }
        : {}),
      gcUsPerOp: median(w.map((x) => x.gcUsPerOp)),
      opsPerSec: median(w.map((x) => x.opsPerSec)),
      elu: median(w.map((x) => x.elu)),
      minElu: Math.min(...w.map((x) => x.elu)),
      refused: w.reduce((s, x) => s + x.refused, 0),
      loadFailed: w.reduce((s, x) => s + x.loadFailed, 0),
      loadErrors: [...new Set(w.flatMap((x) => x.loadErrors))].slice(0, 3),
      loadCpuUsPerOp:
        w.reduce((s, x) => s + x.loadCpuUs, 0) / w.reduce((s, x) => s + x.loadDone, 0),
      machineBusy: median(w.map((x) => x.machineBusy)),
      machineSteal: median(w.map((x) => x.machineSteal)),
      maxClients: Math.max(...w.map((x) => x.clients)),
    };
    if (label !== BASE) {
      const rat = ratio(label, BASE);
      per[label].ratio = median(rat);
      per[label].ratioIqr = [quantile(rat, 0.25), quantile(rat, 0.75)];
      per[label].extra = extra(label);
      per[label].extraPairedDiff = median(us(label).map((x, i) => x - us(BASE)[i]));
      per[label].extra90 = bootstrap(n, (pick) => extra(label, pick));
    }
  }
  const target = (label) => extra(label) / extra(FLOOR);
  const aa = TWIN ? ratio(TWIN, SESSION) : undefined;
  summary[transport] = {
    figure: FIGURE,
    variants: per,
    sessionOverFloor: target(SESSION),
    sessionOverFloor90: bootstrap(n, (pick) => extra(SESSION, pick) / extra(FLOOR, pick)),
    sessionBOverFloor: TWIN ? target(TWIN) : undefined,
    aaRatio: aa ? median(aa) : undefined,
    aaRatioIqr: aa ? [quantile(aa, 0.25), quantile(aa, 0.75)] : undefined,
    aaExtraDiff: TWIN ? per[TWIN].extra - per[SESSION].extra : undefined,
  };
  if (TWIN) {
    // Both SessionServer processes' per-round ratios together: 2n paired samples of one thing.
    const pooled = (pick) => {
      const r = [...ratio(SESSION, BASE, pick), ...ratio(TWIN, BASE, pick)];
      return ((median(r) - 1) * median(us(BASE, pick))) / extra(FLOOR, pick);
    };
    summary[transport].pooledOverFloor = pooled();
    summary[transport].pooledOverFloor90 = bootstrap(n, pooled);
  }
  const s = summary[transport];
  lines.push(
    `\n${transport} handshake (${n} rounds × ${WINDOW_MS} ms, medians${CALLGRIND ? "; instructions per handshake under callgrind, thousands; CPU µs under valgrind for information only" : ""})`,
  );
  lines.push(
    CALLGRIND
      ? "variant    kIr/op  ratio (IQR)          extra kIr (90% bootstrap)  µs/op   ops/win  ELU(min)"
      : "variant    µs/op   ratio (IQR)          extra µs (90% bootstrap)  GC µs/op  ops/s   ELU(min)",
  );
  for (const label of LABELS) {
    const v = per[label];
    const rat =
      v.ratio === undefined
        ? "1 (baseline)        "
        : `${v.ratio.toFixed(3)} (${v.ratioIqr.map((x) => x.toFixed(3)).join("–")})`;
    const ex = v.extra === undefined ? "–" : `${fig(v.extra)} (${v.extra90.map(fig).join(" … ")})`;
    lines.push(
      CALLGRIND
        ? `${label.padEnd(10)} ${fig(v.figure).padStart(6)}  ${rat.padEnd(20)} ${ex.padEnd(26)} ${f1(v.usPerOp).padStart(6)}  ${v.opsPerWindow.toFixed(0).padStart(7)}  ${pct(v.elu)}(${pct(v.minElu)})`
        : `${label.padEnd(10)} ${f1(v.usPerOp).padStart(6)}  ${rat.padEnd(20)} ${ex.padEnd(25)} ${f1(v.gcUsPerOp).padStart(8)}  ${v.opsPerSec.toFixed(0).padStart(6)}  ${pct(v.elu)}(${pct(v.minElu)})`,
    );
  }
  lines.push(
    `SessionServer extra ÷ floor extra = ${f2(s.sessionOverFloor)} (90%: ${s.sessionOverFloor90.map(f2).join(" … ")}${TWIN ? `; A/A twin: ${f2(s.sessionBOverFloor)}` : ""}) — target ≤ 1.5`,
  );
  if (TWIN) {
    lines.push(
      `both SessionServer processes pooled: extra ÷ floor extra = ${f2(s.pooledOverFloor)} (90%: ${s.pooledOverFloor90.map(f2).join(" … ")})`,
    );
    lines.push(
      `A/A: ${TWIN} ÷ ${SESSION} per round median ${s.aaRatio.toFixed(3)} (IQR ${s.aaRatioIqr.map((x) => x.toFixed(3)).join("–")}); extras differ by ${fig(s.aaExtraDiff)} ${UNIT}`,
    );
  }
  const failed = LABELS.reduce((t, l) => t + per[l].loadFailed + per[l].refused, 0);
  lines.push(
    `load: ${f1(per[BASE].loadCpuUsPerOp)}–${f1(per[SESSION].loadCpuUsPerOp)} µs client CPU per op; machine busy ${pct(per[BASE].machineBusy)}, steal ${pct(per[BASE].machineSteal)}; failures ${failed}${failed ? ` ${JSON.stringify(LABELS.map((l) => per[l].loadErrors))}` : ""}`,
  );
}
const machine = {
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  backgroundBusyBefore: backgroundLoad?.busy,
  loadavgBefore,
  loadavgAfter: os.loadavg(),
  startedAt: new Date(started).toISOString(),
  elapsedS,
  totalS: (Date.now() - runStarted) / 1000,
};
if (CALLGRIND) {
  lines.push("\nwarm-up (not recorded): windows, handshakes, last change of instructions/op");
  for (const name of SUITES) {
    const parts = Object.entries(warmUp[name]).map(
      ([label, st]) =>
        `${label} ${st.windows.length}, ${st.handshakes}, ${st.change === undefined ? "–" : `${(st.change * 100).toFixed(1)}%`}${st.warm ? "" : " NOT SETTLED"}`,
    );
    lines.push(`${name}: ${parts.join("; ")}`);
  }
}
const header =
  `outside benchmark${CALLGRIND ? " (--callgrind)" : ""} ${machine.startedAt}, ${elapsedS.toFixed(0)} s (${machine.totalS.toFixed(0)} s with start-up); node ${machine.node}, ${machine.cpus} CPUs (${machine.cpuModel}); ` +
  `machine busy before start ${pct(machine.backgroundBusyBefore)}, loadavg ${loadavgBefore.map((x) => x.toFixed(2)).join(" ")} → ${machine.loadavgAfter.map((x) => x.toFixed(2)).join(" ")}; ` +
  `${LOADERS} load processes × ${CONCURRENCY} (polling) / ${WS_CONCURRENCY} (websocket) in flight; behaviour checks ${JSON.stringify(checks)}`;
console.log([header, ...lines].join("\n"));
writeFileSync(
  OUT,
  `${JSON.stringify({ machine, config: { CALLGRIND, ROUNDS, WARM_ROUNDS, WINDOW_MS, WARMUP_MS, WARM_OPS, SETTLE, MAX_WARM, CONCURRENCY, WS_CONCURRENCY, LOADERS, SUITES }, checks, summary, warmUp, rounds }, null, 1)}\n`,
);
console.log(`\nwrote ${path.relative(process.cwd(), OUT)}`);
process.exit(0);
