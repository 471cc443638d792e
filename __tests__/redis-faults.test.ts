import { performance } from "node:perf_hooks";
import { RedisStore } from "connect-redis";
import type { Socket as ClientSocket } from "engine.io-client";
import type { SessionError, SessionServer, SessionSocket } from "../lib";
import { RedisSessionBus } from "../lib/redis";
import {
  attachServer,
  client,
  closeClients,
  delay,
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
  subscribers,
  uniqueName,
  useRedis,
  type RedisClient,
} from "./helpers/redis";

const LOOKUP_TIMEOUT = 500;
/** Reconnection attempts every 100 ms (node-redis's default backs off to 2 s): keeps the suite short. */
const RECONNECT_EVERY = 100;

interface Node {
  readonly name: string;
  readonly app: TestApp;
  readonly redis: RedisClient;
  readonly server: SessionServer<AppSession>;
  readonly sockets: SessionSocket<AppSession>[];
  readonly errors: SessionError[];
  /** Per socket: its session_end events and messages from the client. */
  readonly events: Map<SessionSocket<AppSession>, string[]>;
}

describeRedis(
  "Redis going down and coming back",
  () => {
    const redis = useRedis({ control: true });
    const channel = uniqueName("engine.io-session:faults");
    let probe: RedisClient;
    /** Offline queue disabled: commands fail at once while Redis is down. Both have the bus. */
    let a: Node;
    let b: Node;
    /** node-redis's default offline queue: commands wait for the reconnection. No bus. */
    let c: Node;
    /** Has the bus, with the default offline queue; its server is closed while Redis is down. */
    let e: Node;
    const all = (): Node[] => [a, b, c, e];
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

    async function startNode(
      name: string,
      options: { disableOfflineQueue: boolean; bus: boolean },
    ): Promise<Node> {
      const nodeRedis = await connectRedis(redis.url, {
        disableOfflineQueue: options.disableOfflineQueue,
        reconnectEvery: RECONNECT_EVERY,
      });
      const store = new RedisStore({ client: nodeRedis });
      const app = await startApp({ store });
      const server = attachServer(app, {
        store,
        lookupTimeout: LOOKUP_TIMEOUT,
        ...(options.bus ? { bus: new RedisSessionBus(nodeRedis, { channel }) } : {}),
      });
      const node: Node = {
        name,
        app,
        redis: nodeRedis,
        server,
        sockets: [],
        errors: [],
        events: new Map(),
      };
      server.on("session", (socket) => {
        const events: string[] = [];
        node.sockets.push(socket);
        node.events.set(socket, events);
        socket.on("session_end", (reason) => events.push(`session_end ${reason}`));
        socket.on("message", (data) => events.push(`message ${String(data)}`));
      });
      server.on("session_error", (error) => node.errors.push(error));
      return node;
    }

    async function connectTo(node: Node, mode: TransportMode, cookie: string) {
      const socket = client(node.app, mode, cookie);
      const result = await outcome(socket);
      if (result.kind !== "open")
        throw new Error(`refused on ${node.name}: ${result.error.message}`);
      await until(() => node.sockets.some((each) => each.id === socket.id));
      return { client: socket, socket: node.sockets.find((each) => each.id === socket.id)! };
    }

    /** A handshake that must be refused: resolves with the time it took and the server's code. */
    async function refused(node: Node, mode: TransportMode, cookie: string) {
      const before = node.errors.length;
      const start = performance.now();
      const result = await outcome(client(node.app, mode, cookie));
      const elapsed = performance.now() - start;
      expect(result.kind).toBe("error");
      await until(() => node.errors.length > before);
      return { elapsed, code: node.errors[before].code };
    }

    function eventsOf(node: Node, socket: SessionSocket<AppSession>): string[] {
      return node.events.get(socket) ?? [];
    }

    beforeAll(async () => {
      probe = await connectRedis(redis.url, { reconnectEvery: RECONNECT_EVERY });
      a = await startNode("A", { disableOfflineQueue: true, bus: true });
      b = await startNode("B", { disableOfflineQueue: true, bus: true });
      c = await startNode("C", { disableOfflineQueue: false, bus: false });
      e = await startNode("E", { disableOfflineQueue: false, bus: true });
      await eventually(
        async () => (await subscribers(probe, channel)) === 3,
        3000,
        "A, B, E subscribed",
      );
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
      for (const node of all()) {
        node.server.close();
        await node.app.close();
        await closeRedis(node.redis);
      }
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
        expect(e.server.stats).toEqual({
          sessions: 0,
          sockets: 0,
          pendingLookups: 0,
          locks: 0,
          timers: 0,
        });
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
        await eventually(async () => (await subscribers(probe, channel)) === 2, 5000, "NUMSUB 2");
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
