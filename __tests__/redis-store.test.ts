import { RedisStore } from "connect-redis";
import {
  client,
  closeClients,
  countingStore,
  outcome,
  sessionIdOf,
  until,
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
import {
  closeRedisNode,
  connectTo,
  startRedisNode,
  type RedisNode,
  type RedisNodeOptions,
} from "./helpers/redis-node";

describeRedis("RedisStore (connect-redis 9, redis 5) as the store", () => {
  const redis = useRedis();
  /** The test's own client: reads keys and slows Redis down. */
  let redisClient: RedisClient;
  /** This test's node, closed by `afterEach`. */
  let started: RedisNode | undefined;

  beforeAll(async () => {
    redisClient = await connectRedis(redis.url);
  });

  afterEach(async () => {
    closeClients();
    if (started !== undefined) await closeRedisNode(started);
    started = undefined;
  });

  afterAll(async () => {
    await closeRedis(redisClient);
  });

  /**
   * A fresh app and SessionServer over a RedisStore, for this test only (a closed engine.io server
   * stays attached to its HTTP server).
   */
  async function startNode(options: RedisNodeOptions = {}): Promise<RedisNode> {
    started = await startRedisNode(redis.url, "app", options);
    return started;
  }

  describe("handshake", () => {
    it.each<TransportMode>(["polling", "websocket"])(
      "gives a %s socket the session an HTTP login stored in Redis",
      async (mode) => {
        const node = await startNode();
        const cookie = await node.app.login(`alice-${mode}`);
        const sessionId = sessionIdOf(cookie);
        expect(await redisClient.exists(sessionKey(sessionId))).toBe(1);

        const { socket } = await connectTo(node, mode, cookie);

        expect(socket.sessionId).toBe(sessionId);
        expect(socket.session.user).toEqual({ name: `alice-${mode}` });
        expect(socket.transport).toBe(mode);
      },
    );

    it("refuses a handshake with NOT_FOUND after logout", async () => {
      const node = await startNode();
      const cookie = await node.app.login("bob");
      await connectTo(node, "polling", cookie);
      expect((await node.app.get("/logout", cookie)).status).toBe(200);
      expect(await redisClient.exists(sessionKey(sessionIdOf(cookie)))).toBe(0);

      const result = await outcome(client(node.app, "polling", cookie));

      expect(result.kind).toBe("error");
      expect(node.errors.map((error) => error.code)).toEqual(["NOT_FOUND"]);
      expect(node.sockets).toHaveLength(1);
    });

    it("costs one store read for 20 concurrent handshakes of one session", async () => {
      const counted = countingStore(new RedisStore({ client: redisClient }));
      const node = await startNode({ server: { store: counted } });
      const cookie = await node.app.login("carol");
      // Slow Redis down for real (all clients wait 1.5 s), so that the 20 handshakes overlap even on a
      // busy machine (the handshake path is fast: 300 ms was once not enough under load).
      await redisClient.sendCommand(["CLIENT", "PAUSE", "1500", "ALL"]);

      const sockets = Array.from({ length: 20 }, (_, index) =>
        client(node.app, index % 2 === 0 ? "polling" : "websocket", cookie),
      );
      const results = await Promise.all(sockets.map((socket) => outcome(socket)));

      expect(results.every((result) => result.kind === "open")).toBe(true);
      await until(() => node.sockets.length === 20);
      expect(counted.gets).toBe(1);
      expect(new Set(node.sockets.map((socket) => socket.session)).size).toBe(20);
      expect(node.server.stats.pendingLookups).toBe(0);
    });
  });

  describe("live session", () => {
    it("makes updateSession visible over HTTP", async () => {
      const node = await startNode();
      const cookie = await node.app.login("dave");
      const { socket } = await connectTo(node, "websocket", cookie);

      await socket.updateSession((record) => {
        record.counter = 41;
      });

      expect(socket.session.counter).toBe(41);
      expect(await node.app.get("/whoami", cookie)).toMatchObject({
        status: 200,
        body: { user: { name: "dave" }, counter: 41 },
      });
    });

    it("makes saveSession visible over HTTP", async () => {
      const node = await startNode();
      const cookie = await node.app.login("erin");
      const { socket } = await connectTo(node, "polling", cookie);

      socket.record.counter = 7;
      await socket.saveSession();

      const raw = await redisClient.get(sessionKey(socket.sessionId));
      expect(JSON.parse(raw ?? "{}")).toMatchObject({ user: { name: "erin" }, counter: 7 });
      expect((await node.app.get("/whoami", cookie)).body).toEqual({
        user: { name: "erin" },
        counter: 7,
      });
    });

    it("extends the TTL of the key in Redis every touchInterval", async () => {
      const node = await startNode({ server: { touchInterval: 100 } });
      const cookie = await node.app.login("frank");
      const key = sessionKey(sessionIdOf(cookie));
      await redisClient.expire(key, 30);
      expect(await redisClient.ttl(key)).toBeLessThanOrEqual(30);

      await connectTo(node, "websocket", cookie);

      // connect-redis's touch sets the TTL from the cookie (no maxAge: its default, one day).
      await eventually(async () => (await redisClient.ttl(key)) > 30, 3000, "TTL grew");
      expect(await redisClient.ttl(key)).toBeGreaterThan(86_000);
      expect(node.server.stats.timers).toBe(1);
    });

    it("removes the key on destroySession and ends the socket", async () => {
      const node = await startNode();
      const cookie = await node.app.login("grace");
      const { socket } = await connectTo(node, "websocket", cookie);
      const ended = new Promise<string>((resolve) => socket.once("session_end", resolve));

      expect(await node.server.destroySession(socket.sessionId)).toBe(1);

      expect(await ended).toBe("destroyed");
      expect(await redisClient.exists(sessionKey(socket.sessionId))).toBe(0);
      expect((await node.app.get("/whoami", cookie)).body).toEqual({ user: null, counter: null });
      await until(() => node.server.stats.sockets === 0);
    });
  });
});
