// Property-based tests of the cookie → session id path (fast-check): the pure function
// sessionIdFromCookie against express-session's own parser and signer, then the real handshake
// over HTTP on both transports. More than 100,000 generated cases in all (checked in afterAll);
// hot properties assert with node:assert, which costs far less per case than expect().
import assert from "node:assert/strict";
import http, { type IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import fc from "fast-check";
import session from "express-session";
import { sign } from "cookie-signature";
import type { SessionServer, SessionSocket } from "../lib";
import { SessionError } from "../lib/errors";
import { sessionIdFromCookie } from "../lib/session-id";
import {
  attachServer,
  client,
  closeClients,
  outcome,
  sessionIdOf,
  startApp,
  until,
  type AppSession,
  type TestApp,
} from "./helpers/app";

// ---------------------------------------------------------------------------------------------
// The reference: express-session's own cookie parser (cookie 0.7) and signer (cookie-signature
// 1.0.7), resolved from express-session itself, so the lib (cookie 1.x, cookie-signature 1.2) is
// checked against a second implementation rather than against itself.

const requireFromExpressSession = createRequire(require.resolve("express-session"));
const esCookie = requireFromExpressSession("cookie") as {
  parse(header: string, options?: { decode?: (value: string) => string }): Record<string, string>;
  serialize(name: string, value: string, options?: object): string;
};
const esSignature = requireFromExpressSession("cookie-signature") as {
  sign(value: string, secret: string): string;
  unsign(value: string, secret: string): string | false;
};

/** What express-session's getcookie() makes of a header (own properties only: see below). */
interface ExpressView {
  /** Whether a cookie of that name is in the header at all. */
  present: boolean;
  /** Its value as express-session reads it: quotes stripped, then percent-decoded. */
  raw: string | undefined;
  /** The verified id express-session would use, if any. */
  id: string | undefined;
}

// express-session reads `cookies[name]` from a plain `{}`: for a cookie named "toString" or
// "__proto__" that is absent from the header it gets an inherited function/object and crashes on
// `raw.substr`. The lib parses into a null-prototype object; the reference uses own properties.
function expressView(header: string, name: string, secrets: readonly string[]): ExpressView {
  const cookies = esCookie.parse(header);
  const present = Object.hasOwn(cookies, name);
  const raw = present ? cookies[name] : undefined;
  let id: string | undefined;
  if (raw !== undefined && raw !== "" && raw.startsWith("s:")) {
    for (const secret of secrets) {
      const result = esSignature.unsign(raw.slice(2), secret);
      if (result !== false) {
        id = result;
        break;
      }
    }
  }
  return { present, raw, id };
}

type Outcome = { kind: "id"; id: string } | { kind: "none" } | { kind: "bad" };

/** Generated cases run, across every property of this file. */
let generated = 0;

/** Runs the lib; anything thrown but a SessionError BAD_SIGNATURE fails the property. */
function outcomeOf(header: string | undefined, name: string, secrets: readonly string[]): Outcome {
  let id: string | undefined;
  try {
    id = sessionIdFromCookie(header, name, secrets);
  } catch (error) {
    if (!(error instanceof SessionError) || error.code !== "BAD_SIGNATURE") {
      throw new Error(`threw something else than SessionError BAD_SIGNATURE: ${String(error)}`);
    }
    return { kind: "bad" };
  }
  if (id === undefined) return { kind: "none" };
  assert.equal(typeof id, "string");
  return { kind: "id", id };
}

/**
 * The invariants every header must satisfy; returns the outcome for stronger, per-property checks.
 *
 * - only SessionError BAD_SIGNATURE is ever thrown;
 * - an id is returned only if re-signing it with one of the secrets gives the cookie's value;
 * - whenever express-session verifies an id, the lib returns that same id;
 * - the lib says "no cookie" only when express-session sees none (or an empty one), and
 *   BAD_SIGNATURE only when the cookie is there.
 */
function checkInvariants(header: string, name: string, secrets: readonly string[]): Outcome {
  const result = outcomeOf(header, name, secrets);
  const view = expressView(header, name, secrets);
  if (result.kind === "id") {
    // express-session's parser drops a cookie named "__proto__": read it the way it reads others.
    const value =
      name === "__proto__"
        ? esCookie.parse(header.replaceAll(name, "proto-as-plain-name"))["proto-as-plain-name"]
        : view.raw;
    const signedBy = secrets.filter(
      (secret) => value === `s:${esSignature.sign(result.id, secret)}`,
    );
    assert.ok(signedBy.length > 0, "an id no configured secret signed");
  }
  // A cookie literally named "__proto__" never exists for express-session (its parser drops it).
  if (name === "__proto__") return result;
  if (view.id !== undefined) {
    assert.deepEqual(result, { kind: "id", id: view.id });
  } else {
    assert.notEqual(result.kind, "id", "an id express-session would not read");
  }
  if (result.kind === "none") {
    assert.ok(
      view.raw === undefined || view.raw === "",
      "no cookie, yet express-session reads one",
    );
  }
  if (result.kind === "bad") {
    assert.ok(view.present, "BAD_SIGNATURE for a cookie that is not there");
    assert.notEqual(view.raw, "", "BAD_SIGNATURE for a cookie express-session reads as empty");
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Generators

const TRICKY_NAMES = [
  "connect.sid",
  "app.sid",
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "isPrototypeOf",
  "__defineGetter__",
  "prototype",
  "sid",
  "s",
  "connect.sid.old",
  "my.connect.sid",
  " connect.sid",
  "connect.sid\t",
  "Connect.sid",
  "connect%2Esid",
  "connect.sid ",
  "",
  "s:",
] as const;

/** The names an app may configure (express-session takes any string). */
const CONFIGURED_NAMES = [
  "connect.sid",
  "app.sid",
  "constructor",
  "toString",
  "__proto__",
  "s",
] as const;

const PERCENT_JUNK = [
  "%",
  "%%",
  "%Z",
  "%ZZ",
  "%2",
  "%E0%A4%A",
  "%C0%AF",
  "%ED%A0%80",
  "%FF",
  "%00",
  "%25",
  "%3A",
  "%3a",
  "%3B",
  "%3D",
  "%2E",
  "%20",
  "%22",
  "%E2%82%AC",
  "s%3A",
  "s:",
  ".",
  ";",
  "=",
  '"',
  " ",
  "\t",
  "a",
  "\u00e9",
  "\u{1F600}",
] as const;

/** Any code points at all, lone surrogates included (cheaper to build than a "binary" string). */
function codePoints(maxLength: number): fc.Arbitrary<string> {
  return fc
    .array(fc.integer({ min: 0, max: 0x10ffff }), { maxLength })
    .map((points) => String.fromCodePoint(...points));
}

const loneSurrogate = fc
  .integer({ min: 0xd800, max: 0xdfff })
  .map((code) => String.fromCharCode(code));

/** Any text at all: ascii, any unicode, lone surrogates, percent junk. */
const anyText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "grapheme", maxLength: 20 }),
  codePoints(20),
  fc
    .array(fc.oneof(fc.constantFrom(...PERCENT_JUNK), loneSurrogate), { maxLength: 10 })
    .map((parts) => parts.join("")),
);

/** A session id: what uid-safe makes, or any well-formed string (encodeURIComponent-safe). */
const sessionId = fc.oneof(
  fc.base64String({ minLength: 32, maxLength: 32 }).map((text) => text.replace(/[+/=]/g, "_")),
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 16 }),
  fc
    .array(fc.constantFrom("a", ".", ";", "=", "%", '"', " ", ":", "s:", "\u00e9", "\u{1F600}"), {
      minLength: 1,
      maxLength: 12,
    })
    .map((parts) => parts.join("")),
);

const secret = fc.oneof(
  fc.string({ minLength: 1, maxLength: 40 }),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }),
);
/** The configured secrets (rotation: the first signs, all verify) and some that are not. */
const secretSets = fc.uniqueArray(secret, { minLength: 2, maxLength: 4 }).chain((all) =>
  fc.integer({ min: 1, max: all.length - 1 }).map((split) => ({
    configured: all.slice(0, split),
    foreign: all.slice(split),
  })),
);

const base64Signature = fc.base64String({ maxLength: 48 }).map((text) => text.replace(/=+$/, ""));

/** How a cookie value is built, given the secrets (materialized in the property). */
type ValueSpec =
  | { kind: "text"; text: string }
  | { kind: "signed"; id: string; by: number; foreign: boolean; encode: boolean; quote: boolean }
  | { kind: "randomSignature"; id: string; signature: string; encode: boolean };

const valueSpec: fc.Arbitrary<ValueSpec> = fc.oneof(
  anyText.map((text): ValueSpec => ({ kind: "text", text })),
  fc
    .record({
      id: sessionId,
      by: fc.nat(),
      foreign: fc.boolean(),
      encode: fc.boolean(),
      quote: fc.boolean(),
    })
    .map((spec): ValueSpec => ({ kind: "signed", ...spec })),
  fc
    .record({ id: sessionId, signature: base64Signature, encode: fc.boolean() })
    .map((spec): ValueSpec => ({ kind: "randomSignature", ...spec })),
);

interface Secrets {
  configured: string[];
  foreign: string[];
}

function materialize(spec: ValueSpec, secrets: Secrets): string {
  switch (spec.kind) {
    case "text":
      return spec.text;
    case "signed": {
      const pool = spec.foreign ? secrets.foreign : secrets.configured;
      const value = `s:${esSignature.sign(spec.id, pool[spec.by % pool.length])}`;
      const encoded = spec.encode ? encodeURIComponent(value) : value;
      return spec.quote ? `"${encoded}"` : encoded;
    }
    case "randomSignature": {
      const value = `s:${spec.id}.${spec.signature}`;
      return spec.encode ? encodeURIComponent(value) : value;
    }
  }
}

const SEPARATORS = ["; ", ";", " ; ", ";\t", ";;", "; ;", ",", " "] as const;

const pairSpec = fc.record({
  name: fc.oneof(fc.constantFrom(...TRICKY_NAMES), fc.string({ maxLength: 12 })),
  value: valueSpec,
  separator: fc.constantFrom(...SEPARATORS),
  /** Sometimes a fragment without '=' (or a lone '=') instead of a pair. */
  fragment: fc.option(fc.constantFrom("junk", "=", "==", ";", " ", "a=b=c", "connect.sid"), {
    freq: 8,
  }),
});

type PairSpec = typeof pairSpec extends fc.Arbitrary<infer T> ? T : never;

function headerOf(pairs: readonly PairSpec[], secrets: Secrets): string {
  return pairs
    .map((pair) =>
      pair.fragment === null
        ? `${pair.name}=${materialize(pair.value, secrets)}${pair.separator}`
        : `${pair.fragment}${pair.separator}`,
    )
    .join("");
}

// ---------------------------------------------------------------------------------------------
// Properties on the pure function

describe("sessionIdFromCookie (properties)", () => {
  it("never throws anything but BAD_SIGNATURE for any header at all", () => {
    fc.assert(
      fc.property(
        fc.oneof(anyText, codePoints(200)),
        fc.constantFrom(...CONFIGURED_NAMES),
        secretSets,
        (header, name, secrets) => {
          generated++;
          checkInvariants(header, name, secrets.configured);
          checkInvariants(`${name}=${header}`, name, secrets.configured);
        },
      ),
      { numRuns: 18_000 },
    );
  });

  it("returns only ids a configured secret signed, for structured hostile headers", () => {
    fc.assert(
      fc.property(
        fc.array(pairSpec, { maxLength: 12 }),
        fc.constantFrom(...CONFIGURED_NAMES),
        secretSets,
        (pairs, name, secrets) => {
          generated++;
          checkInvariants(headerOf(pairs, secrets), name, secrets.configured);
        },
      ),
      { numRuns: 30_000 },
    );
  });

  it("returns the id a configured secret signed wherever the cookie sits (the signed case)", () => {
    fc.assert(
      fc.property(
        fc.array(pairSpec, { maxLength: 6 }),
        fc.array(pairSpec, { maxLength: 6 }),
        sessionId,
        fc.nat(),
        fc.constantFrom("connect.sid", "app.sid", "constructor", "toString"),
        secretSets,
        (before, after, id, by, name, secrets) => {
          generated++;
          const signed = `s:${esSignature.sign(id, secrets.configured[by % secrets.configured.length])}`;
          const header = `${headerOf(before, secrets)}; ${name}=${encodeURIComponent(signed)}; ${headerOf(after, secrets)}`;
          const result = checkInvariants(header, name, secrets.configured);
          // Unless an earlier pair of the same name took precedence, it is this id.
          if (!Object.hasOwn(esCookie.parse(headerOf(before, secrets)), name)) {
            assert.deepEqual(result, { kind: "id", id });
          }
        },
      ),
      { numRuns: 8_000 },
    );
  });

  it("round-trips with express-session's own signing and serialization, secrets rotated", () => {
    fc.assert(
      fc.property(
        sessionId,
        secretSets,
        fc.nat(),
        fc.constantFrom("connect.sid", "app.sid", "my.app.sid"),
        fc.array(fc.tuple(fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/), anyText), {
          maxLength: 8,
        }),
        fc.nat(),
        (id, secrets, by, name, others, position) => {
          generated++;
          // What express-session's setcookie() writes, then what a browser sends back.
          const signer = secrets.configured[by % secrets.configured.length];
          const setCookie = esCookie.serialize(name, `s:${esSignature.sign(id, signer)}`, {
            path: "/",
            httpOnly: true,
          });
          const pair = setCookie.split(";")[0];
          const otherPairs = others
            .filter(([other]) => other !== name)
            .map(
              ([other, value]) =>
                `${other}=${encodeURIComponent(value.replace(/[\uD800-\uDFFF]/g, ""))}`,
            );
          otherPairs.splice(position % (otherPairs.length + 1), 0, pair);
          const header = otherPairs.join("; ");

          assert.deepEqual(checkInvariants(header, name, secrets.configured), { kind: "id", id });
          // Rotated out: the same cookie with its signer no longer configured.
          const remaining = secrets.configured.filter((each) => each !== signer);
          const rotatedOut = outcomeOf(
            header,
            name,
            remaining.length > 0 ? remaining : secrets.foreign,
          );
          assert.deepEqual(rotatedOut, { kind: "bad" });
        },
      ),
      { numRuns: 15_000 },
    );
  });

  it("refuses every tampering of a signed cookie that express-session refuses", () => {
    const mutation = fc.oneof(
      fc.record({
        kind: fc.constant("replace" as const),
        at: fc.nat(),
        char: fc.string({ minLength: 1, maxLength: 1 }),
      }),
      fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant("insert" as const),
        at: fc.nat(),
        char: fc.string({ minLength: 1, maxLength: 1 }),
      }),
      fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("otherId" as const), id: sessionId }),
      fc.record({ kind: fc.constant("randomSignature" as const), signature: base64Signature }),
      fc.record({ kind: fc.constant("foreign" as const) }),
      fc.record({ kind: fc.constant("padding" as const) }),
      fc.record({ kind: fc.constant("case" as const) }),
    );
    fc.assert(
      fc.property(
        sessionId,
        secretSets,
        fc.nat(),
        mutation,
        fc.boolean(),
        (id, secrets, by, change, encode) => {
          generated++;
          const signer = secrets.configured[by % secrets.configured.length];
          const signed = esSignature.sign(id, signer);
          let forged: string;
          switch (change.kind) {
            case "replace": {
              const at = change.at % signed.length;
              forged = `${signed.slice(0, at)}${change.char}${signed.slice(at + 1)}`;
              break;
            }
            case "delete": {
              const at = change.at % signed.length;
              forged = `${signed.slice(0, at)}${signed.slice(at + 1)}`;
              break;
            }
            case "insert": {
              const at = change.at % (signed.length + 1);
              forged = `${signed.slice(0, at)}${change.char}${signed.slice(at)}`;
              break;
            }
            case "truncate":
              forged = signed.slice(0, change.at % signed.length);
              break;
            case "otherId":
              forged = `${change.id}${signed.slice(signed.lastIndexOf("."))}`;
              break;
            case "randomSignature":
              forged = `${id}.${change.signature}`;
              break;
            case "foreign":
              forged = esSignature.sign(id, secrets.foreign[by % secrets.foreign.length]);
              break;
            case "padding":
              forged = `${signed}=`;
              break;
            case "case":
              forged = signed.replace(/[a-z]/, (char) => char.toUpperCase());
              break;
          }
          const value = `s:${forged}`;
          const wellFormed = value.replace(/[\uD800-\uDFFF]/g, "");
          const header = `connect.sid=${encode ? encodeURIComponent(wellFormed) : wellFormed}`;
          const result = checkInvariants(header, "connect.sid", secrets.configured);
          const view = expressView(header, "connect.sid", secrets.configured);
          // Exactly express-session's verdict: the same id, or a refusal (never "no cookie").
          if (
            view.id === undefined &&
            view.raw !== undefined &&
            view.raw !== "" &&
            !view.raw.startsWith('"')
          ) {
            assert.deepEqual(result, { kind: "bad" });
          }
          if (result.kind === "id" && result.id !== id) {
            // A tampering that lands on another validly signed id is a forged HMAC: never.
            assert.ok(
              secrets.configured.some((each) => esSignature.sign(result.id, each) === forged),
              "a tampered cookie verified as another id",
            );
          }
        },
      ),
      { numRuns: 15_000 },
    );
  });

  it("copes with huge values and thousands of pairs, duplicates included", () => {
    const hugeValue = fc
      .tuple(
        fc.constantFrom("x", "%", "s:", "%E2", "\u00e9", ";", "a=b"),
        fc.integer({ min: 1_000, max: 50_000 }),
      )
      .map(([unit, count]) => unit.repeat(count));
    fc.assert(
      fc.property(
        fc.integer({ min: 500, max: 5_000 }),
        fc.nat(),
        fc.array(hugeValue, { maxLength: 3 }),
        fc.boolean(),
        secretSets,
        (count, where, huge, duplicateFirst, secrets) => {
          generated++;
          const id = `id-${count}-${where}`;
          const pairs = Array.from({ length: count }, (_, i) => `c${i % 97}=v${i}`);
          for (const value of huge) pairs.splice(where % pairs.length, 0, `big=${value}`);
          const position = where % (pairs.length + 1);
          pairs.splice(
            position,
            0,
            `connect.sid=${encodeURIComponent(`s:${esSignature.sign(id, secrets.configured[0])}`)}`,
          );
          if (duplicateFirst) pairs.splice(position, 0, "connect.sid=s%3Aforged.AAAA");
          const header = pairs.join("; ");

          const result = checkInvariants(header, "connect.sid", secrets.configured);

          assert.deepEqual(result, duplicateFirst ? { kind: "bad" } : { kind: "id", id });
          // A huge value under the session cookie's own name: refused, not crashed on.
          for (const value of huge) {
            assert.notEqual(
              checkInvariants(`connect.sid=${value}`, "connect.sid", secrets.configured).kind,
              "id",
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("returns undefined without a header, and for headers that never mention the name", () => {
    fc.assert(
      fc.property(anyText, secretSets, (header, secrets) => {
        generated++;
        assert.deepEqual(outcomeOf(undefined, "connect.sid", secrets.configured), { kind: "none" });
        const cleaned = header.replaceAll("connect.sid", "");
        if (!cleaned.includes("connect.sid")) {
          assert.deepEqual(outcomeOf(cleaned, "connect.sid", secrets.configured), { kind: "none" });
        }
      }),
      { numRuns: 20_000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Quoting and percent-encoding, where cookie 1.x and express-session's cookie 0.7 differ.

describe("sessionIdFromCookie (quotes and percent-encoding, as express-session reads them)", () => {
  const id = "abc";
  const signed = `s:${sign(id, "k")}`;

  // express-session strips quotes from the raw value, then decodes: a value quoted only after
  // decoding (`%22s%3A...%22`) is unsigned to it, so it must be to the socket server too.
  it("refuses a value whose quotes are percent-encoded, as express-session does", () => {
    const header = `connect.sid=%22${encodeURIComponent(signed)}%22`;
    expect(expressView(header, "connect.sid", ["k"]).id).toBeUndefined();

    expect(() => sessionIdFromCookie(header, "connect.sid", ["k"])).toThrow(SessionError);
  });

  it("treats a value of two double quotes as no cookie, as express-session does", () => {
    expect(expressView('connect.sid=""', "connect.sid", ["k"]).raw).toBe("");

    expect(sessionIdFromCookie('connect.sid=""', "connect.sid", ["k"])).toBeUndefined();
  });

  // express-session strips a lone `"` as if it were a pair of quotes, leaving an empty value.
  it("treats a lone double quote as no cookie, as express-session does", () => {
    expect(expressView('connect.sid="', "connect.sid", ["k"]).raw).toBe("");

    expect(sessionIdFromCookie('connect.sid="', "connect.sid", ["k"])).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Properties on the real handshake path: real HTTP, real express-session cookies, real store.

/** The same stats with every count at zero: what a server holds once everything is closed. */
function zeroed<T extends object>(stats: T): Record<keyof T, unknown> {
  return Object.fromEntries(
    Object.entries(stats).map(([key, value]) => [key, typeof value === "number" ? 0 : value]),
  ) as Record<keyof T, unknown>;
}

/** Only what Node's HTTP client lets into a header value. */
function headerSafe(text: string): string {
  return text.replace(/[^\t\x20-\x7e\x80-\xff]/g, "").replace(/"|%22/gi, "");
}

describe("the handshake path (properties)", () => {
  const SECRETS = ["current secret", "older secret"];
  const store = new session.MemoryStore();
  const apps: TestApp[] = [];
  let server: SessionServer<AppSession>;
  let agent: http.Agent;
  let cookies: { current: string[]; older: string[]; retired: string[]; loggedOut: string[] };
  const events = new Map<string, string[]>();
  const sockets = new Map<string, SessionSocket<AppSession>>();

  function caseOf(req: IncomingMessage): string {
    const tag = req.headers["x-case"];
    return typeof tag === "string" ? tag : "untagged";
  }

  function record(tag: string, what: string): void {
    events.set(tag, [...(events.get(tag) ?? []), what]);
  }

  beforeAll(async () => {
    const app = await startApp({ store, secret: SECRETS });
    const olderApp = await startApp({ store, secret: "older secret" });
    const retiredApp = await startApp({ store, secret: "retired secret" });
    apps.push(app, olderApp, retiredApp);
    cookies = {
      current: [await app.login("ann"), await app.login("bob"), await app.login("cy")],
      older: [await olderApp.login("dee"), await olderApp.login("eve")],
      retired: [await retiredApp.login("fay")],
      loggedOut: [await app.login("gus")],
    };
    await app.get("/logout", cookies.loggedOut[0]);
    server = attachServer(app, { secret: SECRETS });
    server.on("session", (socket) => {
      record(caseOf(socket.request), `session:${socket.sessionId}`);
      sockets.set(caseOf(socket.request), socket);
    });
    server.on("session_error", (error, req) => {
      if (req !== undefined) record(caseOf(req), `error:${error.code}`);
    });
    agent = new http.Agent({ keepAlive: true });
  });

  afterAll(async () => {
    closeClients();
    server.close();
    agent.destroy();
    await Promise.all(apps.map((app) => app.close()));
  });

  /** A header mixing the real cookies, tampered copies of them and junk, as a client sends it. */
  const realHeader = fc
    .array(
      fc.oneof(
        fc.record({
          kind: fc.constantFrom("current", "older", "retired", "loggedOut"),
          index: fc.nat(),
        }),
        fc.record({
          kind: fc.constant("tampered" as const),
          index: fc.nat(),
          at: fc.nat(),
          char: fc.string({ minLength: 1, maxLength: 1 }),
        }),
        fc.record({
          kind: fc.constant("junk" as const),
          name: fc.constantFrom(...TRICKY_NAMES),
          text: anyText,
        }),
      ),
      { maxLength: 8 },
    )
    .map((parts) =>
      parts
        .map((part) => {
          if (part.kind === "junk") return headerSafe(`${part.name}=${part.text}`);
          const pool = part.kind === "tampered" ? cookies.current : cookies[part.kind];
          const cookie = pool[part.index % pool.length];
          if (part.kind !== "tampered") return cookie;
          const at = "connect.sid=".length + (part.at % (cookie.length - "connect.sid=".length));
          return headerSafe(`${cookie.slice(0, at)}${part.char}${cookie.slice(at + 1)}`);
        })
        .join("; ")
        .slice(0, 6_000),
    );

  /** What the handshake must end in, from express-session's reading of the header. */
  function expected(header: string): string {
    const view = expressView(header, "connect.sid", SECRETS);
    if (view.id !== undefined) {
      return cookies.loggedOut.some((cookie) => sessionIdOf(cookie) === view.id)
        ? "error:NOT_FOUND"
        : `session:${view.id}`;
    }
    return view.raw === undefined || view.raw === "" ? "error:NO_COOKIE" : "error:BAD_SIGNATURE";
  }

  function request(
    method: "GET" | "POST",
    query: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const url = new URL(`${apps[0].url}/engine.io/?EIO=4&transport=polling${query}`);
      const req = http.request(url, { method, agent, headers }, (res) => {
        let text = "";
        res.setEncoding("latin1");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, body: text });
        });
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  /** Closes an open polling session the way a client does: a close packet ("1"). */
  async function closePolling(openPacket: string): Promise<void> {
    const { sid } = JSON.parse(openPacket.slice(1)) as { sid: string };
    const { status } = await request("POST", `&sid=${sid}`, { "content-type": "text/plain" }, "1");
    expect(status).toBe(200);
  }

  it("ends every polling handshake in exactly the outcome express-session's reading implies", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(realHeader, async (header) => {
        const tag = `polling-${run++}`;
        generated++;
        const want = expected(header);

        const { status, body } = await request("GET", "", { cookie: header, "x-case": tag });
        await until(() => (events.get(tag) ?? []).length > 0);

        expect(events.get(tag)).toEqual([want]);
        if (want.startsWith("session:")) {
          expect(status).toBe(200);
          expect(body).toMatch(/^0\{"sid":/);
          expect(sockets.get(tag)?.transport).toBe("polling");
          await closePolling(body);
        } else {
          expect(status).toBe(403);
          // engine.io's refusal body, plus the stable code for clients to act on.
          expect(JSON.parse(body)).toEqual({
            code: 4,
            message: expect.any(String) as string,
            sessionErrorCode: want.replace(/^error:/, ""),
          });
        }
      }),
      { numRuns: 500 },
    );
    // The generator reached every outcome, not just the easy one.
    const seen = new Set([...events.values()].flat().map((each) => each.split(":", 2).join(":")));
    expect([...seen].filter((each) => !each.startsWith("session:")).sort()).toEqual([
      "error:BAD_SIGNATURE",
      "error:NOT_FOUND",
      "error:NO_COOKIE",
    ]);
    expect([...seen].some((each) => each.startsWith("session:"))).toBe(true);
    await until(() => server.clientsCount === 0 && server.stats.sockets === 0);
    expect(server.stats).toEqual(zeroed(server.stats));
  });

  it("ends every websocket handshake in exactly the outcome express-session's reading implies", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(realHeader, async (header) => {
        const tag = `websocket-${run++}`;
        generated++;
        const want = expected(header);

        const socket = client(apps[0], "websocket", header, {
          extraHeaders: { cookie: header, "x-case": tag },
        });
        const result = await outcome(socket);
        await until(() => (events.get(tag) ?? []).length > 0);

        expect(events.get(tag)).toEqual([want]);
        expect(result.kind).toBe(want.startsWith("session:") ? "open" : "error");
        socket.close();
      }),
      { numRuns: 100 },
    );
    closeClients();
    await until(() => server.clientsCount === 0 && server.stats.sockets === 0);
    expect(server.stats).toEqual(zeroed(server.stats));
  });
});

afterAll(() => {
  // The suite's claim: at least 100,000 generated cases in all.
  expect(generated).toBeGreaterThanOrEqual(100_000);
});
