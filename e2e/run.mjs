// Browser test of the demo (examples/): starts it on a free port, drives Debian's Chromium through
// playwright-core, and checks what the demo promises. Run with `npm run test:e2e` (builds first).
//
//   node e2e/run.mjs                 run the checks
//   node e2e/run.mjs --screenshot    also save docs/demo.png (or --screenshot=path/to/file.png)
//   CHROMIUM=/path/to/chrome         another browser binary (default /usr/bin/chromium)
//
// Bounded: every wait has a timeout and the whole run stops after 60 s. Exits non-zero on failure.

/* global process, console, setTimeout, clearTimeout, URL, document -- Node, and the page in waitForFunction */

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const screenshotArg = process.argv.find((arg) => arg.startsWith("--screenshot"));
const screenshotPath =
  screenshotArg === undefined
    ? undefined
    : resolve(root, screenshotArg.split("=")[1] ?? join("docs", "demo.png"));

const OVERALL_MS = 60_000;
const WAIT_MS = 10_000;
/** Logout must reach every tab well before the 5 s revalidation could have noticed it. */
const PUSH_MS = 2_000;

const started = Date.now();
const results = [];
let demo;
let browser;
let finished = false;

// ---- tiny harness --------------------------------------------------------------------------------

async function check(name, body) {
  const t0 = Date.now();
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`  ok    ${name} (${Date.now() - t0} ms)`);
  } catch (error) {
    results.push({ name, ok: false });
    console.log(`  FAIL  ${name} (${Date.now() - t0} ms)\n        ${describe(error)}`);
    throw new Stop();
  }
}

class Stop extends Error {}

const delay = (ms) => new Promise((resolveDelay) => setTimeout(resolveDelay, ms));

function describe(error) {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n").slice(0, 6).join("\n        ");
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Waits until `#id`'s text is `expected` (string) or matches it (RegExp). */
async function textOf(page, id, expected, timeout = WAIT_MS) {
  const locator = page.locator(`#${id}`);
  try {
    await page.waitForFunction(
      ([selector, source, flags]) => {
        const text = document.querySelector(selector)?.textContent?.trim() ?? "";
        return flags === null ? text === source : new RegExp(source, flags).test(text);
      },
      [
        `#${id}`,
        expected instanceof RegExp ? expected.source : expected,
        expected instanceof RegExp ? expected.flags : null,
      ],
      { timeout },
    );
  } catch {
    const actual = (await locator.textContent({ timeout: 1000 }).catch(() => null)) ?? "(none)";
    throw new Error(`#${id}: expected ${String(expected)}, got ${JSON.stringify(actual.trim())}`);
  }
}

async function connected(page) {
  await page.locator('#status[data-state="connected"]').waitFor({ timeout: WAIT_MS });
}

async function visible(page, id, timeout = WAIT_MS) {
  await page.locator(`#${id}`).waitFor({ state: "visible", timeout });
}

// ---- the demo process ----------------------------------------------------------------------------

function startDemo() {
  return new Promise((resolveUrl, reject) => {
    const child = spawn(process.execPath, [join(root, "examples", "server.js")], {
      cwd: root,
      env: { ...process.env, PORT: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    demo = child;
    let output = "";
    const onData = (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        child.stdout.off("data", onData);
        resolveUrl(match[1]);
      }
    };
    child.stdout.setEncoding("utf8").on("data", onData);
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      output += chunk;
      process.stderr.write(`  [demo] ${chunk}`);
    });
    child.once("exit", (code, signal) => {
      reject(new Error(`the demo exited early (${signal ?? code}):\n${output}`));
    });
    child.once("error", reject);
  });
}

/** SIGTERM, then the exit code (SIGKILL after 3 s). */
function stopDemo() {
  return new Promise((resolveExit) => {
    if (!demo || demo.exitCode !== null || demo.signalCode !== null) {
      resolveExit(demo?.exitCode ?? null);
      return;
    }
    const timer = setTimeout(() => demo.kill("SIGKILL"), 3000);
    demo.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolveExit(signal ?? code);
    });
    demo.kill("SIGTERM");
  });
}

// ---- the checks ----------------------------------------------------------------------------------

async function login(context, url, name) {
  const page = await context.newPage();
  watch(page, name);
  await page.goto(url);
  await page.locator("#name").fill(name);
  await page.locator('#login button[type="submit"]').click();
  await textOf(page, "who", name);
  await connected(page);
  return page;
}

const pageErrors = [];
function watch(page, label) {
  page.on("pageerror", (error) => pageErrors.push(`${label}: ${error.message}`));
}

async function apiMe(context, url) {
  const response = await context.request.get(new URL("/api/me", url).href);
  return { status: response.status(), body: response.ok() ? await response.json() : undefined };
}

async function run() {
  assert(
    existsSync(executablePath),
    `no browser at ${executablePath}: apt-get install -y chromium (or set CHROMIUM)`,
  );
  const url = await startDemo();
  console.log(`e2e: demo at ${url}, browser ${executablePath}`);
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  const viewport = { width: 600, height: 640 };
  const ada = await browser.newContext({ viewport });
  const bob = await browser.newContext({ viewport });
  for (const context of [ada, bob]) context.setDefaultTimeout(WAIT_MS);

  let ada1, ada2, bob1;

  await check("logging in over HTTP opens a socket that knows the user", async () => {
    ada1 = await login(ada, url, "Ada");
    await textOf(ada1, "counter", "0");
    await textOf(ada1, "transport", "websocket"); // upgraded from polling, reported by the server
  });

  await check(
    "a second user in another browser context connects with their own session",
    async () => {
      bob1 = await login(bob, url, "Bob");
      await bob1.locator("#inc").click();
      await textOf(bob1, "counter", "1");
      await textOf(bob1, "tabs", "1");
    },
  );

  await check("a second tab shares the first user's session", async () => {
    ada2 = await ada.newPage();
    watch(ada2, "Ada tab 2");
    await ada2.goto(url);
    await textOf(ada2, "who", "Ada");
    await connected(ada2);
    await textOf(ada1, "tabs", "2");
    await textOf(ada2, "tabs", "2");
  });

  await check("clicks in one tab reach the other tab live", async () => {
    for (let i = 1; i <= 3; i += 1) {
      await ada1.locator("#inc").click();
      await textOf(ada1, "counter", String(i));
    }
    await textOf(ada2, "counter", "3");
    await ada2.locator("#inc").click();
    await textOf(ada1, "counter", "4");
    await textOf(ada2, "counter", "4");
    await textOf(bob1, "counter", "1"); // sessions never mix
  });

  await check("a reload shows the counter over plain HTTP", async () => {
    // No socket at all for this load: whatever the page shows came over HTTP.
    await ada2.route("**/engine.io/**", (route) => route.abort());
    await ada2.reload();
    await textOf(ada2, "who", "Ada");
    await textOf(ada2, "counter", "4");
    await textOf(ada2, "source", "loaded over HTTP");
    const me = await apiMe(ada, url);
    assert(me.status === 200 && me.body.counter === 4, `/api/me: ${JSON.stringify(me)}`);
    // And with the socket back, live again.
    await ada2.unroute("**/engine.io/**");
    await ada2.reload();
    await connected(ada2);
    await textOf(ada2, "source", "live over the socket");
    await textOf(ada2, "counter", "4");
    await textOf(ada1, "tabs", "2");
    if (screenshotPath !== undefined) {
      await ada1.bringToFront();
      const box = await ada1.locator("main").boundingBox();
      const margin = 24;
      await ada1.screenshot({
        path: screenshotPath,
        clip: {
          x: Math.max(0, box.x - margin),
          y: Math.max(0, box.y - margin),
          width: box.width + 2 * margin,
          height: box.height + 2 * margin,
        },
      });
      console.log(`        screenshot saved to ${screenshotPath}`);
    }
  });

  await check("logging out in one tab ends every tab of that user at once", async () => {
    await ada1.bringToFront(); // background tabs get throttled animation frames: slow clicks
    await ada1.locator("#logout").click();
    await visible(ada1, "ended", PUSH_MS);
    await visible(ada2, "ended", PUSH_MS);
    await textOf(ada1, "ended-reason", /logged out/);
    await textOf(ada2, "ended-reason", /logged out/);
    const me = await apiMe(ada, url);
    assert(me.status === 401, `/api/me after logout: ${me.status}`);
    await ada2.reload();
    await visible(ada2, "login");
  });

  await check("the other user stays connected throughout", async () => {
    await connected(bob1);
    await textOf(bob1, "who", "Bob");
    await bob1.locator("#inc").click();
    await textOf(bob1, "counter", "2");
    assert(pageErrors.length === 0, `uncaught page errors:\n${pageErrors.join("\n")}`);
  });

  await check("the demo stops cleanly on SIGTERM, with a user still connected", async () => {
    const exit = await stopDemo();
    assert(exit === 0, `the demo exited with ${exit}`);
    await textOf(bob1, "status", "disconnected");
  });
}

// ---- main ----------------------------------------------------------------------------------------

async function finish(code) {
  if (finished) return;
  finished = true;
  if (browser !== undefined) {
    await Promise.race([browser.close().catch(() => {}), delay(5000)]);
  }
  await stopDemo();
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`e2e: ${passed} passed, ${failed} failed (${seconds} s)`);
  process.exit(code !== 0 || failed > 0 ? 1 : 0);
}

const overall = setTimeout(() => {
  console.log(`  FAIL  the run took longer than ${OVERALL_MS / 1000} s`);
  results.push({ name: "overall timeout", ok: false });
  void finish(1);
}, OVERALL_MS);
overall.unref();

for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => void finish(1));

try {
  await run();
  await finish(0);
} catch (error) {
  if (!(error instanceof Stop)) {
    console.log(`  FAIL  ${describe(error)}`);
    results.push({ name: "setup", ok: false });
  }
  await finish(1);
}
