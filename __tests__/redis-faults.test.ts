import { performance } from "node:perf_hooks";
import type { Socket as ClientSocket } from "engine.io-client";
import type { SessionSocket } from "../lib";
import {
  ZERO_STATS,
  client,
  closeClients,
  delay,
  outcome,
  sessionIdOf,
  until,
  type AppSession,
  type TransportMode,
} from "./helpers/app";
import {
  closeRedis,
  connectRedis,
  describeRedis,
  eventually,
  subscribers,
  uniqueName,
  untilSubscribers,
  useRedis,
  type RedisClient,
} from "./helpers/redis";
import {
  closeRedisNode,
  connectTo,
  eventsOf,
  startRedisNode,
  type RedisNode,
} from "./helpers/redis-node";

const LOOKUP_TIMEOUT = 500;
/** Reconnection attempts every 100 ms (node-redis's default backs off to 2 s): keeps the suite short. */
const RECONNECT_EVERY = 100;

describeRedis(
  "Redis going down and coming back",
  () => {
    const redis = useRedis({ control: true });
    const channel = uniqueName("engine.io-session:faults");
    let probe: RedisClient;
    /** Offline queue disabled: commands fail at once while Redis is down. Both have the bus. */
    let a: RedisNode;
    let b: RedisNode;
    /** node-redis's default offline queue: commands wait for the reconnection. No bus. */
    let c: RedisNode;
    /** Has the bus, with the default offline queue; its server is closed while Redis is down. */
    let e: RedisNode;
    const all = (): RedisNode[] => [a, b, c, e];
    interface User {
      cookie: string;
      sessionId: string;
      /** On A, then on B. */
      clients: ClientSocket[];
      sockets: SessionSocket<AppSession>[];
    }
    /** Logged in before the outage, with sockets on A and B. */
    let alice: User;
    let dave: User;
    /** alice's socket on E. */
    let eClient: ClientSocket;

    /** A node that logs session_end and client messages, with a short lookupTimeout. */
    function startNode(
      name: string,
      options: { disableOfflineQueue: boolean; bus: boolean },
    ): Promise<RedisNode> {
      return startRedisNode(redis.url, name, {
        client: {
          disableOfflineQueue: options.disableOfflineQueue,
          reconnectEvery: RECONNECT_EVERY,
        },
        ...(options.bus ? { bus: { channel } } : {}),
        server: { lookupTimeout: LOOKUP_TIMEOUT },
        log: ["session_end", "message"],
      });
    }

    /** A handshake that must be refused: resolves with the time it took and the server's code. */
    async function refused(node: RedisNode, mode: TransportMode, cookie: string) {
      const before = node.errors.length;
      const start = performance.now();
      const result = await outcome(client(node.app, mode, cookie));
      const elapsed = performance.now() - start;
      expect(result.kind).toBe("error");
      await until(() => node.errors.length > before);
      return { elapsed, code: node.errors[before].code };
    }

    beforeAll(async () => {
      probe = await connectRedis(redis.url, { reconnectEvery: RECONNECT_EVERY });
      a = await startNode("A", { disableOfflineQueue: true, bus: true });
      b = await startNode("B", { disableOfflineQueue: true, bus: true });
      c = await startNode("C", { disableOfflineQueue: false, bus: false });
      e = await startNode("E", { disableOfflineQueue: false, bus: true });
      await untilSubscribers(probe, channel, 3); // A, B and E
      alice = await userOnAandB("alice");
      dave = await userOnAandB("dave");
      eClient = (await connectTo(e, "websocket", alice.cookie)).client;
    }, 15_000);

    async function userOnAandB(name: string): Promise<User> {
      const cookie = await a.app.login(name);
      const onA = await connectTo(a, "websocket", cookie);
      const onB = await connectTo(b, "polling", cookie);
      return {
        cookie,
        sessionId: sessionIdOf(cookie),
        clients: [onA.client, onB.client],
        sockets: [onA.socket, onB.socket],
      };
    }

    afterAll(async () => {
      closeClients();
      for (const node of all()) await closeRedisNode(node);
      await closeRedis(probe);
    });

    describe("while Redis is down", () => {
      beforeAll(async () => {
        await redis.server?.kill();
        await eventually(() => all().every((node) => !node.redis.isReady), 3000, "clients saw it");
      });

      it.each<TransportMode>(["polling", "websocket"])(
        "fails a %s handshake with STORE_ERROR at once when the offline queue is disabled",
        async (mode) => {
          const { elapsed, code } = await refused(a, mode, alice.cookie);

          expect(code).toBe("STORE_ERROR");
          expect(elapsed).toBeLessThan(LOOKUP_TIMEOUT);
          expect(a.server.stats.pendingLookups).toBe(0);
        },
      );

      it.each<TransportMode>(["polling", "websocket"])(
        "fails a %s handshake with TIMEOUT after lookupTimeout when node-redis queues offline",
        async (mode) => {
          const { elapsed, code } = await refused(c, mode, alice.cookie);

          expect(code).toBe("TIMEOUT");
          expect(elapsed).toBeGreaterThanOrEqual(LOOKUP_TIMEOUT - 20);
          // Bounded: lookupTimeout plus the HTTP round trip on a busy machine, never a hang.
          expect(elapsed).toBeLessThan(LOOKUP_TIMEOUT + 1000);
          expect(c.server.stats.pendingLookups).toBe(0);
        },
      );

      it("keeps the connected sockets open and talking", async () => {
        alice.clients.forEach((socket, index) => socket.send(`still here ${index}`));

        await until(() =>
          alice.sockets.every((socket, index) =>
            eventsOf(index === 0 ? a : b, socket).includes(`message still here ${index}`),
          ),
        );
        for (const socket of alice.clients) expect(socket.readyState).toBe("open");
        expect(a.server.stats.sockets).toBe(2);
        expect(b.server.stats.sockets).toBe(2);
      });

      it("ends closeSession's local sockets, while the other nodes miss the message", async () => {
        expect(b.server.closeSession(dave.sessionId)).toBe(1);

        expect(eventsOf(b, dave.sockets[1])).toEqual(["session_end closed"]);
        // Pub/sub is at most once: the publish failed (offline queue disabled) and is not retried.
        await delay(300);
        expect(eventsOf(a, dave.sockets[0])).toEqual([]);
        expect(dave.clients[0].readyState).toBe("open");
      });

      it("rejects destroySession with STORE_ERROR and ends no socket", async () => {
        await expect(a.server.destroySession(alice.sessionId)).rejects.toMatchObject({
          code: "STORE_ERROR",
        });

        for (const socket of alice.clients) expect(socket.readyState).toBe("open");
        expect(eventsOf(a, alice.sockets[0]).some((event) => event.startsWith("session_end"))).toBe(
          false,
        );
      });

      it("rejects destroySession with TIMEOUT after lookupTimeout when node-redis queues offline", async () => {
        const start = performance.now();

        await expect(c.server.destroySession(alice.sessionId)).rejects.toMatchObject({
          code: "TIMEOUT",
        });

        expect(performance.now() - start).toBeGreaterThanOrEqual(LOOKUP_TIMEOUT - 20);
        for (const socket of alice.clients) expect(socket.readyState).toBe("open");
      });

      it("closes a server without waiting for Redis", async () => {
        const closed = new Promise<string>((resolve) => eClient.once("close", resolve));

        e.server.close();

        expect(await closed).toBe("transport close");
        expect(e.server.stats).toEqual(ZERO_STATS);
      });
    });

    describe("after Redis is back on the same port", () => {
      beforeAll(async () => {
        await redis.server?.restart();
        await eventually(
          () => [a, b, c].every((node) => node.redis.isReady) && probe.isReady,
          5000,
          "clients reconnected",
        );
      }, 10_000);

      it("accepts handshakes again without restarting the app", async () => {
        const cookie = await a.app.login("alice again");

        for (const node of [a, c]) {
          for (const mode of ["polling", "websocket"] as const) {
            const { socket } = await connectTo(node, mode, cookie);
            expect(socket.session.user).toEqual({ name: "alice again" });
          }
        }
        // No persistence in this redis-server: sessions from before the outage are gone.
        const { code } = await refused(a, "polling", alice.cookie);
        expect(code).toBe("NOT_FOUND");
      });

      it("resubscribes the bus by itself: a destroySession on B reaches A again", async () => {
        // A and B are back on the channel; E, closed during the outage, is not (and stays away).
        await untilSubscribers(probe, channel, 2, 5000);
        await delay(3 * RECONNECT_EVERY);
        expect(await subscribers(probe, channel)).toBe(2);
        const cookie = await b.app.login("carol");
        const onA = await connectTo(a, "websocket", cookie);
        const onB = await connectTo(b, "polling", cookie);

        expect(await b.server.destroySession(sessionIdOf(cookie))).toBe(1);

        await until(() => eventsOf(a, onA.socket).includes("session_end destroyed"));
        expect(eventsOf(b, onB.socket)).toContain("session_end destroyed");
        // The sockets from before the outage are still there and can be ended from afar again.
        expect(alice.clients[0].readyState).toBe("open");
        expect(dave.clients[0].readyState).toBe("open");
        b.server.closeSession(alice.sessionId);
        b.server.closeSession(dave.sessionId);
        await until(() => eventsOf(a, alice.sockets[0]).includes("session_end closed"));
        await until(() => eventsOf(a, dave.sockets[0]).includes("session_end closed"));
      });
    });
  },
  { control: true },
);
