import { spawn } from "node:child_process";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { Socket as ClientSocket } from "engine.io-client";
import type { SessionSocket } from "../lib";
import { RedisSessionBus } from "../lib/redis";
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
  REDIS_MAJORS,
  closeRedis,
  connectRedis,
  describeRedis,
  eventually,
  subscribers,
  uniqueName,
  untilSubscribers,
  useRedis,
  type RedisClient,
  type RedisMajor,
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
    /** Logged in before the outage, no sockets: C (no bus, offline queue) destroys it meanwhile. */
    let carl: string;
    /** alice's socket on E. */
    let eClient: ClientSocket;
    /** A bare bus on its own client: what its status callback heard. */
    let statusClient: RedisClient;
    let statusBus: RedisSessionBus;
    const statuses: string[] = [];

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
      carl = sessionIdOf(await a.app.login("carl"));
      eClient = (await connectTo(e, "websocket", alice.cookie)).client;
      statusClient = await connectRedis(redis.url, { reconnectEvery: RECONNECT_EVERY });
      statusBus = new RedisSessionBus(statusClient, { channel: uniqueName("status") });
      await statusBus.subscribe(
        () => undefined,
        (status) => statuses.push(status),
      );
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
      await statusBus.close();
      await closeRedis(statusClient);
      await closeRedis(probe);
    });

    describe("while Redis is down", () => {
      beforeAll(async () => {
        // A snapshot first: the sessions outlive the crash, as on a Redis with persistence.
        await probe.sendCommand(["SAVE"]);
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

      it("reports the bus disconnected", async () => {
        await until(() => statuses.length > 0);
        expect(statuses).toEqual(["disconnected"]);
      });

      it("ends closeSession's local sockets at once; the other nodes cannot hear it yet", async () => {
        expect(b.server.closeSession(dave.sessionId)).toBe(1);

        expect(eventsOf(b, dave.sockets[1])).toEqual(["session_end closed"]);
        // The publish failed (offline queue disabled): the bus holds it until Redis is back.
        await delay(300);
        expect(eventsOf(a, dave.sockets[0])).toEqual([]);
        expect(dave.clients[0].readyState).toBe("open");
      });

      it("rejects destroySession with STORE_ERROR, yet ends the session's sockets here at once", async () => {
        const start = performance.now();

        await expect(a.server.destroySession(alice.sessionId)).rejects.toMatchObject({
          code: "STORE_ERROR",
        });

        expect(performance.now() - start).toBeLessThan(LOOKUP_TIMEOUT);
        expect(eventsOf(a, alice.sockets[0])).toContain("session_end destroyed");
        await until(() => alice.clients[0].readyState === "closed");
        // B hears it once Redis is back (see below).
        expect(alice.clients[1].readyState).toBe("open");
      });

      it("rejects destroySession with TIMEOUT after lookupTimeout when node-redis queues offline", async () => {
        const start = performance.now();

        await expect(c.server.destroySession(carl)).rejects.toMatchObject({
          code: "TIMEOUT",
        });

        expect(performance.now() - start).toBeGreaterThanOrEqual(LOOKUP_TIMEOUT - 20);
      });

      it("closes a server without waiting for Redis", async () => {
        const closed = new Promise<string>((resolve) => eClient.once("close", resolve));

        e.server.close();

        expect(await closed).toBe("transport close");
        expect(e.server.stats).toEqual({ ...ZERO_STATS, bus: "disconnected" });
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
        // The snapshot kept the sessions from before the outage.
        const { socket } = await connectTo(a, "websocket", dave.cookie);
        expect(socket.session.user).toEqual({ name: "dave" });
      });

      it("reports the bus connected again", async () => {
        await until(() => statuses.length === 2, 5000);
        expect(statuses).toEqual(["disconnected", "connected"]);
      });

      it("delivers a closeSession published during the outage to the other nodes", async () => {
        await until(() => eventsOf(a, dave.sockets[0]).includes("session_end closed"), 5000);
        expect(
          eventsOf(a, dave.sockets[0]).filter((event) => event.startsWith("session_end")),
        ).toEqual(["session_end closed"]);
      });

      it("ends the sockets of a session destroyed during the outage on the other nodes, destroyed", async () => {
        const ends = (): string[] =>
          eventsOf(b, alice.sockets[1]).filter((event) => event.startsWith("session_end"));
        await until(() => ends().length > 0, 5000);
        expect(ends()).toEqual(["session_end destroyed"]);
      });

      it("keeps a session destroyed during the outage destroyed", async () => {
        // The delete failed while Redis was down: it must not come back with the snapshot.
        await eventually(
          async () => (await probe.exists(`sess:${alice.sessionId}`)) === 0,
          5000,
          "deleted",
        );
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
      });
    });
  },
  { control: true },
);

/**
 * A child process with a subscribed bus on a client of `major`: on "close" on stdin, it closes the
 * bus, drops its client and prints how long `bus.close()` took. Nothing else keeps it alive, so it
 * must then exit by itself.
 */
const CLOSE_CHILD = `
const { performance } = require("node:perf_hooks");
const { createClient } = require(process.env.MAJOR === "6" ? "redis-v6" : "redis");
const { RedisSessionBus } = require(process.env.LIB);
(async () => {
  const client = createClient({ url: process.env.REDIS_URL });
  client.on("error", () => undefined);
  await client.connect();
  const bus = new RedisSessionBus(client, { channel: "close-test" });
  await bus.subscribe(() => undefined);
  process.stdout.write("ready\\n");
  process.stdin.once("data", async () => {
    process.stdin.destroy();
    const start = performance.now();
    await bus.close();
    const took = performance.now() - start;
    client.destroy();
    process.stdout.write("closed " + took.toFixed(0) + "\\n");
  });
})();
`;

/** Starts the child; resolves once its bus subscribed. */
async function closeChild(url: string, major: RedisMajor) {
  const child = spawn(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", "-e", CLOSE_CHILD],
    {
      cwd: path.join(__dirname, ".."),
      env: {
        ...process.env,
        MAJOR: String(major),
        REDIS_URL: url,
        LIB: path.join(__dirname, "..", "lib", "redis.ts"),
        TS_NODE_PROJECT: path.join(__dirname, "..", "tsconfig.json"),
      },
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const exited = new Promise<number>((resolve) => {
    child.once("exit", () => {
      resolve(performance.now());
    });
  });
  await eventually(() => output.includes("ready"), 15_000, "the child's bus subscribed");
  return {
    /** Asks the child to close; resolves with how long close() took and when the child exited. */
    async close(): Promise<{ closeMs: number; exitMs: number }> {
      const start = performance.now();
      child.stdin.write("close\n");
      const exitedAt = await Promise.race([
        exited,
        delay(5000).then(() => {
          child.kill("SIGKILL");
          return Number.POSITIVE_INFINITY;
        }),
      ]);
      return {
        closeMs: Number(/closed (\d+)/.exec(output)?.[1] ?? Infinity),
        exitMs: exitedAt - start,
      };
    },
  };
}

describeRedis(
  "RedisSessionBus#close against an unreachable Redis",
  () => {
    const redis = useRedis({ control: true });

    describe.each(REDIS_MAJORS)("on node-redis %i", (major) => {
      it("gives up on a paused Redis after 1 s and lets the process exit", async () => {
        const child = await closeChild(redis.url, major);
        redis.server?.pause();
        try {
          const { closeMs, exitMs } = await child.close();

          expect(closeMs).toBeGreaterThanOrEqual(900);
          expect(closeMs).toBeLessThan(1500);
          expect(exitMs).toBeLessThan(2500);
        } finally {
          redis.server?.resume();
        }
      }, 30_000);

      it("closes within 1 s when Redis is stopped, and lets the process exit", async () => {
        const child = await closeChild(redis.url, major);
        await redis.server?.kill();
        try {
          const { closeMs, exitMs } = await child.close();

          // At once when node-redis already saw the connection go; 1 s at most otherwise.
          expect(closeMs).toBeLessThan(1500);
          expect(exitMs).toBeLessThan(2500);
        } finally {
          await redis.server?.restart();
        }
      }, 30_000);
    });
  },
  { control: true },
);

describeRedis(
  "RedisSessionBus while Redis cannot answer",
  () => {
    const redis = useRedis({ control: true });
    const closers: (() => Promise<void>)[] = [];

    afterEach(async () => {
      for (const close of closers.splice(0).reverse()) await close();
      if (redis.server?.running === false) await redis.server.restart();
      redis.server?.resume();
    });

    /** A subscribed bus on its own client; `received` collects what its listener got. */
    async function bus(
      major: RedisMajor,
      channel: string,
      options: { offlineQueue?: boolean } = {},
    ) {
      const client = await connectRedis(redis.url, {
        major,
        reconnectEvery: RECONNECT_EVERY,
        disableOfflineQueue: options.offlineQueue !== true,
      });
      const made = new RedisSessionBus(client, { channel });
      const received: string[] = [];
      await made.subscribe((message) => {
        received.push(message.sessionId);
      });
      closers.push(async () => {
        await made.close();
        await closeRedis(client);
      });
      return { bus: made, client, received };
    }

    describe.each(REDIS_MAJORS)("on node-redis %i", (major) => {
      it("sends what was published during the outage, in order, once Redis is back", async () => {
        const channel = uniqueName("outbox");
        const sender = await bus(major, channel);
        const receiver = await bus(major, channel);
        await redis.server?.kill();
        await eventually(() => !sender.client.isReady, 3000, "sender saw it");

        for (let index = 0; index < 1005; index++) {
          await sender.bus.publish({ type: "update", origin: "sender", sessionId: `s${index}` });
        }
        await redis.server?.restart();

        // 1,000 are kept: the 5 oldest were dropped.
        await eventually(() => receiver.received.length === 1000, 10_000, "all delivered");
        expect(receiver.received[0]).toBe("s5");
        expect(receiver.received.at(-1)).toBe("s1004");
        expect(receiver.received).toEqual(
          [...receiver.received].sort((x, y) => Number(x.slice(1)) - Number(y.slice(1))),
        );
      }, 30_000);

      it("drops the outbox on close without rejecting", async () => {
        const channel = uniqueName("outbox-close");
        const sender = await bus(major, channel);
        await redis.server?.kill();
        await eventually(() => !sender.client.isReady, 3000, "sender saw it");
        await sender.bus.publish({ type: "update", origin: "sender", sessionId: "lost" });

        await expect(sender.bus.close()).resolves.toBeUndefined();
      });

      it("rejects lock() with STORE_ERROR while Redis is down, and release() never rejects", async () => {
        const channel = uniqueName("lock-down");
        const one = await bus(major, channel);
        const lease = await one.bus.lock("alice", 5000, 1000);
        await redis.server?.kill();
        await eventually(() => !one.client.isReady, 3000, "client saw it");

        await expect(one.bus.lock("bob", 5000, 1000)).rejects.toMatchObject({
          code: "STORE_ERROR",
        });
        expect(await lease.held()).toBe(false);
        await expect(lease.release()).resolves.toBeUndefined();
      });

      it("bounds lock(), held() and release() while Redis is paused", async () => {
        const channel = uniqueName("lock-paused");
        const one = await bus(major, channel, { offlineQueue: true });
        const lease = await one.bus.lock("alice", 600, 1000);
        redis.server?.pause();

        let start = performance.now();
        await expect(one.bus.lock("bob", 5000, 200)).rejects.toMatchObject({ code: "TIMEOUT" });
        expect(performance.now() - start).toBeLessThan(700);
        start = performance.now();
        // Bounded by the lease's own expiry (600 ms from the SET).
        expect(await lease.held()).toBe(false);
        expect(performance.now() - start).toBeLessThan(900);
        start = performance.now();
        await lease.release();
        expect(performance.now() - start).toBeLessThan(1500);
        redis.server?.resume();
        // The SET that answered too late is freed as it lands: bob's lock is free again.
        await eventually(
          async () => (await one.client.exists(`${channel}:lock:{bob}`)) === 0,
          3000,
          "late lock freed",
        );
        const bob = await one.bus.lock("bob", 5000, 1000);
        expect(await bob.held()).toBe(true);
        await bob.release();
      }, 20_000);

      it("keeps delivering when the listener throws", async () => {
        const channel = uniqueName("throws");
        const client = await connectRedis(redis.url, { major });
        const made = new RedisSessionBus(client, { channel });
        const received: string[] = [];
        await made.subscribe(
          (message) => {
            received.push(message.sessionId);
            throw new Error("app bug");
          },
          () => {
            throw new Error("app bug too");
          },
        );
        closers.push(async () => {
          await made.close();
          await closeRedis(client);
        });

        await made.publish({ type: "update", origin: "x", sessionId: "a" });
        await made.publish({ type: "update", origin: "x", sessionId: "b" });
        await eventually(() => received.length === 2, 3000, "both delivered");
        expect(received).toEqual(["a", "b"]);
      });
    });
  },
  { control: true },
);
