// Profiles the server under test with `node --cpu-prof` while the load generator runs one phase,
// then prints where the server spent its time (self time per function, and per file).
//
//   npm run build && node bench/profile.mjs [variant] [phase] [seconds]
//   variant: plain | use | use-guard | session-memory | session-redis  (default session-memory)
//   phase:   pollingHandshakes | wsHandshakes | pollingMessages | wsMessages  (default pollingHandshakes)
//
// The profile is kept in bench/profiles/ (ignored by git) for Chrome DevTools or speedscope.
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import process from "node:process";
import console from "node:console";
import { forkChild, here, killAll, startRedis, watchdog } from "./processes.mjs";

watchdog(5);

const variant = process.argv[2] ?? "session-memory";
const phase = process.argv[3] ?? "pollingHandshakes";
const seconds = Number(process.argv[4] ?? 5);
const dir = path.join(here, "profiles");
mkdirSync(dir, { recursive: true });

let redisPort = 0;
if (variant === "session-redis") {
  const redis = await startRedis();
  if (redis.skipped !== undefined) {
    console.error(`profile: ${redis.skipped}`);
    process.exit(1);
  }
  redisPort = redis.port;
}

const startedAt = Date.now();
const server = forkChild(
  "server.mjs",
  [variant, String(redisPort)],
  [
    "--expose-gc",
    "--cpu-prof",
    `--cpu-prof-dir=${dir}`,
    "--cpu-prof-name=" + `${variant}-${phase}-${startedAt}.cpuprofile`,
  ],
  `server(${variant})`,
);
const client = forkChild("client.mjs", [], [], "client");
const info = await server.ready;
await client.ready;
const args = {
  port: info.port,
  cookie: info.cookie,
  concurrency: 50,
  sockets: 50,
  window: 2,
  maxCount: 10_000_000,
};
await server.call("mode", { closeOnConnect: phase === "pollingHandshakes", echo: true });
await client.call(phase, { ...args, seconds: 1 }, 60_000);
await server.call("closeAll");
const { at: windowStart } = await server.call("reset");
const result = await client.call(phase, { ...args, seconds }, 120_000);
const stats = await server.call("stats");
await server.call("closeAll");
await Promise.all([server.stop(), client.stop()]);
killAll();

console.log(
  `${variant} ${phase}: ${result.rate.toFixed(0)}/s, ` +
    `${(stats.cpuMicros / result.count).toFixed(1)} µs server CPU per operation`,
);

const file = readdirSync(dir)
  .filter((name) => name.startsWith(`${variant}-${phase}-${startedAt}`))
  .map((name) => path.join(dir, name))
  .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
if (file === undefined) {
  console.error("profile: no .cpuprofile written");
  process.exit(1);
}
const profile = JSON.parse(readFileSync(file, "utf8"));

// Self time per node: samples x their interval, within the measured window only (not start-up,
// not the warm-up) when the clocks line up, else over the whole profile.
const selfTime = new Map();
const deltas = profile.timeDeltas;
const inWindow = (t) => t >= windowStart && t <= stats.at;
let t = profile.startTime;
const sampleTimes = deltas.map((d) => (t += d));
const windowed = sampleTimes.some(inWindow);
for (let i = 0; i < profile.samples.length; i++) {
  if (windowed && !inWindow(sampleTimes[i])) continue;
  const id = profile.samples[i];
  selfTime.set(id, (selfTime.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0));
}
const total = [...selfTime.values()].reduce((a, b) => a + b, 0);
const idle = [...selfTime.entries()]
  .filter(([id]) => profile.nodes.find((n) => n.id === id)?.callFrame.functionName === "(idle)")
  .reduce((a, [, v]) => a + v, 0);
console.log(
  `profile window: ${windowed ? "the measured phase" : "whole process"}; ` +
    `busy ${((total - idle) / result.count).toFixed(1)} µs per operation (samples)`,
);
const shortUrl = (url) => {
  if (url === "") return "(native)";
  const m = url.match(/(node_modules\/.+|dist\/.+|bench\/.+)$/);
  return m ? m[1] : url.replace(/^file:\/\//, "");
};
const byFunction = new Map();
const byFile = new Map();
for (const node of profile.nodes) {
  const t = selfTime.get(node.id) ?? 0;
  if (t === 0) continue;
  const { functionName, url, lineNumber } = node.callFrame;
  const where = `${shortUrl(url)}:${lineNumber + 1}`;
  const fnKey = `${functionName || "(anonymous)"}  ${where}`;
  byFunction.set(fnKey, (byFunction.get(fnKey) ?? 0) + t);
  const fileKey = shortUrl(url).replace(/^(node_modules\/(@[^/]+\/)?[^/]+)\/.*$/, "$1");
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + t);
}
const top = (map, n) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([k, v]) =>
        `${((100 * v) / total).toFixed(1).padStart(5)}% ${(v / result.count).toFixed(2).padStart(7)} µs/op  ${k}`,
    )
    .join("\n");
console.log(
  `\nself time by file / package (${path.relative(process.cwd(), file)}):\n${top(byFile, 15)}`,
);
console.log(`\nself time by function:\n${top(byFunction, 30)}`);
process.exit(0);
