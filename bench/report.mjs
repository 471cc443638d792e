// Turns the raw runs of bench/run.mjs into medians, ratios, pass/fail against the targets of
// issue 6, a markdown report, and a hand-written SVG bar chart.

export function median(values) {
  const xs = values
    .filter((x) => typeof x === "number" && Number.isFinite(x))
    .sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

const BASE = "plain";
const RECIPE = "use";
const SESSION_VARIANTS = ["session-memory", "session-redis", "session-window"];

/** The figures taken from each throughput run: [key, phase, field]. */
const FIGURES = [
  ["pollingHandshakes", "pollingHandshakes", "rate"],
  ["pollingP50", "pollingHandshakes", "p50"],
  ["pollingP99", "pollingHandshakes", "p99"],
  ["wsHandshakes", "wsHandshakes", "rate"],
  ["wsP50", "wsHandshakes", "p50"],
  ["wsP99", "wsHandshakes", "p99"],
  ["pollingMessages", "pollingMessages", "rate"],
  ["wsMessages", "wsMessages", "rate"],
  ["pollingHandshakeMicros", "pollingHandshakes", "serverMicrosPerOp"],
  ["wsHandshakeMicros", "wsHandshakes", "serverMicrosPerOp"],
  ["pollingMessageMicros", "pollingMessages", "serverMicrosPerOp"],
  ["wsMessageMicros", "wsMessages", "serverMicrosPerOp"],
  ["pollingServerCpu", "pollingHandshakes", "serverCpu"],
  ["pollingClientCpu", "pollingHandshakes", "clientCpu"],
  ["wsServerCpu", "wsHandshakes", "serverCpu"],
  ["wsClientCpu", "wsHandshakes", "clientCpu"],
  ["errors", null, "errors"],
];

function figureValue(run, phase, field) {
  if (phase === null) {
    return ["pollingHandshakes", "wsHandshakes", "pollingMessages", "wsMessages"].reduce(
      (sum, key) => sum + (run[key]?.errors ?? 0),
      0,
    );
  }
  return run[phase]?.[field] ?? null;
}

/** Medians, spreads and ratios per variant; the targets of the spec, each with pass/fail. */
export function evaluate(results) {
  const keys = results.variants.map((v) => v.key);
  const figures = {};
  for (const key of keys) {
    figures[key] = {};
    const runs = results.runs[key] ?? [];
    for (const [name, phase, field] of FIGURES) {
      const values = runs.map((run) => figureValue(run, phase, field));
      const baseRuns = results.runs[BASE] ?? [];
      // Paired ratio: variant / plain within the same round, then the median over rounds.
      const paired = runs
        .map((run) => {
          const base = baseRuns.find((b) => b.round === run.round);
          const a = figureValue(run, phase, field);
          const b = base === undefined ? null : figureValue(base, phase, field);
          return typeof a === "number" && typeof b === "number" && b !== 0 ? a / b : null;
        })
        .filter((x) => x !== null);
      const numbers = values.filter((x) => typeof x === "number");
      figures[key][name] = {
        median: median(values),
        min: numbers.length > 0 ? Math.min(...numbers) : null,
        max: numbers.length > 0 ? Math.max(...numbers) : null,
        rounds: numbers.length,
        pairedRatio: median(paired),
      };
    }
  }
  for (const key of keys) {
    for (const name of Object.keys(figures[key])) {
      const base = figures[BASE]?.[name]?.median;
      const value = figures[key][name].median;
      figures[key][name].ratio =
        typeof base === "number" && base !== 0 && typeof value === "number" ? value / base : null;
    }
  }

  const memory = {};
  for (const key of keys) {
    const runs = results.memoryRuns[key] ?? [];
    memory[key] = {
      open: median(runs.map((r) => r.memory.open)),
      heapPerSocket: median(runs.map((r) => r.memory.heapPerSocket)),
      rssPerSocket: median(runs.map((r) => r.memory.rssPerSocket)),
      burstStoreGets: median(runs.map((r) => r.burst.storeGets)),
      burstStoreGetsMax: runs.length > 0 ? Math.max(...runs.map((r) => r.burst.storeGets)) : null,
      burstStoreTouches: median(runs.map((r) => r.burst.storeTouches)),
      burstOk: median(runs.map((r) => r.burst.ok)),
      recordJsonLength: runs[0]?.recordJsonLength ?? null,
      recordHeapBytes: median(runs.map((r) => r.recordHeapBytes)),
    };
  }
  for (const key of keys) {
    const base = memory[BASE]?.heapPerSocket;
    const value = memory[key].heapPerSocket;
    memory[key].heapExtraVsPlain =
      typeof base === "number" && typeof value === "number" ? value - base : null;
    const rssBase = memory[BASE]?.rssPerSocket;
    const rss = memory[key].rssPerSocket;
    memory[key].rssExtraVsPlain =
      typeof rssBase === "number" && typeof rss === "number" ? rss - rssBase : null;
  }

  const targets = [];
  const ratioTo = (key, other, name) => {
    const a = figures[key]?.[name]?.median;
    const b = figures[other]?.[name]?.median;
    return typeof a === "number" && typeof b === "number" && b !== 0 ? a / b : null;
  };
  // The same throughput targets read from server CPU per operation (other / this): less
  // sensitive to other load on the machine than operations per second.
  const cpuRatio = (key, other, name) => {
    const a = figures[key]?.[name]?.median;
    const b = figures[other]?.[name]?.median;
    return typeof a === "number" && typeof b === "number" && a !== 0 ? b / a : null;
  };
  for (const key of SESSION_VARIANTS.filter((k) => keys.includes(k))) {
    const add = (target, value, unit, pass, cpuValue = null) => {
      targets.push({
        variant: key,
        target,
        value,
        unit,
        pass: value === null ? null : pass(value),
        cpuValue,
        cpuPass: cpuValue === null ? null : pass(cpuValue),
      });
    };
    const throughput = [
      [
        "polling handshakes/s ≥ 0.95× plain",
        BASE,
        "pollingHandshakes",
        "pollingHandshakeMicros",
        0.95,
      ],
      ["websocket handshakes/s ≥ 0.95× plain", BASE, "wsHandshakes", "wsHandshakeMicros", 0.95],
      [
        "polling handshakes/s ≥ 2× engine.use recipe",
        RECIPE,
        "pollingHandshakes",
        "pollingHandshakeMicros",
        2,
      ],
      [
        "websocket handshakes/s ≥ 2× engine.use recipe",
        RECIPE,
        "wsHandshakes",
        "wsHandshakeMicros",
        2,
      ],
      [
        "polling message POSTs/s ≥ 0.98× plain",
        BASE,
        "pollingMessages",
        "pollingMessageMicros",
        0.98,
      ],
      ["websocket messages/s ≥ 0.98× plain", BASE, "wsMessages", "wsMessageMicros", 0.98],
    ];
    for (const [target, other, rate, micros, limit] of throughput) {
      add(target, ratioTo(key, other, rate), "×", (v) => v >= limit, cpuRatio(key, other, micros));
    }
    add(
      "polling handshake p99 ≤ 1.2× plain",
      ratioTo(key, BASE, "pollingP99"),
      "×",
      (v) => v <= 1.2,
    );
    add("websocket handshake p99 ≤ 1.2× plain", ratioTo(key, BASE, "wsP99"), "×", (v) => v <= 1.2);
    const extra = memory[key]?.heapExtraVsPlain;
    const recordHeap = memory[key]?.recordHeapBytes;
    add(
      "extra heap per socket beyond the record (its heap size) ≤ 1 KiB",
      typeof extra === "number" && typeof recordHeap === "number" ? extra - recordHeap : null,
      "B",
      (v) => v <= 1024,
    );
    add(
      "store reads for 1,000 concurrent handshakes of one session = 1",
      memory[key]?.burstStoreGetsMax ?? null,
      "reads",
      (v) => v === 1,
    );
  }
  return { figures, memory, targets };
}

// ---------------------------------------------------------------- markdown
const int = (n) => (typeof n === "number" ? Math.round(n).toLocaleString("en-US") : "–");
const ms = (n) => (typeof n === "number" ? n.toFixed(2) : "–");
const x = (n) => (typeof n === "number" ? `${n.toFixed(2)}×` : "–");
const withRatio = (f, format = int) =>
  f === undefined || f.median === null ? "–" : `${format(f.median)} (${x(f.ratio)})`;

export function markdownReport(results) {
  const { figures, memory, targets } = results.summary;
  const label = Object.fromEntries(results.variants.map((v) => [v.key, v.label]));
  const lines = [];
  const rounds = results.config.rounds;
  lines.push(
    `### Throughput and latency (medians of ${rounds} rounds, ratio to plain engine.io in parentheses)`,
    "",
    "| variant | polling handshakes/s | polling p50 ms | polling p99 ms | ws handshakes/s | ws p99 ms | polling POSTs/s | ws messages/s |",
    "| --- | --: | --: | --: | --: | --: | --: | --: |",
  );
  for (const { key } of results.variants) {
    const f = figures[key];
    lines.push(
      `| ${label[key]} | ${withRatio(f.pollingHandshakes)} | ${ms(f.pollingP50.median)} | ${withRatio(f.pollingP99, ms)} | ${withRatio(f.wsHandshakes)} | ${withRatio(f.wsP99, ms)} | ${withRatio(f.pollingMessages)} | ${withRatio(f.wsMessages)} |`,
    );
  }
  lines.push(
    "",
    "### Server CPU per operation (µs, medians; lower is better) and who was busy",
    "",
    "| variant | polling handshake | ws handshake | polling POST | ws message (echoed) | server / client CPU, polling handshakes | server / client CPU, ws handshakes | errors |",
    "| --- | --: | --: | --: | --: | --: | --: | --: |",
  );
  const cores = (s, c) =>
    typeof s === "number" && typeof c === "number" ? `${s.toFixed(2)} / ${c.toFixed(2)}` : "–";
  for (const { key } of results.variants) {
    const f = figures[key];
    lines.push(
      `| ${label[key]} | ${withRatio(f.pollingHandshakeMicros)} | ${withRatio(f.wsHandshakeMicros)} | ${withRatio(f.pollingMessageMicros, (n) => n.toFixed(1))} | ${withRatio(f.wsMessageMicros, (n) => n.toFixed(1))} | ${cores(f.pollingServerCpu.median, f.pollingClientCpu.median)} | ${cores(f.wsServerCpu.median, f.wsClientCpu.median)} | ${int(f.errors.median)} |`,
    );
  }
  lines.push(
    "",
    `### Memory at ${int(results.config.sockets)} open websocket sockets (after GC) and store reads for ${int(results.config.burst)} concurrent handshakes of one session`,
    "",
    "| variant | heap B/socket | RSS B/socket | heap vs plain | beyond the record (heap size) | beyond the record (JSON length) | store reads (max of rounds) | store touches |",
    "| --- | --: | --: | --: | --: | --: | --: | --: |",
  );
  for (const { key } of results.variants) {
    const m = memory[key];
    const reads =
      key === BASE ? "– (no store)" : `${int(m.burstStoreGets)} (${int(m.burstStoreGetsMax)})`;
    const beyond = (size) =>
      key === BASE || typeof m.heapExtraVsPlain !== "number" || typeof size !== "number"
        ? "–"
        : int(m.heapExtraVsPlain - size);
    lines.push(
      `| ${label[key]} | ${int(m.heapPerSocket)} | ${int(m.rssPerSocket)} | ${key === BASE ? "–" : int(m.heapExtraVsPlain)} | ${beyond(m.recordHeapBytes)} | ${beyond(m.recordJsonLength)} | ${reads} | ${key === BASE ? "–" : int(m.burstStoreTouches)} |`,
    );
  }
  const first = memory[results.variants[0]?.key];
  lines.push(
    "",
    `The session record is ${int(first?.recordJsonLength)} bytes as JSON and ${int(first?.recordHeapBytes)} bytes on the heap (one parsed copy).`,
    "",
  );
  if (Array.isArray(results.handshakeCost)) {
    lines.push(
      "### The library's own CPU per handshake (in one process, no sockets; bench/handshake-cost.mjs)",
      "",
      "| case | µs CPU per handshake (median of 7 × 20,000) |",
      "| --- | --: |",
      ...results.handshakeCost.map((r) => `| ${r.case} | ${r.medianMicros.toFixed(1)} |`),
      "",
    );
  }
  const sessionKeys = [...new Set(targets.map((t) => t.variant))];
  lines.push(
    "### Targets (issue 6)",
    "",
    "Each cell: the measured value and pass/fail; for throughput, in brackets, the same ratio read from server CPU per operation.",
    "",
    `| target | ${sessionKeys.map((k) => label[k]).join(" | ")} |`,
    `| --- | ${sessionKeys.map(() => "--:").join(" | ")} |`,
  );
  const names = [...new Set(targets.map((t) => t.target))];
  for (const name of names) {
    const cells = sessionKeys.map((k) => {
      const t = targets.find((tt) => tt.variant === k && tt.target === name);
      if (t === undefined || t.value === null) return "–";
      const value = t.unit === "×" ? x(t.value) : `${int(t.value)} ${t.unit}`;
      const cpu =
        t.cpuValue === null || t.cpuValue === undefined
          ? ""
          : ` [CPU: ${x(t.cpuValue)} ${t.cpuPass ? "pass" : "fail"}]`;
      return `${value} ${t.pass ? "**pass**" : "**FAIL**"}${cpu}`;
    });
    lines.push(`| ${name} | ${cells.join(" | ")} |`);
  }
  if (Object.keys(results.skipped).length > 0) {
    lines.push("");
    for (const [key, reason] of Object.entries(results.skipped)) {
      lines.push(`Skipped \`${key}\`: ${reason}.`);
    }
  }
  if (results.failures.length > 0) {
    lines.push("", "Failed runs:", "");
    for (const f of results.failures)
      lines.push(`- round ${f.round + 1}, ${f.variant}: ${f.error}`);
  }
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------- SVG
const escape = (s) =>
  String(s).replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c],
  );

function panel({ top, title, series, variants, figures, width }) {
  const left = 300;
  const right = 130;
  const barHeight = 14;
  const groupGap = 14;
  const plotWidth = width - left - right;
  // Each series on its own scale (polling and websocket rates differ tenfold): compare variants.
  const maxOf = (s) => Math.max(1, ...variants.map((v) => figures[v.key]?.[s.key]?.median ?? 0));
  const out = [];
  out.push(`<text x="20" y="${top + 18}" class="title">${escape(title)}</text>`);
  let y = top + 34;
  for (const v of variants) {
    const groupHeight = series.length * (barHeight + 3);
    out.push(
      `<text x="${left - 10}" y="${y + groupHeight / 2 + 4}" class="label" text-anchor="end">${escape(v.label)}</text>`,
    );
    for (const s of series) {
      const f = figures[v.key]?.[s.key];
      const value = f?.median ?? 0;
      const w = Math.max(1, (value / maxOf(s)) * plotWidth);
      out.push(
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${s.color}"/>`,
      );
      const ratio = typeof f?.ratio === "number" ? ` (${f.ratio.toFixed(2)}×)` : "";
      out.push(
        `<text x="${(left + w + 6).toFixed(1)}" y="${y + barHeight - 3}" class="value">${escape(`${int(value)}${ratio}`)}</text>`,
      );
      y += barHeight + 3;
    }
    y += groupGap;
  }
  // legend
  let lx = left;
  for (const s of series) {
    out.push(`<rect x="${lx}" y="${y}" width="12" height="12" fill="${s.color}"/>`);
    out.push(`<text x="${lx + 18}" y="${y + 10}" class="label">${escape(s.label)}</text>`);
    lx += 18 + s.label.length * 7 + 24;
  }
  return { svg: out.join("\n  "), bottom: y + 24 };
}

export function svgChart(results) {
  const { figures } = results.summary;
  const width = 900;
  const variants = results.variants;
  const first = panel({
    top: 40,
    title: "Handshakes per second (median; ratio to plain engine.io; each colour on its own scale)",
    series: [
      { key: "pollingHandshakes", label: "polling handshakes/s", color: "#4e79a7" },
      { key: "wsHandshakes", label: "websocket handshakes/s", color: "#f28e2b" },
    ],
    variants,
    figures,
    width,
  });
  const second = panel({
    top: first.bottom + 10,
    title:
      "Messages per second on established sockets (median; ratio to plain; own scale per colour)",
    series: [
      { key: "pollingMessages", label: "polling message POSTs/s", color: "#59a14f" },
      { key: "wsMessages", label: "websocket messages/s (echoed)", color: "#b07aa1" },
    ],
    variants,
    figures,
    width,
  });
  const height = second.bottom + 30;
  const m = results.machine;
  const caption = `${m.nproc} × ${m.cpuModel}, Node ${m.node}, ${results.config.rounds} rounds × ${results.config.seconds} s, ${results.date.slice(0, 10)}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
  <style>
    .title { font-size: 15px; font-weight: 600; fill: #222; }
    .label { font-size: 12px; fill: #333; }
    .value { font-size: 11px; fill: #444; }
    .caption { font-size: 11px; fill: #777; }
  </style>
  <rect width="100%" height="100%" fill="#fff"/>
  <text x="20" y="24" class="title">engine.io-session benchmarks</text>
  ${first.svg}
  ${second.svg}
  <text x="20" y="${height - 10}" class="caption">${escape(caption)}</text>
</svg>
`;
}
