import session from "express-session";
import type { SessionRecord, SessionStore, StoreCallback } from "../../lib";

/**
 * Stores that misbehave in the ways real ones do, each wrapping a real MemoryStore so the HTTP side
 * still works. `gets` counts reads.
 */
export type FaultyStore = SessionStore & { gets: number; memory: session.MemoryStore };

type Getter = (
  sid: string,
  callback: StoreCallback<SessionRecord | null>,
  memory: session.MemoryStore,
) => unknown;

function faulty(get: Getter, memory = new session.MemoryStore()): FaultyStore {
  const store: FaultyStore = {
    gets: 0,
    memory,
    get(sid, callback) {
      store.gets++;
      return get(sid, callback, memory);
    },
    set(sid, record, callback) {
      memory.set(sid, record as session.SessionData, callback);
    },
    destroy(sid, callback) {
      memory.destroy(sid, callback);
    },
  };
  return store;
}

/** Reads from `memory` as a promise (the shape of a promise-only store). */
export function readMemory(
  memory: session.MemoryStore,
  sid: string,
): Promise<SessionRecord | null | undefined> {
  return new Promise((resolve, reject) => {
    memory.get(sid, (error: unknown, record) => {
      if (error) reject(error instanceof Error ? error : new Error("store failed"));
      else resolve(record);
    });
  });
}

export const faultyStores = {
  /** Calls back with an error. */
  errs: () =>
    faulty((_sid, callback) => {
      setImmediate(() => {
        callback(new Error("connection refused: secret-host:6379"));
      });
    }),
  /** Calls back with an ENOENT error (file stores' "not found"). */
  enoent: () =>
    faulty((_sid, callback) => {
      callback(Object.assign(new Error("no such file"), { code: "ENOENT" }));
    }),
  /** Throws synchronously from get. */
  throws: () =>
    faulty(() => {
      throw new Error("store exploded");
    }),
  /** Returns a rejected promise and never calls back. */
  rejects: () => faulty(() => Promise.reject(new Error("store rejected"))),
  /** Never answers. */
  hangs: () => faulty(() => undefined),
  /** Calls back twice: first with the record, then with an error. */
  twice: () =>
    faulty((sid, callback, memory) => {
      memory.get(sid, (error, record) => {
        callback(error, record);
        callback(new Error("second callback"));
      });
    }),
  /** Promise only: ignores the callback, resolves with the record. */
  promiseOnly: () => faulty((sid, _callback, memory) => readMemory(memory, sid)),
  /** Answers after `ms` milliseconds. */
  slow: (ms: number) =>
    faulty((sid, callback, memory) => {
      setTimeout(() => {
        memory.get(sid, callback);
      }, ms);
    }),
  /** Returns something that is not a session record. */
  garbage: (value: unknown) =>
    faulty((_sid, callback) => {
      callback(null, value as SessionRecord);
    }),
};
