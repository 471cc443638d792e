import { EventEmitter } from "node:events";
import session from "express-session";
import type { SessionBus, SessionBusMessage, SessionServer, SessionSocket } from "../lib";
import { parseBusMessage } from "../lib/session-bus";
import {
  attachServer,
  client,
  closeClients,
  outcome,
  startApp,
  until,
  type AppSession,
  type TestApp,
} from "./helpers/app";

/** A bus for nodes in one process: what RedisSessionBus does over Redis, over an EventEmitter. */
class InProcessBus implements SessionBus {
  readonly published: SessionBusMessage[] = [];
  #listener: ((message: SessionBusMessage) => void) | undefined;
  constructor(readonly wire: EventEmitter) {}
  publish(message: SessionBusMessage): Promise<void> {
    this.published.push(message);
    this.wire.emit("message", JSON.stringify(message));
    return Promise.resolve();
  }
  subscribe(listener: (message: SessionBusMessage) => void): Promise<void> {
    this.#listener = listener;
    this.wire.on("message", this.#onRaw);
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.wire.off("message", this.#onRaw);
    return Promise.resolve();
  }
  readonly #onRaw = (raw: string): void => {
    const message = parseBusMessage(raw);
    if (message !== undefined) this.#listener?.(message);
  };
}

describe("parseBusMessage", () => {
  it("reads an end message", () => {
    const raw = '{"type":"end","origin":"a","sessionId":"s","reason":"destroyed"}';
    expect(parseBusMessage(raw)).toEqual({
      type: "end",
      origin: "a",
      sessionId: "s",
      reason: "destroyed",
    });
  });

  it("reads an update message", () => {
    expect(parseBusMessage('{"type":"update","origin":"a","sessionId":"s"}')).toEqual({
      type: "update",
      origin: "a",
      sessionId: "s",
    });
  });

  it.each([
    ["not JSON", "{"],
    ["null", "null"],
    ["a number", "5"],
    ["an unknown type", '{"type":"boom","origin":"a","sessionId":"s"}'],
    ["an unknown reason", '{"type":"end","origin":"a","sessionId":"s","reason":"x"}'],
    ["no origin", '{"type":"update","sessionId":"s"}'],
    ["an empty session id", '{"type":"update","origin":"a","sessionId":""}'],
  ])("ignores %s", (_what, raw) => {
    expect(parseBusMessage(raw)).toBeUndefined();
  });
});

describe("SessionServer with a bus", () => {
  const wire = new EventEmitter();
  const store = new session.MemoryStore();
  let apps: TestApp[];
  let servers: SessionServer<AppSession>[];
  let buses: InProcessBus[];
  let sockets: SessionSocket<AppSession>[][];

  beforeEach(async () => {
    apps = [await startApp({ store }), await startApp({ store })];
    buses = apps.map(() => new InProcessBus(wire));
    sockets = apps.map(() => []);
    servers = apps.map((app, node) => {
      const server = attachServer(app, { bus: buses[node] });
      server.on("session", (socket) => sockets[node]?.push(socket));
      return server;
    });
  });

  afterEach(async () => {
    closeClients();
    for (const server of servers) server.close();
    for (const app of apps) await app.close();
  });

  async function connectBoth(cookie: string): Promise<void> {
    for (const app of apps)
      expect(await outcome(client(app, "websocket", cookie))).toEqual({ kind: "open" });
  }

  it("ends the session's sockets on the other node when it is destroyed on one", async () => {
    const cookie = await apps[0].login("ada");
    const other = await apps[0].login("bob");
    await connectBoth(cookie);
    await connectBoth(other);
    const ends: string[] = [];
    servers[1].on("session_end", (_sid, reason) => ends.push(reason));
    const ada = sockets[0][0];
    expect(await servers[0].destroySession(ada.sessionId)).toBe(1);
    await until(() => ends.length === 1);
    expect(ends).toEqual(["destroyed"]);
    expect(servers[1].socketsOf(ada.sessionId)).toEqual([]);
    expect(servers[1].socketsOf(sockets[1][1].sessionId)).toHaveLength(1);
  });

  it("ends the sockets on the other node with closeSession's reason", async () => {
    const cookie = await apps[0].login("ada");
    await connectBoth(cookie);
    const reasons: string[] = [];
    sockets[1][0].on("session_end", (reason) => reasons.push(reason));
    servers[0].closeSession(sockets[0][0].sessionId);
    await until(() => reasons.length === 1);
    expect(reasons).toEqual(["closed"]);
  });

  it("refreshes the other node's sockets after updateSession", async () => {
    const cookie = await apps[0].login("ada");
    await connectBoth(cookie);
    const remote = sockets[1][0];
    const updated = new Promise<AppSession>((resolve) => remote.once("session_update", resolve));
    await sockets[0][0].updateSession((record) => {
      record.counter = 7;
    });
    expect((await updated).counter).toBe(7);
    expect(remote.session.counter).toBe(7);
    expect(buses[0].published.map((m) => m.type)).toEqual(["update"]);
  });

  it("ignores its own messages", async () => {
    const cookie = await apps[0].login("ada");
    await connectBoth(cookie);
    const local = sockets[0][0];
    let updates = 0;
    local.on("session_update", () => updates++);
    await local.updateSession((record) => {
      record.counter = 1;
    });
    await until(() => sockets[1][0].session.counter === 1);
    expect(updates).toBe(1);
  });

  it("throws a TypeError for a bus without the SessionBus methods", () => {
    expect(() => attachServer(apps[0], { bus: {} as SessionBus })).toThrow(
      new TypeError(
        "engine.io-session: `bus` must be a SessionBus with publish, subscribe and close methods, e.g. new RedisSessionBus(redisClient)",
      ),
    );
  });
});
