/* eslint-disable -- checked by tsc against the installed tarball (scripts/consumer-test.sh); in the repo "engine.io-session" does not resolve, so type-aware lint rules would see only errors. */
// A consumer app written against the published package only: DESIGN.md §1 as a user writes it, then
// every public name of §2 in a type position, then a run over real HTTP and a real engine.io client.
// scripts/consumer-test.sh type-checks it (strict, several module settings), compiles it and runs it.
import http, { type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import session, { type SessionData } from "express-session";
import { Server as EngineServer, type Socket as EngineSocket } from "engine.io";
import { Socket as ClientSocket } from "engine.io-client";
import {
  SessionServer,
  SessionSocket,
  SessionError,
  attach,
  type SessionRecord,
  type SessionStore,
  type SessionServerOptions,
  type SessionServerEvents,
  type SessionSocketEvents,
  type SessionErrorCode,
} from "engine.io-session";

declare module "express-session" {
  interface SessionData {
    user?: { name: string };
  }
}

// ---- DESIGN §1 (listening on 127.0.0.1, port 0 instead of 3000; plus a login route) -------------

const store = new session.MemoryStore();
const secret = ["new secret", "old secret"]; // rotation: first signs, all verify
const app = express();
app.use(session({ store, secret, resave: false, saveUninitialized: false }));
app.get("/login", (req, res) => {
  req.session.user = { name: String(req.query.name) };
  res.json({ ok: true });
});
const httpServer = http.createServer(app).listen(0, "127.0.0.1");

interface AppSession {
  cookie: { expires?: Date | string | null };
  user?: { name: string };
}
const server = new SessionServer<AppSession>(httpServer, { store, secret });

server.on("session", (socket, session) => {
  // both parameters typed
  socket.send(`hello ${session.user?.name}`);
  socket.on("message", (data) => {
    // every client message arrives here, none lost
    socket.send(`echo ${data.toString()}`);
  });
});
server.on("session_error", (err, req) => console.warn(err.code, req?.url ?? err.sessionId)); // why a handshake (or background work) had no session

// ---- DESIGN §2: every exported name in a type position (compiled, never called) ----------------

export function typeChecks(conn: EngineSocket, req: IncomingMessage): void {
  // express-session's stores are SessionStores; its SessionData is a SessionRecord.
  const memoryStore: SessionStore = store;
  const anyStore: SessionStore = new session.MemoryStore() as session.Store;
  const data: SessionData = {} as SessionData;
  const record: SessionRecord = data;
  const appRecord: SessionRecord = {} as AppSession;
  const custom: SessionStore = {
    get(sid: string, cb: (error?: unknown, value?: SessionRecord | null) => void) {
      cb(undefined, sid === "" ? null : { cookie: { originalMaxAge: null, expires: null } });
    },
  };

  // Options: the session settings plus engine.io's ServerOptions and AttachOptions.
  const options: SessionServerOptions = {
    store: memoryStore,
    secret,
    name: "connect.sid",
    required: true,
    lookupTimeout: 5000,
    pingInterval: 25000,
    path: "/engine.io/",
  };
  const readonlySecrets: SessionServerOptions = { store: anyStore, secret: ["a", "b"] as const };
  // @ts-expect-error store is required
  const noStore: SessionServerOptions = { secret: "s" };

  // SessionServer: generic, default S = SessionRecord, an engine.io Server.
  const plain: SessionServer = new SessionServer({ store: custom, secret: "s" });
  const plainRecord: SessionRecord | undefined = plain.sessionOf(conn)?.session;
  const attached: SessionServer<AppSession> = attach<AppSession>(http.createServer(), options);
  const untyped: SessionServer<SessionRecord> = attach(http.createServer(), readonlySecrets);
  const engine: EngineServer = attached;
  attached.attach(http.createServer(), { path: "/engine.io/" });

  // Typed events: the library's and engine.io's.
  const onSession: SessionServerEvents<AppSession>["session"] = (
    socket: SessionSocket<AppSession>,
    value: AppSession,
  ) => {
    const name: string | undefined = value.user?.name;
    const same: AppSession = socket.session;
    const sid: string = socket.sessionId;
    const id: string = socket.id;
    const raw: EngineSocket = socket.conn;
    const request: IncomingMessage = socket.request;
    const transport: string = socket.transport;
    const state: string = socket.readyState;
    socket.send("text").send(Buffer.from("bytes"), { compress: true }, () => undefined);
    // @ts-expect-error sessionId is readonly
    socket.sessionId = "x";
    void [name, same, sid, id, raw, request, transport, state];
  };
  const onError: SessionServerEvents<AppSession>["session_error"] = (error, request) => {
    const code: SessionErrorCode = error.code;
    const isError: Error = error;
    void [code, isError, request?.headers.cookie];
  };
  attached.on("session", onSession).on("session_error", onError);
  attached.once("connection", (socket: EngineSocket) => socket.close());
  attached.on("connection_error", (error) => console.log(error.code, error.message));
  attached.off("session", onSession);
  // @ts-expect-error unknown event name
  attached.on("no_such_event", () => undefined);
  // @ts-expect-error wrong listener signature
  attached.on("session", (socket: string) => socket);

  // SessionSocket and its events.
  const wrapped: SessionSocket<AppSession> | undefined = attached.sessionOf(conn);
  const onMessage: SessionSocketEvents<AppSession>["message"] = (message: string | Buffer) => {
    void message;
  };
  wrapped?.on("message", onMessage);
  wrapped?.on("session", (value) => value.user?.name);
  wrapped?.on("close", (reason: string, description?: Error) => void [reason, description]);
  // @ts-expect-error unknown event name
  wrapped?.on("no_such_event", () => undefined);
  wrapped?.close();

  // SessionError and its codes.
  const codes: SessionErrorCode[] = [
    "NO_COOKIE",
    "BAD_SIGNATURE",
    "NOT_FOUND",
    "STORE_ERROR",
    "TIMEOUT",
    "HYDRATE_FAILED",
  ];
  const error = new SessionError("STORE_ERROR", "store down", { cause: new Error("ECONNREFUSED") });
  const plainError = new SessionError("NO_COOKIE");
  const cause: unknown = error.cause;
  // @ts-expect-error not a SessionErrorCode
  const badCode = new SessionError("NOPE");

  // Extension points: protected, overridable by a subclass.
  class UserSessions extends SessionServer<AppSession> {
    protected override hydrate(
      stored: SessionRecord,
      sessionId: string,
      request: IncomingMessage,
    ): Promise<AppSession> {
      return Promise.resolve({ ...stored, user: { name: `${sessionId}@${request.url}` } });
    }
    protected override sessionIdFrom(request: IncomingMessage): string | undefined {
      return request.headers.authorization ?? super.sessionIdFrom(request);
    }
  }
  const sub: SessionServer<AppSession> = new UserSessions({ store, secret });
  // @ts-expect-error hydrate is protected
  sub.hydrate({ cookie: {} }, "sid", req);

  void [
    record,
    appRecord,
    noStore,
    plainRecord,
    untyped,
    engine,
    codes,
    plainError,
    cause,
    badCode,
  ];
}

// ---- Run: log in over HTTP, connect with engine.io-client, expect the session -------------------

function fail(message: string): never {
  console.error(`FAIL app.ts: ${message}`);
  process.exit(1);
}

async function selfTest(): Promise<void> {
  if (!httpServer.listening) await new Promise((resolve) => httpServer.once("listening", resolve));
  const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  const login = await fetch(`${url}/login?name=alice`);
  await login.text();
  const cookie = login.headers
    .getSetCookie()
    .find((each) => each.startsWith("connect.sid="))
    ?.split(";")[0];
  if (cookie === undefined) fail("the login response set no connect.sid cookie");

  const seen = new Promise<AppSession>((resolve) =>
    server.once("session", (_, value) => resolve(value)),
  );
  const client = new ClientSocket(url, { extraHeaders: { cookie } });
  const messages: string[] = [];
  const greeted = new Promise<void>((resolve, reject) => {
    client.on("message", (data) => {
      messages.push(String(data));
      if (messages.length === 1) client.send("ping");
      if (messages.length === 2) resolve();
    });
    client.once("error", (error) => reject(error));
  });
  const value = await seen;
  if (value.user?.name !== "alice") fail(`session event delivered ${JSON.stringify(value)}`);
  await greeted;
  if (messages.join("|") !== "hello alice|echo ping") fail(`client got ${messages.join("|")}`);

  client.close();
  server.close();
  httpServer.close();
  console.log("ok app.ts (compiled TypeScript, ESM): session event delivered user alice");
}

process.exitCode = 1; // only a finished selfTest passes: an emptied event loop must not look green
setTimeout(() => fail("no result within 15 s"), 15_000).unref();
selfTest().then(
  () => {
    process.exitCode = 0;
    setTimeout(
      () => fail("still running 5 s after closing everything (open handle)"),
      5_000,
    ).unref();
  },
  (error: unknown) => fail(String(error instanceof Error ? (error.stack ?? error) : error)),
);
