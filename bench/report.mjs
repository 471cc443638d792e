// Turns the raw runs of bench/run.mjs into medians, paired extras, the targets of issue 15 with
// pass/fail, a markdown report and an SVG chart.
import process from "node:process";

export function median(values) {
  const xs = values
    .filter((x) => typeof x === "number" && Number.isFinite(x))
    .sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = Math.floor(xs.length / 2);
  return xs.length % 2 === 1 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
}

const PHASE_LABEL = {
  pollingHandshakes: "polling handshake",
  wsHandshakes: "websocket handshake",
  pollingMessages: "polling POST",
  wsMessages: "websocket message",
};

/** Median of `field` over the rounds of runs[variant][phase]. */
function med(runs, variant, phase, field) {
  return median((runs?.[variant]?.[phase] ?? []).map((r) => r[field]));
}

/**
 * The paired extra of `variant` over `base`: per round, variant ÷ base (both measured in the same
 * round, seconds apart); the median ratio minus one, times the base's median. The machine's slow
 * and fast spells (a shared VM: the same code costs up to 2× more CPU in one window than in the
 * next) scale every variant alike: a ratio cancels them where a difference keeps them.
 * `BENCH_EXTRA=difference` uses the median of per-round differences instead (for comparison).
 */
function pairedExtra(runs, variant, base, phase, field = "cpuPerOp") {
  if (process.env.BENCH_EXTRA === "difference") {
    return pairedDifference(runs, variant, base, phase, field);
  }
  const r = pairedRatio(runs, variant, base, phase, field);
  const b = med(runs, base, phase, field);
  return r === null || b === null ? null : (r - 1) * b;
}

/** Median over rounds of (variant − base) within the same round. */
function pairedDifference(runs, variant, base, phase, field = "cpuPerOp") {
  const baseRuns = runs?.[base]?.[phase] ?? [];
  return median(
    (runs?.[variant]?.[phase] ?? []).map((r) => {
      const b = baseRuns.find((x) => x.round === r.round);
      return b === undefined || r[field] === null || b[field] === null ? null : r[field] - b[field];
    }),
  );
}

/** Median over rounds of variant / base within the same round. */
function pairedRatio(runs, variant, base, phase, field = "cpuPerOp") {
  const baseRuns = runs?.[base]?.[phase] ?? [];
  return median(
    (runs?.[variant]?.[phase] ?? []).map((r) => {
      const b = baseRuns.find((x) => x.round === r.round);
      return b === undefined || !b[field] || r[field] === null ? null : r[field] / b[field];
    }),
  );
}

const ratio = (a, b) => (typeof a === "number" && typeof b === "number" && b !== 0 ? a / b : null);
/** A ratio of extras: undefined (null) when the floor's extra is not above zero (noise won). */
const extraRatio = (a, b) => (typeof b === "number" && b > 0 ? ratio(a, b) : null);

/** Median instructions per operation of `variant` in `phase` (bench/instructions.mjs windows). */
function instructions(results, variant, phase) {
  const windows = results.instructions?.variants?.[variant]?.phases?.[phase];
  return windows === undefined ? null : median(windows.map((w) => w.perOp));
}
/** Instructions per operation of `variant` beyond `base`'s. */
function instructionExtra(results, variant, base, phase) {
  const a = instructions(results, variant, phase);
  const b = instructions(results, base, phase);
  return a === null || b === null ? null : a - b;
}
/** How far apart the windows of one variant and phase are: (max − min) ÷ median. */
function instructionSpread(results, variant, phase) {
  const xs = (results.instructions?.variants?.[variant]?.phases?.[phase] ?? []).map((w) => w.perOp);
  return xs.length < 2 ? null : (Math.max(...xs) - Math.min(...xs)) / median(xs);
}

/** The targets measured in instructions per operation, beside the CPU µs ones. */
function instructionTargets(results, add) {
  if (results.instructions?.variants === undefined) return;
  for (const [name, prefix] of [
    ["engine.io", ""],
    ["socket.io", "io-"],
  ]) {
    for (const phase of ["pollingHandshakes", "wsHandshakes"]) {
      add(
        `instructions: ${name}, ${PHASE_LABEL[phase]}: SessionServer extra ≤ 1.5× floor extra`,
        extraRatio(
          instructionExtra(results, `${prefix}session`, `${prefix}later`, phase),
          instructionExtra(results, `${prefix}floor`, `${prefix}later`, phase),
        ),
        1.5,
      );
    }
  }
  for (const recipe of ["use", "use-guard"]) {
    add(
      `instructions: polling handshake session work ≤ 0.5× the ${recipe === "use" ? "engine.use(session)" : "guarded engine.use"} recipe's`,
      extraRatio(
        instructionExtra(results, "session", "later", "pollingHandshakes"),
        instructionExtra(results, recipe, "later", "pollingHandshakes"),
      ),
      0.5,
    );
  }
  for (const [plain, session, name] of [
    ["plain", "session", "engine.io"],
    ["io-plain", "io-session", "socket.io"],
  ]) {
    for (const phase of ["pollingMessages", "wsMessages"]) {
      add(
        `instructions: ${name}, ${PHASE_LABEL[phase]} ≤ 1.05× plain`,
        ratio(instructions(results, session, phase), instructions(results, plain, phase)),
        1.05,
      );
    }
  }
}

/** The extras of floor and SessionServer against the baseline, and their ratio, for one scenario. */
function extras(runs, { later, floor, session }, phase) {
  const floorExtra = pairedExtra(runs, floor, later, phase);
  const sessionExtra = pairedExtra(runs, session, later, phase);
  // The least-disturbed estimate: other load only ever adds CPU time, so the best round of each.
  const best = (v) => {
    const xs = (runs?.[v]?.[phase] ?? []).map((r) => r.cpuPerOp).filter((x) => x !== null);
    return xs.length > 0 ? Math.min(...xs) : null;
  };
  const minus = (a, b) => (a === null || b === null ? null : a - b);
  const floorBest = minus(best(floor), best(later));
  const sessionBest = minus(best(session), best(later));
  return {
    floorBest,
    sessionBest,
    ratioBest: extraRatio(sessionBest, floorBest),
    baseline: med(runs, later, phase, "cpuPerOp"),
    floorExtra,
    sessionExtra,
    ratio: extraRatio(sessionExtra, floorExtra),
    floorGc: med(runs, floor, phase, "gcPerOp"),
    sessionGc: med(runs, session, phase, "gcPerOp"),
    baselineGc: med(runs, later, phase, "gcPerOp"),
    gcRatio: ratio(med(runs, session, phase, "gcPerOp"), med(runs, floor, phase, "gcPerOp")),
  };
}

export function evaluate(results) {
  const main = results.main ?? {};
  const summary = { targets: [] };
  const add = (target, value, limit, unit = "×", beside = undefined) =>
    summary.targets.push({
      target,
      value,
      limit,
      unit,
      beside,
      pass: value === null || limit === null ? null : value <= limit,
    });
  const ENGINE = { later: "later", floor: "floor", session: "session" };
  const IO = { later: "io-later", floor: "io-floor", session: "io-session" };
  summary.extras = {};
  for (const [name, keys] of [
    ["engine.io", ENGINE],
    ["socket.io", IO],
  ]) {
    for (const phase of ["pollingHandshakes", "wsHandshakes"]) {
      const e = extras(main, keys, phase);
      summary.extras[`${name} ${phase}`] = e;
      add(`${name}, ${PHASE_LABEL[phase]}: SessionServer extra ≤ 1.5× floor extra`, e.ratio, 1.5);
    }
  }
  // The session work of a polling handshake (extra over the baseline) against the recipe's. On
  // totals (engine.io's own ~40–90 µs included) not even the floor is within 0.5× of the recipe:
  // that ratio is shown beside, for information.
  for (const recipe of ["use", "use-guard"]) {
    const name = recipe === "use" ? "engine.use(session)" : "guarded engine.use";
    add(
      `polling handshake session work (extra) ≤ 0.5× the ${name} recipe's`,
      extraRatio(
        pairedExtra(main, "session", "later", "pollingHandshakes"),
        pairedExtra(main, recipe, "later", "pollingHandshakes"),
      ),
      0.5,
    );
    add(
      `(information) whole polling handshake CPU, SessionServer ÷ ${name} recipe; the floor's`,
      pairedRatio(main, "session", recipe, "pollingHandshakes"),
      null,
      "×",
      pairedRatio(main, "floor", recipe, "pollingHandshakes"),
    );
  }
  instructionTargets(results, add);
  for (const transport of ["polling", "websocket"]) {
    const cases = results.inProcess?.[transport]?.cases;
    if (cases === undefined) continue;
    const extraOf = (prefix) => cases.find((c) => c.case.startsWith(prefix))?.extraMicros ?? null;
    add(
      `(information) in one process, ${transport}: SessionServer extra ÷ floor extra`,
      extraRatio(extraOf("SessionServer"), extraOf("floor")),
      null,
    );
  }
  for (const [plain, session, name] of [
    ["plain", "session", "engine.io"],
    ["io-plain", "io-session", "socket.io"],
  ]) {
    for (const phase of ["pollingMessages", "wsMessages"]) {
      add(
        `${name}, ${PHASE_LABEL[phase]} CPU ≤ 1.05× plain`,
        pairedRatio(main, session, plain, phase),
        1.05,
      );
    }
  }
  for (const [scenario, label] of [
    ["main", "300 B"],
    ["record-100000", "100 KB"],
  ]) {
    const runs = scenario === "main" ? main : results.growth?.[scenario];
    for (const phase of ["pollingHandshakes", "wsHandshakes"]) {
      add(
        `GC per ${PHASE_LABEL[phase]} ≤ 2× floor's, ${label} records`,
        ratio(med(runs, "session", phase, "gcPerOp"), med(runs, "floor", phase, "gcPerOp")),
        2,
      );
    }
  }
  if (results.memory !== undefined) {
    const m = {};
    for (const [variant, runs] of Object.entries(results.memory)) {
      m[variant] = {
        heapPerSocket: median(runs.map((r) => r.heapPerSocket)),
        rssPerSocket: median(runs.map((r) => r.rssPerSocket)),
        recordHeapBytes: median(runs.map((r) => r.recordHeapBytes)),
        recordJsonLength: runs[0]?.recordJsonLength ?? null,
        open: median(runs.map((r) => r.open)),
      };
    }
    for (const variant of Object.keys(m)) {
      const v = m[variant];
      v.beyondRecord =
        variant === "plain" || v.heapPerSocket === null || m.plain?.heapPerSocket == null
          ? null
          : v.heapPerSocket - m.plain.heapPerSocket - v.recordHeapBytes;
    }
    summary.memory = m;
    add(
      "memory per websocket beyond plain + the record",
      m.session?.beyondRecord ?? null,
      1024,
      "B",
    );
  }
  summary.growth = {};
  const rows = [["0 open sockets, 300 B, 1 secret (main)", main]];
  for (const [key, runs] of Object.entries(results.growth ?? {})) rows.push([key, runs]);
  for (const [key, runs] of rows) {
    summary.growth[key] = Object.fromEntries(
      ["pollingHandshakes", "wsHandshakes"].map((phase) => [phase, extras(runs, ENGINE, phase)]),
    );
  }
  if (results.shared !== undefined) {
    summary.shared = {};
    for (const phase of ["pollingHandshakes", "wsHandshakes"]) {
      const s = results.shared;
      summary.shared[phase] = {
        ...extras(s, ENGINE, phase),
        windowExtra: pairedExtra(s, "session-window", "later", phase),
        windowGc: med(s, "session-window", phase, "gcPerOp"),
        readsPerHandshake: Object.fromEntries(
          ["floor", "session", "session-window"].map((v) => [
            v,
            median((s[v]?.[phase] ?? []).map((r) => (r.ops > 0 ? r.storeGets / r.ops : null))),
          ]),
        ),
      };
    }
  }
  return summary;
}

// ---------------------------------------------------------------- markdown
const num = (n, d = 0) =>
  typeof n === "number"
    ? n.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d })
    : "–";
const signed = (n, d = 0) =>
  typeof n === "number" ? `${n >= 0 ? "+" : "−"}${num(Math.abs(n), d)}` : "–";
const times = (n) => (typeof n === "number" ? `${n.toFixed(2)}×` : "–");
const GROWTH_LABEL = (key) =>
  key.startsWith("open-")
    ? `${num(Number(key.slice(5)))} open websockets`
    : key.startsWith("record-")
      ? `${num(Number(key.slice(7)) / 1000)} KB records`
      : key === "secrets-5"
        ? "5 secrets (cookie signed by the last)"
        : key.startsWith("per-session-")
          ? `handshakes to sessions holding ${key.slice(12)} open socket(s) each`
          : key;

export function markdownReport(results, variants) {
  const s = results.summary;
  const lines = [];
  const c = results.config;
  const m = results.machine;
  lines.push(
    `Run of ${results.date.slice(0, 16).replace("T", " ")} UTC on ${m.nproc} × ${m.cpuModel}, Node ${m.node}, commit \`${results.revision.commit}\`${results.revision.libDirty ? " (lib/ with uncommitted changes)" : ""}; ` +
      `${c.rounds} alternating rounds × ${c.seconds} s per figure (after ${c.warmup} s warm-up), ${c.clients} load processes × ${c.concurrency} in flight; whole run ${num(results.totalSeconds)} s${c.quick ? " (--quick)" : ""}.`,
    `Machine load (1/5/15-min load average) at start ${results.loadAtStart.loadavg.join(" / ")}, at end ${results.loadAtEnd.loadavg.join(" / ")}; busiest processes at start: ${results.loadAtStart.top.slice(0, 4).join("; ")}.`,
    "",
  );
  if (results.main !== undefined) {
    const main = results.main;
    const present = variants.filter((v) => main[v.key] !== undefined);
    lines.push(
      `### Server CPU per operation, distinct sessions (${num(c.sessions)} logged-in sessions, each handshake the next cookie)`,
      "",
      "µs of server CPU per completed operation (medians); GC pause µs per operation in brackets; throughput (operations/s) below.",
      "",
      "| variant | polling handshake | websocket handshake | polling POST | websocket message | server busy (polling hs) |",
      "| --- | --: | --: | --: | --: | --: |",
    );
    for (const v of present) {
      const cell = (phase, d = 0) =>
        `${num(med(main, v.key, phase, "cpuPerOp"), d)} [${num(med(main, v.key, phase, "gcPerOp"), 1)}]`;
      lines.push(
        `| ${v.label} | ${cell("pollingHandshakes")} | ${cell("wsHandshakes")} | ${cell("pollingMessages", 1)} | ${cell("wsMessages", 1)} | ${num(100 * (med(main, v.key, "pollingHandshakes", "busy") ?? NaN), 0)} % |`,
      );
    }
    lines.push(
      "",
      "| variant | polling handshakes/s | websocket handshakes/s | polling POSTs/s | websocket messages/s | errors |",
      "| --- | --: | --: | --: | --: | --: |",
    );
    for (const v of present) {
      const errors = ["pollingHandshakes", "wsHandshakes", "pollingMessages", "wsMessages"]
        .flatMap((p) => (main[v.key][p] ?? []).map((r) => r.errors))
        .reduce((a, b) => a + b, 0);
      lines.push(
        `| ${v.label} | ${num(med(main, v.key, "pollingHandshakes", "rate"))} | ${num(med(main, v.key, "wsHandshakes", "rate"))} | ${num(med(main, v.key, "pollingMessages", "rate"))} | ${num(med(main, v.key, "wsMessages", "rate"))} | ${errors} |`,
      );
    }
    lines.push(
      "",
      `### Extra over the loop-turn-later baseline (µs of server CPU per handshake: (median per-round ratio to the baseline − 1) × the baseline${process.env.BENCH_EXTRA === "difference" ? "; here: median per-round difference" : ""})`,
      "",
      "| stack | handshake | baseline | floor extra | SessionServer extra | SessionServer ÷ floor | engine.use recipe | guarded recipe | express-socket.io-session | best rounds: floor / SessionServer / ratio |",
      "| --- | --- | --: | --: | --: | --: | --: | --: | --: | --: |",
    );
    for (const [name, prefix] of [
      ["engine.io", ""],
      ["socket.io", "io-"],
    ]) {
      for (const phase of ["pollingHandshakes", "wsHandshakes"]) {
        const e = s.extras[`${name} ${phase}`];
        const x = (v) => signed(pairedExtra(main, prefix + v, `${prefix}later`, phase));
        lines.push(
          `| ${name} | ${PHASE_LABEL[phase]} | ${num(e.baseline)} | ${signed(e.floorExtra)} | **${signed(e.sessionExtra)}** | **${times(e.ratio)}** | ${x("use")} | ${x("use-guard")} | ${prefix ? x("esis") : "–"} | ${signed(e.floorBest)} / ${signed(e.sessionBest)} / ${times(e.ratioBest)} |`,
        );
      }
    }
    if (main["session-again"] !== undefined) {
      lines.push(
        "",
        "**How much of this is noise (A/A)**: a second, identical SessionServer process measured in the same rounds:",
        "",
      );
      for (const phase of ["pollingHandshakes", "wsHandshakes", "pollingMessages", "wsMessages"]) {
        const a = pairedExtra(main, "session", "later", phase);
        const again = pairedExtra(main, "session-again", "later", phase);
        lines.push(
          `- ${PHASE_LABEL[phase]}: ${num(med(main, "session", phase, "cpuPerOp"), 1)} and ${num(med(main, "session-again", phase, "cpuPerOp"), 1)} µs; paired ratio ${times(pairedRatio(main, "session-again", "session", phase))}${phase.endsWith("Handshakes") ? `; extra ${signed(a)} and ${signed(again)} µs (${times(extraRatio(again, a))})` : ""}`,
        );
      }
    }
    if (main["session-b"] !== undefined) {
      lines.push("", "A/B: SessionServer of BENCH_DIST_B against SessionServer (same rounds):", "");
      for (const phase of ["pollingHandshakes", "wsHandshakes", "pollingMessages", "wsMessages"]) {
        const b = pairedExtra(main, "session-b", "later", phase);
        const a = pairedExtra(main, "session", "later", phase);
        const d = pairedExtra(main, "session-b", "session", phase);
        lines.push(
          `- ${PHASE_LABEL[phase]}: extra ${signed(a, 1)} → ${signed(b, 1)} µs (paired: ${signed(d, 1)} µs; GC ${num(med(main, "session", phase, "gcPerOp"), 1)} → ${num(med(main, "session-b", phase, "gcPerOp"), 1)} µs)`,
        );
      }
    }
    lines.push("");
  }
  if (results.inProcess !== undefined) {
    lines.push(
      "### The library's own CPU, in one process (bench/handshake-cost.mjs)",
      "",
      `\`verify()\` of a handshake up to its callback, then the \`connection\` that wraps the socket (the app adds a message listener) and its close; 10,000 distinct sessions, 48 in flight, no sockets and no kernel: the figure least disturbed by the machine. Medians of ${results.inProcess.polling?.rounds ?? "–"} alternating rounds of 10,000 handshakes; extra over the loop-turn-later baseline, paired.`,
      "",
      "| request | baseline µs | floor extra | SessionServer extra | SessionServer ÷ floor | GC µs: floor / SessionServer |",
      "| --- | --: | --: | --: | --: | --: |",
    );
    for (const transport of ["polling", "websocket"]) {
      const cases = results.inProcess[transport]?.cases ?? [];
      const find = (prefix) => cases.find((c) => c.case.startsWith(prefix));
      const [base, floor, session] = [find("baseline"), find("floor"), find("SessionServer")];
      if (session === undefined) continue;
      lines.push(
        `| ${transport === "polling" ? "polling handshake" : "websocket upgrade (same-origin Origin)"} | ${num(base?.medianMicros, 2)} | ${signed(floor?.extraMicros, 2)} | **${signed(session.extraMicros, 2)}** | **${times(ratio(session.extraMicros, floor?.extraMicros))}** | ${num(floor?.gcMicros, 2)} / ${num(session.gcMicros, 2)} |`,
      );
    }
    lines.push("");
  }
  if (results.instructions?.variants !== undefined)
    lines.push(...instructionReport(results, variants));
  if (s.growth !== undefined && Object.keys(s.growth).length > 1) {
    lines.push(
      "### How cost grows (engine.io; extra over the baseline, µs CPU per handshake; GC µs per handshake in brackets)",
      "",
      "| condition | polling: floor | polling: SessionServer | ratio | websocket: floor | websocket: SessionServer | ratio |",
      "| --- | --: | --: | --: | --: | --: | --: |",
    );
    for (const [key, g] of Object.entries(s.growth)) {
      const p = g.pollingHandshakes;
      const w = g.wsHandshakes;
      lines.push(
        `| ${key.startsWith("0 open") ? key : GROWTH_LABEL(key)} | ${signed(p.floorExtra)} [${num(p.floorGc, 1)}] | ${signed(p.sessionExtra)} [${num(p.sessionGc, 1)}] | ${times(p.ratio)} | ${signed(w.floorExtra)} [${num(w.floorGc, 1)}] | ${signed(w.sessionExtra)} [${num(w.sessionGc, 1)}] | ${times(w.ratio)} |`,
      );
    }
    lines.push("");
  }
  if (s.shared !== undefined) {
    lines.push(
      "### One shared cookie (every handshake the same session)",
      "",
      "| handshake | baseline µs | floor extra | SessionServer extra | coalesceWindow 2 s extra | store reads per handshake (floor / SessionServer / window) |",
      "| --- | --: | --: | --: | --: | --: |",
    );
    for (const [phase, e] of Object.entries(s.shared)) {
      const r = e.readsPerHandshake;
      lines.push(
        `| ${PHASE_LABEL[phase]} | ${num(e.baseline)} | ${signed(e.floorExtra)} [${num(e.floorGc, 1)}] | ${signed(e.sessionExtra)} [${num(e.sessionGc, 1)}] | ${signed(e.windowExtra)} [${num(e.windowGc, 1)}] | ${num(r.floor, 2)} / ${num(r.session, 2)} / ${num(r["session-window"], 3)} |`,
      );
    }
    lines.push("");
  }
  if (s.memory !== undefined) {
    lines.push(
      `### Memory per open websocket (${num(s.memory.session?.open)} open, heap after GC)`,
      "",
      "| variant | heap B per socket | beyond plain engine.io + the record |",
      "| --- | --: | --: |",
    );
    for (const [variant, v] of Object.entries(s.memory)) {
      lines.push(
        `| ${variant} | ${num(v.heapPerSocket)} | ${variant === "plain" ? "–" : num(v.beyondRecord)} |`,
      );
    }
    const any = Object.values(s.memory)[0];
    lines.push(
      "",
      `The record is ${num(any?.recordJsonLength)} B as JSON, ${num(any?.recordHeapBytes)} B on the heap (one structuredClone, measured on 2,000 copies).`,
      "",
    );
  }
  lines.push(
    "### Targets (issue 15)",
    "",
    "| target | measured | limit | |",
    "| --- | --: | --: | --- |",
  );
  for (const t of s.targets) {
    const value =
      t.unit === "B"
        ? `${num(t.value)} B`
        : `${times(t.value)}${t.beside === undefined ? "" : `; ${times(t.beside)}`}`;
    const limit = t.limit === null ? "–" : t.unit === "B" ? `${num(t.limit)} B` : `${t.limit}×`;
    lines.push(
      `| ${t.target} | ${value} | ${limit} | ${t.pass === null ? "–" : t.pass ? "met" : "**missed**"} |`,
    );
  }
  if (results.failures.length > 0) {
    lines.push("", "Failed measurements:", "");
    for (const f of results.failures)
      lines.push(`- ${f.scenario} round ${f.round + 1} ${f.variant} ${f.phase}: ${f.error}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The instruction-count section of the report (bench/instructions.mjs). */
function instructionReport(results, variants) {
  const ins = results.instructions;
  const kilo = (n) => (typeof n === "number" ? `${num(n / 1000, 1)}k` : "–");
  const phases = ["pollingHandshakes", "wsHandshakes", "pollingMessages", "wsMessages"];
  const lines = [
    "### Instructions per operation (valgrind callgrind, every thread of the server)",
    "",
    `The servers above, each under callgrind (${ins.valgrind}), one load process with ${ins.config.concurrency} in flight, warmed for ${num(ins.config.warmOps)} operations, then ${ins.config.windows} windows of ${ins.config.seconds} s, counters zeroed and dumped around each (\`callgrind_control\`); every socket of a window closed inside it. Thousands of instructions per operation, medians of the windows; in brackets the spread of the windows ((max − min) ÷ median). A count does not depend on the machine's speed of the moment: this is the repeatable reading of the targets. Whole section ${num(ins.seconds)} s.`,
    "",
    "| variant | polling handshake | websocket handshake | polling POST | websocket message |",
    "| --- | --: | --: | --: | --: |",
  ];
  for (const v of variants.filter((x) => ins.variants[x.key] !== undefined)) {
    const cell = (phase) => {
      const value = instructions(results, v.key, phase);
      const spread = instructionSpread(results, v.key, phase);
      return value === null ? "–" : `${kilo(value)} [${num((spread ?? 0) * 100, 1)} %]`;
    };
    lines.push(`| ${v.label} | ${phases.map(cell).join(" | ")} |`);
  }
  lines.push(
    "",
    "| stack | handshake | baseline | floor extra | SessionServer extra | SessionServer ÷ floor | engine.use recipe extra | guarded recipe extra |",
    "| --- | --- | --: | --: | --: | --: | --: | --: |",
  );
  for (const [name, prefix] of [
    ["engine.io", ""],
    ["socket.io", "io-"],
  ]) {
    for (const phase of ["pollingHandshakes", "wsHandshakes"]) {
      const x = (v) => instructionExtra(results, prefix + v, `${prefix}later`, phase);
      const signedKilo = (n) => (typeof n === "number" ? `${signed(n / 1000, 1)}k` : "–");
      lines.push(
        `| ${name} | ${PHASE_LABEL[phase]} | ${kilo(instructions(results, `${prefix}later`, phase))} | ${signedKilo(x("floor"))} | **${signedKilo(x("session"))}** | **${times(extraRatio(x("session"), x("floor")))}** | ${signedKilo(x("use"))} | ${signedKilo(x("use-guard"))} |`,
      );
    }
  }
  lines.push("");
  return lines;
}

// ---------------------------------------------------------------- SVG
const escape = (text) =>
  String(text).replace(
    /[&<>"]/g,
    (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch],
  );

/** Horizontal bars: server CPU µs per handshake, stacked baseline + extra, one row per variant. */
export function svgChart(results, variants) {
  const main = results.main ?? {};
  const width = 980;
  const left = 390;
  const right = 110;
  const bar = 13;
  const panels = [
    ["pollingHandshakes", "#4e79a7", "polling handshake"],
    ["wsHandshakes", "#f28e2b", "websocket handshake"],
  ];
  const present = variants.filter((v) => main[v.key] !== undefined);
  const max = Math.max(
    1,
    ...present.flatMap((v) => panels.map(([phase]) => med(main, v.key, phase, "cpuPerOp") ?? 0)),
  );
  const scale = (width - left - right) / max;
  const out = [];
  let y = 56;
  for (const v of present) {
    out.push(
      `<text x="${left - 10}" y="${y + bar + 4}" class="label" text-anchor="end">${escape(v.label)}</text>`,
    );
    for (const [phase, color] of panels) {
      const value = med(main, v.key, phase, "cpuPerOp") ?? 0;
      const gc = med(main, v.key, phase, "gcPerOp") ?? 0;
      const w = Math.max(1, value * scale);
      out.push(
        `<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${bar}" fill="${color}"/>`,
      );
      out.push(
        `<rect x="${left}" y="${y + bar - 3}" width="${Math.max(0.5, gc * scale).toFixed(1)}" height="3" fill="#222"/>`,
      );
      out.push(
        `<text x="${(left + w + 6).toFixed(1)}" y="${y + bar - 2}" class="value">${escape(`${num(value)} µs`)}</text>`,
      );
      y += bar + 2;
    }
    y += 10;
  }
  let lx = left;
  for (const [, color, label] of panels) {
    out.push(`<rect x="${lx}" y="${y}" width="12" height="12" fill="${color}"/>`);
    out.push(`<text x="${lx + 18}" y="${y + 10}" class="label">${escape(label)}</text>`);
    lx += 170;
  }
  out.push(`<rect x="${lx}" y="${y + 5}" width="12" height="3" fill="#222"/>`);
  out.push(`<text x="${lx + 18}" y="${y + 10}" class="label">of which GC pauses</text>`);
  const height = y + 44;
  const m = results.machine;
  const caption = `${m.nproc} × ${m.cpuModel}, Node ${m.node}, ${results.config.rounds} rounds × ${results.config.seconds} s, load avg ${results.loadAtStart.loadavg[0]} at start, ${results.date.slice(0, 10)}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif">
  <style>
    .title { font-size: 15px; font-weight: 600; fill: #222; }
    .label { font-size: 12px; fill: #333; }
    .value { font-size: 11px; fill: #444; }
    .caption { font-size: 11px; fill: #777; }
  </style>
  <rect width="100%" height="100%" fill="#fff"/>
  <text x="20" y="26" class="title">Server CPU per handshake, ${num(results.config.sessions)} distinct sessions (µs, median; lower is better)</text>
  ${out.join("\n  ")}
  <text x="20" y="${height - 10}" class="caption">${escape(caption)}</text>
</svg>
`;
}
