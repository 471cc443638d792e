// Profiles the server under test with `node --cpu-prof` (and, with --heap, the sampling allocation
// profiler `--heap-prof`) while the load generators run one phase with distinct sessions, then prints
// where the server spent its time: self time per package/file and per function, in µs per operation.
//
//   npm run build && node bench/profile.mjs [variant] [phase] [seconds] [--heap] [--record=BYTES]
//   variant: any of bench/server.mjs (default session); phase: pollingHandshakes (default),
//   wsHandshakes, pollingMessages, wsMessages
//
// Profiles stay in bench/profiles/ (ignored by git) for Chrome DevTools or speedscope.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import process from "node:process";
import console from "node:console";
import { forkChild, here, killAll, watchdog } from "./processes.mjs";

watchdog(5);

// `node bench/profile.mjs --compare a.json b.json`: what b allocates and spends beyond a.
if (process.argv[2] === "--compare") {
  const [a, b] = process.argv.slice(3).map((f) => JSON.parse(readFileSync(f, "utf8")));
  const diff = (x = {}, y = {}) =>
    [...new Set([...Object.keys(x), ...Object.keys(y)])]
      .map((k) => [k, (y[k] ?? 0) - (x[k] ?? 0)])
      .filter(([, d]) => Math.abs(d) > 0)
      .sort((p, q) => q[1] - p[1]);
  const show = (title, rows, unit, n = 25) => {
    console.log(`\n${title}`);
    for (const [k, d] of rows.slice(0, n))
      console.log(`${d.toFixed(2).padStart(10)} ${unit}  ${k}`);
  };
  console.log(
    `${b.variant} − ${a.variant}, ${a.phase}: CPU ${(b.cpuPerOp - a.cpuPerOp).toFixed(1)} µs/op, allocations ${((b.allocPerOp ?? 0) - (a.allocPerOp ?? 0)).toFixed(0)} B/op`,
  );
  show("allocations by package, difference", diff(a.allocByPackage, b.allocByPackage), "B/op", 16);
  show("allocations by function, difference", diff(a.allocByFunction, b.allocByFunction), "B/op");
  show("CPU self time by package, difference", diff(a.selfByPackage, b.selfByPackage), "µs/op", 16);
  show("CPU self time by function, difference", diff(a.selfByFunction, b.selfByFunction), "µs/op");
  process.exit(0);
}

const positional = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const heap = process.argv.includes("--heap");
const recordBytes = Number(process.argv.find((a) => a.startsWith("--record="))?.slice(9) ?? 300);
const variant = positional[0] ?? "session";
const phase = positional[1] ?? "pollingHandshakes";
const seconds = Number(positional[2] ?? 5);
const dir = path.join(here, "profiles");
mkdirSync(dir, { recursive: true });

const stamp = `${variant}-${phase}-${Date.now()}`;
const execArgv = [
  "--expose-gc",
  "--cpu-prof",
  `--cpu-prof-dir=${dir}`,
  `--cpu-prof-name=${stamp}.cpuprofile`,
];
const server = forkChild(
  "server.mjs",
  [JSON.stringify({ variant, sessions: 10_000, recordBytes })],
  execArgv,
  `server(${variant})`,
);
const clients = [
  forkChild("client.mjs", [], [], "client0"),
  forkChild("client.mjs", [], [], "client1"),
];
const info = await server.ready;
await Promise.all(clients.map((c) => c.ready));
const target = {
  key: "p",
  port: info.port,
  host: `127.0.0.1:${info.port}`,
  path: info.path,
  io: info.io,
};
const cookies = await server.call("cookies", {});
await Promise.all(
  clients.map((c, k) =>
    c.call("setCookies", { key: "p", cookies: cookies.filter((_, i) => i % 2 === k) }),
  ),
);
const args = (s) => ({ target, seconds: s, concurrency: 24, sockets: 24, window: 2 });
await server.call("mode", { closeOnConnect: phase === "pollingHandshakes" && !info.io });
await Promise.all(clients.map((c) => c.call(phase, args(1), 60_000)));
await server.call("closeAll");
const windowStart = Number(process.hrtime.bigint() / 1000n);
const heapFile = path.join(dir, `${stamp}.heapprofile`);
if (heap) await server.call("startAllocations", { interval: 1024 });
await server.call("reset");
await Promise.all(clients.map((c) => c.call(phase, args(seconds), 120_000)));
const stats = await server.call("stats");
if (heap) await server.call("stopAllocations", { file: heapFile }, 120_000);
const windowEnd = Number(process.hrtime.bigint() / 1000n);
await server.call("closeAll");
const ops = phase.endsWith("Handshakes") ? stats.handshakes : stats.messages;
await Promise.all([server.stop(), ...clients.map((c) => c.stop())]);
killAll();

console.log(
  `${variant} ${phase}: ${ops} ops, ${(stats.cpuMicros / ops).toFixed(1)} µs server CPU and ` +
    `${(stats.gcMicros / ops).toFixed(1)} µs GC per operation (busy ${(100 * stats.busy).toFixed(0)} %); ` +
    `${(stats.requests / ops).toFixed(2)} HTTP requests per operation`,
);

const newest = (suffix) =>
  readdirSync(dir)
    .filter((name) => name.startsWith(stamp) && name.endsWith(suffix))
    .map((name) => path.join(dir, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
const shortUrl = (url) => {
  if (url === "") return "(native)";
  const m = url.match(/(node_modules\/.+|dist\/.+|bench\/.+)$/);
  return m ? m[1] : url.replace(/^file:\/\//, "");
};
const packageOf = (url) => shortUrl(url).replace(/^(node_modules\/(@[^/]+\/)?[^/]+)\/.*$/, "$1");
const top = (map, n, total, per) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([k, v]) =>
        `${((100 * v) / total).toFixed(1).padStart(5)}% ${(v / per).toFixed(2).padStart(8)}  ${k}`,
    )
    .join("\n");

// ---------------------------------------------------------------- CPU: self time in the window
const cpuFile = newest(".cpuprofile");
const profile = JSON.parse(readFileSync(cpuFile, "utf8"));
const selfTime = new Map();
const deltas = profile.timeDeltas;
let t = profile.startTime;
const inWindow = (x) => x >= windowStart && x <= windowEnd;
const times = deltas.map((d) => (t += d));
const windowed = times.some(inWindow);
for (let i = 0; i < profile.samples.length; i++) {
  if (windowed && !inWindow(times[i])) continue;
  const id = profile.samples[i];
  selfTime.set(id, (selfTime.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
}
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const total = [...selfTime.values()].reduce((a, b) => a + b, 0);
const byFunction = new Map();
const byFile = new Map();
let idle = 0;
for (const [id, time] of selfTime) {
  const { functionName, url, lineNumber } = nodes.get(id).callFrame;
  if (functionName === "(idle)") idle += time;
  const key = `${functionName || "(anonymous)"}  ${shortUrl(url)}:${lineNumber + 1}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + time);
  byFile.set(packageOf(url), (byFile.get(packageOf(url)) ?? 0) + time);
}
// Inclusive time of the library's own frames (dist/): what the library costs, callees included.
const parents = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
const inclusive = new Map();
for (const [id, time] of selfTime) {
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parents.get(cur)) {
    const { functionName, url, lineNumber } = nodes.get(cur).callFrame;
    if (!url.includes("/dist/")) continue;
    const key = `${functionName || "(anonymous)"}  ${shortUrl(url)}:${lineNumber + 1}`;
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + time);
  }
}
console.log(
  `\nCPU profile ${path.relative(process.cwd(), cpuFile)} (${windowed ? "measured window" : "whole process"}); ` +
    `busy ${((total - idle) / ops).toFixed(1)} µs per operation by samples. Columns: share, µs per operation.`,
);
console.log(`\nself time by package / file:\n${top(byFile, 14, total, ops)}`);
console.log(`\nself time by function:\n${top(byFunction, 32, total, ops)}`);
console.log(
  `\ninclusive time of the library's functions (dist/):\n${top(inclusive, 24, total, ops)}`,
);
const perOp = (map) => Object.fromEntries([...map.entries()].map(([k, v]) => [k, v / ops]));
const summary = {
  variant,
  phase,
  cpuPerOp: stats.cpuMicros / ops,
  gcPerOp: stats.gcMicros / ops,
  selfByFunction: perOp(byFunction),
  selfByPackage: perOp(byFile),
};

// ---------------------------------------------------------------- allocations (sampling)
if (heap) {
  const hp = JSON.parse(readFileSync(heapFile, "utf8"));
  // Sampled allocations of the measured window, collected objects included: bytes by allocating
  // function, and by the nearest library frame on the stack (else the allocator's package).
  const bytesFn = new Map();
  const bytesPkg = new Map();
  let all = 0;
  const walk = (node, stack) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const self = (node.selfSize ?? 0) + 0;
    const own = node.samples === undefined ? self : self;
    if (own > 0) {
      all += own;
      const key = `${functionName || "(anonymous)"}  ${shortUrl(url)}:${lineNumber + 1}`;
      bytesFn.set(key, (bytesFn.get(key) ?? 0) + own);
      // Natives and Node internals (Promise, Map, JSON.parse, timers) count for the nearest caller
      // that is the library or a package; everything else for its own package.
      const owner = [...stack, node]
        .reverse()
        .find((n) => n.callFrame.url !== "" && !n.callFrame.url.startsWith("node:"));
      const pkg =
        url !== "" && !url.startsWith("node:")
          ? packageOf(url)
          : owner !== undefined
            ? `${packageOf(owner.callFrame.url)} (natives, node:)`
            : packageOf(url);
      bytesPkg.set(pkg, (bytesPkg.get(pkg) ?? 0) + own);
    }
    for (const child of node.children ?? []) walk(child, [...stack, node]);
  };
  walk(hp.head, []);
  console.log(
    `\nallocation profile ${path.relative(process.cwd(), heapFile)}: ${(all / ops).toFixed(0)} B allocated per operation; ` +
      `columns: share, bytes per operation`,
  );
  console.log(
    `\nallocated by package (natives and node: internals: by their nearest caller):\n${top(bytesPkg, 16, all, ops)}`,
  );
  console.log(`\nallocated by function:\n${top(bytesFn, 28, all, ops)}`);
  summary.allocByPackage = perOp(bytesPkg);
  summary.allocByFunction = perOp(bytesFn);
  summary.allocPerOp = all / ops;
}
const json = process.argv.find((a) => a.startsWith("--json="))?.slice(7);
if (json !== undefined) writeFileSync(json, JSON.stringify(summary, null, 1));
process.exit(0);
