import http, { type IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import session from "express-session";
import {
  attach as eioAttach,
  Server as EngineServer,
  type Socket as EngineSocket,
} from "engine.io";
import type { Socket as ClientSocket } from "engine.io-client";
import {
  attach,
  SessionServer,
  SessionSocket,
  type ConnectionError,
  type SessionError,
  type SessionErrorCode,
  type SessionServerOptions,
} from "../lib";
import {
  attachServer,
  client,
  closeClients,
  countingStore,
  outcome,
  SECRET,
  sessionIdOf,
  signedCookie,
  startApp,
  TRANSPORT_MODES,
  until,
  upgraded,
  type AppSession,
  type TestApp,
  type TransportMode,
} from "./helpers/app";
import { faultyStores, type FaultyStore } from "./helpers/stores";

// ---------------------------------------------------------------------------------------------
// Bookkeeping: everything a test opens is closed in afterEach.

const apps: TestApp[] = [];
const closables: { close(): unknown }[] = [];

async function newApp(options: Parameters<typeof startApp>[0] = {}): Promise<TestApp> {
  const app = await startApp(options);
  apps.push(app);
  return app;
}

function tracked<T extends { close(): unknown }>(closable: T): T {
  closables.push(closable);
  return closable;
}

function serverFor(app: TestApp, options: Partial<SessionServerOptions> = {}) {
  return tracked(attachServer(app, options));
}

afterEach(async () => {
  closeClients();
  for (const closable of closables.splice(0)) closable.close();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** What a server emitted, in order. */
interface Recorded<S> {
  log: string[];
  connections: EngineSocket[];
  sessions: { socket: SessionSocket<S>; session: S }[];
  errors: { error: SessionError; req: IncomingMessage | undefined }[];
  refusals: ConnectionError[];
}

function watch<S>(server: SessionServer<S>): Recorded<S> {
  const recorded: Recorded<S> = {
    log: [],
    connections: [],
    sessions: [],
    errors: [],
    refusals: [],
  };
  server.on("connection", (conn) => {
    recorded.log.push("connection");
    recorded.connections.push(conn);
  });
  server.on("session", (socket, value) => {
    recorded.log.push("session");
    recorded.sessions.push({ socket, session: value });
  });
  server.on("session_error", (error, req) => {
    recorded.log.push("session_error");
    recorded.errors.push({ error, req });
  });
  server.on("connection_error", (error) => {
    recorded.log.push("connection_error");
    recorded.refusals.push(error);
  });
  return recorded;
}

/** The transport a SessionSocket of `mode` starts on. */
function firstTransport(mode: TransportMode): "polling" | "websocket" {
  return mode === "websocket" ? "websocket" : "polling";
}

/** A fully connected client: open, and for "upgrade" upgraded on both sides. */
async function connect<S>(
  app: TestApp,
  server: SessionServer<S>,
  recorded: Recorded<S>,
  mode: TransportMode,
  cookie: string,
): Promise<{ socket: ClientSocket; sessionSocket: SessionSocket<S>; session: S }> {
  const socket = client(app, mode, cookie);
  const result = await outcome(socket);
  expect(result.kind).toBe("open");
  await until(() => recorded.sessions.length === 1);
  const { socket: sessionSocket, session: value } = recorded.sessions[0];
  if (mode === "upgrade") {
    await upgraded(socket);
    await until(() => sessionSocket.transport === "websocket");
  }
  return { socket, sessionSocket, session: value };
}

/**
 * Asserts the client of `mode` was refused with `code` and that nothing leaked: one
 * `session_error`, no `connection`, no `session`, no client.
 */
async function expectRefused<S>(
  socket: ClientSocket,
  mode: TransportMode,
  server: SessionServer<S>,
  recorded: Recorded<S>,
  code: SessionErrorCode,
): Promise<void> {
  const result = await outcome(socket);
  expect(result.kind).toBe("error");
  if (result.kind !== "error") return;
  if (mode === "websocket") {
    // engine.io writes a plain "400 Bad Request" to a refused websocket handshake; the client
    // sees a generic "websocket error" with ws's status line: the reason is on the server only.
    expect(result.error.message).toBe("websocket error");
    expect(result.error.description).toMatchObject({
      message: "Unexpected server response: 400",
    });
  } else {
    expect(result.error.message).toBe("xhr poll error");
    expect(result.error.description).toBe(403);
  }
  await until(() => recorded.refusals.length === 1);
  expect(recorded.refusals[0]).toMatchObject({
    code: EngineServer.errors.FORBIDDEN,
    message: "Forbidden",
    context: { name: code },
  });
  expect(recorded.errors).toHaveLength(1);
  expect(recorded.errors[0].error.code).toBe(code);
  expect(recorded.errors[0].req).toBe(recorded.refusals[0].req);
  expect(recorded.errors[0].req?.url).toMatch(/^\/engine\.io\/\?/);
  expect(recorded.connections).toHaveLength(0);
  expect(recorded.sessions).toHaveLength(0);
  expect(server.clientsCount).toBe(0);
}

/** A MemoryStore whose reads can be held back, so that concurrent handshakes overlap for sure. */
class GatedMemoryStore extends session.MemoryStore {
  #held: (() => void)[] | undefined = [];

  release(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const read of held) read();
  }

  override get(
    sid: string,
    callback: (error: unknown, record?: session.SessionData | null) => void,
  ): void {
    if (this.#held === undefined) super.get(sid, callback);
    else
      this.#held.push(() => {
        super.get(sid, callback);
      });
  }
}

/** Counts the engine.io handshakes (requests and upgrades without a `sid`) reaching `app`. */
function countHandshakes(app: TestApp): { count: number } {
  const seen = { count: 0 };
  const onRequest = (req: IncomingMessage): void => {
    const url = req.url ?? "";
    if (url.startsWith("/engine.io/") && !url.includes("sid=")) seen.count++;
  };
  app.httpServer.on("request", onRequest);
  app.httpServer.on("upgrade", onRequest);
  return seen;
}

// ---------------------------------------------------------------------------------------------

interface RefusalCase {
  title: string;
  code: SessionErrorCode;
  /** A misbehaving store for the server (the app uses its MemoryStore). */
  store?: () => FaultyStore;
  options?: Partial<SessionServerOptions>;
  /** The Cookie header to send, given the app (undefined: none). */
  cookie(app: TestApp): Promise<string | undefined>;
}

const FORGED_SIGNATURE = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

const refusals: RefusalCase[] = [
  {
    title: "a handshake without a cookie",
    code: "NO_COOKIE",
    cookie: () => Promise.resolve(undefined),
  },
  {
    title: "a handshake whose session cookie has another name",
    code: "NO_COOKIE",
    cookie: async (app) => (await app.login("ann")).replace(/^connect\.sid=/, "other.sid="),
  },
  {
    title: "an unsigned session cookie",
    code: "BAD_SIGNATURE",
    cookie: () => Promise.resolve("connect.sid=abc"),
  },
  {
    title: "a cookie with a forged signature",
    code: "BAD_SIGNATURE",
    cookie: async (app) => {
      const cookie = await app.login("ann");
      return cookie.slice(0, cookie.lastIndexOf(".") + 1) + FORGED_SIGNATURE;
    },
  },
  {
    title: "a cookie whose id was tampered with",
    code: "BAD_SIGNATURE",
    cookie: async (app) => {
      const cookie = await app.login("ann");
      const start = cookie.indexOf("%3A") + 3;
      const first = cookie.charAt(start);
      return cookie.slice(0, start) + (first === "x" ? "y" : "x") + cookie.slice(start + 1);
    },
  },
  {
    title: "a cookie signed with an unknown secret",
    code: "BAD_SIGNATURE",
    cookie: async (app) => signedCookie(sessionIdOf(await app.login("ann")), "unknown secret"),
  },
  {
    title: "a signed id that is not in the store",
    code: "NOT_FOUND",
    cookie: () => Promise.resolve(signedCookie("no-such-session-id-in-the-store")),
  },
  {
    title: "a session destroyed by logging out",
    code: "NOT_FOUND",
    cookie: async (app) => {
      const cookie = await app.login("ann");
      const { status } = await app.get("/logout", cookie);
      expect(status).toBe(200);
      return cookie;
    },
  },
  {
    title: "a store that calls back with an error",
    code: "STORE_ERROR",
    store: faultyStores.errs,
    cookie: (app) => app.login("ann"),
  },
  {
    title: "a store that throws",
    code: "STORE_ERROR",
    store: faultyStores.throws,
    cookie: (app) => app.login("ann"),
  },
  {
    title: "a store that rejects",
    code: "STORE_ERROR",
    store: faultyStores.rejects,
    cookie: (app) => app.login("ann"),
  },
  {
    title: "a store that never answers",
    code: "TIMEOUT",
    store: faultyStores.hangs,
    options: { lookupTimeout: 100 },
    cookie: (app) => app.login("ann"),
  },
];

describe("SessionServer", () => {
  describe.each(TRANSPORT_MODES)("over %s", (mode) => {
    describe("a handshake with a session", () => {
      it("emits `session` with the stored session data", async () => {
        const app = await newApp();
        const server = serverFor(app);
        const recorded = watch(server);
        const cookie = await app.login("ann");
        const socketSessions: AppSession[] = [];
        server.on("session", (socket) => {
          socket.on("session", (value) => socketSessions.push(value));
        });

        const { sessionSocket, session: value } = await connect(
          app,
          server,
          recorded,
          mode,
          cookie,
        );

        expect(value.user).toEqual({ name: "ann" });
        expect(sessionSocket.session).toBe(value);
        expect(socketSessions).toEqual([value]);
        expect(socketSessions[0]).toBe(value);
        expect(recorded.errors).toHaveLength(0);
      });

      it("identifies the SessionSocket by the cookie's session id and the engine socket id", async () => {
        const app = await newApp();
        const server = serverFor(app);
        const recorded = watch(server);
        const cookie = await app.login("ann");

        const { socket, sessionSocket } = await connect(app, server, recorded, mode, cookie);

        expect(sessionSocket).toBeInstanceOf(SessionSocket);
        expect(sessionSocket.sessionId).toBe(sessionIdOf(cookie));
        expect(sessionSocket.id).toBe(socket.id);
        expect(sessionSocket.conn).toBe(recorded.connections[0]);
        expect(sessionSocket.request).toBe(recorded.connections[0].request);
        expect(sessionSocket.request.headers.cookie).toBe(cookie);
        expect(sessionSocket.readyState).toBe("open");
        expect(server.clientsCount).toBe(1);
      });

      it("reports the transport in use, also after an upgrade", async () => {
        const app = await newApp();
        const server = serverFor(app);
        const recorded = watch(server);
        const transports: string[] = [];
        server.on("session", (socket) => transports.push(socket.transport));
        const cookie = await app.login("ann");

        const { sessionSocket } = await connect(app, server, recorded, mode, cookie);

        expect(transports).toEqual([firstTransport(mode)]);
        expect(sessionSocket.transport).toBe(mode === "polling" ? "polling" : "websocket");
      });

      it("sends a message to the client with send()", async () => {
        const app = await newApp();
        const server = serverFor(app);
        const recorded = watch(server);
        const cookie = await app.login("ann");
        const { socket, sessionSocket } = await connect(app, server, recorded, mode, cookie);
        const received = new Promise<unknown>((resolve) => socket.once("message", resolve));

        sessionSocket.send(`hello ${sessionSocket.session.user?.name ?? "nobody"}`);

        await expect(received).resolves.toBe("hello ann");
      });

      it("closes the client with close()", async () => {
        const app = await newApp();
        const server = serverFor(app);
        const recorded = watch(server);
        const cookie = await app.login("ann");
        const { socket, sessionSocket } = await connect(app, server, recorded, mode, cookie);
        const clientClosed = new Promise<string>((resolve) =>
          socket.once("close", (reason) => {
            resolve(reason);
          }),
        );
        const serverClosed = new Promise<string>((resolve) =>
          sessionSocket.once("close", (reason) => {
            resolve(reason);
          }),
        );

        sessionSocket.close();

        await expect(serverClosed).resolves.toBe("forced close");
        await expect(clientClosed).resolves.toBe("transport close");
        expect(sessionSocket.readyState).toBe("closed");
        await until(() => server.clientsCount === 0);
      });

      it("emits server `session` then socket `session` synchronously inside `connection`", async () => {
        const app = await newApp();
        const server = serverFor(app);
        const order: string[] = [];
        // Prepended after construction, so it runs before the server's own connection listener.
        server.prependListener("connection", () => order.push("connection (first listener)"));
        server.on("session", (socket) => {
          order.push("server session");
          socket.on("session", () => order.push("socket session"));
        });
        server.on("connection", () => order.push("connection (app listener)"));
        const cookie = await app.login("ann");

        const socket = client(app, mode, cookie);
        await expect(outcome(socket)).resolves.toEqual({ kind: "open" });
        await until(() => order.length === 4);

        expect(order).toEqual([
          "connection (first listener)",
          "server session",
          "socket session",
          "connection (app listener)",
        ]);
      });

      it("delivers every message sent on open to a listener added in `session`", async () => {
        const app = await newApp();
        const server = serverFor(app);
        const received: (string | Buffer)[] = [];
        server.on("session", (socket) => {
          socket.on("message", (data) => received.push(data));
        });
        const cookie = await app.login("ann");
        const sent = Array.from({ length: 20 }, (_, i) => `message ${i}`);

        const socket = client(app, mode, cookie);
        socket.on("open", () => {
          for (const message of sent) socket.send(message);
        });
        await until(() => received.length === sent.length);

        expect(received).toEqual(sent);
      });

      it("accepts a cookie signed with an older secret when secrets rotate", async () => {
        const app = await newApp({ secret: "old secret" });
        const server = serverFor(app, { secret: ["new secret", "old secret"] });
        const recorded = watch(server);
        const cookie = await app.login("ann");

        const { session: value } = await connect(app, server, recorded, mode, cookie);

        expect(value.user).toEqual({ name: "ann" });
      });

      it("reads the session from a cookie with a custom name", async () => {
        const app = await newApp({ name: "sid" });
        const server = serverFor(app, { name: "sid" });
        const recorded = watch(server);
        const cookie = await app.login("ann");
        expect(cookie).toMatch(/^sid=s%3A/);

        const { sessionSocket } = await connect(app, server, recorded, mode, cookie);

        expect(sessionSocket.session.user).toEqual({ name: "ann" });
        expect(sessionSocket.sessionId).toBe(sessionIdOf(cookie));
      });

      it("emits exactly one `session` when the store calls back twice", async () => {
        const store = faultyStores.twice();
        const app = await newApp({ store: store.memory });
        const server = serverFor(app, { store });
        const recorded = watch(server);
        const cookie = await app.login("ann");

        await connect(app, server, recorded, mode, cookie);
        // Let anything the second callback could have started come out.
        await new Promise((resolve) => setImmediate(resolve));

        expect(store.gets).toBe(1);
        expect(recorded.sessions).toHaveLength(1);
        expect(recorded.sessions[0].session.user).toEqual({ name: "ann" });
        expect(recorded.errors).toHaveLength(0);
        expect(server.clientsCount).toBe(1);
      });

      it("emits `session` with a promise-only store", async () => {
        const store = faultyStores.promiseOnly();
        const app = await newApp({ store: store.memory });
        const server = serverFor(app, { store });
        const recorded = watch(server);
        const cookie = await app.login("ann");

        const { session: value } = await connect(app, server, recorded, mode, cookie);

        expect(value.user).toEqual({ name: "ann" });
        expect(recorded.errors).toHaveLength(0);
      });

      it("returns the event's SessionSocket from sessionOf(conn)", async () => {
        const app = await newApp();
        const server = serverFor(app);
        const recorded = watch(server);
        const cookie = await app.login("ann");

        const { sessionSocket } = await connect(app, server, recorded, mode, cookie);

        expect(server.sessionOf(recorded.connections[0])).toBe(sessionSocket);
        expect(server.sessionOf(sessionSocket.conn)).toBe(sessionSocket);
      });

      it("reads the store once for 20 concurrent handshakes of one session", async () => {
        const memory = new GatedMemoryStore();
        const store = countingStore(memory);
        const app = await newApp({ store });
        const cookie = await app.login("ann");
        const server = serverFor(app);
        const recorded = watch(server);
        const handshakes = countHandshakes(app);

        const sockets = Array.from({ length: 20 }, () => client(app, mode, cookie));
        const opened = Promise.all(sockets.map((socket) => outcome(socket)));
        await until(() => handshakes.count === 20);
        memory.release();

        const results = await opened;
        expect(results.every((result) => result.kind === "open")).toBe(true);
        await until(() => recorded.sessions.length === 20);
        expect(store.gets).toBe(1);
        const values = recorded.sessions.map((each) => each.session);
        expect(new Set(values).size).toBe(20);
        expect(new Set(values.map((value) => value.user)).size).toBe(20);
        values[0].user!.name = "mallory";
        values[0].counter = 1;
        for (const value of values.slice(1)) {
          expect(value.user).toEqual({ name: "ann" });
          expect(value.counter).toBeUndefined();
        }
      });
    });

    describe("a handshake without a usable session", () => {
      it.each(refusals)("is refused for $title ($code)", async (refusal) => {
        const store = refusal.store?.();
        const app = await newApp(store === undefined ? {} : { store: store.memory });
        const cookie = await refusal.cookie(app);
        const server = serverFor(app, {
          ...(store === undefined ? {} : { store }),
          ...refusal.options,
        });
        const recorded = watch(server);

        const socket = client(app, mode, cookie);

        await expectRefused(socket, mode, server, recorded, refusal.code);
        expect(recorded.errors[0].req?.headers.cookie).toBe(cookie);
        expect(server.pendingLookups).toBe(0);
      });
    });

    describe("with `required: false`", () => {
      it("connects a cookieless client as an anonymous socket", async () => {
        const app = await newApp();
        const server = serverFor(app, { required: false });
        const recorded = watch(server);

        const socket = client(app, mode);

        await expect(outcome(socket)).resolves.toEqual({ kind: "open" });
        await until(() => recorded.connections.length === 1);
        expect(recorded.sessions).toHaveLength(0);
        expect(recorded.errors).toHaveLength(1);
        expect(recorded.errors[0].error.code).toBe("NO_COOKIE");
        expect(recorded.errors[0].req).toBe(recorded.connections[0].request);
        expect(recorded.refusals).toHaveLength(0);
        expect(server.sessionOf(recorded.connections[0])).toBeUndefined();
        expect(server.clientsCount).toBe(1);
      });
    });

    describe("#close", () => {
      it("gives a handshake after close() no session", async () => {
        const app = await newApp();
        const server = serverFor(app);
        const recorded = watch(server);
        const cookie = await app.login("ann");

        server.close();
        const socket = client(app, mode, cookie);

        const result = await outcome(socket);
        expect(result.kind).toBe("error");
        await until(() => recorded.refusals.length === 1);
        expect(recorded.refusals[0]).toMatchObject({
          code: EngineServer.errors.FORBIDDEN,
          context: { name: "SERVER_CLOSING" },
        });
        expect(recorded.connections).toHaveLength(0);
        expect(recorded.sessions).toHaveLength(0);
        expect(server.clientsCount).toBe(0);
      });

      it("refuses a handshake whose lookup is pending when close() is called", async () => {
        const store = faultyStores.slow(200);
        const app = await newApp({ store: store.memory });
        const cookie = await app.login("ann");
        const server = serverFor(app, { store });
        const recorded = watch(server);

        const socket = client(app, mode, cookie);
        const result = outcome(socket);
        await until(() => store.gets === 1);
        server.close();

        expect((await result).kind).toBe("error");
        await until(() => recorded.refusals.length === 1);
        expect(recorded.refusals[0].context).toMatchObject({ name: "SERVER_CLOSING" });
        expect(recorded.connections).toHaveLength(0);
        expect(recorded.sessions).toHaveLength(0);
        expect(server.clientsCount).toBe(0);
        expect(server.pendingLookups).toBe(0);
      });
    });
  });

  describe("after the handshake", () => {
    it("does not read the store again while polling", async () => {
      const store = countingStore(new session.MemoryStore());
      const app = await newApp({ store });
      const cookie = await app.login("ann");
      const server = serverFor(app, { pingInterval: 50, pingTimeout: 1000 });
      const recorded = watch(server);
      let requestsAfterHandshake = 0;
      app.httpServer.on("request", (req: IncomingMessage) => {
        if (req.url?.includes("sid=")) requestsAfterHandshake++;
      });
      const fromClient: (string | Buffer)[] = [];
      const toClient: unknown[] = [];
      server.on("session", (socket) => {
        socket.on("message", (data) => {
          fromClient.push(data);
          socket.send(`echo ${String(data)}`);
        });
      });

      const { socket, sessionSocket } = await connect(app, server, recorded, "polling", cookie);
      expect(store.gets).toBe(1);
      let heartbeats = 0;
      sessionSocket.conn.on("heartbeat", () => heartbeats++);
      socket.on("message", (data) => toClient.push(data));
      for (let i = 0; i < 20; i++) socket.send(`message ${i}`);
      await until(() => toClient.length === 20);
      const heartbeatsBefore = heartbeats;
      await until(() => heartbeats >= heartbeatsBefore + 3);

      expect(fromClient).toHaveLength(20);
      expect(toClient[19]).toBe("echo message 19");
      expect(requestsAfterHandshake).toBeGreaterThanOrEqual(6);
      expect(store.gets).toBe(1);
    });
  });

  describe("a client that leaves while its lookup is pending", () => {
    /** The server side of the engine.io handshake connections reaching `app`. */
    function handshakeSockets(app: TestApp): Duplex[] {
      const sockets: Duplex[] = [];
      const onRequest = (req: IncomingMessage): void => {
        if (req.url?.startsWith("/engine.io/")) sockets.push(req.socket);
      };
      app.httpServer.on("request", onRequest);
      app.httpServer.on("upgrade", onRequest);
      return sockets;
    }

    /** Starts a handshake over a slow store and makes the client leave while the store reads. */
    async function leaveDuringLookup(kind: "websocket" | "polling") {
      const store = faultyStores.slow(200);
      const app = await newApp({ store: store.memory });
      const cookie = await app.login("ann");
      const server = serverFor(app, { store });
      const recorded = watch(server);
      const sockets = handshakeSockets(app);
      let responded = false;
      if (kind === "websocket") {
        const socket = client(app, "websocket", cookie);
        await until(() => store.gets === 1);
        socket.close();
      } else {
        // engine.io-client's close() does not abort a pending polling handshake (it waits for
        // the open packet to send `close`), so this client is a plain HTTP request that hangs up.
        const req = http.get(`${app.url}/engine.io/?EIO=4&transport=polling`, {
          headers: { cookie },
        });
        const hungUp = new Promise<unknown>((resolve) => req.once("error", resolve));
        req.once("response", () => {
          responded = true;
        });
        await until(() => store.gets === 1);
        req.destroy();
        await expect(hungUp).resolves.toMatchObject({ message: "socket hang up" });
      }
      await until(() => server.pendingLookups === 0);
      // The store has answered: one more turn for the handshake to finish (or not).
      await new Promise((resolve) => setImmediate(resolve));
      expect(sockets).toHaveLength(1);
      return { server, recorded, socket: sockets[0], responded };
    }

    it.each(["websocket", "polling"] as const)(
      "emits no event for a %s client that leaves",
      async (kind) => {
        const { server, recorded, socket, responded } = await leaveDuringLookup(kind);
        try {
          expect(recorded.log).toEqual([]);
          expect(responded).toBe(false);
          expect(server.clientsCount).toBe(0);
          expect(server.pendingLookups).toBe(0);
        } finally {
          socket.destroy();
        }
      },
    );

    it.each(["websocket", "polling"] as const)(
      "releases the connection of a %s client that leaves",
      async (kind) => {
        const { socket } = await leaveDuringLookup(kind);
        try {
          await until(() => socket.destroyed, 1000).catch(() => undefined);
          expect({ destroyed: socket.destroyed, writable: socket.writable }).toEqual({
            destroyed: true,
            writable: false,
          });
        } finally {
          // Without this, a leaked half-open socket would keep the HTTP server from closing.
          socket.destroy();
        }
      },
    );
  });

  describe("#ctor", () => {
    it("attaches to the HTTP server it is given", async () => {
      const app = await newApp();
      const server = tracked(
        new SessionServer<AppSession>(app.httpServer, { store: app.store, secret: SECRET }),
      );
      const recorded = watch(server);
      const cookie = await app.login("ann");

      const { session: value } = await connect(app, server, recorded, "polling", cookie);

      expect(value.user).toEqual({ name: "ann" });
    });

    it("stays unattached without an HTTP server until attach()", async () => {
      const app = await newApp();
      const server = tracked(new SessionServer<AppSession>({ store: app.store, secret: SECRET }));
      const recorded = watch(server);
      const cookie = await app.login("ann");

      const before = await outcome(client(app, "polling", cookie));
      expect(before.kind).toBe("error");
      if (before.kind === "error") expect(before.error.description).toBe(404);
      expect(recorded.log).toEqual([]);

      server.attach(app.httpServer);
      const { session: value } = await connect(app, server, recorded, "polling", cookie);
      expect(value.user).toEqual({ name: "ann" });
    });

    it("is an engine.io Server", async () => {
      const app = await newApp();
      const server = serverFor(app);

      expect(server).toBeInstanceOf(EngineServer);
      expect(server).toBeInstanceOf(SessionServer);
    });

    it("builds an attached SessionServer with attach()", async () => {
      const app = await newApp();
      const server = tracked(
        attach<AppSession>(app.httpServer, { store: app.store, secret: SECRET }),
      );
      const recorded = watch(server);
      const cookie = await app.login("ann");

      expect(server).toBeInstanceOf(SessionServer);
      const { session: value } = await connect(app, server, recorded, "polling", cookie);
      expect(value.user).toEqual({ name: "ann" });
    });

    it("serves a custom `path`", async () => {
      const app = await newApp();
      const server = serverFor(app, { path: "/realtime" });
      const recorded = watch(server);
      const cookie = await app.login("ann");

      const socket = client(app, "websocket", cookie, { path: "/realtime" });

      await expect(outcome(socket)).resolves.toEqual({ kind: "open" });
      await until(() => recorded.sessions.length === 1);
      expect(recorded.sessions[0].session.user).toEqual({ name: "ann" });
      expect(recorded.sessions[0].socket.request.url).toMatch(/^\/realtime\/\?/);
    });
  });

  describe("#sessionOf", () => {
    it("throws a TypeError naming the likely cause for a socket of another engine.io server", async () => {
      const app = await newApp();
      const server = serverFor(app);
      const plain = tracked(eioAttach(app.httpServer, { path: "/plain" }));
      const plainConnections: EngineSocket[] = [];
      plain.on("connection", (conn: EngineSocket) => plainConnections.push(conn));

      const socket = client(app, "polling", undefined, { path: "/plain" });

      await expect(outcome(socket)).resolves.toEqual({ kind: "open" });
      await until(() => plainConnections.length === 1);
      expect(() => server.sessionOf(plainConnections[0])).toThrow(
        /sessionOf\(\) got a socket of another engine\.io server: socket\.io attached its own engine/,
      );
    });
  });

  describe("#onWebTransportSession", () => {
    // engine.io cannot serve HTTP/3 in this environment, so these hand the server a minimal
    // WebTransport session object: counted close(), and a stream reader that reports "done".
    function webTransportSession() {
      const calls = { close: 0, read: 0 };
      const value = {
        close(): void {
          calls.close++;
        },
        incomingBidirectionalStreams: {
          getReader: () => ({
            read: (): Promise<{ done: true; value: undefined }> => {
              calls.read++;
              return Promise.resolve({ done: true, value: undefined });
            },
          }),
        },
      };
      return { calls, value };
    }

    it("closes a WebTransport session when a session is required", async () => {
      const app = await newApp();
      const server = serverFor(app);
      const { calls, value } = webTransportSession();

      await server.onWebTransportSession(value);

      expect(calls).toEqual({ close: 1, read: 0 });
    });

    it("hands a WebTransport session to engine.io with `required: false`", async () => {
      const app = await newApp();
      const server = serverFor(app, { required: false });
      const { calls, value } = webTransportSession();

      await server.onWebTransportSession(value);

      expect(calls).toEqual({ close: 0, read: 1 });
    });
  });
});
