// Option `coalesceWindow`: handshakes of one session share a store read that has already answered,
// for that many milliseconds; every change made through the server drops the shared answer.
import { SessionServer } from "../lib";
import type { SessionData } from "express-session";
import { SECRET, delay, sessionIdOf, until, type AppSession } from "./helpers/app";
import {
  closeLive,
  connectLive,
  pollingHandshake,
  setupLive,
  websocketHandshake,
  type LiveSetup,
  increment,
} from "./helpers/live";

afterEach(closeLive);

/** An app with ann logged in and a server sharing answers for `coalesceWindow` ms. */
async function annWithWindow(
  coalesceWindow: number | undefined,
): Promise<LiveSetup<AppSession> & { cookie: string; sid: string }> {
  const setup = await setupLive(coalesceWindow === undefined ? {} : { server: { coalesceWindow } });
  const cookie = await setup.app.login("ann");
  return { ...setup, cookie, sid: sessionIdOf(cookie) };
}

/** `count` handshakes one after the other (each answered before the next starts). */
async function handshakesInTurn(url: string, cookie: string, count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const transport = i % 2 === 0 ? pollingHandshake : websocketHandshake;
    statuses.push((await transport(url, cookie)).status);
  }
  return statuses;
}

describe("coalesceWindow", () => {
  it("is off by default: handshakes in turn read the store each time", async () => {
    const { app, store, server, cookie } = await annWithWindow(undefined);

    const statuses = await handshakesInTurn(app.url, cookie, 6);

    expect(statuses).toEqual([200, 101, 200, 101, 200, 101]);
    expect(store.calls.get).toBe(6);
    expect(server.stats.sharedLookups).toBe(0);
  });

  it("makes handshakes in turn within the window share one read, then lets it go", async () => {
    const { app, store, server, cookie } = await annWithWindow(300);

    const statuses = await handshakesInTurn(app.url, cookie, 6);

    expect(statuses).toEqual([200, 101, 200, 101, 200, 101]);
    expect(store.calls.get).toBe(1);
    expect(server.stats.sharedLookups).toBe(1);
    await until(() => server.stats.sharedLookups === 0, 2000);
    await handshakesInTurn(app.url, cookie, 1);
    expect(store.calls.get).toBe(2);
  });

  it("gives every socket its own copy of the shared answer", async () => {
    const { app, watch, cookie } = await annWithWindow(5000);
    const first = await connectLive(app, watch, "websocket", cookie);
    const second = await connectLive(app, watch, "polling", cookie);

    first.socket.record.counter = 99;

    expect(second.socket.record).not.toBe(first.socket.record);
    expect(second.socket.record.counter).toBeUndefined();
  });

  it("never shares a failure: a session stored after a NOT_FOUND is found at once", async () => {
    const { app, store, server, watch } = await annWithWindow(5000);
    const stranger = await app.login("bob");
    const sid = sessionIdOf(stranger);
    const saved = await app.stored(sid);
    await new Promise<void>((resolve) => {
      app.store.destroy(sid, () => {
        resolve();
      });
    });

    expect((await pollingHandshake(app.url, stranger)).status).toBe(403);
    await new Promise<void>((resolve) => {
      app.store.set(sid, saved as unknown as SessionData, () => {
        resolve();
      });
    });
    expect((await pollingHandshake(app.url, stranger)).status).toBe(200);

    expect(watch.errors.map((error) => error.code)).toEqual(["NOT_FOUND"]);
    expect(store.calls.get).toBe(2);
    expect(server.stats.sharedLookups).toBe(1);
  });

  it("drops the shared answer on updateSession: the next handshake sees the new record", async () => {
    const { app, watch, store, cookie } = await annWithWindow(5000);
    const { socket } = await connectLive(app, watch, "websocket", cookie);

    await socket.updateSession(increment);
    const next = await connectLive(app, watch, "polling", cookie);

    expect(next.socket.session.counter).toBe(1);
    expect(store.calls.get).toBe(3); // the first handshake, the update's read, the second handshake
  });

  it("drops the shared answer on saveSession", async () => {
    const { app, watch, cookie } = await annWithWindow(5000);
    const { socket } = await connectLive(app, watch, "websocket", cookie);

    socket.record.counter = 7;
    await socket.saveSession();
    const next = await connectLive(app, watch, "polling", cookie);

    expect(next.socket.session.counter).toBe(7);
  });

  it("drops the shared answer on destroySession: the next handshake is refused", async () => {
    const { app, watch, server, cookie, sid } = await annWithWindow(5000);
    await connectLive(app, watch, "websocket", cookie);

    await server.destroySession(sid);

    expect((await pollingHandshake(app.url, cookie)).status).toBe(403);
    expect(watch.errors.map((error) => error.code)).toEqual(["NOT_FOUND"]);
  });

  it("drops the shared answer on closeSession, even with no socket here", async () => {
    const { app, store, server, cookie, sid } = await annWithWindow(5000);
    await websocketHandshake(app.url, cookie); // the client closes at once
    await until(() => server.stats.sockets === 0);
    expect(server.stats.sharedLookups).toBe(1);

    server.closeSession(sid);

    expect(server.stats.sharedLookups).toBe(0);
    await websocketHandshake(app.url, cookie);
    expect(store.calls.get).toBe(2);
  });

  it("does not share an answer whose read was in flight when the session changed", async () => {
    const { app, store, server, cookie, sid } = await annWithWindow(5000);
    store.holdAnswers = true;
    const handshake = pollingHandshake(app.url, cookie);
    await until(() => store.held === 1);

    await app.setCounter(cookie, 5); // HTTP writes while the read is held
    server.closeSession(sid); // what an update here, or a bus message from another node, does
    store.holdAnswers = false;
    store.release();

    expect((await handshake).status).toBe(200);
    expect(server.stats.sharedLookups).toBe(0);
    await handshakesInTurn(app.url, cookie, 1);
    expect(store.calls.get).toBe(2);
  });

  it("holds no answer and no timer after close()", async () => {
    const { app, server, cookie } = await annWithWindow(60_000);
    await handshakesInTurn(app.url, cookie, 2);
    expect(server.stats.sharedLookups).toBe(1);

    server.close();

    expect(server.stats.sharedLookups).toBe(0);
    await delay(10);
    expect(server.stats.sharedLookups).toBe(0);
  });

  it.each([-1, Number.NaN, Number.POSITIVE_INFINITY, "100", 2 ** 31])(
    "refuses coalesceWindow %p with a TypeError that says what to pass",
    (value) => {
      expect(
        () =>
          new SessionServer({
            store: { get: () => undefined },
            secret: SECRET,
            coalesceWindow: value as number,
          }),
      ).toThrow(/`coalesceWindow` must be a number of milliseconds from 0 to/);
    },
  );
});
