import session from "express-session";
import { SessionError } from "../lib/errors";
import fc from "fast-check";
import { copyRecord } from "../lib/record-copy";
import { SessionLoader } from "../lib/session-loader";
import {
  StoreClient,
  callStore,
  readRecord,
  type SessionRecord,
  type SessionStore,
  type StoreCallback,
} from "../lib/store";
import { countingStore, delay, sessionIdOf, startApp } from "./helpers/app";
import { faultyStores, readMemory } from "./helpers/stores";

const SID = "q2Y8mIXo1E3vFPr9Kc0uTzLw6aSgJbNd";
const OTHER_SID = "Zx9kLm3nOp5qRs7tUv1wXy2zAb4cDe6f";
const WHAT = `store.get for session q2Y8…`;
const NOT_IN_STORE = `session q2Y8… is not in the store (expired, destroyed, or the HTTP app uses another store)`;
const NOT_A_RECORD = `${WHAT} returned something that is not an express-session record (no 'cookie' object)`;

interface UserRecord extends SessionRecord {
  user: { name: string };
}

function record(name: string, expires: Date | string | null = new Date(Date.now() + 60_000)) {
  return { cookie: { originalMaxAge: 60_000, expires }, user: { name } } satisfies UserRecord;
}

/** Writes `value` into a real MemoryStore. */
function put(memory: session.MemoryStore, sid: string, value: SessionRecord): Promise<void> {
  return new Promise((resolve, reject) => {
    memory.set(sid, value as session.SessionData, (error: unknown) => {
      if (error) reject(error instanceof Error ? error : new Error("set failed"));
      else resolve();
    });
  });
}

async function memoryWith(sid: string, value: SessionRecord): Promise<session.MemoryStore> {
  const memory = new session.MemoryStore();
  await put(memory, sid, value);
  return memory;
}

/** The SessionError `promise` rejects with; fails the test if it resolves or rejects otherwise. */
async function failure(promise: Promise<unknown>): Promise<SessionError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SessionError);
    return error as SessionError;
  }
  throw new Error("expected a rejection, the promise resolved");
}

/** The SessionError `run` throws; fails the test if it returns or throws otherwise. */
function failureOf(run: () => unknown): SessionError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(SessionError);
    return error as SessionError;
  }
  throw new Error("expected a throw, it returned");
}

/** The user name in a record read back from a store. */
function userOf(value: unknown): string | undefined {
  return (value as Partial<UserRecord> | undefined)?.user?.name;
}

/**
 * A store that keeps every callback it gets, so a test decides when (and how often) it answers.
 */
class HeldStore implements SessionStore {
  readonly callbacks: StoreCallback<SessionRecord | null>[] = [];
  gets = 0;

  get(sid: string, callback: StoreCallback<SessionRecord | null>): unknown {
    this.gets++;
    this.callbacks.push(callback);
    return undefined;
  }
}

/** connect-redis style: `async get(sid, cb)` resolves `undefined` at once and calls back later. */
class ResolvesFirstStore implements SessionStore {
  readonly memory = new session.MemoryStore();

  async get(sid: string, callback: StoreCallback<SessionRecord | null>): Promise<void> {
    await Promise.resolve();
    setImmediate(() => {
      this.memory.get(sid, callback);
    });
  }
}

/** A promise-only store whose `get` does not even declare the callback. */
class PromiseStore implements SessionStore {
  readonly memory = new session.MemoryStore();

  get(sid: string): Promise<SessionRecord | null | undefined> {
    return readMemory(this.memory, sid);
  }
}

describe("callStore", () => {
  it("resolves with the value the store calls back with", async () => {
    const memory = await memoryWith(SID, record("alice"));

    const value = await callStore<unknown>(
      (callback) => {
        memory.get(SID, callback);
      },
      true,
      1000,
      WHAT,
    );

    expect(userOf(value)).toBe("alice");
  });

  it("resolves when a store method calls back with no value", async () => {
    const memory = new session.MemoryStore();

    const write = callStore<undefined>(
      (callback) => {
        memory.set(SID, record("alice") as session.SessionData, callback);
      },
      true,
      1000,
      "store.set",
    );

    await expect(write).resolves.toBeUndefined();
    expect(userOf(await readMemory(memory, SID))).toBe("alice");
  });

  it("resolves with the value a returned promise resolves with", async () => {
    const store = new PromiseStore();
    await put(store.memory, SID, record("alice"));

    const value = await callStore<unknown>(() => store.get(SID), false, 1000, WHAT);

    expect(userOf(value)).toBe("alice");
  });

  it("takes a promise's undefined as the answer when no callback is declared", async () => {
    const store = new PromiseStore();

    await expect(callStore<unknown>(() => store.get(SID), false, 1000, WHAT)).resolves.toBe(
      undefined,
    );
  });

  it("waits for the callback when a promise resolves undefined and a callback is declared", async () => {
    const store = new ResolvesFirstStore();
    await put(store.memory, SID, record("alice"));

    const value = await callStore<unknown>(
      (callback) => store.get(SID, callback),
      true,
      1000,
      WHAT,
    );

    expect(userOf(value)).toBe("alice");
  });

  it("settles on the first callback and ignores a second one", async () => {
    const store = new HeldStore();
    const result = callStore<unknown>((callback) => store.get(SID, callback), true, 1000, WHAT);

    const [callback] = store.callbacks;
    callback(null, null);
    callback(new Error("second answer"));

    await expect(result).resolves.toBeNull();
  });

  it("settles on a first error and ignores a later value", async () => {
    const store = new HeldStore();
    const result = callStore<unknown>((callback) => store.get(SID, callback), true, 1000, WHAT);

    store.callbacks[0](new Error("first answer"));
    store.callbacks[0](null, record("alice"));

    const error = await failure(result);
    expect(error.code).toBe("STORE_ERROR");
  });

  it("settles on the callback and ignores a promise that resolves later", async () => {
    const memory = await memoryWith(SID, record("alice"));

    const value = await callStore<unknown>(
      (callback) => {
        memory.get(SID, callback);
        return new Promise((resolve) => setTimeout(resolve, 20, record("bob")));
      },
      true,
      1000,
      WHAT,
    );
    await delay(30);

    expect(userOf(value)).toBe("alice");
  });

  it("resolves when the store calls back with a null error", async () => {
    const store = new HeldStore();
    const result = callStore<unknown>((callback) => store.get(SID, callback), true, 1000, WHAT);

    store.callbacks[0](null, record("alice"));

    expect(userOf(await result)).toBe("alice");
  });

  it.each([
    ["false", false],
    ["0", 0],
    ["an empty string", ""],
  ])("resolves when the store calls back with %s as the error", async (_label, falsy) => {
    const value = await callStore<string>(
      (callback) => {
        callback(falsy, "answer");
      },
      true,
      1000,
      WHAT,
    );

    expect(value).toBe("answer");
  });

  it.each([
    ["true", true],
    ["1", 1],
    ["a non-empty string", "boom"],
  ])(
    "rejects with STORE_ERROR, keeping the cause, when the error is %s",
    async (_label, truthy) => {
      const error = await failure(
        callStore<string>(
          (callback) => {
            callback(truthy, "answer");
          },
          true,
          1000,
          WHAT,
        ),
      );

      expect(error.code).toBe("STORE_ERROR");
      expect(error.message).toBe(`${WHAT} failed: see error.cause`);
      expect(error.cause).toBe(truthy);
    },
  );

  it("rejects with STORE_ERROR, keeping the cause, when the store calls back with an error", async () => {
    const store = faultyStores.errs();

    const error = await failure(
      callStore<unknown>((callback) => store.get(SID, callback), true, 1000, WHAT),
    );

    expect(error.code).toBe("STORE_ERROR");
    expect(error.message).toBe(`${WHAT} failed: see error.cause`);
    expect((error.cause as Error).message).toBe("connection refused: secret-host:6379");
  });

  it("rejects with NOT_FOUND, keeping the cause, for an ENOENT error", async () => {
    const store = faultyStores.enoent();

    const error = await failure(
      callStore<unknown>((callback) => store.get(SID, callback), true, 1000, WHAT),
    );

    expect(error.code).toBe("NOT_FOUND");
    expect(error.message).toBe(`${WHAT}: not found`);
    expect((error.cause as NodeJS.ErrnoException).code).toBe("ENOENT");
  });

  it("rejects with STORE_ERROR when the store throws", async () => {
    const store = faultyStores.throws();

    const error = await failure(
      callStore<unknown>((callback) => store.get(SID, callback), true, 1000, WHAT),
    );

    expect(error.code).toBe("STORE_ERROR");
    expect((error.cause as Error).message).toBe("store exploded");
  });

  it("rejects with STORE_ERROR when the store throws a nullish value", async () => {
    const store: SessionStore = {
      get() {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- a store that does this
        throw undefined;
      },
    };

    const error = await failure(
      callStore<unknown>((callback) => store.get(SID, callback), true, 1000, WHAT),
    );

    expect(error.code).toBe("STORE_ERROR");
    expect((error.cause as Error).message).toBe("store threw a nullish value");
  });

  it("rejects with STORE_ERROR when the store's promise rejects", async () => {
    const store = faultyStores.rejects();

    const error = await failure(
      callStore<unknown>((callback) => store.get(SID, callback), true, 1000, WHAT),
    );

    expect(error.code).toBe("STORE_ERROR");
    expect((error.cause as Error).message).toBe("store rejected");
  });

  it("rejects with STORE_ERROR when the store's promise rejects with a nullish value", async () => {
    const store: SessionStore = {
      get() {
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a store that does this
        return Promise.reject(null);
      },
    };

    const error = await failure(
      callStore<unknown>((callback) => store.get(SID, callback), true, 1000, WHAT),
    );

    expect(error.code).toBe("STORE_ERROR");
    expect((error.cause as Error).message).toBe("store rejected with a nullish value");
  });

  it("passes a SessionError from the store through unchanged", async () => {
    const own = new SessionError("NOT_FOUND", "custom store says gone");
    const store: SessionStore = {
      get(sid, callback) {
        callback(own);
      },
    };

    const error = await failure(
      callStore<unknown>((callback) => store.get(SID, callback), true, 1000, WHAT),
    );

    expect(error).toBe(own);
  });

  it("rejects with TIMEOUT when the store never answers", async () => {
    const store = faultyStores.hangs();

    const error = await failure(
      callStore<unknown>((callback) => store.get(SID, callback), true, 50, WHAT),
    );

    expect(error.code).toBe("TIMEOUT");
    expect(error.message).toBe(`${WHAT} did not answer within 50 ms`);
  });

  it("ignores a callback that arrives after the timeout", async () => {
    const store = new HeldStore();
    const result = callStore<unknown>((callback) => store.get(SID, callback), true, 30, WHAT);

    const error = await failure(result);
    expect(error.code).toBe("TIMEOUT");

    expect(() => {
      store.callbacks[0](null, record("alice"));
      store.callbacks[0](new Error("late failure"));
    }).not.toThrow();
    await expect(result).rejects.toBe(error);
  });

  it("leaves no unhandled rejection when a promise rejects after the timeout", async () => {
    let rejected: () => void = () => undefined;
    const lateRejection = new Promise<void>((resolve) => {
      rejected = resolve;
    });
    const store: SessionStore = {
      get() {
        return new Promise((_resolve, reject) => {
          setTimeout(() => {
            reject(new Error("late rejection"));
            rejected();
          }, 60);
        });
      },
    };

    const error = await failure(
      callStore<unknown>((callback) => store.get(SID, callback), true, 20, WHAT),
    );
    await lateRejection;
    // Give Node a turn to report an unhandled rejection; Jest fails the test if it does.
    await delay(20);

    expect(error.code).toBe("TIMEOUT");
  });

  it("does not call the store again when it answers late", async () => {
    const store = faultyStores.slow(60);
    await put(store.memory, SID, record("alice"));

    const error = await failure(
      callStore<unknown>((callback) => store.get(SID, callback), true, 20, WHAT),
    );
    await delay(80);

    expect(error.code).toBe("TIMEOUT");
    expect(store.gets).toBe(1);
  });
});

describe("readRecord", () => {
  describe("with a MemoryStore", () => {
    it("resolves with the stored record", async () => {
      const memory = await memoryWith(SID, record("alice"));

      const found = await readRecord(memory, SID, 1000);

      expect(userOf(found)).toBe("alice");
      expect(found.cookie.originalMaxAge).toBe(60_000);
    });

    it("resolves with the record express-session stored at login", async () => {
      const app = await startApp();
      try {
        const cookie = await app.login("alice");

        const found = await readRecord(app.store, sessionIdOf(cookie), 1000);

        expect(userOf(found)).toBe("alice");
        expect(found.cookie).toEqual(expect.objectContaining({ originalMaxAge: null }));
      } finally {
        await app.close();
      }
    });

    it("rejects with NOT_FOUND for an unknown id", async () => {
      const memory = await memoryWith(OTHER_SID, record("bob"));

      const error = await failure(readRecord(memory, SID, 1000));

      expect(error.code).toBe("NOT_FOUND");
      expect(error.message).toBe(NOT_IN_STORE);
    });

    it("rejects with NOT_FOUND for a session the store dropped as expired", async () => {
      const memory = await memoryWith(SID, record("alice", new Date(Date.now() - 1000)));

      const error = await failure(readRecord(memory, SID, 1000));

      expect(error.code).toBe("NOT_FOUND");
    });

    it("rejects with NOT_FOUND after the session is destroyed", async () => {
      const memory = await memoryWith(SID, record("alice"));
      await new Promise<void>((resolve) => {
        memory.destroy(SID, () => {
          resolve();
        });
      });

      const error = await failure(readRecord(memory, SID, 1000));

      expect(error.code).toBe("NOT_FOUND");
    });

    it("hands out a fresh copy per read", async () => {
      const memory = await memoryWith(SID, record("alice"));

      const first = await readRecord(memory, SID, 1000);
      const second = await readRecord(memory, SID, 1000);

      expect(first).not.toBe(second);
      expect(first).toEqual(second);
    });
  });

  describe("with a misbehaving store", () => {
    it("rejects with NOT_FOUND when the store answers null", async () => {
      const error = await failure(readRecord(faultyStores.garbage(null), SID, 1000));

      expect(error.code).toBe("NOT_FOUND");
      expect(error.message).toBe(NOT_IN_STORE);
    });

    it("rejects with NOT_FOUND when the store answers undefined", async () => {
      const error = await failure(readRecord(faultyStores.garbage(undefined), SID, 1000));

      expect(error.code).toBe("NOT_FOUND");
      expect(error.message).toBe(NOT_IN_STORE);
    });

    it("rejects with NOT_FOUND when the store fails with ENOENT", async () => {
      const error = await failure(readRecord(faultyStores.enoent(), SID, 1000));

      expect(error.code).toBe("NOT_FOUND");
      expect(error.message).toBe(NOT_IN_STORE);
    });

    it("rejects with STORE_ERROR, keeping the cause, when the store fails", async () => {
      const error = await failure(readRecord(faultyStores.errs(), SID, 1000));

      expect(error.code).toBe("STORE_ERROR");
      expect(error.message).toBe(`${WHAT} failed: see error.cause`);
      expect(error.cause).toBeInstanceOf(Error);
      expect((error.cause as Error).message).toBe("connection refused: secret-host:6379");
    });

    it("keeps the store's error text out of the message", async () => {
      const error = await failure(readRecord(faultyStores.errs(), SID, 1000));

      expect(error.message).not.toContain("connection refused");
      expect(error.message).not.toContain("secret-host");
      expect(error.message).not.toContain("6379");
    });

    it("keeps the whole session id out of the message", async () => {
      const errors = await Promise.all([
        failure(readRecord(faultyStores.errs(), SID, 1000)),
        failure(readRecord(faultyStores.hangs(), SID, 20)),
        failure(readRecord(faultyStores.garbage(null), SID, 1000)),
        failure(readRecord(faultyStores.garbage("junk"), SID, 1000)),
      ]);

      for (const error of errors) {
        expect(error.message).not.toContain(SID);
        expect(error.message).not.toContain(SID.slice(4));
      }
    });

    it("rejects with STORE_ERROR when the store throws", async () => {
      const error = await failure(readRecord(faultyStores.throws(), SID, 1000));

      expect(error.code).toBe("STORE_ERROR");
      expect(error.message).not.toContain("exploded");
      expect((error.cause as Error).message).toBe("store exploded");
    });

    it("rejects with STORE_ERROR when the store's promise rejects", async () => {
      const error = await failure(readRecord(faultyStores.rejects(), SID, 1000));

      expect(error.code).toBe("STORE_ERROR");
      expect((error.cause as Error).message).toBe("store rejected");
    });

    it("rejects with TIMEOUT after lookupTimeout when the store hangs", async () => {
      const error = await failure(readRecord(faultyStores.hangs(), SID, 50));

      expect(error.code).toBe("TIMEOUT");
      expect(error.message).toBe(`${WHAT} did not answer within 50 ms`);
    });

    it("resolves with a slow store's record that comes within lookupTimeout", async () => {
      const store = faultyStores.slow(10);
      await put(store.memory, SID, record("alice"));

      expect(userOf(await readRecord(store, SID, 2000))).toBe("alice");
    });

    it("resolves with the first answer of a store that calls back twice", async () => {
      const store = faultyStores.twice();
      await put(store.memory, SID, record("alice"));

      const found = await readRecord(store, SID, 1000);
      await delay(10);

      expect(userOf(found)).toBe("alice");
      expect(store.gets).toBe(1);
    });

    it("resolves with the record of a promise-only store", async () => {
      const store = faultyStores.promiseOnly();
      await put(store.memory, SID, record("alice"));

      expect(userOf(await readRecord(store, SID, 1000))).toBe("alice");
    });

    it("rejects with NOT_FOUND when a promise-only store resolves undefined", async () => {
      const store = new PromiseStore();
      await put(store.memory, OTHER_SID, record("bob"));

      const error = await failure(readRecord(store, SID, 1000));

      expect(error.code).toBe("NOT_FOUND");
    });

    it("resolves with the record of an async get(sid, cb) that calls back after resolving", async () => {
      const store = new ResolvesFirstStore();
      await put(store.memory, SID, record("alice"));

      expect(userOf(await readRecord(store, SID, 1000))).toBe("alice");
    });

    it("rejects with NOT_FOUND when an async get(sid, cb) calls back with nothing", async () => {
      const store = new ResolvesFirstStore();

      const error = await failure(readRecord(store, SID, 1000));

      expect(error.code).toBe("NOT_FOUND");
    });

    it("keeps the store as `this` of its get", async () => {
      // MemoryStore#get reads this.sessions: a detached call would throw.
      const memory = await memoryWith(SID, record("alice"));
      const store = countingStore(memory);

      expect(userOf(await readRecord(store, SID, 1000))).toBe("alice");
      expect(store.gets).toBe(1);
    });

    it.each([
      ["a string", "a session"],
      ["a number", 42],
      ["true", true],
      ["an empty object", {}],
      ["an object without cookie", { user: { name: "alice" } }],
      ["an object whose cookie is null", { cookie: null }],
      ["an object whose cookie is a string", { cookie: "connect.sid=abc" }],
      ["an array", []],
    ])("rejects with STORE_ERROR when the store answers %s", async (_label, value) => {
      const error = await failure(readRecord(faultyStores.garbage(value), SID, 1000));

      expect(error.code).toBe("STORE_ERROR");
      expect(error.message).toBe(NOT_A_RECORD);
    });
  });

  describe("with a store express-session accepts", () => {
    /** A MemoryStore that reports "no error" as `false`, which express-session takes as success. */
    class FalseErrorStore extends session.MemoryStore {
      override get(
        sid: string,
        callback: (error: unknown, value?: session.SessionData | null) => void,
      ): void {
        super.get(sid, (error: unknown, value) => {
          callback(error ?? false, value);
        });
      }
    }

    // express-session's middleware tests `if (err && err.code !== 'ENOENT')`: any falsy error is
    // success, and so it is for lib/store.ts (callStore's settle).
    it("resolves when the store calls back with `false` as the error", async () => {
      const store = new FalseErrorStore();
      const app = await startApp({ store });
      try {
        const cookie = await app.login("alice");
        const whoami = await app.get("/whoami", cookie);
        expect(whoami.body).toMatchObject({ user: { name: "alice" } });

        const found = await readRecord(store, sessionIdOf(cookie), 1000);

        expect(userOf(found)).toBe("alice");
      } finally {
        await app.close();
      }
    });
    it.each([
      ["false", false],
      ["0", 0],
      ["an empty string", ""],
      ["null", null],
      ["undefined", undefined],
    ])("takes %s as the error for success, as express-session does", async (_label, falsy) => {
      const memory = await memoryWith(SID, record("alice"));
      const store: SessionStore = {
        get(sid, callback) {
          memory.get(sid, (error: unknown, value) => {
            callback(error ?? falsy, value);
          });
        },
      };

      const found = await readRecord(store, SID, 1000);

      expect(userOf(found)).toBe("alice");
    });
  });

  // express-session never re-checks cookie.expires after store.get: stores that expire by TTL
  // (connect-redis, connect-pg-simple, ...) move only their TTL on touch and leave it behind.
  describe("with an expiry date (the store decides expiry, as express-session lets it)", () => {
    it("resolves when cookie.expires is a past Date", async () => {
      const lapsed = record("alice", new Date(Date.now() - 1000));

      expect(userOf(await readRecord(faultyStores.garbage(lapsed), SID, 1000))).toBe("alice");
    });

    it("resolves when cookie.expires is a past date string", async () => {
      const lapsed = record("alice", new Date(Date.now() - 1000).toISOString());

      expect(userOf(await readRecord(faultyStores.garbage(lapsed), SID, 1000))).toBe("alice");
    });

    it("resolves when cookie.expires is a future date string", async () => {
      const live = record("alice", new Date(Date.now() + 60_000).toISOString());

      expect(userOf(await readRecord(faultyStores.garbage(live), SID, 1000))).toBe("alice");
    });

    it("resolves when cookie.expires is null (a browser-session cookie)", async () => {
      const live = record("alice", null);

      expect(userOf(await readRecord(faultyStores.garbage(live), SID, 1000))).toBe("alice");
    });

    it("resolves when the cookie has no expires", async () => {
      const live = { cookie: {}, user: { name: "alice" } };

      expect(userOf(await readRecord(faultyStores.garbage(live), SID, 1000))).toBe("alice");
    });

    it("resolves when cookie.expires is not a date", async () => {
      const odd = record("alice", "not a date");

      expect(userOf(await readRecord(faultyStores.garbage(odd), SID, 1000))).toBe("alice");
    });
  });
});

describe("SessionLoader", () => {
  describe("#load", () => {
    it("shares one store read between concurrent loads of one id", async () => {
      const store = countingStore(await memoryWith(SID, record("alice")));
      const loader = new SessionLoader(new StoreClient(store, 1000));

      const records = await Promise.all(Array.from({ length: 20 }, () => loader.load(SID)));

      expect(store.gets).toBe(1);
      expect(records).toHaveLength(20);
      for (const each of records) expect(each).toBe(records[0]);
      expect(userOf(records[0])).toBe("alice");
    });

    it("returns the same promise to concurrent loads of one id", () => {
      const store = new HeldStore();
      const loader = new SessionLoader(new StoreClient(store, 1000));

      const first = loader.load(SID);
      const second = loader.load(SID);
      store.callbacks[0](null, record("alice"));

      expect(second).toBe(first);
      return first;
    });

    it("reads each id separately", async () => {
      const memory = await memoryWith(SID, record("alice"));
      await put(memory, OTHER_SID, record("bob"));
      const store = countingStore(memory);
      const loader = new SessionLoader(new StoreClient(store, 1000));

      const [alice, bob] = await Promise.all([loader.load(SID), loader.load(OTHER_SID)]);

      expect(store.gets).toBe(2);
      expect(userOf(alice)).toBe("alice");
      expect(userOf(bob)).toBe("bob");
    });

    it("reads again for a load after a finished one", async () => {
      const memory = await memoryWith(SID, record("alice"));
      const store = countingStore(memory);
      const loader = new SessionLoader(new StoreClient(store, 1000));

      const first = await loader.load(SID);
      await put(memory, SID, record("alice renamed"));
      const second = await loader.load(SID);

      expect(store.gets).toBe(2);
      expect(userOf(first)).toBe("alice");
      expect(userOf(second)).toBe("alice renamed");
    });

    it("shares the answer of a store that calls back synchronously within the window", async () => {
      let gets = 0;
      const store: SessionStore = {
        get(sid, callback) {
          gets++;
          callback(null, record("alice"));
        },
      };
      const loader = new SessionLoader(new StoreClient(store, 1000), 1000);

      const first = await loader.load(SID);
      expect(loader.pending).toBe(0); // answered inside store.get: nothing left in flight
      const second = await loader.load(SID);

      expect(gets).toBe(1);
      expect(loader.shared).toBe(1);
      expect(second).toBe(first);
      loader.clear();
      expect(loader.shared).toBe(0);
    });

    it("hands a window's answer over a loop turn later, as a store answers, not in a microtask", async () => {
      const loader = new SessionLoader(
        new StoreClient(await memoryWith(SID, record("alice")), 1000),
        1000,
      );
      await loader.load(SID);
      let answered = false;

      const shared = loader.load(SID).then(() => {
        answered = true;
      });
      for (let i = 0; i < 20; i++) await Promise.resolve();
      expect(answered).toBe(false);
      await new Promise((resolve) => setImmediate(resolve));

      expect(answered).toBe(true);
      await shared;
      loader.clear();
    });

    it("shares one failure between concurrent loads of one id", async () => {
      const store = faultyStores.errs();
      const loader = new SessionLoader(new StoreClient(store, 1000));

      const errors = await Promise.all(Array.from({ length: 10 }, () => failure(loader.load(SID))));

      expect(store.gets).toBe(1);
      for (const error of errors) expect(error).toBe(errors[0]);
      expect(errors[0].code).toBe("STORE_ERROR");
    });

    it("reads again after a failed load", async () => {
      const store = faultyStores.errs();
      const loader = new SessionLoader(new StoreClient(store, 1000));

      await failure(loader.load(SID));
      const error = await failure(loader.load(SID));

      expect(error.code).toBe("STORE_ERROR");
      expect(store.gets).toBe(2);
    });

    it("rejects every concurrent load with TIMEOUT when the store hangs", async () => {
      const store = faultyStores.hangs();
      const loader = new SessionLoader(new StoreClient(store, 50));

      const errors = await Promise.all(Array.from({ length: 5 }, () => failure(loader.load(SID))));

      expect(store.gets).toBe(1);
      for (const error of errors) expect(error.code).toBe("TIMEOUT");
    });

    it("rejects with NOT_FOUND for an unknown id", async () => {
      const loader = new SessionLoader(new StoreClient(new session.MemoryStore(), 1000));

      const error = await failure(loader.load(SID));

      expect(error.code).toBe("NOT_FOUND");
    });
  });

  describe("#pending", () => {
    it("is 0 before any load", () => {
      expect(new SessionLoader(new StoreClient(new session.MemoryStore(), 1000)).pending).toBe(0);
    });

    it("counts one read in flight for many loads of one id", async () => {
      const store = new HeldStore();
      const loader = new SessionLoader(new StoreClient(store, 1000));

      const loads = Array.from({ length: 20 }, () => loader.load(SID));

      expect(loader.pending).toBe(1);
      store.callbacks[0](null, record("alice"));
      await Promise.all(loads);
    });

    it("counts one read in flight per id", async () => {
      const store = new HeldStore();
      const loader = new SessionLoader(new StoreClient(store, 1000));

      const loads = [loader.load(SID), loader.load(OTHER_SID), loader.load(SID)];

      expect(loader.pending).toBe(2);
      expect(store.gets).toBe(2);
      for (const callback of store.callbacks) callback(null, record("alice"));
      await Promise.all(loads);
    });

    it("goes back to 0 after a successful load", async () => {
      const loader = new SessionLoader(
        new StoreClient(await memoryWith(SID, record("alice")), 1000),
      );

      const load = loader.load(SID);
      expect(loader.pending).toBe(1);
      await load;

      expect(loader.pending).toBe(0);
    });

    it("goes back to 0 after a failed load", async () => {
      const loader = new SessionLoader(new StoreClient(faultyStores.errs(), 1000));

      const load = loader.load(SID);
      expect(loader.pending).toBe(1);
      await failure(load);

      expect(loader.pending).toBe(0);
    });

    it("goes back to 0 after a load that found nothing", async () => {
      const loader = new SessionLoader(new StoreClient(new session.MemoryStore(), 1000));

      await failure(loader.load(SID));

      expect(loader.pending).toBe(0);
    });

    it("goes back to 0 after a timed-out load", async () => {
      const loader = new SessionLoader(new StoreClient(faultyStores.hangs(), 50));

      const load = loader.load(SID);
      expect(loader.pending).toBe(1);
      const error = await failure(load);

      expect(error.code).toBe("TIMEOUT");
      expect(loader.pending).toBe(0);
    });

    it("stays at 0 when a timed-out store answers late", async () => {
      const store = new HeldStore();
      const loader = new SessionLoader(new StoreClient(store, 30));

      await failure(loader.load(SID));
      store.callbacks[0](null, record("alice"));
      await delay(10);

      expect(loader.pending).toBe(0);
    });
  });
});

describe("copyRecord", () => {
  /** Every object inside `value`, for "shares nothing" checks. */
  function objectsIn(value: unknown, found = new Set<object>()): Set<object> {
    if (typeof value === "object" && value !== null && !found.has(value)) {
      found.add(value);
      for (const item of Object.values(value)) objectsIn(item, found);
    }
    return found;
  }

  it("copies JSON records exactly as structuredClone does, sharing no object (property)", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (data) => {
        const record = { ...data, cookie: { expires: null } } as SessionRecord;
        const copy = copyRecord(record, SID);
        expect(copy).toStrictEqual(structuredClone(record));
        const originals = objectsIn(record);
        for (const inner of objectsIn(copy)) expect(originals.has(inner)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps a `__proto__` key as data and the copy's prototype as it is", () => {
    const record = JSON.parse('{"cookie":{},"__proto__":{"admin":true}}') as SessionRecord;

    const copy = copyRecord(record, SID);

    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(copy, "__proto__")?.value).toEqual({ admin: true });
    expect((copy as { admin?: unknown }).admin).toBeUndefined();
  });

  it.each([
    [
      "a cycle",
      () => {
        const cyclic: Record<string, unknown> = { name: "loop" };
        cyclic.self = cyclic;
        return { cookie: {}, cyclic };
      },
    ],
    ["a BigInt", () => ({ cookie: {}, big: 10n })],
    ["a BigInt beside a Date", () => ({ cookie: { expires: new Date() }, big: 10n })],
  ])("refuses a record no store can write as JSON: %s", (_label, make) => {
    const error = failureOf(() => copyRecord(make(), SID));

    expect(error).toBeInstanceOf(SessionError);
    expect(error.code).toBe("STORE_ERROR");
    expect(error.message).toBe(
      "the stored session q2Y8… cannot be copied or stored as JSON: see error.cause",
    );
  });

  it("leaves the rest to structuredClone: dates, maps and sparse arrays survive", () => {
    const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
    const expires = new Date(Date.now() + 60_000);
    const record = {
      cookie: { expires },
      seen: new Map([["a", 1]]),
      sparse,
    } as unknown as SessionRecord;

    const copy = copyRecord(record, SID) as unknown as typeof record & {
      seen: Map<string, number>;
      sparse: number[];
    };

    // Jest's sandbox has its own Date: structuredClone's comes from Node's realm.
    expect(Object.prototype.toString.call(copy.cookie.expires)).toBe("[object Date]");
    expect(copy.cookie.expires).not.toBe(expires);
    expect((copy.cookie.expires as Date).getTime()).toBe(expires.getTime());
    expect([...copy.seen]).toEqual([["a", 1]]);
    expect(1 in copy.sparse).toBe(false);
    expect(copy.sparse).toHaveLength(3);
  });

  it.each([
    ["a function", { cookie: {}, helper: () => 1 }],
    ["a symbol", { cookie: {}, tag: Symbol("x") }],
    [
      "a getter that throws",
      {
        cookie: {},
        get user(): never {
          throw new Error("getter exploded");
        },
      },
    ],
  ])("turns a record holding %s into STORE_ERROR, cause kept", (_title, record) => {
    let thrown: unknown;
    try {
      copyRecord(record, SID);
    } catch (error) {
      thrown = error;
    }

    expect(thrown).toBeInstanceOf(SessionError);
    expect(thrown).toMatchObject({ code: "STORE_ERROR" });
    expect((thrown as SessionError).message).not.toContain(SID);
    expect((thrown as SessionError).cause).toBeDefined();
  });
});
