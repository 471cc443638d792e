// Sessions that behave exactly as express-session's do: what a store is told and believed, touch
// that never writes data, logout that nothing in flight can outrun, refreshes that never go back
// in time. Each race is made to happen on purpose with a store or hydrate() that waits.
import http from "node:http";
import type { AddressInfo } from "node:net";
import session from "express-session";
import {
  SessionServer,
  type SessionBus,
  type SessionBusMessage,
  type SessionRecord,
  type SessionStore,
  type StoreCallback,
} from "../lib";
import { SECRET, client, delay, outcome, sessionIdOf, until, type AppSession } from "./helpers/app";
import { pollingReply } from "./helpers/raw-http";
import {
  closeLive,
  connectLive,
  eventsOf,
  increment,
  setupLive,
  type LiveSetup,
} from "./helpers/live";

afterEach(closeLive);

/** A promise and the function that settles it: the lever of every race below. */
function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

/**
 * A store that expires by TTL, the way connect-redis, connect-pg-simple and express-mysql-session
 * do: `touch` moves only its own expiry, the stored record (and its `cookie.expires`) stays as it
 * was written. What it was handed on each write is kept, to check it.
 */
function ttlStore(memory: session.MemoryStore): SessionStore & {
  written: { method: "set" | "touch"; maxAge: unknown; expires: unknown; json: string }[];
  expiresAt: Map<string, number>;
} {
  const expiresAt = new Map<string, number>();
  const written: { method: "set" | "touch"; maxAge: unknown; expires: unknown; json: string }[] =
    [];
  const raw = new Map<string, string>();
  const note = (method: "set" | "touch", sid: string, record: SessionRecord): void => {
    const cookie = record.cookie as { maxAge?: unknown; expires?: unknown };
    written.push({
      method,
      maxAge: cookie.maxAge,
      expires: cookie.expires,
      json: JSON.stringify(record),
    });
    const ttl = typeof cookie.maxAge === "number" ? cookie.maxAge : 86_400_000;
    expiresAt.set(sid, Date.now() + ttl);
  };
  return {
    written,
    expiresAt,
    get(sid, callback) {
      const at = expiresAt.get(sid);
      const json = raw.get(sid);
      setImmediate(() => {
        if (at === undefined || json === undefined || at <= Date.now()) callback(null, null);
        else callback(null, JSON.parse(json) as SessionRecord);
      });
    },
    set(sid, record, callback) {
      note("set", sid, record);
      raw.set(sid, JSON.stringify(record));
      memory.set(sid, record as session.SessionData, () => callback?.());
    },
    touch(sid, record, callback) {
      note("touch", sid, record); // the TTL moves; the record is not rewritten
      setImmediate(() => callback?.());
    },
    destroy(sid, callback) {
      raw.delete(sid);
      expiresAt.delete(sid);
      memory.destroy(sid, () => callback?.());
    },
  };
}

describe("what a store is told and believed", () => {
  it("keeps a live session whose stored cookie.expires lapsed while the store's TTL was moved", async () => {
    const memory = new session.MemoryStore();
    const store = ttlStore(memory);
    const setup = await setupLive({
      app: { cookie: { maxAge: 400 } },
      server: { store, touchInterval: 100, revalidateInterval: 100 },
    });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    // The HTTP app wrote to its MemoryStore; seed the TTL store with the same session.
    const record = await setup.app.stored(sid);
    await new Promise<void>((resolve) =>
      store.set?.(sid, record!, () => {
        resolve();
      }),
    );
    const { socket } = await connectLive(setup.app, setup.watch, "websocket", cookie);

    await delay(900); // more than twice the cookie's maxAge

    expect(eventsOf(setup.watch, socket)).toEqual([]);
    expect(socket.readyState).toBe("open");
    await expect(outcome(client(setup.app, "polling", cookie))).resolves.toEqual({ kind: "open" });
    expect(store.written.filter((each) => each.method === "touch").length).toBeGreaterThan(3);
  });

  it("hands set and touch the cookie express-session would: maxAge the remaining ms, expires a Date", async () => {
    const memory = new session.MemoryStore();
    const store = ttlStore(memory);
    const setup = await setupLive({ app: { cookie: { maxAge: 20_000 } }, server: { store } });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const record = await setup.app.stored(sid);
    await new Promise<void>((resolve) =>
      store.set?.(sid, record!, () => {
        resolve();
      }),
    );
    store.written.length = 0;
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);

    await socket.updateSession(increment);
    await socket.touchSession();

    expect(store.written.map((each) => each.method)).toEqual(["set", "touch"]);
    for (const each of store.written) {
      expect(each.maxAge).toBeGreaterThan(19_000);
      expect(each.maxAge).toBeLessThanOrEqual(20_000);
      expect(Object.prototype.toString.call(each.expires)).toBe("[object Date]");
      const stored = JSON.parse(each.json) as { cookie: Record<string, unknown> };
      // What express-session stored, kept as is: its Cookie computes originalMaxAge from the
      // remaining ms right after setting maxAge, so it is 20,000 or, a millisecond later, 19,999.
      expect(stored.cookie.originalMaxAge).toBe(record!.cookie.originalMaxAge);
      expect(stored.cookie.originalMaxAge).toBeGreaterThanOrEqual(19_990);
      expect(stored.cookie.originalMaxAge).toBeLessThanOrEqual(20_000);
      expect(stored.cookie).not.toHaveProperty("maxAge");
      expect(stored.cookie.httpOnly).toBe(true);
      expect(stored.cookie.path).toBe("/");
    }
    // The TTL the store computed is the cookie's, not a day.
    expect(store.expiresAt.get(sid)! - Date.now()).toBeLessThanOrEqual(20_000);
  });

  it("reports no change for store bookkeeping such as session-file-store's __lastAccess", async () => {
    const setup = await setupLive({ server: { revalidateInterval: 30 } });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const get = setup.store.get.bind(setup.store);
    setup.store.get = (id, callback) =>
      get(id, (error, record) => {
        if (record) Object.assign(record, { __lastAccess: Date.now() });
        callback(error, record);
      });
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);
    const reads = setup.store.calls.get;

    await until(() => setup.store.calls.get >= reads + 5);

    expect(eventsOf(setup.watch, socket)).toEqual([]);
    expect(setup.server.socketsOf(sid)).toHaveLength(1);
  });
});

describe("touch never writes data", () => {
  /** A store whose touch is a full set (connect-memcached). */
  async function fullSetTouch(): Promise<LiveSetup<AppSession>> {
    const setup = await setupLive({ app: { cookie: { maxAge: 60_000 } } });
    const { memory } = setup.store;
    setup.store.touch = (sid, record, callback) => {
      memory.set(sid, record as session.SessionData, () => callback?.());
    };
    return setup;
  }

  it("keeps an HTTP change when the store's touch is a full set", async () => {
    const setup = await fullSetTouch();
    const cookie = await setup.app.login("ann");
    const { socket } = await connectLive(setup.app, setup.watch, "websocket", cookie);
    await setup.app.setCounter(cookie, 555);

    await socket.touchSession();

    await expect(setup.app.whoami(cookie)).resolves.toEqual({
      user: { name: "ann" },
      counter: 555,
    });
  });

  it("does not bring back a session logged out over HTTP, and ends its sockets", async () => {
    const setup = await fullSetTouch();
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const { socket } = await connectLive(setup.app, setup.watch, "websocket", cookie);
    await setup.app.request("/logout", cookie);

    await expect(socket.touchSession()).rejects.toMatchObject({ code: "NOT_FOUND" });

    await expect(setup.app.stored(sid)).resolves.toBeUndefined();
    await until(() => eventsOf(setup.watch, socket).includes("session_end expired"));
  });

  it("does not undo an HTTP logout with touchInterval on", async () => {
    const setup = await fullSetTouch();
    const server = new SessionServer<AppSession>(setup.app.httpServer, {
      store: setup.store,
      secret: SECRET,
      touchInterval: 20,
      path: "/touching",
    });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const socket = client(setup.app, "websocket", cookie, { path: "/touching" });
    await expect(outcome(socket)).resolves.toEqual({ kind: "open" });
    await setup.app.request("/logout", cookie);

    await delay(200);

    await expect(setup.app.stored(sid)).resolves.toBeUndefined();
    expect(server.socketsOf(sid)).toHaveLength(0);
    server.close();
  });

  it("queues no touch per tick behind a store that hangs, so updates are not held up", async () => {
    const setup = await setupLive({ server: { touchInterval: 10, lookupTimeout: 150 } });
    const cookie = await setup.app.login("ann");
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);
    setup.store.touch = () => undefined; // never answers

    await delay(400);
    const started = Date.now();
    await socket.updateSession(increment); // waits for at most the one touch in flight

    expect(Date.now() - started).toBeLessThan(400);
    expect(setup.watch.errors.filter((each) => each.code === "TIMEOUT").length).toBeLessThan(5);
  });

  it("gives each socket its own cookie after a touch tick", async () => {
    const setup = await setupLive({
      app: { cookie: { maxAge: 60_000 } },
      server: { touchInterval: 20 },
    });
    const cookie = await setup.app.login("ann");
    const a = await connectLive(setup.app, setup.watch, "polling", cookie);
    const b = await connectLive(setup.app, setup.watch, "websocket", cookie);
    const touches = setup.store.calls.touch;
    await until(() => setup.store.calls.touch >= touches + 2);
    await delay(10); // the tick's answers are in

    const [ours, theirs] = [a.socket.record.cookie, b.socket.record.cookie];
    expect(ours).not.toBe(theirs);
    // No shared Date (or any object) between the two sockets' cookies.
    expect(typeof ours.expires === "object" && ours.expires === theirs.expires).toBe(false);
    expect(new Date(ours.expires ?? 0).getTime()).toBeGreaterThan(Date.now() + 50_000);
  });
});

describe("logout is final, whatever is in flight", () => {
  it("refuses a handshake whose store read is in flight when destroySession runs", async () => {
    const setup = await setupLive();
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    setup.store.holdAnswers = true;
    const pending = outcome(client(setup.app, "polling", cookie));
    await until(() => setup.store.held === 1);

    await setup.server.destroySession(sid);
    setup.store.release();

    await expect(pending).resolves.toMatchObject({ kind: "error" });
    expect(setup.watch.byId.size).toBe(0);
    expect(setup.server.stats.sockets).toBe(0);
  });

  it("refuses a handshake whose hydrate() is in flight when destroySession runs", async () => {
    const hydrating = gate();
    const release = gate();
    class Slow extends SessionServer<AppSession> {
      protected override async hydrate(record: AppSession): Promise<AppSession> {
        hydrating.open();
        await release.opened;
        return record;
      }
    }
    const setup = await setupLive({ make: (app, options) => new Slow(app.httpServer, options) });
    const cookie = await setup.app.login("ann");
    const pending = outcome(client(setup.app, "websocket", cookie));
    await hydrating.opened;

    await setup.server.destroySession(sessionIdOf(cookie));
    release.open();

    await expect(pending).resolves.toMatchObject({ kind: "error" });
    expect(setup.watch.byId.size).toBe(0);
    expect(setup.watch.errors.map((each) => each.code)).toContain("NOT_FOUND");
  });

  it("never lets a handshake that starts after the logout join a read from before it", async () => {
    const setup = await setupLive();
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    setup.store.holdAnswers = true;
    const before = outcome(client(setup.app, "polling", cookie));
    await until(() => setup.store.held === 1);
    await setup.server.destroySession(sid);
    const reads = setup.store.calls.get;

    const after = outcome(client(setup.app, "polling", cookie));
    await until(() => setup.store.calls.get === reads + 1);
    setup.store.release();
    await until(() => setup.store.held === 0 && setup.store.inFlight.now === 0);
    setup.store.release();

    await expect(before).resolves.toMatchObject({ kind: "error" });
    await expect(after).resolves.toMatchObject({ kind: "error" });
    expect(setup.watch.byId.size).toBe(0);
  });

  it("lets no updateSession whose read came before the destroy write the session back", async () => {
    const setup = await setupLive();
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);
    const mutating = gate();
    const release = gate();

    const update = socket.updateSession(async (record) => {
      mutating.open();
      await release.opened;
      increment(record);
    });
    await mutating.opened;
    const destroyed = setup.server.destroySession(sid);
    release.open();

    await expect(update).rejects.toMatchObject({ code: "NOT_FOUND" });
    await expect(destroyed).resolves.toBe(1);
    await expect(setup.app.stored(sid)).resolves.toBeUndefined();
    await expect(setup.app.whoami(cookie)).resolves.toMatchObject({ user: null });
  });

  it("ends the sockets at once even while the store delete hangs", async () => {
    const setup = await setupLive({ server: { lookupTimeout: 300 } });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const { socket } = await connectLive(setup.app, setup.watch, "websocket", cookie);
    setup.store.destroy = () => undefined; // never answers

    const destroyed = setup.server.destroySession(sid);
    await until(() => eventsOf(setup.watch, socket).includes("session_end destroyed"));
    // Refused while the delete is in flight, though the store still has the session.
    await expect(outcome(client(setup.app, "polling", cookie))).resolves.toMatchObject({
      kind: "error",
    });

    await expect(destroyed).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(setup.watch.errors.map((each) => each.code)).toContain("TIMEOUT");
    expect(setup.watch.errors.find((each) => each.code === "TIMEOUT")?.sessionId).toBe(sid);
  });
});

describe("a store delete that fails", () => {
  it("is retried in the background, and the session's handshakes stay refused until it lands", async () => {
    const setup = await setupLive({ server: { lookupTimeout: 100 } });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    await connectLive(setup.app, setup.watch, "polling", cookie);
    setup.store.failWith = new Error("store down");

    await expect(setup.server.destroySession(sid)).rejects.toMatchObject({ code: "STORE_ERROR" });
    // The session is still in the store, but its handshakes are refused: logout is final.
    await expect(setup.app.stored(sid)).resolves.toBeDefined();
    setup.store.failWith = undefined;
    await expect(outcome(client(setup.app, "polling", cookie))).resolves.toMatchObject({
      kind: "error",
    });

    await until(() => setup.store.calls.destroy >= 3);
    await delay(20);
    await expect(setup.app.stored(sid)).resolves.toBeUndefined();
    await until(() => setup.server.stats.tombstones <= 1); // the ending state is over
  });
});

describe("refreshes never go back in time", () => {
  /** An in-process bus that delivers each message to every other server. */
  function busPair(): [SessionBus, (message: SessionBusMessage) => void] {
    let listener: ((message: SessionBusMessage) => void) | undefined;
    const bus: SessionBus = {
      publish: () => Promise.resolve(),
      subscribe(each) {
        listener = each;
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    };
    return [bus, (message) => listener?.(message)];
  }

  it("keeps the newer value when two bus re-reads answer out of order", async () => {
    const [bus, deliver] = busPair();
    const setup = await setupLive({ server: { bus } });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);
    const answers: (() => void)[] = [];
    const get = setup.store.get.bind(setup.store);
    setup.store.get = (id, callback: StoreCallback<SessionRecord | null>) =>
      get(id, (error, record) =>
        answers.push(() => {
          callback(error, record);
        }),
      );

    await setup.app.setCounter(cookie, 1);
    deliver({ type: "update", origin: "other", sessionId: sid });
    await until(() => answers.length === 1);
    await setup.app.setCounter(cookie, 2);
    deliver({ type: "update", origin: "other", sessionId: sid });
    await until(() => answers.length === 2);
    answers[1](); // the newer read answers first
    await until(() => socket.session.counter === 2);
    answers[0]();
    await delay(20);

    expect(socket.session.counter).toBe(2);
  });
});

describe("records no store can write", () => {
  it("refuses a handshake whose record holds a BigInt with STORE_ERROR", async () => {
    const setup = await setupLive({ server: { revalidateInterval: 20 } });
    const cookie = await setup.app.login("ann");
    const get = setup.store.get.bind(setup.store);
    setup.store.get = (id, callback) =>
      get(id, (error, record) => {
        callback(error, record && Object.assign(record, { big: 1n }));
      });

    await expect(outcome(client(setup.app, "websocket", cookie))).resolves.toMatchObject({
      kind: "error",
    });
    expect(setup.watch.errors.map((each) => each.code)).toEqual(["STORE_ERROR"]);
  });

  it("ends a live session's sockets with a session_error when its record turns unstorable", async () => {
    const setup = await setupLive({ server: { revalidateInterval: 20 } });
    const cookie = await setup.app.login("ann");
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);
    const get = setup.store.get.bind(setup.store);
    setup.store.get = (id, callback) =>
      get(id, (error, record) => {
        if (record) (record as unknown as { self: unknown }).self = record; // a cycle
        callback(error, record);
      });

    await until(() => eventsOf(setup.watch, socket).includes("close"));

    expect(setup.watch.errors[0]).toMatchObject({ code: "STORE_ERROR" });
    expect(eventsOf(setup.watch, socket)).toContain("session_end closed");
  });
});

describe("an http server closed and listening again", () => {
  it("accepts handshakes again, as plain engine.io does", async () => {
    const store = new session.MemoryStore();
    const httpServer = http.createServer();
    const server = new SessionServer(httpServer, { store, secret: SECRET, required: false });
    const listen = () =>
      new Promise<number>((resolve) =>
        httpServer.listen(0, "127.0.0.1", () => {
          resolve((httpServer.address() as AddressInfo).port);
        }),
      );
    await listen();
    await new Promise((resolve) => httpServer.close(resolve));

    const port = await listen();
    const reply = await pollingReply(`http://127.0.0.1:${port}`);

    expect(reply.status).toBe(200);
    server.close();
    await new Promise((resolve) => httpServer.close(resolve));
  });
});

describe("a refused polling handshake", () => {
  it("carries the SessionErrorCode in its body", async () => {
    const setup = await setupLive();

    const reply = await pollingReply(setup.app.url);

    expect(reply.status).toBe(403);
    expect(JSON.parse(reply.body)).toEqual({
      code: 4,
      message: "no cookie 'connect.sid' in the handshake request",
      sessionErrorCode: "NO_COOKIE",
    });
  });
});

describe("option `session`: one settings object for both sides", () => {
  it("reads store, secret and name from express-session's own options", async () => {
    const setup = await setupLive();
    const sessionOptions = { store: setup.store, secret: SECRET, name: "connect.sid" };
    const server = new SessionServer<AppSession>(setup.app.httpServer, {
      session: sessionOptions,
      path: "/shared",
    });
    const cookie = await setup.app.login("ann");
    const seen = new Promise<string | undefined>((resolve) =>
      server.once("session", (_socket, value) => {
        resolve(value.user?.name);
      }),
    );

    await expect(
      outcome(client(setup.app, "polling", cookie, { path: "/shared" })),
    ).resolves.toEqual({ kind: "open" });

    await expect(seen).resolves.toBe("ann");
    server.close();
  });

  it("throws a TypeError when a top-level setting disagrees with `session`", () => {
    const store = new session.MemoryStore();

    expect(() => new SessionServer({ session: { store, secret: "a" }, secret: "b" })).toThrow(
      "engine.io-session: `secret` and `session.secret` differ",
    );
  });

  it("types updateSession's record as the server's record type, no cast needed", async () => {
    const setup = await setupLive();
    const server = new SessionServer<AppSession>(setup.app.httpServer, {
      store: setup.store,
      secret: SECRET,
      path: "/typed",
    });
    const cookie = await setup.app.login("ann");
    const opened = new Promise<number | undefined>((resolve) => {
      server.once("session", (socket) => {
        void socket
          .updateSession((record) => {
            record.counter = (record.counter ?? 0) + 41;
            // @ts-expect-error -- not a field of AppSession
            record.notAField = 1;
          })
          .then((value) => {
            resolve(value.counter);
          });
      });
    });

    await expect(
      outcome(client(setup.app, "polling", cookie, { path: "/typed" })),
    ).resolves.toEqual({ kind: "open" });

    await expect(opened).resolves.toBe(41);
    server.close();
  });
});
