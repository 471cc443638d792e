import {
  SessionError,
  SessionServer,
  type SessionRecord,
  type SessionServerOptions,
  type SessionSocket,
} from "../lib";
import { delay, sessionIdOf, until, type AppSession } from "./helpers/app";
import {
  closeLive,
  connectLive,
  eventsOf,
  setupLive,
  updatesOf,
  type LiveSetup,
  type LiveSetupOptions,
  type StoreMethod,
  increment,
} from "./helpers/live";

afterEach(closeLive);

/** Rejection reason of `promise` (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (reason: unknown) => reason,
  );
}

interface Tabs<S> extends LiveSetup<S> {
  cookie: string;
  sid: string;
  sockets: SessionSocket<S>[];
}

/** A server (with `options`) and `n` websocket sockets of ann's session. */
async function annWith<S = AppSession>(
  n: number,
  options: Partial<SessionServerOptions> = {},
  setupOptions: Omit<LiveSetupOptions<S>, "server"> = {},
): Promise<Tabs<S>> {
  const setup = await setupLive<S>({ ...setupOptions, server: options });
  const cookie = await setup.app.login("ann");
  const sockets: SessionSocket<S>[] = [];
  for (let i = 0; i < n; i++) {
    sockets.push((await connectLive(setup.app, setup.watch, "websocket", cookie)).socket);
  }
  return { ...setup, cookie, sid: sessionIdOf(cookie), sockets };
}

/** A store lacking `method`, under a server with `options`, and one socket of ann's session. */
function annWithout(
  method: Exclude<StoreMethod, "get">,
  options: Partial<SessionServerOptions> = {},
): Promise<Tabs<AppSession>> {
  return annWith(1, options, { without: [method] });
}

/** A session value that is not the record: what an app's `hydrate()` may make. */
interface Profile {
  name: string;
  counter: number;
  records: SessionRecord[];
}

/** Refuses to hydrate a session of "mallory"; throws `error` (default: a plain Error). */
function picky(error?: SessionError): LiveSetupOptions<AppSession>["make"] {
  class Picky extends SessionServer<AppSession> {
    protected override hydrate(data: AppSession): AppSession {
      if (data.user?.name === "mallory") throw error ?? new Error("mallory is banned");
      return data;
    }
  }
  return (app, options) => new Picky(app.httpServer, options);
}

describe("SessionRegistry", () => {
  describe("update (SessionSocket#updateSession)", () => {
    it("rejects with NOT_FOUND when the session is gone, writes nothing, and frees the lock", async () => {
      const { store, sockets, sid, server } = await annWith(1);
      store.memory.destroy(sid);

      const error = await rejection(sockets[0].updateSession(increment));

      expect(error).toBeInstanceOf(SessionError);
      expect(error).toMatchObject({ code: "NOT_FOUND" });
      expect(store.calls.set).toBe(0);
      await until(() => server.stats.locks === 0);
      expect(sockets[0].readyState).toBe("open");
    });

    it("frees the lock when `mutate` throws and runs the update queued behind it", async () => {
      const { sockets, server, app, cookie } = await annWith(1);
      const thrown = new Error("mutate failed");

      const failing = sockets[0].updateSession(() => {
        throw thrown;
      });
      const queued = sockets[0].updateSession(increment);
      expect(server.stats.locks).toBe(1);

      await expect(failing).rejects.toBe(thrown);
      await expect(queued).resolves.toMatchObject({ counter: 1 });
      await expect(app.whoami(cookie)).resolves.toMatchObject({ counter: 1 });
      await until(() => server.stats.locks === 0);
    });

    it("serializes the updates of one session without holding up another session", async () => {
      const setup = await annWith(1);
      const bob = await setup.app.login("bob");
      const { socket: bobSocket } = await connectLive(setup.app, setup.watch, "websocket", bob);
      let open = (): void => undefined;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const order: string[] = [];

      const annFirst = setup.sockets[0].updateSession(async (record) => {
        await gate;
        order.push("ann 1");
        increment(record);
      });
      const annSecond = setup.sockets[0].updateSession((record) => {
        order.push("ann 2");
        increment(record);
      });
      await bobSocket.updateSession((record) => {
        order.push("bob");
        increment(record);
      });

      expect(order).toEqual(["bob"]);
      expect(setup.server.stats.locks).toBe(1);
      open();
      await expect(annFirst).resolves.toMatchObject({ counter: 1 });
      await expect(annSecond).resolves.toMatchObject({ counter: 2 });
      expect(order).toEqual(["bob", "ann 1", "ann 2"]);
      await until(() => setup.server.stats.locks === 0);
    });

    it("rejects with STORE_ERROR on a store without set, and frees the lock", async () => {
      const { sockets, server } = await annWithout("set");

      await expect(sockets[0].updateSession(increment)).rejects.toMatchObject({
        code: "STORE_ERROR",
        message: expect.stringContaining("set(") as unknown,
      });
      await until(() => server.stats.locks === 0);
    });

    it("still writes the store from a socket whose session was closed here", async () => {
      const { sockets, server, sid, app, cookie, watch } = await annWith(1);
      const [socket] = sockets;
      server.closeSession(sid);

      await socket.updateSession(increment);

      await expect(app.whoami(cookie)).resolves.toMatchObject({ counter: 1 });
      expect(updatesOf(watch, socket)).toEqual([]);
    });
  });

  describe("refresh (after an update or a revalidation)", () => {
    it("keeps every socket's session when hydrate throws: the caller's update rejects, the others get `session_error`", async () => {
      const { sockets, watch, app, cookie } = await annWith(2, {}, { make: picky() });
      const [a, b] = sockets;
      const [before, beforeB] = [a.session, b.session];

      const error = await rejection(
        a.updateSession((record) => {
          record.user = { name: "mallory" };
        }),
      );

      expect(error).toMatchObject({
        code: "HYDRATE_FAILED",
        cause: new Error("mallory is banned"),
      });
      expect(watch.errors.map((failure) => failure.code)).toEqual(["HYDRATE_FAILED"]);
      expect(watch.errors[0].cause).toEqual(new Error("mallory is banned"));
      expect(a.session).toBe(before);
      expect(b.session).toBe(beforeB);
      expect(b.session.user).toEqual({ name: "ann" });
      expect(updatesOf(watch, a)).toEqual([]);
      expect(updatesOf(watch, b)).toEqual([]);
      // The write happened before the refresh: the store has the new record.
      await expect(app.whoami(cookie)).resolves.toMatchObject({ user: { name: "mallory" } });
    });

    it("rejects the caller's update with the SessionError hydrate throws, its own code kept", async () => {
      const refusal = new SessionError("NOT_FOUND", "no such user");
      const { sockets, watch } = await annWith(1, {}, { make: picky(refusal) });

      const error = await rejection(
        sockets[0].updateSession((record) => {
          record.user = { name: "mallory" };
        }),
      );

      expect(error).toBe(refusal);
      expect(watch.errors).toEqual([]);
    });

    it("keeps the session when hydrate throws on a change found by revalidation", async () => {
      const { sockets, watch, app, cookie, store } = await annWith(
        1,
        { revalidateInterval: 30 },
        { make: picky() },
      );

      await app.request("/login?name=mallory", cookie);
      await until(() => watch.errors.length >= 1);

      expect(watch.errors[0].code).toBe("HYDRATE_FAILED");
      expect(sockets[0].session.user).toEqual({ name: "ann" });
      expect(sockets[0].readyState).toBe("open");
      expect(store.calls.set).toBe(0);
    });

    it("gives every socket its own copy of the record to hydrate", async () => {
      const hydrated: SessionRecord[] = [];
      // The record type is given when the session type is not a record: no cast in hydrate().
      class Profiles extends SessionServer<Profile, AppSession> {
        protected override hydrate(data: AppSession): Profile {
          hydrated.push(data);
          return { name: data.user?.name ?? "", counter: data.counter ?? 0, records: [data] };
        }
      }
      const { sockets, watch } = await annWith<Profile>(
        2,
        {},
        { make: (app, options) => new Profiles(app.httpServer, options) },
      );
      const [a, b] = sockets;
      hydrated.splice(0);

      const value = await a.updateSession(increment);

      expect(value).toEqual({ name: "ann", counter: 1, records: [a.record] });
      expect(a.session).toBe(value);
      expect(b.session).toEqual({ name: "ann", counter: 1, records: [b.record] });
      expect(a.record).not.toBe(b.record);
      expect(new Set(hydrated)).toEqual(new Set([a.record, b.record]));
      expect(updatesOf(watch, b)).toEqual([b.session]);
    });
  });

  describe("read (SessionSocket#reloadSession)", () => {
    it("rejects with HYDRATE_FAILED, cause kept, and keeps the session when hydrate throws", async () => {
      const { sockets, app, cookie } = await annWith(1, {}, { make: picky() });
      const before = sockets[0].session;
      await app.request("/login?name=mallory", cookie);

      const error = await rejection(sockets[0].reloadSession());

      expect(error).toBeInstanceOf(SessionError);
      expect(error).toMatchObject({
        code: "HYDRATE_FAILED",
        cause: new Error("mallory is banned"),
      });
      expect(sockets[0].session).toBe(before);
    });

    it("rejects with the SessionError hydrate throws", async () => {
      const refusal = new SessionError("NOT_FOUND", "no such user");
      const { sockets, app, cookie } = await annWith(1, {}, { make: picky(refusal) });
      await app.request("/login?name=mallory", cookie);

      await expect(sockets[0].reloadSession()).rejects.toBe(refusal);
    });
    // cannot be copied rejects with a raw DataCloneError, where the handshake says STORE_ERROR.
    it("rejects with STORE_ERROR when the stored record cannot be copied", async () => {
      const { sockets, store } = await annWith(1);
      store.uncloneable = true;

      await expect(sockets[0].reloadSession()).rejects.toBeInstanceOf(SessionError);
    });
  });

  describe("destroySession", () => {
    it("rejects with STORE_ERROR on a store without destroy, and closes nothing", async () => {
      const { sockets, server, sid, app, cookie, watch } = await annWithout("destroy");

      await expect(server.destroySession(sid)).rejects.toMatchObject({
        code: "STORE_ERROR",
        message: expect.stringContaining("destroy(") as unknown,
      });
      await expect(sockets[0].destroySession()).rejects.toMatchObject({ code: "STORE_ERROR" });

      expect(sockets[0].readyState).toBe("open");
      expect(eventsOf(watch, sockets[0])).toEqual([]);
      expect(watch.ends).toEqual([]);
      await expect(app.whoami(cookie)).resolves.toMatchObject({ user: { name: "ann" } });
    });

    it("rejects with STORE_ERROR, cause kept, and still ends the sockets when store.destroy fails", async () => {
      const { sockets, server, sid, store, watch } = await annWith(1);
      store.failWith = new Error("connection refused");

      const error = await rejection(server.destroySession(sid));

      expect(error).toMatchObject({ code: "STORE_ERROR", cause: store.failWith });
      // Logout is final on the socket side: the sockets end whether or not the delete lands.
      expect(sockets[0].readyState).not.toBe("open");
      expect(watch.ends).toEqual([[sid, "destroyed"]]);
      expect(watch.errors.map((each) => each.code)).toEqual(["STORE_ERROR"]);
    });
  });

  describe("write (SessionSocket#saveSession)", () => {
    it("rejects with STORE_ERROR on a store without set", async () => {
      const { sockets } = await annWithout("set");

      const error = await rejection(sockets[0].saveSession());

      expect(error).toBeInstanceOf(SessionError);
      expect(error).toMatchObject({ code: "STORE_ERROR" });
    });

    it("rejects with STORE_ERROR, cause kept, when store.set fails", async () => {
      const { sockets, store } = await annWith(1);
      store.failWith = new Error("read-only replica");

      await expect(sockets[0].saveSession()).rejects.toMatchObject({
        code: "STORE_ERROR",
        cause: store.failWith,
      });
    });

    it("reaches every socket of the session by revalidation, the saving one included", async () => {
      const { sockets, store, watch } = await annWith(2, { revalidateInterval: 30 });
      const [a, b] = sockets;
      a.session.counter = 4;

      await a.saveSession();
      await until(() => b.session.counter === 4);
      const reads = store.calls.get;
      await until(() => store.calls.get >= reads + 2 && store.inFlight.now === 0);

      expect(updatesOf(watch, b).map((value) => value.counter)).toEqual([4]);
      expect(updatesOf(watch, a).map((value) => value.counter)).toEqual([4]);
      expect(a.session).not.toBe(b.session);
    });
  });

  describe("touch (SessionSocket#touchSession)", () => {
    it("rejects with STORE_ERROR on a store with neither touch nor set, and frees the lock", async () => {
      const setup = await annWith(1, {}, { without: ["touch", "set"] });

      await expect(setup.sockets[0].touchSession()).rejects.toMatchObject({ code: "STORE_ERROR" });
      await until(() => setup.server.stats.locks === 0);
    });

    it("emits `session_error` STORE_ERROR when a background touch cannot copy the record", async () => {
      const { sockets, store, watch } = await annWith(
        1,
        { touchInterval: 30 },
        { without: ["touch"] },
      );
      store.uncloneable = true;

      await until(() => watch.errors.length >= 1);
      store.uncloneable = false;

      expect(watch.errors[0]).toBeInstanceOf(SessionError);
      expect(watch.errors[0].code).toBe("STORE_ERROR");
      expect(watch.errors[0].cause).toBeInstanceOf(Error);
      // A session no socket can hold ends its sockets, with the error that says why.
      await until(() => sockets[0].readyState !== "open");
    });
  });

  describe("revalidation", () => {
    it("never reads one session twice at once, even when the store is slower than the interval", async () => {
      const { store, sockets, watch } = await annWith(1, { revalidateInterval: 20 });
      store.holdAnswers = true;
      await until(() => store.held === 1);
      const reads = store.calls.get;

      await delay(120);
      expect(store.calls.get).toBe(reads);
      store.holdAnswers = false;
      store.release();
      await until(() => store.calls.get >= reads + 2);

      expect(store.inFlight.max).toBe(1);
      expect(sockets[0].readyState).toBe("open");
      expect(watch.errors).toEqual([]);
    });

    it("ends nothing more when the session was closed here while its read was in flight", async () => {
      const { store, server, sid, app, cookie, watch } = await annWith(1, {
        revalidateInterval: 20,
      });
      store.holdCalls = true;
      await until(() => store.held === 1);

      server.closeSession(sid);
      await app.request("/logout", cookie);
      store.holdCalls = false;
      store.release();
      await until(() => store.inFlight.now === 0);
      await delay(60);

      expect(watch.ends).toEqual([[sid, "closed"]]);
      expect(watch.errors).toEqual([]);
    });

    it("refreshes nothing when the session was closed here while its changed record was read", async () => {
      const { store, server, sid, app, cookie, watch, sockets } = await annWith(1, {
        revalidateInterval: 20,
      });
      store.holdCalls = true;
      await until(() => store.held === 1);

      await app.setCounter(cookie, 3);
      server.closeSession(sid);
      store.holdCalls = false;
      store.release();
      await until(() => store.inFlight.now === 0);
      await delay(60);

      expect(updatesOf(watch, sockets[0])).toEqual([]);
      expect(sockets[0].session.counter).toBeUndefined();
      expect(watch.errors).toEqual([]);
    });

    it("emits `session_error` STORE_ERROR, cause kept, for a record it cannot copy", async () => {
      const { store, watch, sockets } = await annWith(1, { revalidateInterval: 20 });

      store.uncloneable = true;
      await until(() => watch.errors.length >= 1);
      store.uncloneable = false;

      expect(watch.errors[0].code).toBe("STORE_ERROR");
      expect(watch.errors[0].cause).toBeInstanceOf(Error);
      await until(() => sockets[0].readyState !== "open");
      expect(watch.ends.map(([, reason]) => reason)).toEqual(["closed"]);
    });
    // answers with the older record after the update, and refresh() rolls the sockets back to it.
    it("does not roll the sockets back when an update lands while its read is in flight", async () => {
      const { store, watch, sockets } = await annWith(1, { revalidateInterval: 20 });
      const [socket] = sockets;
      store.holdAnswers = true;
      await until(() => store.held === 1);
      store.holdAnswers = false;

      await socket.updateSession(increment);
      expect(socket.session.counter).toBe(1);
      store.release();
      await until(() => store.inFlight.now === 0);
      await delay(10);

      expect(socket.session.counter).toBe(1);
      expect(updatesOf(watch, socket).map((value) => value.counter)).toEqual([1]);
    });
  });

  describe("timers", () => {
    it("runs one touch timer and one revalidation timer for any number of sessions", async () => {
      const setup = await annWith(2, { touchInterval: 1000, revalidateInterval: 1000 });
      const bob = await setup.app.login("bob");
      await connectLive(setup.app, setup.watch, "websocket", bob);

      expect(setup.server.stats).toEqual({
        sessions: 2,
        sockets: 3,
        pendingLookups: 0,
        sharedLookups: 0,
        locks: 0,
        timers: 2,
        tombstones: 0,
        bus: "none",
      });
      setup.server.closeSession(setup.sid);
      expect(setup.server.stats.timers).toBe(2);
      setup.server.closeSession(sessionIdOf(bob));
      expect(setup.server.stats.timers).toBe(0);
    });
  });
});
