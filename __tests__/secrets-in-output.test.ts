import { randomBytes } from "node:crypto";
import { format, stripVTControlCharacters } from "node:util";
import createDebug from "debug";
import session from "express-session";
import {
  SessionServer,
  type SessionErrorCode,
  type SessionRecord,
  type SessionServerOptions,
} from "../lib";
import {
  client,
  closeClients,
  outcome,
  sessionIdOf,
  signedCookie,
  startApp,
  until,
  type AppSession,
  type TestApp,
} from "./helpers/app";
import { closePolling, pollingReply, websocketReply } from "./helpers/raw-http";

// Over a run of mixed good and bad handshakes on both transports, nothing the library writes for
// people to read (debug lines, session_error messages, connection_error context, the bodies of
// refused handshakes) may contain a secret or a whole session id.

const SECRETS = ["current-secret-7f3a9c1e-do-not-log", "rotated-secret-2b8d4e6f-do-not-log"];
const FOREIGN_SECRET = "foreign-app-secret-91c0ffee-do-not-log";
const NAMESPACE = "engine.io-session";

/** A session id the way express-session makes them: 24 random bytes, base64url. */
function newId(label: string): string {
  return `${label}-${randomBytes(18).toString("base64url")}`;
}

/** A store that fails in telling ways for chosen ids: its errors quote the id and a secret. */
class TellingStore {
  readonly memory = new session.MemoryStore();
  readonly failing = new Set<string>();
  readonly hanging = new Set<string>();
  readonly garbage = new Set<string>();

  get(sid: string, callback: (error: unknown, record?: SessionRecord | null) => void): void {
    if (this.failing.has(sid)) {
      callback(new Error(`redis GET sess:${sid} failed (AUTH ${SECRETS[0]})`));
    } else if (this.garbage.has(sid)) {
      callback(null, { sid, secret: SECRETS[1] } as unknown as SessionRecord);
    } else if (!this.hanging.has(sid)) {
      this.memory.get(sid, callback);
    }
  }
}

/** hydrate() that fails for one user with an error quoting the id and a secret. */
class LeakyHydrateServer extends SessionServer<AppSession> {
  protected override hydrate(value: AppSession, sessionId: string): AppSession {
    if (value.user?.name === "hydrate-fails") {
      throw new Error(`cannot load user of session ${sessionId} with key ${SECRETS[0]}`);
    }
    return value;
  }
}

interface Handshake {
  title: string;
  cookie: string | undefined;
  expected: "session" | SessionErrorCode;
}

describe("secrets and session ids in output", () => {
  const store = new TellingStore();
  const apps: TestApp[] = [];
  let server: LeakyHydrateServer;
  let previousLog: typeof createDebug.log;
  let previousNamespaces: string;
  /** Everything captured that a person could read. */
  const captured: { source: string; text: string }[] = [];
  /** Every whole session id that took part. */
  const ids: string[] = [];
  const handshakes: Handshake[] = [];

  beforeAll(async () => {
    previousLog = createDebug.log;
    previousNamespaces = createDebug.disable();
    createDebug.enable(`${NAMESPACE},${NAMESPACE}:*`);
    createDebug.log = (...args: unknown[]) => {
      captured.push({ source: "debug", text: stripVTControlCharacters(format(...args)) });
    };

    const app = await startApp({ store: store.memory, secret: SECRETS });
    const rotatedApp = await startApp({ store: store.memory, secret: SECRETS[1] });
    const foreignApp = await startApp({ secret: FOREIGN_SECRET });
    apps.push(app, rotatedApp, foreignApp);
    const options: SessionServerOptions = {
      store,
      secret: SECRETS,
      lookupTimeout: 100,
    };
    server = new LeakyHydrateServer(app.httpServer, options);
    server.on("session_error", (error) => {
      captured.push({ source: "session_error.message", text: error.message });
      captured.push({ source: "session_error.stack", text: error.stack ?? "" });
      captured.push({ source: "session_error.toString", text: String(error) });
    });
    server.on("connection_error", (error) => {
      captured.push({ source: "connection_error.message", text: error.message });
      captured.push({
        source: "connection_error.context",
        text: JSON.stringify(error.context ?? null),
      });
    });

    const good = await app.login("ann");
    const rotated = await rotatedApp.login("bob");
    const foreign = await foreignApp.login("cy");
    const loggedOut = await app.login("dee");
    await app.get("/logout", loggedOut);
    const hydrateFails = await app.login("hydrate-fails");
    ids.push(...[good, rotated, foreign, loggedOut, hydrateFails].map(sessionIdOf));

    const unknown = newId("unknown");
    const failing = newId("failing");
    const hanging = newId("hanging");
    const garbage = newId("garbage");
    store.failing.add(failing);
    store.hanging.add(hanging);
    store.garbage.add(garbage);
    const forgedId = newId("forged");
    ids.push(unknown, failing, hanging, garbage, forgedId);
    const goodValue = decodeURIComponent(good.slice("connect.sid=".length));
    const goodSignature = goodValue.slice(goodValue.lastIndexOf(".") + 1);

    handshakes.push(
      { title: "a good cookie", cookie: good, expected: "session" },
      { title: "a cookie signed with the rotated secret", cookie: rotated, expected: "session" },
      {
        title: "a cookie of an app with another secret",
        cookie: foreign,
        expected: "BAD_SIGNATURE",
      },
      {
        title: "a forged signature",
        cookie: `connect.sid=${encodeURIComponent(`s:${sessionIdOf(good)}.${randomBytes(32).toString("base64").replace(/=+$/, "")}`)}`,
        expected: "BAD_SIGNATURE",
      },
      {
        title: "a real signature moved to another id",
        cookie: `connect.sid=${encodeURIComponent(`s:${forgedId}.${goodSignature}`)}`,
        expected: "BAD_SIGNATURE",
      },
      {
        title: "an unsigned id",
        cookie: `connect.sid=${sessionIdOf(good)}`,
        expected: "BAD_SIGNATURE",
      },
      {
        title: "an id the store never had",
        cookie: signedCookie(unknown, SECRETS[0]),
        expected: "NOT_FOUND",
      },
      { title: "a logged-out session", cookie: loggedOut, expected: "NOT_FOUND" },
      {
        title: "a store error",
        cookie: signedCookie(failing, SECRETS[0]),
        expected: "STORE_ERROR",
      },
      {
        title: "a store that hangs",
        cookie: signedCookie(hanging, SECRETS[1]),
        expected: "TIMEOUT",
      },
      {
        title: "a garbage record",
        cookie: signedCookie(garbage, SECRETS[0]),
        expected: "STORE_ERROR",
      },
      { title: "a failing hydrate()", cookie: hydrateFails, expected: "HYDRATE_FAILED" },
      { title: "no cookie", cookie: undefined, expected: "NO_COOKIE" },
      {
        title: "the session cookie under another name",
        cookie: `theme=dark; app.sid=${good.slice("connect.sid=".length)}`,
        expected: "NO_COOKIE",
      },
    );
  });

  afterAll(async () => {
    createDebug.log = previousLog;
    createDebug.disable();
    if (previousNamespaces !== "") createDebug.enable(previousNamespaces);
    closeClients();
    server.close();
    await Promise.all(apps.map((app) => app.close()));
  });

  function expectNothingSecret(): void {
    const leaks = captured.filter(({ text }) =>
      [...SECRETS, FOREIGN_SECRET, ...ids].some((secret) => text.includes(secret)),
    );
    expect(leaks).toEqual([]);
  }

  it("leaks nothing over polling", async () => {
    for (const handshake of handshakes) {
      const errorsBefore = captured.filter((each) => each.source === "session_error.message");
      const { status, body } = await pollingReply(apps[0].url, handshake.cookie);
      captured.push({ source: `polling body (${handshake.title})`, text: body });

      if (handshake.expected === "session") {
        expect(status).toBe(200);
        expect(body).toMatch(/^0\{"sid":/);
        await closePolling(apps[0].url, body);
      } else {
        expect({ title: handshake.title, status }).toEqual({ title: handshake.title, status: 403 });
        expect(JSON.parse(body)).toMatchObject({ code: 4 });
        const errors = captured.filter((each) => each.source === "session_error.message");
        expect(errors).toHaveLength(errorsBefore.length + 1);
      }
    }
    expectNothingSecret();
  });

  it("leaks nothing over websocket", async () => {
    for (const handshake of handshakes) {
      const { status, body } = await websocketReply(apps[0].url, handshake.cookie);
      captured.push({ source: `websocket body (${handshake.title})`, text: body });

      expect({ title: handshake.title, status }).toEqual({
        title: handshake.title,
        status: handshake.expected === "session" ? 101 : 400,
      });
    }
    expectNothingSecret();
  });

  it("leaks nothing into what engine.io-client reports", async () => {
    for (const handshake of handshakes) {
      for (const mode of ["polling", "websocket"] as const) {
        const result = await outcome(client(apps[0], mode, handshake.cookie));
        expect(result.kind).toBe(handshake.expected === "session" ? "open" : "error");
        if (result.kind === "error") {
          // The description of a websocket error is the whole ErrorEvent, request headers (the
          // client's own cookie) included: only its message comes from the server.
          const { description } = result.error;
          const detail =
            typeof description === "object" && description !== null && "message" in description
              ? String(description.message)
              : String(description);
          captured.push({
            source: `client error (${mode}, ${handshake.title})`,
            text: `${result.error.message} ${detail}`,
          });
        }
      }
    }
    closeClients();
    expectNothingSecret();
  });

  it("captured what it checks: every refusal explained, ids shortened, debug on", async () => {
    await until(() => server.clientsCount === 0);
    const codes = new Set(
      captured
        .filter((each) => each.source === "connection_error.context")
        .map((each) => (JSON.parse(each.text) as { name?: string }).name),
    );
    expect([...codes].sort()).toEqual([
      "BAD_SIGNATURE",
      "HYDRATE_FAILED",
      "NOT_FOUND",
      "NO_COOKIE",
      "STORE_ERROR",
      "TIMEOUT",
    ]);
    const debugLines = captured.filter((each) => each.source === "debug");
    expect(debugLines.length).toBeGreaterThan(handshakes.length);
    // Ids appear only shortened: the first four characters and an ellipsis.
    const unknownId = ids.find((id) => id.startsWith("unknown-"))!;
    expect(debugLines.some((each) => each.text.includes(`${unknownId.slice(0, 4)}…`))).toBe(true);
    expect(captured.some((each) => each.text.includes("cookies sent: theme, app.sid"))).toBe(true);
    expectNothingSecret();
  });
});
