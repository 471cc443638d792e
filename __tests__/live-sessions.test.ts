import { spawn } from "node:child_process";
import path from "node:path";
import type { IncomingMessage } from "node:http";
import { SessionError, SessionServer, type SessionServerOptions, type SessionSocket } from "../lib";
import {
  client,
  delay,
  outcome,
  sessionIdOf,
  TRANSPORT_MODES,
  ZERO_STATS,
  until,
  type AppSession,
} from "./helpers/app";
import {
  clientClosed,
  closeLive,
  connectLive,
  eventsOf,
  nextUpdate,
  setupLive,
  updatesOf,
  type Connected,
  type LiveAppOptions,
  type LiveSetup,
  increment,
} from "./helpers/live";

afterEach(closeLive);

/** `n` sockets of the session behind `cookie`, connected over `mode`. */
async function tabs(
  setup: LiveSetup<AppSession>,
  mode: (typeof TRANSPORT_MODES)[number],
  cookie: string,
  n: number,
): Promise<Connected<AppSession>[]> {
  const connected = [];
  for (let i = 0; i < n; i++)
    connected.push(await connectLive(setup.app, setup.watch, mode, cookie));
  return connected;
}

/** Waits until `store` has answered `n` more reads than now, and no read is in flight. */
async function moreReads(setup: LiveSetup<AppSession>, n: number): Promise<void> {
  const target = setup.store.calls.get + n;
  await until(() => setup.store.calls.get >= target && setup.store.inFlight.now === 0);
}

function expiresOf(record: { cookie: { expires?: Date | string | null } } | undefined): number {
  const expires = record?.cookie.expires;
  if (expires === undefined || expires === null) throw new Error("the record has no expiry");
  return new Date(expires).getTime();
}

/**
 * A process that logs in, connects a websocket client with touch and revalidation on, then closes
 * the server and the HTTP server: it must then exit by itself.
 */
const EXIT_SCRIPT = `
require("ts-node").register({ transpileOnly: true });
const http = require("node:http");
const express = require("express");
const session = require("express-session");
const { Socket } = require("engine.io-client");
const { SessionServer } = require("./lib");
(async () => {
  const store = new session.MemoryStore();
  const app = express();
  app.use(session({ store, secret: "s", resave: false, saveUninitialized: false, cookie: { maxAge: 60000 } }));
  app.get("/login", (req, res) => { req.session.user = { name: "ann" }; res.end("ok"); });
  const httpServer = http.createServer(app);
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const url = "http://127.0.0.1:" + httpServer.address().port;
  const res = await fetch(url + "/login", { headers: { connection: "close" } });
  await res.text();
  const cookie = res.headers.getSetCookie()[0].split(";")[0];
  const server = new SessionServer(httpServer, { store, secret: "s", touchInterval: 10, revalidateInterval: 10 });
  const socket = new Socket(url, { transports: ["websocket"], extraHeaders: { cookie } });
  await new Promise((resolve, reject) => { socket.on("open", resolve); socket.on("error", reject); });
  await new Promise((resolve) => setTimeout(resolve, 50));
  if (server.stats.timers !== 2) throw new Error("no timers ran");
  server.close();
  httpServer.close();
  httpServer.closeAllConnections();
  console.log("closed with " + server.stats.timers + " timers");
})();
`;

describe("live sessions", () => {
  describe.each(TRANSPORT_MODES)("over %s", (mode) => {
    async function loggedIn(
      server: Partial<SessionServerOptions> = {},
      app: LiveAppOptions = {},
    ): Promise<LiveSetup<AppSession> & { cookie: string; sid: string }> {
      const setup = await setupLive({ server, app });
      const cookie = await setup.app.login("ann");
      return { ...setup, cookie, sid: sessionIdOf(cookie) };
    }

    describe("SessionSocket#saveSession", () => {
      it("writes a change made on `record` so that the next HTTP request sees it", async () => {
        const setup = await loggedIn();
        const [{ socket }] = await tabs(setup, mode, setup.cookie, 1);
        expect(socket.session).toBe(socket.record);

        const data = socket.record;
        data.user = { name: "bob" };
        data.counter = 3;
        await socket.saveSession();

        await expect(setup.app.whoami(setup.cookie)).resolves.toEqual({
          user: { name: "bob" },
          counter: 3,
        });
      });

      it("moves the session's expiry forward in the store", async () => {
        const setup = await loggedIn({}, { cookie: { maxAge: 60_000 } });
        const [{ socket }] = await tabs(setup, mode, setup.cookie, 1);
        const expires = expiresOf(await setup.app.stored(setup.sid));
        await delay(5);

        await socket.saveSession();

        expect(expiresOf(await setup.app.stored(setup.sid))).toBeGreaterThan(expires);
        expect(expiresOf(socket.record)).toBe(expiresOf(await setup.app.stored(setup.sid)));
      });

      it("gives the other sockets of the session the saved value, each its own copy", async () => {
        const setup = await loggedIn();
        const [a, b] = await tabs(setup, mode, setup.cookie, 2);
        const updated = new Promise((resolve) => b.socket.once("session_update", resolve));

        a.socket.session.user = { name: "bob" };
        await a.socket.saveSession();

        await updated;
        expect(b.socket.session).not.toBe(a.socket.session);
        expect(b.socket.session.user).toEqual({ name: "bob" });
        await expect(b.socket.reloadSession()).resolves.toMatchObject({ user: { name: "bob" } });
      });
    });

    describe("SessionSocket#reloadSession", () => {
      it("replaces `record` and `session` with a change made over HTTP and resolves with it", async () => {
        const setup = await loggedIn();
        const [{ socket }] = await tabs(setup, mode, setup.cookie, 1);
        const before = socket.session;
        await setup.app.setCounter(setup.cookie, 7);

        const reloaded = await socket.reloadSession();

        expect(reloaded).toMatchObject({ user: { name: "ann" }, counter: 7 });
        expect(socket.session).toBe(reloaded);
        expect(socket.record).toBe(reloaded);
        expect(reloaded).not.toBe(before);
        expect(before.counter).toBeUndefined();
      });

      it("reads the store afresh on every call, concurrent calls included", async () => {
        const setup = await loggedIn();
        const [{ socket }] = await tabs(setup, mode, setup.cookie, 1);
        const reads = setup.store.calls.get;

        await socket.reloadSession();
        expect(setup.store.calls.get).toBe(reads + 1);
        const [first, second] = await Promise.all([socket.reloadSession(), socket.reloadSession()]);

        expect(setup.store.calls.get).toBe(reads + 3);
        expect(first).not.toBe(second);
      });

      it("rejects with NOT_FOUND after a logout over HTTP and keeps the old session", async () => {
        const setup = await loggedIn();
        const [{ socket }] = await tabs(setup, mode, setup.cookie, 1);
        const before = socket.session;
        await setup.app.request("/logout", setup.cookie);

        const error = await socket.reloadSession().then(
          () => undefined,
          (reason: unknown) => reason,
        );

        expect(error).toBeInstanceOf(SessionError);
        expect(error).toMatchObject({ code: "NOT_FOUND" });
        expect(socket.session).toBe(before);
        expect(socket.readyState).toBe("open");
      });
    });

    describe("option `revalidateInterval`", () => {
      const revalidate = { revalidateInterval: 50 };

      it("replaces the session and emits `session_update` when HTTP changes it", async () => {
        const setup = await loggedIn(revalidate);
        const [{ socket }] = await tabs(setup, mode, setup.cookie, 1);
        const update = nextUpdate(socket);

        await setup.app.setCounter(setup.cookie, 5);

        const value = await update;
        expect(value).toMatchObject({ user: { name: "ann" }, counter: 5 });
        expect(socket.session).toBe(value);
        expect(socket.record).toBe(value);
      });

      it("ends the socket with `expired` when the user logs out over HTTP", async () => {
        const setup = await loggedIn(revalidate);
        const [{ client: tab, socket }] = await tabs(setup, mode, setup.cookie, 1);
        const closed = clientClosed(tab);

        await setup.app.request("/logout", setup.cookie);

        await expect(closed).resolves.toBe("transport close");
        await until(() => socket.readyState === "closed");
        expect(eventsOf(setup.watch, socket)).toEqual(["session_end expired", "close"]);
        expect(setup.watch.ends).toEqual([[setup.sid, "expired"]]);
        expect(setup.server.stats).toEqual(ZERO_STATS);
        await delay(150);
        expect(setup.watch.ends).toHaveLength(1);
      });

      it("ends the socket with `expired` when the stored session has expired", async () => {
        const setup = await loggedIn(revalidate);
        const [{ client: tab }] = await tabs(setup, mode, setup.cookie, 1);
        const closed = clientClosed(tab);
        const record = await setup.app.stored(setup.sid);
        record!.cookie.expires = new Date(Date.now() - 1000);

        setup.app.store.set(setup.sid, record as Parameters<typeof setup.app.store.set>[1]);

        await expect(closed).resolves.toBe("transport close");
        expect(setup.watch.ends).toEqual([[setup.sid, "expired"]]);
      });

      it("keeps the sockets and emits `session_error` when the store fails", async () => {
        const setup = await loggedIn(revalidate);
        const [{ socket }] = await tabs(setup, mode, setup.cookie, 1);

        setup.store.failWith = new Error("connection refused: secret-host:6379");
        await until(() => setup.watch.errors.length >= 2);
        setup.store.failWith = undefined;

        expect(setup.watch.errors.map((error) => error.code)).toContain("STORE_ERROR");
        expect(setup.watch.errors.every((error) => error.code === "STORE_ERROR")).toBe(true);
        expect(setup.watch.errors[0].message).not.toContain("secret-host");
        expect(socket.readyState).toBe("open");
        expect(setup.watch.ends).toEqual([]);
        const update = nextUpdate(socket);
        await setup.app.setCounter(setup.cookie, 2);
        await expect(update).resolves.toMatchObject({ counter: 2 });
      });

      it("emits no `session_update` while the session does not change", async () => {
        const setup = await loggedIn(revalidate);
        const [{ socket }] = await tabs(setup, mode, setup.cookie, 1);
        const before = socket.session;

        await moreReads(setup, 3);

        expect(updatesOf(setup.watch, socket)).toEqual([]);
        expect(socket.session).toBe(before);
      });

      it("emits no `session_update` when an HTTP request only moves the cookie's expiry", async () => {
        const setup = await loggedIn(revalidate, { cookie: { maxAge: 60_000 } });
        const [{ socket }] = await tabs(setup, mode, setup.cookie, 1);
        const expires = expiresOf(await setup.app.stored(setup.sid));
        await delay(5);

        await setup.app.whoami(setup.cookie);
        expect(expiresOf(await setup.app.stored(setup.sid))).toBeGreaterThan(expires);
        await moreReads(setup, 3);

        expect(updatesOf(setup.watch, socket)).toEqual([]);
      });
    });

    describe("SessionSocket#updateSession", () => {
      it("loses none of 20 concurrent increments from two sockets of one session", async () => {
        const setup = await loggedIn();
        const [a, b] = await tabs(setup, mode, setup.cookie, 2);
        const results: (number | undefined)[] = [];
        const failures: unknown[] = [];
        for (const { socket } of [a, b]) {
          socket.on("message", () => {
            socket
              .updateSession(async (record) => {
                await delay(1);
                increment(record);
              })
              .then(
                (value) => results.push(value.counter),
                (error: unknown) => failures.push(error),
              );
          });
        }

        for (let i = 0; i < 10; i++) {
          a.client.send("increment");
          b.client.send("increment");
        }
        await until(() => results.length + failures.length === 20, 10_000);

        expect(failures).toEqual([]);
        expect([...results].sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual(
          Array.from({ length: 20 }, (_, i) => i + 1),
        );
        expect(a.socket.session.counter).toBe(20);
        expect(b.socket.session.counter).toBe(20);
        expect(updatesOf(setup.watch, a.socket)).toHaveLength(20);
        expect(updatesOf(setup.watch, b.socket)).toHaveLength(20);
        await expect(setup.app.whoami(setup.cookie)).resolves.toEqual({
          user: { name: "ann" },
          counter: 20,
        });
        await until(() => setup.server.stats.locks === 0);
      });

      it("emits `session_update` on every socket of the session and on no other", async () => {
        const setup = await loggedIn();
        const [a, b] = await tabs(setup, mode, setup.cookie, 2);
        const [other] = await tabs(setup, mode, await setup.app.login("bob"), 1);

        const value = await a.socket.updateSession(increment);

        expect(value).toBe(a.socket.session);
        expect(value.counter).toBe(1);
        expect(updatesOf(setup.watch, a.socket)).toEqual([value]);
        expect(updatesOf(setup.watch, b.socket)).toEqual([b.socket.session]);
        expect(b.socket.session).not.toBe(value);
        expect(b.socket.session).toEqual(value);
        expect(updatesOf(setup.watch, other.socket)).toEqual([]);
        expect(other.socket.session.counter).toBeUndefined();
      });

      it("starts from what the store holds, not from the socket's copy", async () => {
        const setup = await loggedIn();
        const [{ socket }] = await tabs(setup, mode, setup.cookie, 1);
        await setup.app.setCounter(setup.cookie, 41);

        const value = await socket.updateSession(increment);

        expect(value.counter).toBe(42);
        await expect(setup.app.whoami(setup.cookie)).resolves.toMatchObject({ counter: 42 });
      });
    });

    describe("SessionServer#destroySession", () => {
      async function twoUsers(): Promise<{
        setup: LiveSetup<AppSession>;
        ann: string;
        bob: string;
        annTabs: Awaited<ReturnType<typeof tabs>>;
        bobTab: Awaited<ReturnType<typeof tabs>>[number];
      }> {
        const setup = await setupLive();
        const ann = await setup.app.login("ann");
        const bob = await setup.app.login("bob");
        const annTabs = await tabs(setup, mode, ann, 2);
        const [bobTab] = await tabs(setup, mode, bob, 1);
        return { setup, ann, bob, annTabs, bobTab };
      }

      async function expectLoggedOutEverywhere(
        users: Awaited<ReturnType<typeof twoUsers>>,
        destroyed: Promise<number>,
      ): Promise<void> {
        const { setup, ann, bob, annTabs, bobTab } = users;
        const closed = annTabs.map(({ client: tab }) => clientClosed(tab));

        await expect(destroyed).resolves.toBe(2);

        await expect(Promise.all(closed)).resolves.toEqual(["transport close", "transport close"]);
        for (const { socket } of annTabs) {
          await until(() => eventsOf(setup.watch, socket).includes("close"));
          expect(eventsOf(setup.watch, socket)).toEqual(["session_end destroyed", "close"]);
        }
        expect(setup.watch.ends).toEqual([[sessionIdOf(ann), "destroyed"]]);
        await expect(setup.app.stored(sessionIdOf(ann))).resolves.toBeUndefined();
        await expect(setup.app.whoami(ann)).resolves.toEqual({ user: null, counter: null });
        expect(setup.server.socketsOf(sessionIdOf(ann))).toEqual([]);

        expect(bobTab.socket.readyState).toBe("open");
        expect(eventsOf(setup.watch, bobTab.socket)).toEqual([]);
        const echoed = new Promise<unknown>((resolve) => bobTab.client.once("message", resolve));
        bobTab.socket.send("still here");
        await expect(echoed).resolves.toBe("still here");
        await expect(bobTab.socket.updateSession(increment)).resolves.toMatchObject({
          user: { name: "bob" },
          counter: 1,
        });
        await expect(setup.app.whoami(bob)).resolves.toEqual({
          user: { name: "bob" },
          counter: 1,
        });
      }

      it("closes both tabs of a user, keeps another user's socket, and deletes the session", async () => {
        const users = await twoUsers();

        await expectLoggedOutEverywhere(
          users,
          users.setup.server.destroySession(sessionIdOf(users.ann)),
        );
      });

      it("does the same from a socket with SessionSocket#destroySession", async () => {
        const users = await twoUsers();

        await expectLoggedOutEverywhere(users, users.annTabs[0].socket.destroySession());
      });
    });

    describe("SessionServer#closeSession", () => {
      it("ends the session's sockets with reason `closed` and keeps it in the store", async () => {
        const setup = await loggedIn();
        const connected = await tabs(setup, mode, setup.cookie, 2);
        const closed = connected.map(({ client: tab }) => clientClosed(tab));

        expect(setup.server.closeSession(setup.sid)).toBe(2);

        await Promise.all(closed);
        for (const { socket } of connected) {
          await until(() => socket.readyState === "closed");
          expect(eventsOf(setup.watch, socket)).toEqual(["session_end closed", "close"]);
        }
        expect(setup.watch.ends).toEqual([[setup.sid, "closed"]]);
        expect(setup.server.socketsOf(setup.sid)).toEqual([]);
        await expect(setup.app.whoami(setup.cookie)).resolves.toEqual({
          user: { name: "ann" },
          counter: null,
        });
        const again = await connectLive(setup.app, setup.watch, mode, setup.cookie);
        expect(again.socket.session.user).toEqual({ name: "ann" });
      });

      it("passes the reason it is given to `session_end`", async () => {
        const setup = await loggedIn();
        const [{ client: tab, socket }] = await tabs(setup, mode, setup.cookie, 1);
        const closed = clientClosed(tab);

        expect(setup.server.closeSession(setup.sid, "expired")).toBe(1);

        expect(eventsOf(setup.watch, socket)[0]).toBe("session_end expired");
        expect(setup.watch.ends).toEqual([[setup.sid, "expired"]]);
        await closed;
      });

      it("returns 0 and emits nothing for a session without sockets here", async () => {
        const setup = await loggedIn();
        await tabs(setup, mode, setup.cookie, 1);

        expect(setup.server.closeSession("no-such-session")).toBe(0);

        expect(setup.watch.ends).toEqual([]);
        expect(setup.server.stats.sockets).toBe(1);
      });
    });

    describe("SessionServer#socketsOf", () => {
      it("lists the open sockets of a session and forgets each one that closes", async () => {
        const setup = await loggedIn();
        const [a, b] = await tabs(setup, mode, setup.cookie, 2);
        await tabs(setup, mode, await setup.app.login("bob"), 1);

        const listed = setup.server.socketsOf(setup.sid);
        expect(new Set(listed)).toEqual(new Set([a.socket, b.socket]));
        listed.length = 0;
        expect(setup.server.socketsOf(setup.sid)).toHaveLength(2);

        a.socket.close();
        await until(() => setup.server.socketsOf(setup.sid).length === 1);
        expect(setup.server.socketsOf(setup.sid)).toEqual([b.socket]);
        expect(setup.server.stats).toMatchObject({ sessions: 2, sockets: 2 });
        b.client.close();
        await until(() => setup.server.stats.sessions === 1);
        expect(setup.server.socketsOf(setup.sid)).toEqual([]);
        expect(setup.server.socketsOf("no-such-session")).toEqual([]);
      });
    });
  });

  describe("SessionSocket#reloadSession with a failing store", () => {
    it("rejects with STORE_ERROR when the store fails, and keeps the session", async () => {
      const setup = await setupLive();
      const cookie = await setup.app.login("ann");
      const { socket } = await connectLive(setup.app, setup.watch, "websocket", cookie);
      const before = socket.session;
      setup.store.failWith = new Error("connection refused: secret-host:6379");

      const error = await socket.reloadSession().then(
        () => undefined,
        (reason: unknown) => reason,
      );

      expect(error).toBeInstanceOf(SessionError);
      expect(error).toMatchObject({ code: "STORE_ERROR" });
      expect((error as SessionError).cause).toBe(setup.store.failWith);
      expect((error as SessionError).message).not.toContain("secret-host");
      expect(socket.session).toBe(before);
    });

    it("rejects with TIMEOUT when the store does not answer within `lookupTimeout`", async () => {
      const setup = await setupLive({ server: { lookupTimeout: 100 } });
      const cookie = await setup.app.login("ann");
      const { socket } = await connectLive(setup.app, setup.watch, "websocket", cookie);
      setup.store.hang = true;

      await expect(socket.reloadSession()).rejects.toMatchObject({ code: "TIMEOUT" });
      expect(socket.session.user).toEqual({ name: "ann" });
    });
  });

  describe("option `touchInterval`", () => {
    const touching = { server: { touchInterval: 60 }, app: { cookie: { maxAge: 60_000 } } };

    it("touches each session once per interval, whatever its number of sockets", async () => {
      const setup = await setupLive(touching);
      const ann = await setup.app.login("ann");
      const bob = await setup.app.login("bob");
      await tabs(setup, "websocket", ann, 3);
      await tabs(setup, "websocket", bob, 1);
      setup.store.touched.splice(0);

      await until(() => setup.store.touched.length >= 6);

      // Per tick, each session once, in the order they connected: never ann three times.
      const [annSid, bobSid] = [sessionIdOf(ann), sessionIdOf(bob)];
      expect(setup.store.touched.slice(0, 6)).toEqual([
        annSid,
        bobSid,
        annSid,
        bobSid,
        annSid,
        bobSid,
      ]);
    });

    it("moves the session's expiry forward in the store and on every socket", async () => {
      const setup = await setupLive(touching);
      const cookie = await setup.app.login("ann");
      const sid = sessionIdOf(cookie);
      const connected = await tabs(setup, "websocket", cookie, 2);
      const expires = expiresOf(await setup.app.stored(sid));

      await until(() => setup.store.calls.touch >= 1);
      await until(() => connected.every(({ socket }) => expiresOf(socket.record) > expires));

      const stored = expiresOf(await setup.app.stored(sid));
      expect(stored).toBeGreaterThan(expires);
      for (const { socket } of connected) expect(expiresOf(socket.record)).toBe(stored);
      await expect(setup.app.whoami(cookie)).resolves.toMatchObject({ user: { name: "ann" } });
    });

    it("keeps touching while one socket of the session is left", async () => {
      const setup = await setupLive(touching);
      const cookie = await setup.app.login("ann");
      const [a, b, c] = await tabs(setup, "websocket", cookie, 3);

      a.client.close();
      b.client.close();
      await until(() => setup.server.stats.sockets === 1);
      const touches = setup.store.calls.touch;

      await until(() => setup.store.calls.touch >= touches + 2);
      expect(c.socket.readyState).toBe("open");
      expect(setup.server.stats.timers).toBe(1);
    });

    it("stops touching when the session's last socket leaves", async () => {
      const setup = await setupLive(touching);
      const cookie = await setup.app.login("ann");
      const connected = await tabs(setup, "websocket", cookie, 3);
      await until(() => setup.store.calls.touch >= 1);
      expect(setup.server.stats.timers).toBe(1);

      for (const { client: tab } of connected) tab.close();
      await until(() => setup.server.stats.sessions === 0);
      const touches = setup.store.calls.touch;
      await delay(200);

      expect(setup.store.calls.touch).toBe(touches);
      expect(setup.server.stats).toEqual(ZERO_STATS);
    });

    it("falls back to rewriting the cookie alone on a store without touch, keeping HTTP changes", async () => {
      const setup = await setupLive({ ...touching, without: ["touch"] });
      const cookie = await setup.app.login("ann");
      const sid = sessionIdOf(cookie);
      const { socket } = await connectLive(setup.app, setup.watch, "websocket", cookie);
      const loginExpires = expiresOf(await setup.app.stored(sid));
      // Right after a touch, so that the HTTP change lands between two of them.
      await until(() => setup.store.calls.set >= 1);
      await setup.app.setCounter(cookie, 9);
      const sets = setup.store.calls.set;
      const httpExpires = expiresOf(await setup.app.stored(sid));

      await until(() => setup.store.calls.set >= sets + 2);

      expect(setup.store.calls.touch).toBe(0);
      await expect(setup.app.whoami(cookie)).resolves.toEqual({
        user: { name: "ann" },
        counter: 9,
      });
      expect(expiresOf(await setup.app.stored(sid))).toBeGreaterThan(httpExpires);
      expect(httpExpires).toBeGreaterThan(loginExpires);
      // The touch read the store's current session: the socket now holds the HTTP change too.
      await until(() => socket.record.counter === 9);
      await until(() => setup.server.stats.locks === 0);
    });

    it("emits `session_error` and keeps the sockets when a touch fails", async () => {
      const setup = await setupLive(touching);
      const cookie = await setup.app.login("ann");
      const { socket } = await connectLive(setup.app, setup.watch, "websocket", cookie);

      setup.store.failWith = new Error("connection refused");
      await until(() => setup.watch.errors.length >= 1);
      setup.store.failWith = undefined;

      expect(setup.watch.errors[0]).toBeInstanceOf(SessionError);
      expect(setup.watch.errors[0].code).toBe("STORE_ERROR");
      expect(socket.readyState).toBe("open");
      expect(setup.watch.ends).toEqual([]);
    });

    it("extends the session once on SessionSocket#touchSession", async () => {
      const setup = await setupLive({ app: touching.app });
      const cookie = await setup.app.login("ann");
      const sid = sessionIdOf(cookie);
      const { socket } = await connectLive(setup.app, setup.watch, "websocket", cookie);
      const expires = expiresOf(await setup.app.stored(sid));
      await delay(5);

      await socket.touchSession();

      expect(setup.store.touched).toEqual([sid]);
      expect(expiresOf(await setup.app.stored(sid))).toBeGreaterThan(expires);
      expect(setup.server.stats.timers).toBe(0);
    });
  });

  describe("memory", () => {
    it("holds nothing after 1,000 connect/disconnect cycles", async () => {
      const setup = await setupLive({ server: { touchInterval: 20, revalidateInterval: 20 } });
      const cookies: string[] = [];
      for (let i = 0; i < 10; i++) cookies.push(await setup.app.login(`user${i}`));
      let seen = 0;
      let most = 0;
      const failures: unknown[] = [];
      setup.server.on("session", (socket) => {
        seen++;
        most = Math.max(most, setup.server.stats.sockets);
        if (seen % 10 === 0) {
          socket.updateSession(increment).catch((error: unknown) => failures.push(error));
        }
      });

      async function cycle(i: number): Promise<void> {
        const tab = client(setup.app, "websocket", cookies[i % cookies.length]);
        const result = await outcome(tab);
        if (result.kind !== "open") throw result.error;
        const closed = clientClosed(tab);
        tab.close();
        await closed;
      }
      for (let batch = 0; batch < 20; batch++) {
        await Promise.all(Array.from({ length: 50 }, (_, i) => cycle(batch * 50 + i)));
      }

      await until(() => setup.server.clientsCount === 0 && setup.server.stats.locks === 0, 10_000);
      expect(seen).toBe(1000);
      expect(most).toBeGreaterThan(1);
      expect(failures).toEqual([]);
      expect(setup.server.stats).toEqual(ZERO_STATS);
      let counted = 0;
      for (const cookie of cookies) counted += (await setup.app.whoami(cookie)).counter ?? 0;
      expect(counted).toBe(100);
    });
  });

  describe("SessionServer#close", () => {
    it("clears the touch and revalidation timers", async () => {
      const setup = await setupLive({
        server: { touchInterval: 20, revalidateInterval: 20 },
        app: { cookie: { maxAge: 60_000 } },
      });
      const cookie = await setup.app.login("ann");
      const { client: tab } = await connectLive(setup.app, setup.watch, "websocket", cookie);
      await until(() => setup.store.calls.touch >= 1 && setup.store.calls.get >= 2);
      expect(setup.server.stats.timers).toBe(2);
      const closed = clientClosed(tab);

      setup.server.close();

      expect(setup.server.stats.timers).toBe(0);
      await closed;
      const calls = { ...setup.store.calls };
      await delay(100);
      expect(setup.store.calls).toEqual(calls);
      expect(setup.server.stats).toEqual(ZERO_STATS);
    });

    /** A server whose engine.io ids wait for `release()`, and a client whose handshake waits on it. */
    async function handshakeHeldAtGenerateId(): Promise<{
      setup: LiveSetup<AppSession>;
      sockets: SessionSocket<AppSession>[];
      finished: Promise<unknown>;
      release: () => void;
    }> {
      let release = (): void => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let asked = 0;
      class SlowIds extends SessionServer<AppSession> {
        override generateId(req: IncomingMessage): Promise<string> {
          asked++;
          return held.then(() => `held-id-${String(asked)}`);
        }
      }
      const setup = await setupLive({
        server: { touchInterval: 20, revalidateInterval: 20 },
        make: (app, options) => new SlowIds(app.httpServer, options),
      });
      const cookie = await setup.app.login("ann");
      const sockets: SessionSocket<AppSession>[] = [];
      setup.server.on("session", (socket) => sockets.push(socket));
      const finished = outcome(client(setup.app, "websocket", cookie));
      await until(() => asked === 1);
      return { setup, sockets, finished, release };
    }

    it("closes a socket whose session was destroyed while engine.io finished its handshake", async () => {
      const { setup, sockets, finished, release } = await handshakeHeldAtGenerateId();
      const cookieSid = [...setup.watch.byId.keys()].length; // no socket yet
      expect(cookieSid).toBe(0);
      const sid = await new Promise<string>((resolve) => {
        setup.store.memory.all((_error, all) => {
          resolve(Object.keys(all ?? {})[0]);
        });
      });

      await setup.server.destroySession(sid);
      release();
      await finished;

      await until(() => setup.server.clientsCount === 0);
      expect(sockets).toHaveLength(0);
      expect(setup.watch.errors.map((each) => each.code)).toEqual(["NOT_FOUND"]);
      expect(setup.server.stats.sockets).toBe(0);
    });

    it("starts no timer for a handshake that finishes after close()", async () => {
      const { setup, sockets, finished, release } = await handshakeHeldAtGenerateId();

      setup.server.close();
      release();
      await finished;

      expect(setup.server.stats.timers).toBe(0);
      for (const socket of sockets) socket.close();
    });

    it("leaves no socket open for a handshake that finishes after close()", async () => {
      const { setup, sockets, finished, release } = await handshakeHeldAtGenerateId();

      setup.server.close();
      release();
      await finished;

      try {
        await until(
          () =>
            sockets.every((socket) => socket.readyState === "closed") &&
            setup.server.clientsCount === 0,
          300,
        );
      } finally {
        for (const socket of sockets) socket.close();
      }
    });

    it("lets the process exit with touch and revalidation on", async () => {
      const child = spawn(process.execPath, ["-e", EXIT_SCRIPT], {
        cwd: path.join(__dirname, ".."),
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);

      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      clearTimeout(killer);

      expect(output).toContain("closed with 0 timers");
      expect(code).toBe(0);
    });
  });
});
