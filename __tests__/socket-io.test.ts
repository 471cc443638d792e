import { Server as IoServer, type Socket as IoSocket } from "socket.io";
import { io as ioClient, type ManagerOptions, type SocketOptions } from "socket.io-client";
import { SessionServer, type SessionError } from "../lib";
import { SECRET, startApp, until, type AppSession, type TestApp } from "./helpers/app";

type IoClient = ReturnType<typeof ioClient>;

/** socket.io-client's two ways in: straight to websocket, or its default polling + upgrade. */
const IO_MODES = {
  websocket: { transports: ["websocket"] },
  "polling + upgrade": {},
} as const satisfies Record<string, Partial<ManagerOptions & SocketOptions>>;

type IoMode = keyof typeof IO_MODES;
const ioModeNames = Object.keys(IO_MODES) as IoMode[];

const PATH = "/socket.io";

describe("SessionServer with socket.io", () => {
  let app: TestApp;
  let server: SessionServer<AppSession> | undefined;
  let io: IoServer | undefined;
  const clients: IoClient[] = [];

  beforeEach(async () => {
    app = await startApp();
  });

  afterEach(async () => {
    for (const each of clients) each.disconnect();
    clients.length = 0;
    if (io !== undefined) await io.close();
    io = undefined;
    server?.close();
    server = undefined;
    await app.close();
  });

  /** A SessionServer attached at /socket.io with a socket.io server bound to it. */
  function boundServers(how: "attached" | "unattached" = "attached"): {
    server: SessionServer<AppSession>;
    io: IoServer;
  } {
    const options = { store: app.store, secret: SECRET, path: PATH };
    if (how === "attached") {
      server = new SessionServer<AppSession>(app.httpServer, options);
    } else {
      server = new SessionServer<AppSession>(options);
      server.attach(app.httpServer, { path: PATH });
    }
    io = new IoServer();
    io.bind(server);
    return { server, io };
  }

  function connect(mode: IoMode, cookie?: string): IoClient {
    const socket = ioClient(app.url, {
      ...IO_MODES[mode],
      path: PATH,
      forceNew: true,
      reconnection: false,
      extraHeaders: cookie === undefined ? {} : { cookie },
    });
    clients.push(socket);
    return socket;
  }

  /** Resolves "connect", or the connect_error. */
  function connected(
    socket: IoClient,
  ): Promise<{ kind: "connect" } | { kind: "error"; error: Error }> {
    return new Promise((resolve) => {
      socket.once("connect", () => {
        resolve({ kind: "connect" });
      });
      socket.once("connect_error", (error) => {
        resolve({ kind: "error", error });
      });
    });
  }

  function nextIoConnection(target: IoServer): Promise<IoSocket> {
    return new Promise((resolve) => target.once("connection", resolve));
  }

  describe("#bind", () => {
    it("accepts a SessionServer as socket.io's engine", () => {
      const { server, io } = boundServers();

      expect(io.engine).toBe(server);
    });
  });

  for (const mode of ioModeNames) {
    describe(`over ${mode}`, () => {
      it("lets a connection handler reach the session through sessionOf(socket.conn)", async () => {
        const { server, io } = boundServers();
        const cookie = await app.login("alice");
        const ioConnection = nextIoConnection(io);

        const socket = connect(mode, cookie);
        const [result, ioSocket] = await Promise.all([connected(socket), ioConnection]);

        expect(result.kind).toBe("connect");
        const sessionSocket = server.sessionOf(ioSocket.conn);
        expect(sessionSocket).toBeDefined();
        expect(sessionSocket!.conn).toBe(ioSocket.conn);
        expect(sessionSocket!.session.user?.name).toBe("alice");
      });

      it("works when the SessionServer is built unattached and attached later", async () => {
        const { server, io } = boundServers("unattached");
        const cookie = await app.login("bob");
        const ioConnection = nextIoConnection(io);

        const socket = connect(mode, cookie);
        const [result, ioSocket] = await Promise.all([connected(socket), ioConnection]);

        expect(result.kind).toBe("connect");
        expect(server.sessionOf(ioSocket.conn)?.session.user?.name).toBe("bob");
      });

      it("answers socket.io events with the user of the HTTP login", async () => {
        const { server, io } = boundServers();
        io.on("connection", (ioSocket) => {
          ioSocket.on("whoami", (ack: (name: string | null) => void) => {
            ack(server.sessionOf(ioSocket.conn)?.session.user?.name ?? null);
          });
        });
        const [aliceCookie, bobCookie] = await Promise.all([app.login("alice"), app.login("bob")]);
        const alice = connect(mode, aliceCookie);
        const bob = connect(mode, bobCookie);

        const names = await Promise.all([
          alice.emitWithAck("whoami") as Promise<string | null>,
          bob.emitWithAck("whoami") as Promise<string | null>,
        ]);

        expect(names).toEqual(["alice", "bob"]);
      });

      it("lets io middleware refuse a socket by its session", async () => {
        const { server, io } = boundServers();
        io.use((ioSocket, next) => {
          const name = server.sessionOf(ioSocket.conn)?.session.user?.name;
          next(name === "mallory" ? new Error("banned user") : undefined);
        });
        const [okCookie, bannedCookie] = await Promise.all([
          app.login("alice"),
          app.login("mallory"),
        ]);

        const [ok, banned] = await Promise.all([
          connected(connect(mode, okCookie)),
          connected(connect(mode, bannedCookie)),
        ]);

        expect(ok.kind).toBe("connect");
        expect(banned.kind).toBe("error");
        expect(banned.kind === "error" && banned.error.message).toBe("banned user");
      });

      it("refuses a client without a cookie before socket.io sees a connection", async () => {
        const { server, io } = boundServers();
        let ioConnections = 0;
        let engineConnections = 0;
        const errors: SessionError[] = [];
        io.on("connection", () => {
          ioConnections++;
        });
        server.on("connection", () => {
          engineConnections++;
        });
        server.on("session_error", (error) => {
          errors.push(error);
        });

        const result = await connected(connect(mode));

        expect(result.kind).toBe("error");
        expect(errors.map((error) => error.code)).toEqual(["NO_COOKIE"]);
        expect(engineConnections).toBe(0);
        expect(ioConnections).toBe(0);
        expect(io.engine.clientsCount).toBe(0);
      });

      it("refuses a client whose session was destroyed over HTTP", async () => {
        const { server } = boundServers();
        const codes: string[] = [];
        server.on("session_error", (error) => {
          codes.push(error.code);
        });
        const cookie = await app.login("alice");
        await app.get("/logout", cookie);

        const result = await connected(connect(mode, cookie));

        expect(result.kind).toBe("error");
        expect(codes).toEqual(["NOT_FOUND"]);
      });
    });
  }

  it("keeps the session across socket.io's upgrade from polling to websocket", async () => {
    const { server, io } = boundServers();
    const cookie = await app.login("carol");
    const ioConnection = nextIoConnection(io);
    connect("polling + upgrade", cookie);
    const ioSocket = await ioConnection;
    const sessionSocket = server.sessionOf(ioSocket.conn)!;

    await until(() => sessionSocket.transport === "websocket");

    expect(sessionSocket.transport).toBe("websocket");
    expect(server.sessionOf(ioSocket.conn)).toBe(sessionSocket);
    expect(sessionSocket.session.user?.name).toBe("carol");
  });
});
