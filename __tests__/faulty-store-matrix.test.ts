import type { IncomingMessage } from "node:http";
import { runInThisContext } from "node:vm";
import session from "express-session";
import type { Socket as ClientSocket } from "engine.io-client";
import type {
  ConnectionError,
  SessionErrorCode,
  SessionRecord,
  SessionServer,
  SessionStore,
  StoreCallback,
} from "../lib";
import {
  attachServer,
  client,
  closeClients,
  delay,
  startApp,
  until,
  type AppSession,
  type TestApp,
} from "./helpers/app";
import { faultyStores } from "./helpers/stores";

// Every misbehaviour of a session store that real stores show, over both transports: each
// handshake must end in exactly one outcome (one `session`, or one `session_error` with the
// expected code and one refusal), soon after `lookupTimeout`, and leave nothing behind.

const LOOKUP_TIMEOUT = 150;
/** Generous: this checks that an outcome arrives, not how fast. */
const MARGIN = 1_000;
/** Concurrent handshakes of one session per case (they share one store read). */
const HANDSHAKES = 3;

// ---------------------------------------------------------------------------------------------
// Unhandled rejections and uncaught exceptions fail the suite.

// Jest gives each suite a copy of `process` whose events nobody emits; the real one is the main
// realm's. (Jest itself also fails a test on these; the recorder makes the check explicit.)
const realProcess = runInThisContext("process") as NodeJS.Process;
const crashes: { kind: string; error: unknown }[] = [];
function onUnhandledRejection(error: unknown): void {
  crashes.push({ kind: "unhandledRejection", error });
}
function onUncaughtException(error: unknown): void {
  crashes.push({ kind: "uncaughtException", error });
}

beforeAll(() => {
  realProcess.on("unhandledRejection", onUnhandledRejection);
  realProcess.on("uncaughtException", onUncaughtException);
  expect(realProcess.listeners("unhandledRejection")).toContain(onUnhandledRejection);
  expect(realProcess.listeners("uncaughtException")).toContain(onUncaughtException);
});

afterEach(() => {
  expect(crashes).toEqual([]);
});

afterAll(() => {
  realProcess.off("unhandledRejection", onUnhandledRejection);
  realProcess.off("uncaughtException", onUncaughtException);
  expect(crashes).toEqual([]);
});

// ---------------------------------------------------------------------------------------------
// A real express-session store that answers synchronously, so faulty wrappers can hand out its
// records whenever and however they like. The HTTP app logs in through it.

class SyncStore extends session.Store {
  readonly records = new Map<string, string>();

  override get(
    sid: string,
    callback: (error: unknown, record?: session.SessionData | null) => void,
  ) {
    const json = this.records.get(sid);
    callback(null, json === undefined ? null : (JSON.parse(json) as session.SessionData));
  }

  override set(sid: string, record: session.SessionData, callback?: (error?: unknown) => void) {
    this.records.set(sid, JSON.stringify(record));
    callback?.();
  }

  override destroy(sid: string, callback?: (error?: unknown) => void) {
    this.records.delete(sid);
    callback?.();
  }

  /** A fresh copy of the stored record. */
  read(sid: string): SessionRecord | null {
    const json = this.records.get(sid);
    return json === undefined ? null : (JSON.parse(json) as SessionRecord);
  }
}

type Expected = "session" | SessionErrorCode;

interface StoreCase {
  title: string;
  expected: Expected;
  /** The store the SessionServer reads; `backing` is the one the HTTP app writes. */
  store: (backing: SyncStore) => SessionStore;
  /** Extra time to wait after the outcome for late answers to come out (and be ignored). */
  lateMs?: number;
}

function later(ms: number, fn: () => void): void {
  setTimeout(fn, ms);
}

/** A store whose `get(sid, callback)` is `get`. */
function storeWith(
  get: (sid: string, callback: StoreCallback<SessionRecord | null>) => unknown,
): SessionStore {
  return { get };
}

/** A store that hands back `value` as the record. */
function garbage(value: () => unknown): (backing: SyncStore) => SessionStore {
  return () =>
    storeWith((_sid, callback) => {
      setImmediate(() => {
        callback(null, value() as SessionRecord);
      });
    });
}

const CASES: StoreCase[] = [
  {
    title: "a store that works (control)",
    expected: "session",
    store: (backing) => backing,
  },
  {
    title: "calls back with an error",
    expected: "STORE_ERROR",
    store: () => faultyStores.errs(),
  },
  {
    title: "calls back with an ENOENT error",
    expected: "NOT_FOUND",
    store: () => faultyStores.enoent(),
  },
  {
    title: "calls back with a plain { code: 'ENOENT' } object",
    expected: "NOT_FOUND",
    store: () =>
      storeWith((_sid, callback) => {
        callback({ code: "ENOENT" });
      }),
  },
  {
    title: "throws synchronously",
    expected: "STORE_ERROR",
    store: () => faultyStores.throws(),
  },
  {
    title: "throws a string",
    expected: "STORE_ERROR",
    store: () =>
      storeWith(() => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- stores do this
        throw "redis down";
      }),
  },
  {
    title: "throws undefined",
    expected: "STORE_ERROR",
    store: () =>
      storeWith(() => {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- stores do this
        throw undefined;
      }),
  },
  {
    title: "returns a rejected promise",
    expected: "STORE_ERROR",
    store: () => faultyStores.rejects(),
  },
  {
    title: "returns a promise rejected with undefined",
    expected: "STORE_ERROR",
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- stores do this
    store: () => storeWith(() => Promise.reject(undefined)),
  },
  {
    title: "returns a promise rejected with an ENOENT error",
    expected: "NOT_FOUND",
    store: () =>
      storeWith(() => Promise.reject(Object.assign(new Error("gone"), { code: "ENOENT" }))),
  },
  {
    title: "never answers",
    expected: "TIMEOUT",
    store: () => faultyStores.hangs(),
  },
  {
    title: "returns a promise that never settles",
    expected: "TIMEOUT",
    store: () => storeWith(() => new Promise<never>(() => undefined)),
  },
  {
    title: "resolves undefined, then never calls back",
    expected: "TIMEOUT",
    // Declares the callback (get.length 2): an undefined resolution is not taken as the answer.
    store: () => storeWith((_sid, _callback) => Promise.resolve(undefined)),
  },
  {
    title: "calls back twice: the record, then an error",
    expected: "session",
    store: (backing) =>
      storeWith((sid, callback) => {
        setImmediate(() => {
          callback(null, backing.read(sid));
          callback(new Error("second callback"));
        });
      }),
  },
  {
    title: "calls back twice: an error, then the record",
    expected: "STORE_ERROR",
    store: (backing) =>
      storeWith((sid, callback) => {
        callback(new Error("first callback"));
        callback(null, backing.read(sid));
      }),
  },
  {
    title: "calls back synchronously with the record, then throws (connect-redis)",
    expected: "session",
    store: (backing) =>
      storeWith((sid, callback) => {
        callback(null, backing.read(sid));
        throw new Error("thrown after the callback");
      }),
  },
  {
    title: "calls back with the record and returns a rejected promise",
    expected: "session",
    store: (backing) =>
      storeWith((sid, callback) => {
        callback(null, backing.read(sid));
        return Promise.reject(new Error("rejected after the callback"));
      }),
  },
  {
    title: "rejects first, then calls back with the record",
    expected: "STORE_ERROR",
    store: (backing) =>
      storeWith((sid, callback) => {
        later(10, () => {
          callback(null, backing.read(sid));
        });
        return Promise.reject(new Error("rejected before the callback"));
      }),
    lateMs: 50,
  },
  {
    title: "calls back after the timeout",
    expected: "TIMEOUT",
    store: (backing) =>
      storeWith((sid, callback) => {
        later(LOOKUP_TIMEOUT + 200, () => {
          callback(null, backing.read(sid));
        });
      }),
    lateMs: 400,
  },
  {
    title: "calls back with an error after the timeout",
    expected: "TIMEOUT",
    store: () =>
      storeWith((_sid, callback) => {
        later(LOOKUP_TIMEOUT + 200, () => {
          callback(new Error("too late"));
        });
      }),
    lateMs: 400,
  },
  {
    title: "rejects after the timeout",
    expected: "TIMEOUT",
    store: () =>
      storeWith(
        () =>
          new Promise<never>((_resolve, reject) => {
            later(LOOKUP_TIMEOUT + 200, () => {
              reject(new Error("too late"));
            });
          }),
      ),
    lateMs: 400,
  },
  {
    title: "answers just before the timeout",
    expected: "session",
    store: (backing) =>
      storeWith((sid, callback) => {
        later(LOOKUP_TIMEOUT / 2, () => {
          callback(null, backing.read(sid));
        });
      }),
  },
  {
    title: "is promise-only (get(sid)) and resolves the record",
    expected: "session",
    store: (backing) => storeWith((sid) => Promise.resolve(backing.read(sid))),
  },
  {
    title: "is promise-only (get(sid)) and resolves undefined",
    expected: "NOT_FOUND",
    store: () => storeWith((_sid: string) => Promise.resolve(undefined)),
  },
  {
    title: "returns a thenable whose then() throws",
    expected: "STORE_ERROR",
    store: () =>
      storeWith(() => ({
        then() {
          throw new Error("broken thenable");
        },
      })),
  },
  { title: "returns a string", expected: "STORE_ERROR", store: garbage(() => "a string") },
  { title: "returns a number", expected: "STORE_ERROR", store: garbage(() => 42) },
  { title: "returns true", expected: "STORE_ERROR", store: garbage(() => true) },
  { title: "returns an array", expected: "STORE_ERROR", store: garbage(() => []) },
  {
    title: "returns an object without cookie",
    expected: "STORE_ERROR",
    store: garbage(() => ({ user: { name: "ann" } })),
  },
  {
    title: "returns cookie: null",
    expected: "STORE_ERROR",
    store: garbage(() => ({ cookie: null })),
  },
  {
    title: "returns cookie: a string",
    expected: "STORE_ERROR",
    store: garbage(() => ({ cookie: "expires=never" })),
  },
  { title: "returns null", expected: "NOT_FOUND", store: garbage(() => null) },
  { title: "returns undefined", expected: "NOT_FOUND", store: garbage(() => undefined) },
  {
    // Live, as express-session takes it: TTL stores leave a lapsed cookie.expires behind.
    title: "returns a record whose cookie.expires lapsed",
    expected: "session",
    store: garbage(() => ({ cookie: { expires: new Date(Date.now() - 1000).toISOString() } })),
  },
  {
    title: "returns a record that cannot be copied (a function inside)",
    expected: "STORE_ERROR",
    store: garbage(() => ({ cookie: {}, helper: () => 1 })),
  },
  {
    title: "returns a record whose cookie throws on read",
    expected: "STORE_ERROR",
    store: garbage(() => ({
      cookie: {
        get expires(): never {
          throw new Error("getter exploded");
        },
      },
    })),
  },
  {
    title: "returns a proxy that throws on every access",
    expected: "STORE_ERROR",
    store: garbage(
      () =>
        new Proxy(
          {},
          {
            get() {
              throw new Error("proxy exploded");
            },
          },
        ),
    ),
  },
];

// ---------------------------------------------------------------------------------------------
// One case: HANDSHAKES concurrent clients with a real express-session cookie.

interface Recorded {
  /** Per handshake request: what the server emitted for it. */
  perRequest: Map<IncomingMessage, string[]>;
  refusals: ConnectionError[];
}

function watch(server: SessionServer<AppSession>): Recorded {
  const recorded: Recorded = { perRequest: new Map(), refusals: [] };
  const add = (req: IncomingMessage, what: string): void => {
    recorded.perRequest.set(req, [...(recorded.perRequest.get(req) ?? []), what]);
  };
  server.on("session", (socket) => {
    add(socket.request, "session");
  });
  server.on("session_error", (error, req) => {
    if (req !== undefined) add(req, error.code);
  });
  server.on("connection", (conn) => {
    add(conn.request, "connection");
  });
  server.on("connection_error", (error) => {
    recorded.refusals.push(error);
  });
  return recorded;
}

/** Each client's events, and when its first outcome came. */
interface ClientLog {
  events: string[];
  elapsedMs: number | undefined;
}

function track(socket: ClientSocket, started: number): ClientLog {
  const log: ClientLog = { events: [], elapsedMs: undefined };
  const first = (what: string) => () => {
    log.events.push(what);
    log.elapsedMs ??= Date.now() - started;
  };
  socket.on("open", first("open"));
  socket.on("error", first("error"));
  return log;
}

/** The same stats with every figure at zero: nothing in flight, indexed, locked or ticking. */
function zeroed<T extends object>(stats: T): Record<keyof T, unknown> {
  return Object.fromEntries(
    Object.entries(stats).map(([key, value]) => [key, typeof value === "number" ? 0 : value]),
  ) as Record<keyof T, unknown>;
}

/** Node's live `setTimeout`/`setInterval` handles. */
function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((each) => each === "Timeout").length;
}

for (const transport of ["polling", "websocket"] as const) {
  describe(`a faulty store over ${transport}`, () => {
    let app: TestApp | undefined;
    let server: SessionServer<AppSession> | undefined;

    afterEach(async () => {
      closeClients();
      server?.close();
      server = undefined;
      await app?.close();
      app = undefined;
    });

    it.each(CASES)("$title → $expected, once per handshake", async (storeCase) => {
      const { expected, lateMs = 20 } = storeCase;
      const timeoutsBefore = activeTimeouts();
      const backing = new SyncStore();
      app = await startApp({ store: backing });
      const cookie = await app.login("ann");
      const store = storeCase.store(backing);
      server = attachServer(app, { store, lookupTimeout: LOOKUP_TIMEOUT });
      const recorded = watch(server);

      const started = Date.now();
      const clients = Array.from({ length: HANDSHAKES }, () => client(app!, transport, cookie));
      const logs = clients.map((socket) => track(socket, started));
      await until(() => logs.every((log) => log.elapsedMs !== undefined), LOOKUP_TIMEOUT + MARGIN);
      // Late and repeated answers get their chance to do harm.
      await delay(lateMs);

      // Every client: exactly one outcome, the expected one, in time.
      for (const log of logs) {
        expect(log.events).toEqual([expected === "session" ? "open" : "error"]);
        expect(log.elapsedMs).toBeLessThan(LOOKUP_TIMEOUT + MARGIN);
      }
      // Every handshake request: exactly one outcome on the server too.
      expect([...recorded.perRequest.values()]).toEqual(
        Array.from({ length: HANDSHAKES }, () =>
          expected === "session" ? ["session", "connection"] : [expected],
        ),
      );
      if (expected === "session") {
        expect(recorded.refusals).toEqual([]);
      } else {
        expect(recorded.refusals.map((each) => each.context?.name)).toEqual(
          Array.from({ length: HANDSHAKES }, () => expected),
        );
      }
      expect(server.clientsCount).toBe(expected === "session" ? HANDSHAKES : 0);

      // Afterwards: nothing left in flight, indexed or ticking.
      closeClients();
      await until(() => server!.clientsCount === 0 && server!.stats.sockets === 0);
      expect(server.stats).toEqual(zeroed(server.stats));
      server.close();
      await app.close();
      app = undefined;
      await until(() => activeTimeouts() <= timeoutsBefore, 2_000);
    });
  });
}

describe("a faulty store with `required: false`", () => {
  const SOME = CASES.filter((each) =>
    [
      "calls back with an error",
      "never answers",
      "calls back after the timeout",
      "returns an object without cookie",
      "calls back twice: the record, then an error",
    ].includes(each.title),
  );
  let app: TestApp | undefined;
  let server: SessionServer<AppSession> | undefined;

  afterEach(async () => {
    closeClients();
    server?.close();
    server = undefined;
    await app?.close();
    app = undefined;
  });

  for (const transport of ["polling", "websocket"] as const) {
    it.each(SOME)(
      `over ${transport}: $title → one outcome, anonymous on failure`,
      async (storeCase) => {
        const { expected, lateMs = 20 } = storeCase;
        const backing = new SyncStore();
        app = await startApp({ store: backing });
        const cookie = await app.login("ann");
        server = attachServer(app, {
          store: storeCase.store(backing),
          lookupTimeout: LOOKUP_TIMEOUT,
          required: false,
        });
        const recorded = watch(server);

        const started = Date.now();
        const logs = Array.from({ length: HANDSHAKES }, () =>
          track(client(app!, transport, cookie), started),
        );
        await until(
          () => logs.every((log) => log.elapsedMs !== undefined),
          LOOKUP_TIMEOUT + MARGIN,
        );
        await delay(lateMs);

        for (const log of logs) expect(log.events).toEqual(["open"]);
        expect([...recorded.perRequest.values()]).toEqual(
          Array.from({ length: HANDSHAKES }, () =>
            expected === "session" ? ["session", "connection"] : [expected, "connection"],
          ),
        );
        expect(recorded.refusals).toEqual([]);
        expect(server.stats.sockets).toBe(expected === "session" ? HANDSHAKES : 0);

        closeClients();
        await until(() => server!.clientsCount === 0 && server!.stats.sockets === 0);
        expect(server.stats).toEqual(zeroed(server.stats));
      },
    );
  }
});

describe("the lookup timer", () => {
  /** Each test its own length: the shared, idle timer of one length outlives its test (unref'd). */
  let LONG_TIMEOUT = 2_000;
  let app: TestApp | undefined;
  let server: SessionServer<AppSession> | undefined;
  /** The lookup timers seen, to let a stray one run out before the next test. */
  const seen: unknown[] = [];

  /** Whether `timer` no longer keeps the process alive: fired, cleared, or unref'd when idle. */
  function destroyed(timer: unknown): boolean {
    // Node marks a Timeout `_destroyed` once it has fired or been cleared.
    const t = timer as { _destroyed: boolean; hasRef(): boolean };
    return t._destroyed || !t.hasRef();
  }

  afterEach(async () => {
    await until(() => seen.every(destroyed), LONG_TIMEOUT + 1_000);
    seen.length = 0;
    LONG_TIMEOUT++;
    closeClients();
    server?.close();
    server = undefined;
    await app?.close();
    app = undefined;
  });

  /**
   * Runs one refused polling handshake; resolves how many timers of `lookupTimeout` ms still keep
   * the process alive once its outcome is in. setTimeout is observed (spied, calling through), not replaced.
   */
  async function lookupTimersArmedAfter(store: SessionStore): Promise<number> {
    const backing = new SyncStore();
    app = await startApp({ store: backing });
    const cookie = await app.login("ann");
    server = attachServer(app, { store, lookupTimeout: LONG_TIMEOUT });
    const recorded = watch(server);
    const spy = jest.spyOn(globalThis, "setTimeout");
    try {
      const log = track(client(app, "polling", cookie), Date.now());
      await until(() => log.elapsedMs !== undefined);
      closeClients();

      expect(log.events).toEqual(["error"]);
      expect([...recorded.perRequest.values()]).toEqual([["STORE_ERROR"]]);
      const lookupTimers = spy.mock.calls
        .map((call, index) => ({ delay: call[1], timer: spy.mock.results[index].value as unknown }))
        .filter(({ delay }) => delay === LONG_TIMEOUT);
      expect(lookupTimers).toHaveLength(1);
      seen.push(...lookupTimers.map(({ timer }) => timer));
      return lookupTimers.filter(({ timer }) => !destroyed(timer)).length;
    } finally {
      spy.mockRestore();
    }
  }

  it("lets go as soon as a store rejects (control for the test below)", async () => {
    expect(await lookupTimersArmedAfter(faultyStores.rejects())).toBe(0);
  });

  // A thenable whose then() throws rejects the lookup with STORE_ERROR; the timer must go with it.
  it("lets go as soon as a store's thenable throws from then()", async () => {
    const store = storeWith(() => ({
      then() {
        throw new Error("broken thenable");
      },
    }));
    expect(await lookupTimersArmedAfter(store)).toBe(0);
  });

  it("lets go as soon as a store's thenable throws from its `then` getter", async () => {
    const store = storeWith(() => ({
      get then(): unknown {
        throw new Error("broken getter");
      },
    }));
    expect(await lookupTimersArmedAfter(store)).toBe(0);
  });
});
