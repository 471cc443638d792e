import { performance } from "node:perf_hooks";
import type { Socket as ClientSocket } from "engine.io-client";
import type { SessionSocket } from "../lib";
import { RedisSessionBus, type RedisClientLike } from "../lib/redis";
import { closeClients, delay, sessionIdOf, until, type AppSession } from "./helpers/app";
import {
  closeRedis,
  connectRedis,
  describeRedis,
  sessionKey,
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

describeRedis("RedisSessionBus", () => {
  const redis = useRedis();
  const nodes: RedisNode[] = [];
  /** The test's own client: publishes foreign messages, asks PUBSUB NUMSUB, reads keys. */
  let probe: RedisClient;
  let channel: string;

  beforeAll(async () => {
    probe = await connectRedis(redis.url);
  });

  beforeEach(() => {
    channel = uniqueName("engine.io-session:test");
  });

  afterEach(async () => {
    closeClients();
    for (const node of nodes.splice(0)) await closeRedisNode(node);
  });

  afterAll(async () => {
    await closeRedis(probe);
  });

  /** A node with the bus on `busChannel` (`"default"` leaves the option out). */
  async function startNode(name: string, busChannel: string = channel): Promise<RedisNode> {
    const node = await startRedisNode(redis.url, name, {
      bus: busChannel === "default" ? {} : { channel: busChannel },
      log: ["session_update", "session_end", "close"],
    });
    nodes.push(node);
    return node;
  }

  /** Starts nodes on `channel` and waits until each has subscribed. */
  async function startNodes(...names: string[]): Promise<RedisNode[]> {
    const started = await Promise.all(names.map((name) => startNode(name)));
    await untilSubscribers(probe, channel, names.length);
    return started;
  }

  /** A user logged in over HTTP on `home`, with one socket on each of `on`. */
  async function userWithSockets(
    home: RedisNode,
    user: string,
    on: readonly RedisNode[],
  ): Promise<{
    cookie: string;
    sessionId: string;
    sockets: { node: RedisNode; client: ClientSocket; socket: SessionSocket<AppSession> }[];
  }> {
    const cookie = await home.app.login(user);
    const sockets = await Promise.all(
      on.map(async (node, index) => ({
        node,
        ...(await connectTo(node, index % 2 === 0 ? "websocket" : "polling", cookie)),
      })),
    );
    return { cookie, sessionId: sessionIdOf(cookie), sockets };
  }

  describe("#ctor", () => {
    it("throws a TypeError that says what to pass when the client is not a node-redis client", () => {
      for (const value of [undefined, "redis://127.0.0.1:6379", 6379, {}, { publish() {} }]) {
        expect(() => new RedisSessionBus(value as unknown as RedisClientLike)).toThrow(
          new TypeError(
            "engine.io-session: RedisSessionBus needs a node-redis v5 client: new RedisSessionBus(await createClient().connect())",
          ),
        );
      }
    });

    // lib/redis.ts:52 checks `typeof client !== "object"` but typeof null is "object": null then
    // fails on `client.duplicate` with "Cannot read properties of null". Drop `.failing` once fixed.
    it("throws the same TypeError when the client is null", () => {
      expect(() => new RedisSessionBus(null as unknown as RedisClientLike)).toThrow(
        /needs a node-redis v5 client/,
      );
    });

    // lib/redis.ts:58 reads `options.channel ?? default`: null counts as unset, where the house rule
    // is that only undefined does. Drop `.failing` once fixed.
    it("throws a TypeError when the channel is null", () => {
      expect(() => new RedisSessionBus(probe, { channel: null as unknown as string })).toThrow(
        TypeError,
      );
    });

    it("throws a TypeError when the channel is not a non-empty string", () => {
      for (const value of ["", 42, {}, ["a"]]) {
        expect(() => new RedisSessionBus(probe, { channel: value as unknown as string })).toThrow(
          new TypeError("engine.io-session: RedisSessionBus `channel` must be a non-empty string"),
        );
      }
    });

    it("subscribes nothing until a server is given the bus", async () => {
      new RedisSessionBus(probe, { channel });
      await delay(50);
      expect(await subscribers(probe, channel)).toBe(0);
    });
  });

  describe("destroySession", () => {
    it("ends the session's sockets on every other node within 100 ms on loopback", async () => {
      const [a, b, c] = await startNodes("A", "B", "C");
      const bob = await userWithSockets(b, "bob", [a, b, c]);
      const latencies: number[] = [];

      for (let round = 0; round < 5; round++) {
        const alice = await userWithSockets(a, `alice-${round}`, [a, b, c]);
        const closed = alice.sockets.map(
          ({ client: socket }) =>
            new Promise<void>((resolve) =>
              socket.once("close", () => {
                resolve();
              }),
            ),
        );
        const start = performance.now();

        expect(await c.server.destroySession(alice.sessionId)).toBe(1);

        await until(() =>
          [a, b].every((node) => node.ends.some((end) => end.sessionId === alice.sessionId)),
        );
        for (const node of [a, b]) {
          const end = node.ends.find((each) => each.sessionId === alice.sessionId)!;
          expect(end.reason).toBe("destroyed");
          latencies.push(end.at - start);
        }
        for (const { node, socket } of alice.sockets) {
          expect(eventsOf(node, socket)).toEqual(["session_end destroyed", "close"]);
        }
        await Promise.all(closed);
        expect(await probe.exists(sessionKey(alice.sessionId))).toBe(0);
      }

      latencies.sort((x, y) => x - y);
      console.log(
        `bus latency, destroySession on C -> session_end on A and B (${latencies.length} samples): ` +
          `median ${latencies[latencies.length >> 1].toFixed(1)} ms, max ${latencies[latencies.length - 1].toFixed(1)} ms`,
      );
      // The spec's figure is 100 ms on loopback; asserted generously against slow CI machines.
      expect(latencies[latencies.length - 1]).toBeLessThan(1000);
      for (const { node, client: socket, socket: session } of bob.sockets) {
        expect(socket.readyState).toBe("open");
        expect(eventsOf(node, session)).toEqual([]);
      }
      expect([a, b, c].map((node) => node.server.stats.sessions)).toEqual([1, 1, 1]);
      expect([a, b, c].flatMap((node) => node.errors)).toEqual([]);
    });
  });

  describe("closeSession", () => {
    it("ends the session's sockets on every node and keeps it in the store", async () => {
      const [a, b, c] = await startNodes("A", "B", "C");
      const alice = await userWithSockets(a, "alice", [a, b, c]);
      const bob = await userWithSockets(a, "bob", [a, b, c]);

      expect(b.server.closeSession(alice.sessionId)).toBe(1);

      await until(() =>
        alice.sockets.every(({ node, socket }) => eventsOf(node, socket).length === 2),
      );
      for (const { node, socket } of alice.sockets) {
        expect(eventsOf(node, socket)).toEqual(["session_end closed", "close"]);
      }
      for (const node of [a, c]) {
        expect(node.ends.map(({ sessionId, reason }) => [sessionId, reason])).toEqual([
          [alice.sessionId, "closed"],
        ]);
      }
      expect(await probe.exists(sessionKey(alice.sessionId))).toBe(1);
      // The session lives on: a new socket on any node gets it again.
      const again = await connectTo(c, "websocket", alice.cookie);
      expect(again.socket.session.user).toEqual({ name: "alice" });
      for (const { client: socket } of bob.sockets) expect(socket.readyState).toBe("open");
    });
  });

  describe("updateSession", () => {
    it("refreshes the session's sockets on the other nodes with the new data", async () => {
      const [a, b, c] = await startNodes("A", "B", "C");
      const alice = await userWithSockets(a, "alice", [a, b, c]);
      const bob = await userWithSockets(a, "bob", [a, b, c]);
      const [onA, onB, onC] = alice.sockets;

      await onA.socket.updateSession((record) => {
        (record as AppSession).counter = 42;
      });

      await until(() =>
        [onB, onC].every(({ node, socket }) => eventsOf(node, socket).length === 1),
      );
      for (const { node, socket } of alice.sockets) {
        expect(eventsOf(node, socket)).toEqual(["session_update 42"]);
        expect(socket.session).toMatchObject({ user: { name: "alice" }, counter: 42 });
      }
      // Each node got its own copy, read from Redis.
      expect(onB.socket.session).not.toBe(onC.socket.session);
      for (const { node, socket, client: bobClient } of bob.sockets) {
        expect(eventsOf(node, socket)).toEqual([]);
        expect(socket.session.counter).toBeUndefined();
        expect(bobClient.readyState).toBe("open");
      }
      expect((await c.app.get("/whoami", alice.cookie)).body).toEqual({
        user: { name: "alice" },
        counter: 42,
      });
    });
  });

  describe("foreign messages", () => {
    it("ignores malformed and foreign messages on the channel", async () => {
      const [a, b] = await startNodes("A", "B");
      const alice = await userWithSockets(a, "alice", [a, b]);
      const bob = await userWithSockets(a, "bob", [a, b]);
      const junk = [
        "not json",
        "",
        "null",
        "42",
        '"end"',
        "[]",
        "{}",
        JSON.stringify({ type: "end", origin: "x", sessionId: alice.sessionId }),
        JSON.stringify({ type: "end", origin: "x", sessionId: alice.sessionId, reason: "bogus" }),
        JSON.stringify({ type: "end", origin: 7, sessionId: alice.sessionId, reason: "closed" }),
        JSON.stringify({ type: "end", origin: "x", sessionId: "", reason: "closed" }),
        JSON.stringify({ type: "kick", origin: "x", sessionId: alice.sessionId }),
        JSON.stringify({ type: "update", origin: "x", sessionId: 5 }),
        JSON.stringify({ event: "something else entirely", data: [1, 2, 3] }),
      ];

      for (const message of junk) await probe.publish(channel, message);
      // Pub/sub keeps order: once this well-formed message acted, every junk one was delivered.
      await probe.publish(
        channel,
        JSON.stringify({
          type: "end",
          origin: "outside",
          sessionId: bob.sessionId,
          reason: "closed",
        }),
      );

      await until(() => a.ends.length === 1 && b.ends.length === 1);
      for (const node of [a, b]) {
        expect(node.ends.map(({ sessionId }) => sessionId)).toEqual([bob.sessionId]);
        expect(node.errors).toEqual([]);
      }
      for (const { node, socket, client: aliceClient } of alice.sockets) {
        expect(eventsOf(node, socket)).toEqual([]);
        expect(aliceClient.readyState).toBe("open");
      }
    });
  });

  describe("#close", () => {
    it("unsubscribes on server.close() and leaves the app's client open", async () => {
      const [a, b, c] = await startNodes("A", "B", "C");
      const alice = await userWithSockets(b, "alice", [b, c]);

      a.server.close();

      await untilSubscribers(probe, channel, 2);
      expect(a.redis.isOpen).toBe(true);
      expect(await a.redis.ping()).toBe("PONG");
      expect(await a.redis.exists(sessionKey(alice.sessionId))).toBe(1);
      // The other nodes still talk to each other.
      b.server.closeSession(alice.sessionId);
      const [, onC] = alice.sockets;
      await until(() => eventsOf(c, onC.socket).includes("session_end closed"));
    });
  });

  describe("channel option", () => {
    it("isolates two groups of nodes that use different channels", async () => {
      const before = await subscribers(probe, "engine.io-session");
      const a1 = await startNode("A1", "default");
      const b1 = await startNode("B1", "default");
      const [a2, b2] = await startNodes("A2", "B2");
      // The default channel has both nodes of group 1.
      await untilSubscribers(probe, "engine.io-session", before + 2);
      const alice = await userWithSockets(a1, "alice", [a1, b1, a2, b2]);
      const [, onB1, onA2, onB2] = alice.sockets;

      a1.server.closeSession(alice.sessionId);

      await until(() => eventsOf(b1, onB1.socket).includes("session_end closed"));
      await delay(150);
      expect(eventsOf(a2, onA2.socket)).toEqual([]);
      expect(eventsOf(b2, onB2.socket)).toEqual([]);
      expect(onB2.client.readyState).toBe("open");

      a2.server.closeSession(alice.sessionId);

      await until(() => eventsOf(b2, onB2.socket).includes("session_end closed"));
    });
  });
});
