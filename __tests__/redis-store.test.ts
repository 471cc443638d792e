import { RedisStore } from "connect-redis";
import type { SessionError, SessionServer, SessionSocket } from "../lib";
import {
  attachServer,
  client,
  closeClients,
  countingStore,
  outcome,
  sessionIdOf,
  startApp,
  until,
  type AppSession,
  type TestApp,
  type TransportMode,
} from "./helpers/app";
import {
  closeRedis,
  connectRedis,
  describeRedis,
  eventually,
  sessionKey,
  useRedis,
  type RedisClient,
} from "./helpers/redis";

describeRedis("RedisStore (connect-redis 9, redis 5) as the store", () => {
  const redis = useRedis();
  let redisClient: RedisClient;
  let store: RedisStore;
  let app: TestApp;
  let server: SessionServer<AppSession> | undefined;

  beforeAll(async () => {
    redisClient = await connectRedis(redis.url);
    store = new RedisStore({ client: redisClient });
  });

  // A fresh app per test: a closed engine.io server stays attached to its HTTP server.
  beforeEach(async () => {
    app = await startApp({ store });
  });

  afterEach(async () => {
    closeClients();
    server?.close();
    server = undefined;
    await app.close();
  });

  afterAll(async () => {
    await closeRedis(redisClient);
  });

  /** Attaches a SessionServer to the app; `store` defaults to the app's RedisStore. */
  function serve(options: Parameters<typeof attachServer>[1] = {}): {
    server: SessionServer<AppSession>;
    sessions: SessionSocket<AppSession>[];
    errors: SessionError[];
  } {
    const attached = attachServer(app, { store, ...options });
    server = attached;
    const sessions: SessionSocket<AppSession>[] = [];
    const errors: SessionError[] = [];
    attached.on("session", (socket) => sessions.push(socket));
    attached.on("session_error", (error) => errors.push(error));
    return { server: attached, sessions, errors };
  }

  /** Opens a client; resolves with its SessionSocket on the server. */
  async function connect(
    sessions: SessionSocket<AppSession>[],
    mode: TransportMode,
    cookie: string,
  ): Promise<SessionSocket<AppSession>> {
    const socket = client(app, mode, cookie);
    const result = await outcome(socket);
    if (result.kind !== "open") throw new Error(`refused: ${result.error.message}`);
    await until(() => sessions.some((each) => each.id === socket.id));
    return sessions.find((each) => each.id === socket.id)!;
  }

  describe("handshake", () => {
    it.each<TransportMode>(["polling", "websocket"])(
      "gives a %s socket the session an HTTP login stored in Redis",
      async (mode) => {
        const { sessions } = serve();
        const cookie = await app.login(`alice-${mode}`);
        const sessionId = sessionIdOf(cookie);
        expect(await redisClient.exists(sessionKey(sessionId))).toBe(1);

        const socket = await connect(sessions, mode, cookie);

        expect(socket.sessionId).toBe(sessionId);
        expect(socket.session.user).toEqual({ name: `alice-${mode}` });
        expect(socket.transport).toBe(mode);
      },
    );

    it("refuses a handshake with NOT_FOUND after logout", async () => {
      const { sessions, errors } = serve();
      const cookie = await app.login("bob");
      await connect(sessions, "polling", cookie);
      expect((await app.get("/logout", cookie)).status).toBe(200);
      expect(await redisClient.exists(sessionKey(sessionIdOf(cookie)))).toBe(0);

      const result = await outcome(client(app, "polling", cookie));

      expect(result.kind).toBe("error");
      expect(errors.map((error) => error.code)).toEqual(["NOT_FOUND"]);
      expect(sessions).toHaveLength(1);
    });

    it("costs one store read for 20 concurrent handshakes of one session", async () => {
      const counted = countingStore(new RedisStore({ client: redisClient }));
      const { sessions, server: attached } = serve({ store: counted });
      const cookie = await app.login("carol");
      // Slow Redis down for real (all clients wait 300 ms), so that the 20 handshakes overlap.
      await redisClient.sendCommand(["CLIENT", "PAUSE", "300", "ALL"]);

      const sockets = Array.from({ length: 20 }, (_, index) =>
        client(app, index % 2 === 0 ? "polling" : "websocket", cookie),
      );
      const results = await Promise.all(sockets.map((socket) => outcome(socket)));

      expect(results.every((result) => result.kind === "open")).toBe(true);
      await until(() => sessions.length === 20);
      expect(counted.gets).toBe(1);
      expect(new Set(sessions.map((socket) => socket.session)).size).toBe(20);
      expect(attached.stats.pendingLookups).toBe(0);
    });
  });

  describe("live session", () => {
    it("makes updateSession visible over HTTP", async () => {
      const { sessions } = serve();
      const cookie = await app.login("dave");
      const socket = await connect(sessions, "websocket", cookie);

      await socket.updateSession((record) => {
        (record as AppSession).counter = 41;
      });

      expect(socket.session.counter).toBe(41);
      expect(await app.get("/whoami", cookie)).toMatchObject({
        status: 200,
        body: { user: { name: "dave" }, counter: 41 },
      });
    });

    it("makes saveSession visible over HTTP", async () => {
      const { sessions } = serve();
      const cookie = await app.login("erin");
      const socket = await connect(sessions, "polling", cookie);

      (socket.record as AppSession).counter = 7;
      await socket.saveSession();

      const raw = await redisClient.get(sessionKey(socket.sessionId));
      expect(JSON.parse(raw ?? "{}")).toMatchObject({ user: { name: "erin" }, counter: 7 });
      expect((await app.get("/whoami", cookie)).body).toEqual({
        user: { name: "erin" },
        counter: 7,
      });
    });

    it("extends the TTL of the key in Redis every touchInterval", async () => {
      const { sessions, server: attached } = serve({ touchInterval: 100 });
      const cookie = await app.login("frank");
      const key = sessionKey(sessionIdOf(cookie));
      await redisClient.expire(key, 30);
      expect(await redisClient.ttl(key)).toBeLessThanOrEqual(30);

      await connect(sessions, "websocket", cookie);

      // connect-redis's touch sets the TTL from the cookie (no maxAge: its default, one day).
      await eventually(async () => (await redisClient.ttl(key)) > 30, 3000, "TTL grew");
      expect(await redisClient.ttl(key)).toBeGreaterThan(86_000);
      expect(attached.stats.timers).toBe(1);
    });

    it("removes the key on destroySession and ends the socket", async () => {
      const { sessions, server: attached } = serve();
      const cookie = await app.login("grace");
      const socket = await connect(sessions, "websocket", cookie);
      const ended = new Promise<string>((resolve) => socket.once("session_end", resolve));

      expect(await attached.destroySession(socket.sessionId)).toBe(1);

      expect(await ended).toBe("destroyed");
      expect(await redisClient.exists(sessionKey(socket.sessionId))).toBe(0);
      expect((await app.get("/whoami", cookie)).body).toEqual({ user: null, counter: null });
      await until(() => attached.stats.sockets === 0);
    });
  });
});
