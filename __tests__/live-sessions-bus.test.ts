// The live-session rules on the bus paths, with an in-process bus this test drives: ends announced
// by another node, the bus going down and coming back, the cross-node lease, and the end reason.
import session from "express-session";
import type {
  SessionBus,
  SessionBusLease,
  SessionBusMessage,
  SessionBusStatus,
  SessionRecord,
} from "../lib";
import { LiveSessions } from "../lib/live-sessions";
import { SessionLoader } from "../lib/session-loader";
import { StoreClient } from "../lib/store";
import { client, delay, outcome, sessionIdOf, until } from "./helpers/app";
import { closeLive, connectLive, eventsOf, increment, setupLive } from "./helpers/live";

afterEach(closeLive);

/** A bus whose deliveries, status and lock the test controls. */
function testBus(options: { subscribeFails?: boolean; publishFails?: boolean } = {}) {
  let listener: ((message: SessionBusMessage) => void) | undefined;
  let status: ((status: SessionBusStatus) => void) | undefined;
  const published: SessionBusMessage[] = [];
  const leases: { released: boolean; held: boolean }[] = [];
  const bus: SessionBus & { locking: boolean } = {
    locking: false,
    publish(message) {
      published.push(message);
      return options.publishFails === true
        ? Promise.reject(new Error("publish failed"))
        : Promise.resolve();
    },
    subscribe(each, onStatus) {
      listener = each;
      status = onStatus;
      return options.subscribeFails === true
        ? Promise.reject(new Error("no bus"))
        : Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  const withLock = bus as SessionBus;
  withLock.lock = (): Promise<SessionBusLease> => {
    const lease = { released: false, held: true };
    leases.push(lease);
    return Promise.resolve({
      held: () => Promise.resolve(lease.held),
      release: () => {
        lease.released = true;
        return Promise.resolve();
      },
    });
  };
  return {
    bus,
    published,
    leases,
    deliver: (message: SessionBusMessage) => listener?.(message),
    status: (value: SessionBusStatus) => status?.(value),
  };
}

describe("a bus with a lock", () => {
  it("holds the lease across the read-modify-write and frees it", async () => {
    const { bus, leases, published } = testBus();
    const setup = await setupLive({ server: { bus } });
    const cookie = await setup.app.login("ann");
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);

    await socket.updateSession(increment);

    expect(leases).toHaveLength(1);
    expect(leases[0].released).toBe(true);
    expect(published).toContainEqual(
      expect.objectContaining({ type: "update", sessionId: sessionIdOf(cookie) }),
    );
    await expect(setup.app.whoami(cookie)).resolves.toMatchObject({ counter: 1 });
  });

  it("writes nothing when the lease expired before the write", async () => {
    const { bus, leases } = testBus();
    const setup = await setupLive({ server: { bus } });
    const cookie = await setup.app.login("ann");
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);

    const update = socket.updateSession((record) => {
      leases[0].held = false; // another node took over meanwhile
      increment(record);
    });

    await expect(update).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(leases[0].released).toBe(true);
    await expect(setup.app.whoami(cookie)).resolves.toMatchObject({ counter: null });
  });
});

describe("a bus whose lock fails or stalls", () => {
  it("rejects an update when the lock cannot be had, and deletes without it on logout", async () => {
    const { bus } = testBus();
    bus.lock = () => Promise.reject(new Error("lock unreachable"));
    const setup = await setupLive({ server: { bus } });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);

    await expect(socket.updateSession(increment)).rejects.toThrow("lock unreachable");
    await expect(setup.server.destroySession(sid)).resolves.toBe(1);

    await expect(setup.app.stored(sid)).resolves.toBeUndefined();
  });

  it("writes nothing when the session is destroyed while the lease is being checked", async () => {
    const { bus } = testBus();
    let checked = (): void => undefined;
    const checking = new Promise<void>((resolve) => (checked = resolve));
    let answer = (): void => undefined;
    bus.lock = () =>
      Promise.resolve({
        held: () => {
          checked();
          return new Promise<boolean>(
            (resolve) =>
              (answer = () => {
                resolve(true);
              }),
          );
        },
        release: () => Promise.resolve(),
      });
    const setup = await setupLive({ server: { bus } });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);

    const update = socket.updateSession(increment);
    await checking;
    const destroyed = setup.server.destroySession(sid);
    answer();

    await expect(update).rejects.toMatchObject({ code: "NOT_FOUND" });
    await destroyed;
    await expect(setup.app.stored(sid)).resolves.toBeUndefined();
  });

  it("ignores an update for a session with no socket here", async () => {
    const { bus, deliver } = testBus();
    const setup = await setupLive({ server: { bus } });
    const reads = setup.store.calls.get;

    deliver({ type: "update", origin: "other", sessionId: "not-here-at-all-0123456789" });
    await delay(20);

    expect(setup.store.calls.get).toBe(reads);
  });
});

describe("an end announced by another node", () => {
  it("ends the sockets here with its reason and refuses handshakes while its delete may run", async () => {
    const { bus, deliver } = testBus();
    const setup = await setupLive({ server: { bus, lookupTimeout: 100 } });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const { socket } = await connectLive(setup.app, setup.watch, "websocket", cookie);

    deliver({ type: "end", origin: "other", sessionId: sid, reason: "destroyed" });

    expect(eventsOf(setup.watch, socket)).toContain("session_end destroyed");
    // The other node's store delete has not landed here: the session is still in the store.
    await expect(setup.app.whoami(cookie)).resolves.toMatchObject({ user: { name: "ann" } });
    await expect(outcome(client(setup.app, "polling", cookie))).resolves.toMatchObject({
      kind: "error",
    });
    expect(setup.server.stats.tombstones).toBeGreaterThan(0);
    await delay(350); // three lookupTimeouts: the other node's delete is surely done or failed
    await expect(outcome(client(setup.app, "polling", cookie))).resolves.toEqual({ kind: "open" });
  });

  it("ignores its own messages", async () => {
    const { bus, deliver, published } = testBus();
    const setup = await setupLive({ server: { bus } });
    const cookie = await setup.app.login("ann");
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);
    setup.server.closeSession(sessionIdOf(cookie));
    const own = published.find((each) => each.type === "end");
    const again = await connectLive(setup.app, setup.watch, "polling", cookie);

    deliver(own!);

    expect(eventsOf(setup.watch, socket)).toContain("session_end closed");
    expect(again.socket.readyState).toBe("open");
  });

  it("tells a socket found gone by revalidation 'destroyed' when the bus word follows", async () => {
    const { bus, deliver } = testBus();
    const setup = await setupLive({ server: { bus, revalidateInterval: 30 } });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);

    // Another node's destroy: its delete lands, then (a little later) its message arrives.
    await new Promise((resolve) => {
      setup.store.memory.destroy(sid, resolve);
    });
    await until(() => setup.store.calls.get >= 3);
    deliver({ type: "end", origin: "other", sessionId: sid, reason: "destroyed" });

    await until(() => eventsOf(setup.watch, socket).includes("close"));
    expect(eventsOf(setup.watch, socket)).toContain("session_end destroyed");
    expect(setup.watch.ends).toEqual([[sid, "destroyed"]]);
  });

  it("ends a session found gone as 'expired' once no bus word came", async () => {
    const { bus } = testBus();
    const setup = await setupLive({ server: { bus, revalidateInterval: 30 } });
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);

    await new Promise((resolve) => {
      setup.store.memory.destroy(sid, resolve);
    });

    await until(() => eventsOf(setup.watch, socket).includes("close"), 3000);
    expect(setup.watch.ends).toEqual([[sid, "expired"]]);
  });
});

describe("the bus going down and coming back", () => {
  it("reports its status and re-reads every open session after a reconnect", async () => {
    const { bus, status } = testBus();
    const setup = await setupLive({ server: { bus } });
    const statuses: SessionBusStatus[] = [];
    setup.server.on("bus_status", (each) => statuses.push(each));
    const cookie = await setup.app.login("ann");
    const { socket } = await connectLive(setup.app, setup.watch, "websocket", cookie);
    expect(setup.server.stats.bus).toBe("connected");

    status("disconnected");
    expect(setup.server.stats.bus).toBe("disconnected");
    await setup.app.setCounter(cookie, 7); // an update whose bus message is lost
    status("disconnected"); // repeated: no event
    status("connected");

    await until(() => socket.session.counter === 7);
    expect(statuses).toEqual(["disconnected", "connected"]);
    expect(eventsOf(setup.watch, socket)).toEqual(["session_update"]);
  });

  it("counts a failed subscribe as disconnected, and a failed publish loses nothing here", async () => {
    const { bus } = testBus({ subscribeFails: true, publishFails: true });
    const setup = await setupLive({ server: { bus } });
    await until(() => setup.server.stats.bus === "disconnected");
    const cookie = await setup.app.login("ann");
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);

    await socket.updateSession(increment); // no lock while the bus is down

    await expect(setup.app.whoami(cookie)).resolves.toMatchObject({ counter: 1 });
  });
});

describe("two destroys of one session at once", () => {
  it("keeps refusing until both have settled", async () => {
    const setup = await setupLive();
    const cookie = await setup.app.login("ann");
    const sid = sessionIdOf(cookie);
    await connectLive(setup.app, setup.watch, "polling", cookie);

    const [first, second] = await Promise.all([
      setup.server.destroySession(sid),
      setup.server.destroySession(sid),
    ]);

    expect(first + second).toBe(1);
    await expect(setup.app.stored(sid)).resolves.toBeUndefined();
  });
});

describe("a socket whose handshake read came before an update", () => {
  it("catches up with the value the other sockets hold", async () => {
    const setup = await setupLive();
    const cookie = await setup.app.login("ann");
    const { socket } = await connectLive(setup.app, setup.watch, "polling", cookie);
    setup.store.holdAnswers = true;
    const late = client(setup.app, "polling", cookie);
    await until(() => setup.store.held === 1);
    setup.store.holdAnswers = false;

    await socket.updateSession(increment);
    setup.store.release();
    await expect(outcome(late)).resolves.toEqual({ kind: "open" });
    await until(() => setup.watch.byId.has(late.id));
    const caughtUp = setup.watch.byId.get(late.id)!;

    await until(() => caughtUp.session.counter === 1);
  });

  it("keeps the newer value when its own reload answers after an update", async () => {
    const setup = await setupLive();
    const cookie = await setup.app.login("ann");
    const a = await connectLive(setup.app, setup.watch, "polling", cookie);
    const b = await connectLive(setup.app, setup.watch, "polling", cookie);
    setup.store.holdAnswers = true;
    const reload = b.socket.reloadSession();
    await until(() => setup.store.held === 1);
    setup.store.holdAnswers = false;

    await a.socket.updateSession(increment);
    await until(() => b.socket.session.counter === 1);
    setup.store.release();

    await expect(reload).resolves.toMatchObject({ counter: 1 });
    expect(b.socket.session.counter).toBe(1);
  });
});

describe("tombstones", () => {
  it("are swept once no handshake that began before them is pending", async () => {
    jest.useFakeTimers({ doNotFake: ["setImmediate", "nextTick", "queueMicrotask"] });
    try {
      const store = new StoreClient(new session.MemoryStore(), 1000);
      const live = new LiveSessions<SessionRecord, SessionRecord>({
        store,
        loader: new SessionLoader(store),
        bus: undefined,
        nodeId: "node",
        touchInterval: false,
        revalidateInterval: false,
        hydrate: (record) => record,
        onEnd: () => undefined,
        onError: () => undefined,
        onBusStatus: () => undefined,
      });
      const started = live.beginHandshake("sid-with-a-pending-handshake");
      await live.destroy("sid-with-a-pending-handshake");
      await live.destroy("sid-without-a-handshake");
      expect(live.tombstones).toBe(2);

      jest.advanceTimersByTime(10_000);
      expect(live.tombstones).toBe(1); // its handshake is still pending
      expect(live.finishHandshake("sid-with-a-pending-handshake", started)).toMatchObject({
        code: "NOT_FOUND",
      });
      jest.advanceTimersByTime(10_000);

      expect(live.tombstones).toBe(0);
      expect(live.timers).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});
