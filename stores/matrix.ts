import http from "node:http";
import type { Socket as ClientSocket } from "engine.io-client";
import { SessionServer, type SessionServerOptions, type SessionSocket } from "../lib";
import { start, stop, type ServerSpec } from "../scripts/servers/servers";
import {
  SECRET,
  client,
  closeClients,
  delay,
  listen,
  outcome,
  record,
  sessionIdOf,
  until,
  type MatrixSession,
  type Recorder,
  type TransportMode,
} from "./harness";
import { serversState } from "./servers-env";
import { DEFAULT_MAX_AGE, startStoreApp, type StoreApp } from "./store-app";
import type { OpenedStore, StoreCase } from "./store-table";

/** A SessionServer on its own HTTP server (running the store's Express app), and what it did. */
interface Rig {
  readonly url: string;
  readonly server: SessionServer<MatrixSession>;
  readonly watch: Recorder<MatrixSession>;
  /** Connects a client with `cookie`; resolves with it and its SessionSocket, or rejects. */
  readonly connect: (mode: TransportMode, cookie: string) => Promise<Connected>;
  /** `"open"` when a handshake with `cookie` gets a socket (closed again), else why not. */
  readonly handshake: (mode: TransportMode, cookie: string) => Promise<string>;
}

interface Connected {
  readonly client: ClientSocket;
  readonly socket: SessionSocket<MatrixSession>;
}

/** What every check opened; closed after each check, also when it failed. */
const cleanups: (() => Promise<void> | void)[] = [];

async function cleanup(): Promise<void> {
  closeClients();
  for (const close of cleanups.splice(0).reverse()) await close();
}

async function rig(
  app: StoreApp,
  opened: OpenedStore,
  options: Partial<SessionServerOptions> = {},
): Promise<Rig> {
  const loopback = await listen(app.app);
  const server = new SessionServer<MatrixSession>(loopback.httpServer, {
    store: opened.store,
    secret: SECRET,
    lookupTimeout: 3000,
    ...options,
  });
  cleanups.push(loopback.close);
  cleanups.push(() => {
    server.close();
  });
  const watch = record(server);

  async function connect(mode: TransportMode, cookie: string): Promise<Connected> {
    const socket = client(loopback.url, mode, cookie);
    const result = await outcome(socket);
    if (result !== "open") throw new Error(`handshake ${result}`);
    await until(() => watch.sockets.has(socket.id));
    const sessionSocket = watch.sockets.get(socket.id);
    if (sessionSocket === undefined) throw new Error("no SessionSocket for the client");
    return { client: socket, socket: sessionSocket };
  }

  return {
    url: loopback.url,
    server,
    watch,
    connect,
    async handshake(mode, cookie) {
      const socket = client(loopback.url, mode, cookie);
      const result = await outcome(socket);
      socket.close();
      return result === "open"
        ? result
        : `${result} (session_error codes so far: ${watch.errors.join(",")})`;
    },
  };
}

/** A polling handshake without a cookie, as a raw request: status and `Set-Cookie` lines. */
function bareHandshake(url: string): Promise<{ status: number; setCookie: string[] }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/engine.io/?EIO=4&transport=polling`, (res) => {
      res.resume();
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, setCookie: res.headers["set-cookie"] ?? [] });
      });
    });
    req.on("error", reject);
  });
}

/** Milliseconds until the backing store drops `sid`, by its own bookkeeping. */
async function remaining(opened: OpenedStore, sid: string): Promise<number | undefined> {
  const at = await opened.expiresAt(sid);
  return at === undefined ? undefined : at - Date.now();
}

/** The record as the store's own `get` returns it (what the next HTTP request loads). */
function stored(opened: OpenedStore, sid: string): Promise<MatrixSession | undefined> {
  return new Promise((resolve, reject) => {
    opened.store.get(sid, (error: unknown, record) => {
      if (error) reject(error instanceof Error ? error : new Error("store get failed"));
      else resolve(record ?? undefined);
    });
  });
}

/** Restarts a stopped backing server and waits until the store's client answers again. */
async function restart(spec: ServerSpec, opened: OpenedStore): Promise<void> {
  await start(spec);
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const ok = await stored(opened, "probe").then(
      () => true,
      () => false,
    );
    if (ok) return;
    await delay(200);
  }
  throw new Error(`${spec.kind} restarted, but the store still fails after 15 s`);
}

/** A stored cookie without its expiry (which every write moves). */
function cookieFields(record: MatrixSession | undefined): Record<string, unknown> {
  const { expires, ...fields } = (record?.cookie ?? {}) as Record<string, unknown>;
  return { ...fields, expires: typeof expires };
}

/** Store TTLs are whole seconds (rounded up, down or to nearest): allow that and some latency. */
const ROUNDING_MS = 1500;

/** The events of `socket`. */
function eventsOf(watch: Recorder<MatrixSession>, socket: SessionSocket<MatrixSession>): string[] {
  return watch.events.get(socket) ?? [];
}

/** Its `session_end` events. */
function ends(watch: Recorder<MatrixSession>, socket: SessionSocket<MatrixSession>): string[] {
  return eventsOf(watch, socket).filter((event) => event.startsWith("session_end"));
}

/** An `updateSession` mutation: adds one to the counter. */
function increment(session: { cookie: unknown }): void {
  const data = session as MatrixSession;
  data.counter = (data.counter ?? 0) + 1;
}

/**
 * The matrix: the same checks for every store of `cases`, each against a real Express +
 * express-session app sharing the store with a SessionServer.
 */
export function describeStoreMatrix(cases: readonly StoreCase[]): void {
  const state = serversState();
  const runnable = cases.filter((row) => row.server === undefined || row.server in state.servers);
  const skipped = cases.filter((row) => !runnable.includes(row));
  if (skipped.length > 0) {
    describe.skip.each(skipped)("$name (no server)", () => {
      it("is skipped", () => undefined);
    });
  }
  if (runnable.length === 0) return;

  describe.each(runnable)("$name", (row) => {
    let opened: OpenedStore;
    let app: StoreApp;

    beforeAll(async () => {
      opened = await row.open();
      app = await startStoreApp(opened.store);
    });

    afterEach(cleanup);

    afterAll(async () => {
      await app.close();
      await opened.close();
    });

    it("serves an HTTP login on polling and on websocket", async () => {
      const cookie = await app.login("ada");
      const { server, connect } = await rig(app, opened);
      const polling = await connect("polling", cookie);
      const websocket = await connect("websocket", cookie);
      expect(polling.socket.session.user).toEqual({ name: "ada" });
      expect(websocket.socket.session.user).toEqual({ name: "ada" });
      expect(server.socketsOf(sessionIdOf(cookie))).toHaveLength(2);
    });

    it("updateSession is seen by the next HTTP request", async () => {
      const cookie = await app.login("ada");
      const { connect } = await rig(app, opened);
      const { socket } = await connect("websocket", cookie);
      await socket.updateSession((record) => {
        record.counter = 41;
      });
      expect(await app.whoami(cookie)).toMatchObject({ user: { name: "ada" }, counter: 41 });
    });

    it("reloadSession sees a change made over HTTP", async () => {
      const cookie = await app.login("ada");
      const { connect } = await rig(app, opened);
      const { socket } = await connect("polling", cookie);
      await app.setCounter(cookie, 77);
      const reloaded = await socket.reloadSession();
      expect(reloaded.counter).toBe(77);
      expect(socket.session.counter).toBe(77);
    });

    it("touchInterval keeps the session alive past its first expiry, at its own maxAge", async () => {
      const maxAge = 2500;
      const cookie = await app.login("ada", maxAge);
      const loggedIn = Date.now();
      const sid = sessionIdOf(cookie);
      const { watch, connect, handshake } = await rig(app, opened, {
        touchInterval: 500,
        revalidateInterval: 500,
      });
      const { socket } = await connect("websocket", cookie);
      await delay(loggedIn + maxAge + 1500 - Date.now());
      expect(ends(watch, socket)).toEqual([]);
      expect(await handshake("polling", cookie)).toBe("open");
      const left = await remaining(opened, sid);
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(maxAge + ROUNDING_MS);
      expect((await app.whoami(cookie)).user).toEqual({ name: "ada" });
    });

    it("rolling HTTP requests keep the socket's session alive past its first expiry", async () => {
      const maxAge = 2500;
      const cookie = await app.login("ada", maxAge);
      const loggedIn = Date.now();
      const sid = sessionIdOf(cookie);
      const { watch, connect, handshake } = await rig(app, opened, { revalidateInterval: 500 });
      const { socket } = await connect("websocket", cookie);
      while (Date.now() < loggedIn + maxAge + 1500) {
        expect((await app.whoami(cookie)).sid).toBe(sid);
        await delay(400);
      }
      expect(ends(watch, socket)).toEqual([]);
      expect(await handshake("websocket", cookie)).toBe("open");
      const left = await remaining(opened, sid);
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(maxAge + ROUNDING_MS);
    });

    it("updateSession and touchSession keep the store's TTL at the session's maxAge (20 s), never a day", async () => {
      const maxAge = 20_000;
      const cookie = await app.login("ada", maxAge);
      const sid = sessionIdOf(cookie);
      const { connect } = await rig(app, opened);
      const { socket } = await connect("websocket", cookie);
      await socket.updateSession(increment);
      const afterUpdate = await remaining(opened, sid);
      await socket.touchSession();
      const afterTouch = await remaining(opened, sid);
      socket.record.counter = 5;
      await socket.saveSession();
      const afterSave = await remaining(opened, sid);
      const lifetimes = { afterUpdate, afterTouch, afterSave };
      for (const [after, left] of Object.entries(lifetimes)) {
        // The key in the message says which write stretched it.
        expect({ [after]: left }).toEqual({ [after]: expect.any(Number) as number });
        expect({ [after]: (left ?? 0) <= maxAge + ROUNDING_MS }).toEqual({ [after]: true });
        expect({ [after]: (left ?? 0) > maxAge - 5000 }).toEqual({ [after]: true });
      }
      expect((await app.whoami(cookie)).counter).toBe(5);
    });

    it("socket writes keep the stored cookie's fields as express-session stored them", async () => {
      const cookie = await app.login("ada");
      const sid = sessionIdOf(cookie);
      const before = cookieFields(await stored(opened, sid));
      const { connect } = await rig(app, opened);
      const { socket } = await connect("websocket", cookie);
      await socket.updateSession(increment);
      const afterUpdate = cookieFields(await stored(opened, sid));
      await socket.touchSession();
      const afterTouch = cookieFields(await stored(opened, sid));
      // express-session reads originalMaxAge back from its own getter: 59,999 at times.
      expect(before).toMatchObject({
        originalMaxAge: expect.any(Number) as number,
        sameSite: "lax",
      });
      expect(Math.abs(Number(before.originalMaxAge) - DEFAULT_MAX_AGE)).toBeLessThan(50);
      expect({ afterUpdate, afterTouch }).toEqual({ afterUpdate: before, afterTouch: before });
      expect(await app.setCookieOf(cookie)).toMatch(/; SameSite=Lax$/);
    });

    it("a browser-session cookie (no maxAge) gets the same store TTL from socket writes as from HTTP", async () => {
      const cookie = await app.login("ada", null);
      const sid = sessionIdOf(cookie);
      const httpSet = await remaining(opened, sid);
      const { connect } = await rig(app, opened);
      const { socket } = await connect("websocket", cookie);
      await socket.updateSession(increment);
      const socketSet = await remaining(opened, sid);
      await app.whoami(cookie); // express-session touches the unchanged session
      const httpTouch = await remaining(opened, sid);
      await socket.touchSession();
      const socketTouch = await remaining(opened, sid);
      expect(httpSet).toBeDefined();
      expect(httpTouch).toBeDefined();
      const near = (http: number | undefined, socketSide: number | undefined): boolean =>
        http === socketSide || Math.abs((http ?? 0) - (socketSide ?? 0)) <= ROUNDING_MS;
      expect({ httpSet, socketSet, near: near(httpSet, socketSet) }).toEqual({
        httpSet,
        socketSet,
        near: true,
      });
      expect({ httpTouch, socketTouch, near: near(httpTouch, socketTouch) }).toEqual({
        httpTouch,
        socketTouch,
        near: true,
      });
    });

    it("a session the store expired ends its sockets (expired); new handshakes are NOT_FOUND", async () => {
      const maxAge = 2500; // memcached's TTL is whole seconds, and an item may go up to 1 s early
      const cookie = await app.login("ada", maxAge);
      const { watch, connect, handshake } = await rig(app, opened, { revalidateInterval: 300 });
      const { socket } = await connect("websocket", cookie);
      await until(() => ends(watch, socket).length > 0, maxAge + 4000);
      expect(ends(watch, socket)).toEqual(["session_end expired"]);
      expect(await handshake("polling", cookie)).toMatch(/^refused.*NOT_FOUND/);
    });

    it("revalidation notices an HTTP logout: session_end expired", async () => {
      const cookie = await app.login("ada");
      const { watch, connect } = await rig(app, opened, { revalidateInterval: 300 });
      const { socket } = await connect("websocket", cookie);
      await app.logout(cookie);
      await until(() => ends(watch, socket).length > 0, 4000);
      expect(ends(watch, socket)).toEqual(["session_end expired"]);
    });

    it("server.destroySession ends the sockets and HTTP no longer sees the session", async () => {
      const cookie = await app.login("ada");
      const sid = sessionIdOf(cookie);
      const { server, watch, connect } = await rig(app, opened);
      const polling = await connect("polling", cookie);
      const websocket = await connect("websocket", cookie);
      expect(await server.destroySession(sid)).toBe(2);
      expect(ends(watch, polling.socket)).toEqual(["session_end destroyed"]);
      expect(ends(watch, websocket.socket)).toEqual(["session_end destroyed"]);
      const seen = await app.whoami(cookie);
      expect(seen.sid).not.toBe(sid);
      expect(seen.user).toBeNull();
      expect(await opened.expiresAt(sid)).toBeUndefined();
    });

    it("concurrent updateSession calls from two sockets lose no increment", async () => {
      const cookie = await app.login("ada");
      const { connect } = await rig(app, opened);
      const a = await connect("websocket", cookie);
      const b = await connect("polling", cookie);
      const updates = [];
      for (let i = 0; i < 10; i++) {
        updates.push(a.socket.updateSession(increment), b.socket.updateSession(increment));
      }
      await Promise.all(updates);
      expect((await app.whoami(cookie)).counter).toBe(20);
    });

    it("an update or touch in flight when destroySession runs never writes the session back", async () => {
      const { server, connect } = await rig(app, opened);
      const resurrected: string[] = [];
      for (const offset of [0, 1, 3, 10]) {
        const cookie = await app.login(`eve${offset}`);
        const sid = sessionIdOf(cookie);
        const { socket } = await connect("websocket", cookie);
        const writes = [
          socket.updateSession(increment).catch(() => undefined),
          socket.touchSession().catch(() => undefined),
        ];
        await delay(offset);
        await server.destroySession(sid);
        await Promise.all(writes);
        await delay(200);
        const left = await opened.expiresAt(sid);
        const seen = await app.whoami(cookie);
        if (left !== undefined || seen.sid === sid) resurrected.push(`after ${offset} ms`);
      }
      expect(resurrected).toEqual([]);
    });

    it("create: true stores a session that the HTTP app then sees", async () => {
      const { url } = await rig(app, opened, {
        create: true,
        sessionCookie: { maxAge: DEFAULT_MAX_AGE },
      });
      const reply = await bareHandshake(url);
      expect(reply.status).toBe(200);
      const line = reply.setCookie.find((value) => value.startsWith("connect.sid="));
      expect(line).toBeDefined();
      const cookie = (line ?? "").split(";")[0];
      const sid = sessionIdOf(cookie);
      expect(await opened.expiresAt(sid)).toBeDefined();
      expect((await app.whoami(cookie)).sid).toBe(sid);
      const left = await remaining(opened, sid);
      expect(left).toBeLessThanOrEqual(DEFAULT_MAX_AGE + ROUNDING_MS);
    });

    it("a touch never overwrites an HTTP change", async () => {
      const cookie = await app.login("ada");
      const { connect } = await rig(app, opened, { touchInterval: 300 });
      const { socket } = await connect("websocket", cookie);
      await app.setCounter(cookie, 555);
      await socket.touchSession();
      await delay(1000);
      expect(await app.whoami(cookie)).toMatchObject({ user: { name: "ada" }, counter: 555 });
    });

    it("a touch never undoes an HTTP logout", async () => {
      const cookie = await app.login("ada");
      const sid = sessionIdOf(cookie);
      const { connect } = await rig(app, opened, { touchInterval: 300 });
      const { socket } = await connect("websocket", cookie);
      await app.logout(cookie);
      await socket.touchSession().catch(() => undefined);
      await delay(1000);
      expect(await opened.expiresAt(sid)).toBeUndefined();
      const seen = await app.whoami(cookie);
      expect(seen.user).toBeNull();
      expect(seen.sid).not.toBe(sid);
    });

    it("a touch that finds the session gone ends its sockets (expired)", async () => {
      const cookie = await app.login("ada");
      const { watch, connect } = await rig(app, opened, { touchInterval: 300 });
      const polling = await connect("polling", cookie);
      const websocket = await connect("websocket", cookie);
      await app.logout(cookie);
      await until(() => ends(watch, websocket.socket).length > 0, 2000).catch(() => undefined);
      expect(ends(watch, polling.socket)).toEqual(["session_end expired"]);
      expect(ends(watch, websocket.socket)).toEqual(["session_end expired"]);
    });

    it("store bookkeeping (touches, __lastAccess, cookie) is not a session_update", async () => {
      const cookie = await app.login("ada");
      const { watch, connect } = await rig(app, opened, {
        revalidateInterval: 250,
        touchInterval: 400,
      });
      const { socket } = await connect("websocket", cookie);
      for (let i = 0; i < 4; i++) {
        await app.whoami(cookie); // an HTTP read: express-session touches the store
        await delay(500);
      }
      expect(eventsOf(watch, socket)).toEqual([]);
      await app.setCounter(cookie, 9);
      await until(() => eventsOf(watch, socket).includes("session_update"), 3000);
      expect(socket.session.counter).toBe(9);
    });

    if (row.server !== undefined) {
      const kind = row.server;
      it("a stopped backing server fails handshakes (STORE_ERROR or TIMEOUT); after a restart they work again", async () => {
        const spec = state.servers[kind];
        if (spec === undefined) throw new Error(`no ${kind}`);
        const before = await app.login("ada");
        const { watch, connect, handshake } = await rig(app, opened, {
          lookupTimeout: 1500,
          revalidateInterval: 300,
          touchInterval: 300,
        });
        const live = await connect("websocket", before);
        await stop(spec);
        let restarted = false;
        cleanups.push(async () => {
          if (!restarted) await restart(spec, opened);
        });
        const asked = Date.now();
        expect(await handshake("polling", before)).toMatch(/^refused/);
        expect(Date.now() - asked).toBeLessThan(4000);
        const others = watch.errors.filter((code) => code !== "STORE_ERROR" && code !== "TIMEOUT");
        expect({ errors: watch.errors.length, others }).toEqual({
          errors: expect.any(Number) as number,
          others: [],
        });
        expect(watch.errors.length).toBeGreaterThan(0);
        // An outage is not an expiry: the live socket's revalidations and touches fail, it stays.
        expect(ends(watch, live.socket)).toEqual([]);
        await start(spec);
        restarted = true;
        // The clients reconnect by themselves; their first requests may still fail.
        let after = "no try";
        const deadline = Date.now() + 15_000;
        while (after !== "open" && Date.now() < deadline) {
          const cookie = await app.login("bob").catch(() => undefined);
          after = cookie === undefined ? "login failed" : await handshake("websocket", cookie);
          if (after !== "open") await delay(250);
        }
        expect(after).toBe("open");
        if (row.persistent) expect(ends(watch, live.socket)).toEqual([]);
        if (row.persistent) expect(await handshake("polling", before)).toBe("open");
      });

      it("during an outage a socket's own calls fail in bounded time: at most one background touch waits ahead of them", async () => {
        const spec = state.servers[kind];
        if (spec === undefined) throw new Error(`no ${kind}`);
        const lookupTimeout = 1500;
        const cookie = await app.login("dave");
        const { watch, connect } = await rig(app, opened, { lookupTimeout, touchInterval: 300 });
        const { socket } = await connect("websocket", cookie);
        await stop(spec);
        cleanups.push(() => restart(spec, opened));
        await delay(2000); // background touches tick (and fail) meanwhile
        const called = Date.now();
        // `waits`: store calls that may time out before this one settles (the session's lock
        // serializes writes: one background touch, then the update, then the touch).
        const settle = (name: string, waits: number, call: Promise<unknown>) =>
          call.then(
            () => `${name} resolved after ${Date.now() - called} ms`,
            (error: unknown) => {
              const { code } = error as { code?: string };
              const late = Date.now() - called > waits * lookupTimeout + 1000;
              return `${name} ${String(code)}${late ? ` after ${Date.now() - called} ms` : ""}`;
            },
          );
        const outcomes = await Promise.all([
          settle("updateSession", 2, socket.updateSession(increment)),
          settle("touchSession", 3, socket.touchSession()),
          settle("reloadSession", 1, socket.reloadSession()),
        ]);
        expect(outcomes).toEqual([
          expect.stringMatching(/^updateSession (STORE_ERROR|TIMEOUT)$/) as string,
          expect.stringMatching(/^touchSession (STORE_ERROR|TIMEOUT)$/) as string,
          expect.stringMatching(/^reloadSession (STORE_ERROR|TIMEOUT)$/) as string,
        ]);
        expect(socket.session.user).toEqual({ name: "dave" });
        expect(ends(watch, socket)).toEqual([]);
      });

      it("destroySession while the backing server is down rejects (STORE_ERROR or TIMEOUT) and still ends the sockets (destroyed)", async () => {
        const spec = state.servers[kind];
        if (spec === undefined) throw new Error(`no ${kind}`);
        const cookie = await app.login("carol");
        const { server, watch, connect } = await rig(app, opened, { lookupTimeout: 1500 });
        const polling = await connect("polling", cookie);
        const websocket = await connect("websocket", cookie);
        await stop(spec);
        cleanups.push(() => restart(spec, opened));
        const asked = Date.now();
        const result = await server.destroySession(sessionIdOf(cookie)).then(
          (closed) => `resolved ${closed}`,
          (error: unknown) => (error as { code?: string }).code,
        );
        expect(Date.now() - asked).toBeLessThan(4000);
        expect(result).toMatch(/^(STORE_ERROR|TIMEOUT)$/);
        expect(ends(watch, polling.socket)).toEqual(["session_end destroyed"]);
        expect(ends(watch, websocket.socket)).toEqual(["session_end destroyed"]);
      });
    }
  });
}
