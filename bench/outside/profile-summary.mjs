// Summarises a .cpuprofile (from run.mjs --profile DIR): where the server's main thread spent its
// samples, by function (self time) and by package (self time), and the inclusive time of every
// function of the library's dist/. Usage: node bench/outside/profile-summary.mjs FILE [top]
import { readFileSync } from "node:fs";
import console from "node:console";
import process from "node:process";

const [file, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, "utf8"));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const dt = new Map(); // node id → µs of samples
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i];
  dt.set(id, (dt.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
for (const [id] of dt) if (nodes.get(id).callFrame.functionName === "(idle)") dt.delete(id);
const total = [...dt.values()].reduce((a, b) => a + b, 0); // busy time: idle samples left out

function where(n) {
  const { url, functionName, lineNumber } = n.callFrame;
  const short = url.replace(/^.*node_modules\//, "").replace(/^.*\/main\//, "");
  return `${functionName || "(anonymous)"} ${short}:${lineNumber + 1}`;
}
function pkg(n) {
  const { url } = n.callFrame;
  if (!url) return n.callFrame.functionName; // (garbage collector), (program), (idle)
  if (url.includes("/dist/")) return "engine.io-session dist/";
  const m = url.match(/node_modules\/((@[^/]+\/)?[^/]+)/);
  if (m) return m[1];
  if (url.startsWith("node:")) return "node core";
  return url.replace(/^.*\/main\//, "");
}

const self = new Map();
const byPkg = new Map();
const inclusive = new Map();
for (const [id, us] of dt) {
  const n = nodes.get(id);
  self.set(where(n), (self.get(where(n)) ?? 0) + us);
  byPkg.set(pkg(n), (byPkg.get(pkg(n)) ?? 0) + us);
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const a = nodes.get(at);
    if (!a.callFrame.url.includes("/dist/")) continue;
    const key = where(a);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}
const show = (title, map, n) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    console.log(`${((100 * us) / total).toFixed(2).padStart(6)}%  ${k}`);
  }
};
console.log(`${file}: ${(total / 1e6).toFixed(2)} s busy sampled (percentages of busy time)`);
show("self time by package", byPkg, 15);
show("self time by function", self, top);
show("inclusive time of engine.io-session functions", inclusive, top);
