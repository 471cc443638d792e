/* global process, console, setTimeout -- Node */
// What the cross-node update lock of RedisSessionBus costs per update, on loopback: a private
// redis-server on port 25730, node-redis 5, the built library (npm run build, or CLUSTER_DIST).
// Not part of any test run: `node cluster/lock-cost.mjs` prints the figures docs/scaling-out.md
// quotes. Round trips per locked update: ACQUIRE (EVAL), held() (GET), RELEASE (EVAL).
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { createRequire } from "node:module";
import { createClient } from "redis";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const dist = path.resolve(here, "..", process.env.CLUSTER_DIST ?? "dist");
const { RedisSessionBus } = require(`${dist}/redis.js`);
const PORT = 25730;
const N = 3000;

const redis = spawn(
  "redis-server",
  ["--port", String(PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
  { stdio: "ignore" },
);
process.on("exit", () => redis.kill("SIGKILL"));

async function connect() {
  for (;;) {
    try {
      return await createClient({ url: `redis://127.0.0.1:${PORT}` }).connect();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Mean wall and CPU µs of `body` over N runs (after 300 warm-up runs). */
async function measure(body) {
  for (let i = 0; i < 300; i++) await body(i);
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < N; i++) await body(i);
  const wall = ((performance.now() - start) * 1000) / N;
  const used = process.cpuUsage(cpu);
  return { wall, cpu: (used.user + used.system) / N };
}

const client = await connect();
const bus = new RedisSessionBus(client, { channel: "lock-cost" });
await bus.subscribe(() => undefined);
const record = JSON.stringify({ cookie: { originalMaxAge: 86400000 }, user: { name: "x" }, n: 0 });

// What a store update costs anyway: one read, one write (connect-redis GET + SET).
const plain = await measure(async (i) => {
  await client.get(`sess:${i % 100}`);
  await client.set(`sess:${i % 100}`, record);
});
const locked = await measure(async (i) => {
  const lease = await bus.lock(`s${i % 100}`, 5000, 5000);
  await client.get(`sess:${i % 100}`);
  if (!(await lease.held())) throw new Error("lost the lock");
  await client.set(`sess:${i % 100}`, record);
  await lease.release();
});
const lockOnly = await measure(async (i) => {
  const lease = await bus.lock(`s${i % 100}`, 5000, 5000);
  await lease.held();
  await lease.release();
});

// Three clients (three nodes) on one session: how many serialized updates per second.
const others = [client, await connect(), await connect()];
const buses = others.map((each) => new RedisSessionBus(each, { channel: "lock-cost-3" }));
await Promise.all(buses.map((each) => each.subscribe(() => undefined)));
const start = performance.now();
await Promise.all(
  buses.map(async (each, index) => {
    for (let i = 0; i < 300; i++) {
      const lease = await each.lock("hot", 5000, 10_000);
      await others[index].get("sess:hot");
      await lease.held();
      await others[index].set("sess:hot", record);
      await lease.release();
    }
  }),
);
const contended = (performance.now() - start) / 900;

const f = (value) => value.toFixed(0).padStart(4);
console.log(`per update, sequential, loopback (mean of ${N}):`);
console.log(
  `  GET + SET (the update itself)            ${f(plain.wall)} µs wall, ${f(plain.cpu)} µs CPU`,
);
console.log(
  `  lock + GET + held() + SET + release      ${f(locked.wall)} µs wall, ${f(locked.cpu)} µs CPU`,
);
console.log(
  `  lock + held() + release alone            ${f(lockOnly.wall)} µs wall, ${f(lockOnly.cpu)} µs CPU (3 round trips)`,
);
console.log(
  `  three nodes on one session: ${(contended * 1000).toFixed(0)} µs per update, ${(1000 / contended).toFixed(0)} updates/s`,
);

await Promise.all(buses.map((each) => each.close()));
await bus.close();
for (const each of others) each.destroy();
redis.kill("SIGTERM");
process.exit(0);
