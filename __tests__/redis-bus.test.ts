import { performance } from "node:perf_hooks";
import type { Socket as ClientSocket } from "engine.io-client";
import { createClient as createClientV6 } from "redis-v6";
import { SessionError, type SessionSocket } from "../lib";
import { RedisSessionBus, type RedisClientLike } from "../lib/redis";
import { closeClients, delay, sessionIdOf, until, type AppSession } from "./helpers/app";
import {
  closeRedis,
  REDIS_MAJORS,
  connectRedis,
  describeRedis,
  evalCalls,
  killSubscribers,
  sessionKey,
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

/** The bus's tests, run once per node-redis major (the nodes' clients; the probe is redis 5). */
function busSuite(major: RedisMajor): void {
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
  async function startNode(
    name: string,
    busChannel: string = channel,
    reconnectEvery?: number,
  ): Promise<RedisNode> {
    const node = await startRedisNode(redis.url, name, {
      client: { major, name: `${channel}-${name}`, reconnectEvery },
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
      for (const value of [
        undefined,
        "redis://127.0.0.1:6379",
        6379,
        {},
        { publish() {} },
        { duplicate() {}, publish() {} },
      ]) {
        expect(() => new RedisSessionBus(value as unknown as RedisClientLike)).toThrow(
          new TypeError(
            "engine.io-session: RedisSessionBus needs a node-redis 5 or 6 client: new RedisSessionBus(await createClient().connect())",
          ),
        );
      }
    });

    it("throws the same TypeError when the client is null", () => {
      expect(() => new RedisSessionBus(null as unknown as RedisClientLike)).toThrow(
        /needs a node-redis 5 or 6 client/,
      );
    });

    it("takes node-redis 5 and 6 clients as they are typed", () => {
      // Compile-time: both majors' clients are RedisClientLike without a cast.
      const clients: RedisClientLike[] = [probe, createClientV6()];
      for (const each of clients) expect(new RedisSessionBus(each)).toBeInstanceOf(RedisSessionBus);
    });

    it("throws a TypeError when history is not a positive integer", () => {
      for (const value of [0, -1, 1.5, Number.NaN, "10", null]) {
        expect(() => new RedisSessionBus(probe, { history: value as unknown as number })).toThrow(
          new TypeError(
            "engine.io-session: RedisSessionBus `history` must be a positive integer (messages kept)",
          ),
        );
      }
    });

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
        record.counter = 42;
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

  describe("updateSession across nodes", () => {
    it("serializes 100 concurrent increments on each of three nodes: exactly 300 in the store", async () => {
      const [a, b, c] = await startNodes("A", "B", "C");
      const alice = await userWithSockets(a, "alice", [a, b, c]);

      const results = await Promise.allSettled(
        alice.sockets.flatMap(({ socket }) =>
          Array.from({ length: 100 }, () =>
            socket.updateSession((record) => {
              const session = record;
              session.counter = (session.counter ?? 0) + 1;
            }),
          ),
        ),
      );

      expect(results.filter(({ status }) => status === "rejected")).toEqual([]);
      expect((await a.app.get("/whoami", alice.cookie)).body).toEqual({
        user: { name: "alice" },
        counter: 300,
      });
      // Every node ends up showing the last value, and no lock is left behind.
      await until(() => alice.sockets.every(({ socket }) => socket.session.counter === 300), 5000);
      expect(await probe.keys(`${channel}:lock:*`)).toEqual([]);
      expect([a, b, c].map((node) => node.server.stats.locks)).toEqual([0, 0, 0]);
    }, 30_000);
  });

  describe("#lock", () => {
    const buses: RedisSessionBus[] = [];
    let clients: RedisClient[];

    beforeEach(async () => {
      clients = await Promise.all(
        ["L1", "L2", "L3"].map((name) => connectRedis(redis.url, { major, name })),
      );
    });

    afterEach(async () => {
      await Promise.all(buses.splice(0).map((bus) => bus.close()));
      await Promise.all(clients.map((each) => closeRedis(each)));
    });

    /** A bus per client, subscribed (so releases wake its waiters). */
    async function lockBuses(): Promise<RedisSessionBus[]> {
      const made = clients.map((each) => new RedisSessionBus(each, { channel }));
      buses.push(...made);
      await Promise.all(made.map((bus) => bus.subscribe(() => undefined)));
      return made;
    }

    it("lets one holder in at a time across buses: 3 x 50 read-modify-writes end at 150", async () => {
      const all = await lockBuses();
      const key = uniqueName("counter");
      let overlapping = 0;
      let maxOverlap = 0;

      await Promise.all(
        all.map(async (bus, index) => {
          for (let round = 0; round < 50; round++) {
            const lease = await bus.lock("alice", 5000, 10_000);
            maxOverlap = Math.max(maxOverlap, ++overlapping);
            const value = Number((await clients[index].get(key)) ?? 0);
            await delay(round % 2);
            await clients[index].set(key, String(value + 1));
            expect(await lease.held()).toBe(true);
            overlapping--;
            await lease.release();
          }
        }),
      );

      expect(await probe.get(key)).toBe("150");
      expect(maxOverlap).toBe(1);
      expect(await probe.keys(`${channel}:lock:*`)).toEqual([]);
    }, 30_000);

    it("keeps locks of different sessions apart", async () => {
      const [one, two] = await lockBuses();
      const alice = await one.lock("alice", 5000, 100);

      const bob = await two.lock("bob", 5000, 100);

      expect(await alice.held()).toBe(true);
      expect(await bob.held()).toBe(true);
      await Promise.all([alice.release(), bob.release()]);
    });

    it("rejects with TIMEOUT when the lock is not free within waitMs", async () => {
      const [one, two] = await lockBuses();
      const holder = await one.lock("alice", 5000, 100);
      const start = performance.now();

      const waited = two.lock("alice", 5000, 150);

      await expect(waited).rejects.toThrow(SessionError);
      await expect(waited).rejects.toMatchObject({ code: "TIMEOUT" });
      const elapsed = performance.now() - start;
      expect(elapsed).toBeGreaterThanOrEqual(140);
      expect(elapsed).toBeLessThan(1000);
      expect(await holder.held()).toBe(true);
      await holder.release();
    });

    it("wakes a waiter at the release, without a busy loop while it waits", async () => {
      const [one, two] = await lockBuses();
      const holder = await one.lock("alice", 30_000, 100);
      const before = await evalCalls(probe);
      let releasedAt = 0;

      const waiting = two.lock("alice", 30_000, 10_000).then((lease) => ({
        lease,
        after: performance.now() - releasedAt,
      }));
      await delay(500);
      releasedAt = performance.now();
      await holder.release();
      const { lease, after: latency } = await waiting;

      expect(latency).toBeLessThan(500);
      // Backoff grows to 50 ms: about 15 attempts in 500 ms, where a busy loop makes hundreds.
      expect((await evalCalls(probe)) - before).toBeLessThan(40);
      expect(await lease.held()).toBe(true);
      await lease.release();
    });

    it("frees the lock of a holder that never releases once its ttl passes", async () => {
      const [one, two] = await lockBuses();
      const dead = await one.lock("alice", 300, 100);
      const start = performance.now();

      const next = await two.lock("alice", 5000, 5000);

      expect(performance.now() - start).toBeGreaterThanOrEqual(250);
      expect(await dead.held()).toBe(false);
      expect(await next.held()).toBe(true);
      // The stale holder's release never frees the next holder's lock.
      await dead.release();
      expect(await next.held()).toBe(true);
      expect(await probe.get(`${channel}:lock:{alice}`)).not.toBeNull();
      await next.release();
      expect(await probe.get(`${channel}:lock:{alice}`)).toBeNull();
    });

    it("answers held() false once released, and releases twice without error", async () => {
      const [one] = await lockBuses();
      const lease = await one.lock("alice", 5000, 100);

      await lease.release();
      await lease.release();

      expect(await lease.held()).toBe(false);
      const again = await one.lock("alice", 5000, 100);
      expect(await again.held()).toBe(true);
      await again.release();
    });

    it("rejects pending waits when the bus closes", async () => {
      const [one, two] = await lockBuses();
      const holder = await one.lock("alice", 5000, 100);
      const waiting = two.lock("alice", 5000, 10_000);
      const start = performance.now();

      await two.close();

      await expect(waiting).rejects.toMatchObject({ code: "TIMEOUT" });
      expect(performance.now() - start).toBeLessThan(500);
      await holder.release();
    });

    it("refuses a ttl below 1 ms or a negative wait with a TypeError", async () => {
      const [one] = await lockBuses();
      for (const [ttl, wait] of [
        [0, 100],
        [Number.NaN, 100],
        [100, -1],
        [100, Number.POSITIVE_INFINITY],
      ]) {
        await expect(one.lock("alice", ttl, wait)).rejects.toThrow(TypeError);
      }
    });
  });

  describe("#subscribe", () => {
    it("delivers from the stream what was published while a node's subscriber was away, once", async () => {
      const [a, b] = await startNodes("A", "B");
      const alice = await userWithSockets(a, "alice", [a, b]);
      const bob = await userWithSockets(a, "bob", [a, b]);
      const [onA, onB] = alice.sockets;
      const [id] = (await probe.sendCommand<string>(["CLIENT", "LIST", "TYPE", "pubsub"]))
        .split("\n")
        .filter((line) => line.includes(` name=${channel}-B `))
        .map((line) => /\bid=(\d+)/.exec(line)?.[1]);
      const missed = JSON.stringify({
        type: "end",
        origin: "outside",
        sessionId: alice.sessionId,
        reason: "closed",
      });

      // One transaction: B's subscriber is gone before the message exists, so only the stream
      // `<channel>:log` can bring it to B (node-redis reconnects within milliseconds).
      await probe
        .multi()
        .addCommand(["CLIENT", "KILL", "ID", String(id)])
        .addCommand(["XADD", `${channel}:log`, "*", "m", missed])
        .exec();

      await until(() => eventsOf(b, onB.socket).length === 2, 5000);
      expect(eventsOf(b, onB.socket)).toEqual(["session_end closed", "close"]);
      expect(eventsOf(a, onA.socket)).toEqual([]);
      // Live delivery works again; a second reconnect does not deliver the old message again.
      await killSubscribers(probe, `${channel}-B`);
      await untilSubscribers(probe, channel, 2);
      a.server.closeSession(bob.sessionId);
      await until(() => b.ends.some((end) => end.sessionId === bob.sessionId));
      expect(b.ends.map(({ sessionId }) => sessionId)).toEqual([alice.sessionId, bob.sessionId]);
    });

    it("reports disconnected when the subscriber connection drops and connected once it is back", async () => {
      const client = await connectRedis(redis.url, {
        major,
        name: `${channel}-S`,
        reconnectEvery: 100,
      });
      const bus = new RedisSessionBus(client, { channel });
      const statuses: string[] = [];
      await bus.subscribe(
        () => undefined,
        (status) => statuses.push(status),
      );
      expect(statuses).toEqual([]);

      await killSubscribers(probe, `${channel}-S`);

      await until(() => statuses.length === 2, 5000);
      expect(statuses).toEqual(["disconnected", "connected"]);
      expect(await subscribers(probe, channel)).toBe(1);
      await bus.close();
      await closeRedis(client);
    });

    it("refuses a second subscribe()", async () => {
      const bus = new RedisSessionBus(probe, { channel });
      await bus.subscribe(() => undefined);

      await expect(bus.subscribe(() => undefined)).rejects.toThrow(/called once/);
      await bus.close();
      await bus.close();
      await expect(bus.publish({ type: "update", origin: "x", sessionId: "s" })).rejects.toThrow(
        /closed/,
      );
    });
  });
}

describeRedis("RedisSessionBus", () => {
  describe.each(REDIS_MAJORS)("on node-redis %i", (major) => {
    busSuite(major);
  });
});
