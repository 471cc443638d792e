/*
 * engine.io-session/socket.io: createSessionIo, with real socket.io, real socket.io-client (polling
 * and websocket), real express-session over HTTP on 127.0.0.1. ts-jest type-checks this file, so
 * the type tests at the end fail the suite on a wrong type or an unused `@ts-expect-error`.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import type { Socket as EngineSocket } from "engine.io";
import { Server as IoServer, type Socket as IoSocket } from "socket.io";
import { Adapter } from "socket.io-adapter";
import { Manager, io as ioClient, type ManagerOptions, type SocketOptions } from "socket.io-client";
import type { SessionError, SessionErrorCode, SessionSocket, SessionStore } from "../lib";
import { createSessionIo, type SessionIoOptions, type SessionIoServer } from "../lib/socket-io";
import {
  SECRET,
  delay,
  fetchReply,
  signedCookie,
  startApp,
  until,
  type AppSession,
  type TestApp,
} from "./helpers/app";

type IoClient = ReturnType<typeof ioClient>;
/** What socket.io-client hands `connect_error` for a refusal: `data` is the server's. */
type ConnectError = Error & { data?: { code?: unknown } };

const MODES = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  "polling + upgrade": {},
} as const satisfies Record<string, Partial<ManagerOptions & SocketOptions>>;
type Mode = keyof typeof MODES;
const modeNames = Object.keys(MODES) as Mode[];

interface ClientToServer {
  whoami: (ack: (name: string | null) => void) => void;
}
interface ServerToClient {
  hello: (name: string) => void;
}

describe("createSessionIo", () => {
  let app: TestApp;
  const servers: { close(): Promise<void> }[] = [];
  const clients: IoClient[] = [];
  const managers: Manager[] = [];

  beforeEach(async () => {
    app = await startApp();
  });

  afterEach(async () => {
    for (const each of clients.splice(0)) each.disconnect();
    for (const each of managers.splice(0)) each._close();
    for (const each of servers.splice(0)) await each.close();
    await app.close();
  });

  function sessionIo(
    options: Partial<SessionIoOptions> = {},
  ): SessionIoServer<AppSession, ClientToServer, ServerToClient> {
    const io = createSessionIo<AppSession, ClientToServer, ServerToClient>(app.httpServer, {
      store: app.store,
      secret: SECRET,
      ...options,
      required: true,
    });
    servers.push(io);
    return io;
  }

  function connect(
    mode: Mode,
    cookie?: string,
    nsp = "/",
    extra: Partial<ManagerOptions & SocketOptions> = {},
  ): IoClient {
    const socket = ioClient(`${app.url}${nsp}`, {
      ...MODES[mode],
      forceNew: true,
      reconnectionDelay: 50,
      reconnectionDelayMax: 50,
      extraHeaders: cookie === undefined ? {} : { cookie },
      ...extra,
    });
    clients.push(socket);
    return socket;
  }

  function outcome(
    socket: IoClient,
  ): Promise<{ kind: "connect" } | { kind: "error"; error: ConnectError }> {
    return new Promise((resolve) => {
      socket.once("connect", () => {
        resolve({ kind: "connect" });
      });
      socket.once("connect_error", (error) => {
        resolve({ kind: "error", error });
      });
    });
  }

  async function refusal(socket: IoClient): Promise<ConnectError> {
    const result = await outcome(socket);
    if (result.kind !== "error") throw new Error("the client connected");
    return result.error;
  }

  describe("the server", () => {
    it("is a socket.io server whose engine is a SessionServer at /socket.io", async () => {
      const io = sessionIo();

      expect(io.engine.constructor.name).toBe("SessionIoEngine");
      expect(io.path()).toBe("/socket.io");
      const handshake = await fetchReply(app.url, "/socket.io/?EIO=4&transport=polling");
      expect(handshake.status).toBe(200); // engine.io's open packet: the engine answers here
      expect(String(handshake.body)).toMatch(/^0\{"sid":/);
    });

    it("serves the client bundle at /socket.io/socket.io.js", async () => {
      sessionIo();

      const res = await fetch(`${app.url}/socket.io/socket.io.js`);
      const body = await res.text();

      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^application\/javascript/);
      expect(body).toContain("Socket.IO v4");
    });

    it("does not serve the client bundle with serveClient: false", async () => {
      sessionIo({ serveClient: false });

      const res = await fetchReply(app.url, "/socket.io/socket.io.js");

      expect(res.status).toBe(400); // engine.io's answer: no bundle under its path
      expect(String(res.body)).not.toContain("Socket.IO");
    });

    it("closes the engine and the HTTP server on io.close()", async () => {
      const io = sessionIo();
      servers.length = 0;

      await io.close();

      expect(app.httpServer.listening).toBe(false);
    });
  });

  describe("options", () => {
    it("gives engine.io options to the engine and socket.io options to socket.io", () => {
      const io = sessionIo({ pingInterval: 1234, connectTimeout: 777, maxHttpBufferSize: 4096 });

      expect(io.engine.opts.pingInterval).toBe(1234);
      expect(io.engine.opts.maxHttpBufferSize).toBe(4096);
      expect(io.connectTimeout()).toBe(777);
      expect(io.engine.opts).not.toHaveProperty("connectTimeout");
    });

    it("never gives socket.io the session settings", () => {
      const io = sessionIo({ lookupTimeout: 1000, name: "connect.sid" });

      expect(io._opts).not.toHaveProperty("secret");
      expect(io._opts).not.toHaveProperty("store");
      expect(io._opts).not.toHaveProperty("lookupTimeout");
      expect(io.engine.opts).not.toHaveProperty("secret");
    });

    it("validates the session settings as SessionServer does", () => {
      expect(() => createSessionIo(app.httpServer, { store: app.store, secret: [] })).toThrow(
        TypeError,
      );
      expect(() => createSessionIo(app.httpServer, null as unknown as SessionIoOptions)).toThrow(
        /options are required/,
      );
    });

    it("serves engine and bundle at another path", async () => {
      const io = sessionIo({ path: "/rt" });
      const cookie = await app.login("dora");
      const names: string[] = [];
      io.on("connection", (socket) => names.push(io.sessionOf(socket).session.user?.name ?? ""));

      const result = await outcome(connect("websocket", cookie, "/", { path: "/rt" }));

      expect(result.kind).toBe("connect");
      expect(names).toEqual(["dora"]);
      expect((await fetch(`${app.url}/rt/socket.io.js`)).status).toBe(200);
    });

    it("passes socket.io's adapter option through", () => {
      class TaggedAdapter extends Adapter {}
      const io = sessionIo({ adapter: TaggedAdapter });

      expect(io.of("/").adapter).toBeInstanceOf(TaggedAdapter);
    });

    it("lets sockets without a session in with required: false", async () => {
      const io = createSessionIo<AppSession>(app.httpServer, {
        store: app.store,
        secret: SECRET,
        required: false,
      });
      servers.push(io);
      const seen: (string | null)[] = [];
      io.on("connection", (socket) => {
        const found = io.sessionOf(socket);
        seen.push(found === undefined ? null : (found.session.user?.name ?? ""));
      });

      await outcome(connect("websocket"));
      await outcome(connect("websocket", await app.login("erin")));

      expect(seen).toEqual([null, "erin"]);
    });
  });

  for (const mode of modeNames) {
    describe(`over ${mode}`, () => {
      it("gives every socket.io socket its session, in every namespace", async () => {
        const io = sessionIo();
        const seen: string[] = [];
        const record = (where: string) => (socket: IoSocket) => {
          seen.push(`${where}:${io.sessionOf(socket).session.user?.name}`);
        };
        io.on("connection", record("main"));
        io.of("/admin").on("connection", record("admin"));
        io.of(/^\/room-\d+$/).on("connection", record("room"));
        const cookie = await app.login("alice");
        const manager = new Manager(app.url, {
          ...MODES[mode],
          extraHeaders: { cookie },
        });
        managers.push(manager);

        const results = await Promise.all(
          ["/", "/admin", "/room-7"].map((nsp) => outcome(manager.socket(nsp).connect())),
        );

        expect(results.map((each) => each.kind)).toEqual(["connect", "connect", "connect"]);
        expect(seen.sort()).toEqual(["admin:alice", "main:alice", "room:alice"]);
        expect(io.engine.clientsCount).toBe(1); // one engine connection under the three
      });

      it("answers socket.io events with the user of the HTTP login, per client", async () => {
        const io = sessionIo();
        io.on("connection", (socket) => {
          socket.on("whoami", (ack) => {
            ack(io.sessionOf(socket).session.user?.name ?? null);
          });
        });
        const [aliceCookie, bobCookie] = await Promise.all([app.login("alice"), app.login("bob")]);

        const names = await Promise.all([
          connect(mode, aliceCookie).emitWithAck("whoami") as Promise<string | null>,
          connect(mode, bobCookie).emitWithAck("whoami") as Promise<string | null>,
        ]);

        expect(names).toEqual(["alice", "bob"]);
      });

      const refusals: [SessionErrorCode, () => Promise<string | undefined>][] = [
        ["NO_COOKIE", () => Promise.resolve(undefined)],
        ["BAD_SIGNATURE", () => Promise.resolve(signedCookie("some-session-id", "not the secret"))],
        [
          "NOT_FOUND",
          async () => {
            const cookie = await app.login("gone");
            await app.get("/logout", cookie);
            return cookie;
          },
        ],
      ];
      for (const [code, cookieFor] of refusals) {
        it(`refuses ${code} with connect_error, err.data.code and no retry`, async () => {
          const io = sessionIo();
          const ioEvents: string[] = [];
          const sessionErrors: SessionError[] = [];
          const engineEvents: string[] = [];
          io.use((_socket, next) => {
            ioEvents.push("middleware");
            next();
          });
          io.on("connection", () => ioEvents.push("connection"));
          io.engine.on("connection", () => engineEvents.push("connection"));
          io.engine.on("connection_error", (error) =>
            engineEvents.push(`connection_error:${error.code}:${error.context?.name}`),
          );
          io.engine.on("session_error", (error) => sessionErrors.push(error));
          const socket = connect(mode, await cookieFor());

          const error = await refusal(socket);

          expect(error.data?.code).toBe(code);
          expect(error.message).toBe(sessionErrors[0]?.message);
          expect(socket.active).toBe(false);
          await delay(300); // several reconnection delays: a retry would be a second handshake
          expect(sessionErrors.map((each) => each.code)).toEqual([code]);
          expect(ioEvents).toEqual([]);
          expect(io.of("/").sockets.size).toBe(0);
          expect(engineEvents).toEqual([`connection_error:4:${code}`]);
          await until(() => io.engine.clientsCount === 0); // the engine connection is closed too
        });
      }

      it("refuses every namespace of a refused connection, and none reaches socket.io", async () => {
        const io = sessionIo();
        const ioEvents: string[] = [];
        io.of("/admin").use((_socket, next) => {
          ioEvents.push("admin middleware");
          next();
        });
        io.on("connection", () => ioEvents.push("main"));
        io.of("/admin").on("connection", () => ioEvents.push("admin"));
        const manager = new Manager(app.url, { ...MODES[mode], reconnectionDelay: 50 });
        managers.push(manager);
        const sockets = ["/", "/admin"].map((nsp) => manager.socket(nsp).connect());

        const errors = await Promise.all(sockets.map(refusal));

        expect(errors.map((error) => error.data?.code)).toEqual(["NO_COOKIE", "NO_COOKIE"]);
        expect(sockets.map((socket) => socket.active)).toEqual([false, false]);
        expect(ioEvents).toEqual([]);
        await until(() => io.engine.clientsCount === 0);
      });
    });
  }

  it("keeps the session across the upgrade from polling to websocket", async () => {
    const io = sessionIo();
    const connection = new Promise<IoSocket>((resolve) => io.once("connection", resolve));
    connect("polling + upgrade", await app.login("carol"));
    const socket = await connection;
    const sessionSocket = io.sessionOf(socket);

    await until(() => socket.conn.transport.name === "websocket");

    expect(io.sessionOf(socket)).toBe(sessionSocket);
    expect(sessionSocket.session.user?.name).toBe("carol");
  });

  it("closes a refused connection that never asks for a namespace", async () => {
    const io = sessionIo({ connectTimeout: 200 });
    const res = await fetchReply(app.url, "/socket.io/?EIO=4&transport=polling");
    expect(res.status).toBe(200); // the handshake is accepted, to tell the code in socket.io terms

    expect(io.engine.clientsCount).toBe(1);
    await until(() => io.engine.clientsCount === 0);
  });

  it("tells a polling client its code, then closes the connection after a grace period", async () => {
    const io = sessionIo();
    const handshake = await fetchReply(app.url, "/socket.io/?EIO=4&transport=polling");
    const sid = (JSON.parse(String(handshake.body).slice(1)) as { sid: string }).sid;
    const conn = (io.engine as unknown as { clients: Record<string, EngineSocket> }).clients[sid];
    const poll = `${app.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;

    expect(() => io.sessionOf({ conn })).toThrow(/handshake was refused/);
    await fetch(poll, { method: "POST", body: "40" }); // socket.io's CONNECT to "/"
    const answer = await fetchReply(app.url, `/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    const closing = fetchReply(app.url, `/socket.io/?EIO=4&transport=polling&sid=${sid}`);

    expect(String(answer.body)).toMatch(/^44\{"message":".+","data":\{"code":"NO_COOKIE"\}\}$/);
    expect(String((await closing).body)).toBe("1"); // engine.io's close packet, after the grace
    expect(conn.readyState).toBe("closed");
  });

  it("closes a refused connection that sends what is not socket.io", async () => {
    const io = sessionIo();
    const handshake = await fetchReply(app.url, "/socket.io/?EIO=4&transport=polling");
    const sid = (JSON.parse(String(handshake.body).slice(1)) as { sid: string }).sid;
    const conn: EngineSocket = (io.engine as unknown as { clients: Record<string, EngineSocket> })
      .clients[sid];
    expect(conn.readyState).toBe("open");

    await fetch(`${app.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
      method: "POST",
      body: "4not a socket.io packet",
    });

    await until(() => conn.readyState === "closed");
  });

  describe("socket.io v2 clients (EIO=3, allowEIO3: true)", () => {
    /** The handshake and one poll of a raw EIO=3 polling client: what it was sent. */
    async function eio3(cookie?: string): Promise<string> {
      const handshake = await fetchReply(app.url, "/socket.io/?EIO=3&transport=polling", cookie);
      const text = String(handshake.body);
      const match = /"sid":"([^"]+)"/.exec(text);
      if (match === null) throw new Error(`no sid in ${text}`);
      const sid = match[1];
      const poll = await fetchReply(
        app.url,
        `/socket.io/?EIO=3&transport=polling&sid=${sid}`,
        cookie,
      );
      return text + String(poll.body);
    }

    it("connects them to / with their session", async () => {
      const io = sessionIo({ allowEIO3: true });
      const connection = new Promise<IoSocket>((resolve) => io.once("connection", resolve));

      const sent = await eio3(await app.login("gail"));

      expect(io.sessionOf(await connection).session.user?.name).toBe("gail");
      expect(sent).toContain("40"); // socket.io v2's CONNECT of "/"
    });

    it("tells them the code without waiting for a CONNECT", async () => {
      sessionIo({ allowEIO3: true });

      const sent = await eio3();

      expect(sent).toMatch(/44\{"message":"[^"]+","data":\{"code":"NO_COOKIE"\}\}/);
    });
  });

  it("leaves refusals that are not about the session to engine.io", async () => {
    const io = sessionIo({
      allowRequest: (_req, callback) => {
        callback("no entry today", false);
      },
    });
    const codes: number[] = [];
    io.engine.on("connection_error", (error) => codes.push(error.code));

    const res = await fetchReply(app.url, "/socket.io/?EIO=4&transport=polling");

    expect(res.status).toBe(403);
    expect(res.body).toEqual({ code: 4, message: "no entry today" });
    expect(codes).toEqual([4]);
  });

  it("leaves a handshake refused because the server is closing to engine.io (clients retry)", async () => {
    const slow: SessionStore = {
      get: (sid, callback) => {
        setTimeout(() => {
          app.store.get(sid, callback);
        }, 200);
      },
    };
    const io = sessionIo({ store: slow });
    const cookie = await app.login("hal");

    const pending = fetchReply(app.url, "/socket.io/?EIO=4&transport=polling", cookie);
    await delay(50);
    io.engine.close(); // the lookup finishes after close() began
    const res = await pending;

    expect(res.status).toBe(403); // engine.io's refusal, not an accepted handshake
    expect(JSON.stringify(res.body)).toContain("closing");
  });

  it("says what to do when socket.io cannot serve its client bundle", () => {
    const proto = IoServer.prototype as unknown as { attachServe?: unknown };
    const attachServe = proto.attachServe;
    delete proto.attachServe;
    try {
      expect(() => sessionIo()).toThrow(/serveClient: false/);
    } finally {
      proto.attachServe = attachServe;
    }
  });

  it("throws a TypeError for a socket of another socket.io server", async () => {
    const io = sessionIo();
    const other = await startApp();
    const otherIo = createSessionIo<AppSession>(other.httpServer, {
      store: other.store,
      secret: SECRET,
    });
    try {
      const connection = new Promise<IoSocket>((resolve) => otherIo.once("connection", resolve));
      const socket = ioClient(other.url, {
        transports: ["websocket"],
        forceNew: true,
        extraHeaders: { cookie: await other.login("frank") },
      });
      clients.push(socket);
      const foreign = await connection;

      expect(() => io.sessionOf(foreign)).toThrow(TypeError);
      expect(otherIo.sessionOf(foreign).session.user?.name).toBe("frank");
    } finally {
      await otherIo.close();
      await other.close();
    }
  });

  it("is an entry of its own: the main entry never loads socket.io", () => {
    const script = `
      require("ts-node").register({ transpileOnly: true });
      require(${JSON.stringify(path.join(__dirname, "..", "lib"))});
      const loaded = Object.keys(require.cache).filter((file) => /[\\\\/]socket\\.io[\\\\/]/.test(file));
      process.stdout.write(String(loaded.length));
    `;
    const result = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });

    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("0");
  });
});

/** `true` exactly when A and B are the same type (not merely assignable). */
type Equals<A, B> =
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the standard exact-equality trick
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

describe("createSessionIo types", () => {
  /** Compiled, never run: what an app writes. */
  function app(io: SessionIoServer<AppSession, ClientToServer, ServerToClient>): void {
    io.on("connection", (socket) => {
      const sessionSocket = io.sessionOf(socket);
      const exact: Equals<typeof sessionSocket, SessionSocket<AppSession, AppSession>> = true;
      socket.emit("hello", String(exact));
      socket.emit("hello", sessionSocket.session.user?.name ?? "stranger");
      // @ts-expect-error -- not an event of ServerToClient: socket.io's generics are kept
      socket.emit("goodbye");
      // @ts-expect-error -- hello takes a string
      socket.emit("hello", 42);
      socket.on("whoami", (ack) => {
        ack(io.sessionOf(socket).session.user?.name ?? null);
      });
      // The record type flows into updateSession: no cast to write a field of the app's session.
      sessionSocket
        .updateSession((record) => {
          record.counter = (record.counter ?? 0) + 1;
          // @ts-expect-error -- not a field of AppSession
          record.countr = 1;
        })
        .catch(() => undefined);
    });
    io.of("/admin").on("connection", (socket) => {
      const counter: number | undefined = io.sessionOf(socket).session.counter; // namespaces too
      socket.emit("hello", String(counter));
    });
    io.engine.on("session_error", (error) => {
      const code: SessionErrorCode = error.code;
      console.warn(code);
    });
  }

  function guests(io: ReturnType<typeof guestServer>): void {
    io.on("connection", (socket) => {
      // @ts-expect-error -- with required: false a socket may have no session
      socket.emit("hello", io.sessionOf(socket).session.user?.name ?? "");
      socket.emit("hello", io.sessionOf(socket)?.session.user?.name ?? "guest");
    });
  }

  function requiredServer() {
    return createSessionIo<AppSession>(null as never, { store: null as never, secret: "s" });
  }

  function guestServer(options: SessionIoOptions) {
    return createSessionIo<AppSession>(null as never, { ...options, required: false });
  }

  it("types sessionOf by `required`, and options by their owners", () => {
    type Required = ReturnType<typeof requiredServer>;
    const requiredSession: Equals<
      ReturnType<Required["sessionOf"]>,
      SessionSocket<AppSession, AppSession>
    > = true;
    type Dynamic = SessionIoServer<AppSession, object, object, object, unknown, boolean>;
    const dynamicSession: Equals<
      ReturnType<Dynamic["sessionOf"]>,
      SessionSocket<AppSession, AppSession> | undefined
    > = true;
    const options: SessionIoOptions = {
      store: null as never,
      secret: "s",
      connectTimeout: 1000,
      pingTimeout: 1000,
      // @ts-expect-error -- a number of milliseconds
      lookupTimeout: "5s",
    };

    expect([requiredSession, dynamicSession]).toEqual([true, true]);
    expect(typeof app).toBe("function");
    expect(typeof guests).toBe("function");
    expect([typeof requiredServer, typeof guestServer]).toEqual(["function", "function"]);
    expect(options.secret).toBe("s");
  });
});
