import { SessionError, redactId } from "./errors";

/**
 * The stored form of a session, as express-session keeps it: at least a `cookie` with its expiry.
 * Structural and without an index signature, so express-session's `SessionData` is assignable.
 */
export interface SessionRecord {
  /** express-session's cookie settings; `expires` is a string after a JSON round trip. */
  cookie: {
    /** The cookie's `maxAge` in ms when the session was saved; `null` for a browser-session cookie. */
    originalMaxAge?: number | null;
    /** When the session expires: a `Date`, or its ISO string after a JSON round trip; `null`: never. */
    expires?: Date | string | null;
  };
}

/** The callback every express-session store calls. */
export type StoreCallback<T = void> = (error?: unknown, value?: T) => void;

/**
 * Any express-session compatible store: express-session's `Store` and `MemoryStore`,
 * connect-redis's `RedisStore`, and the many others. Only `get` is required; a store may call the
 * callback, return a promise, or both (once-only logic settles on the first answer).
 */
export interface SessionStore {
  /** Reads a session; `null`, `undefined` or an error with `code === "ENOENT"` mean "not found". */
  get(sid: string, callback: StoreCallback<SessionRecord | null>): unknown;
  /** Writes a session. */
  set?(sid: string, session: SessionRecord, callback?: StoreCallback): unknown;
  /** Refreshes a session's expiry without changing it. */
  touch?(sid: string, session: SessionRecord, callback?: StoreCallback): unknown;
  /** Deletes a session. */
  destroy?(sid: string, callback?: StoreCallback): unknown;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

function isNotFoundError(error: unknown): boolean {
  return (
    typeof error === "object" && error !== null && (error as { code?: unknown }).code === "ENOENT"
  );
}

function isExpired(record: SessionRecord): boolean {
  const expires = record.cookie.expires;
  if (expires === undefined || expires === null) return false;
  const time = new Date(expires).getTime();
  return !Number.isNaN(time) && time <= Date.now();
}

/**
 * Calls one store method that takes a trailing callback, whatever style the store answers in, and
 * settles exactly once: on the first callback or promise outcome, a synchronous throw, or the
 * timeout. Late and repeated answers are ignored; a rejected promise never goes unhandled.
 *
 * With `declaresCallback`, a promise that resolves with `undefined` is not taken as the answer:
 * such stores often resolve first and call back later.
 */
export function callStore<T>(
  invoke: (callback: StoreCallback<T>) => unknown,
  declaresCallback: boolean,
  timeoutMs: number,
  what: string,
): Promise<T | undefined> {
  return new Promise<T | undefined>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settle(new SessionError("TIMEOUT", `${what} did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    function settle(error: unknown, value?: T): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Any falsy error means success, as express-session reads it.
      if (!error) resolve(value);
      else reject(error instanceof SessionError ? error : storeError(what, error));
    }
    const callback: StoreCallback<T> = (error, value) => {
      settle(error, value);
    };
    let returned: unknown;
    try {
      returned = invoke(callback);
    } catch (error) {
      settle(error ?? new Error("store threw a nullish value"));
      return;
    }
    // A hostile thenable can throw from its `then` getter or from then() itself: settle on that too,
    // so the timer never outlives the answer.
    try {
      if (isThenable(returned)) {
        returned.then(
          (value) => {
            if (value !== undefined || !declaresCallback) settle(undefined, value as T);
          },
          (error: unknown) => {
            settle(error ?? new Error("store rejected with a nullish value"));
          },
        );
      }
    } catch (error) {
      settle(error ?? new Error("store's promise threw a nullish value"));
    }
  });
}

function storeError(what: string, cause: unknown): SessionError {
  return isNotFoundError(cause)
    ? new SessionError("NOT_FOUND", `${what}: not found`, { cause })
    : new SessionError("STORE_ERROR", `${what} failed: see error.cause`, { cause });
}

/**
 * Reads a session record from the store with `lookupTimeout`, turning every "no session" answer
 * into a `SessionError`. Does not coalesce; see {@link SessionLoader}.
 */
export async function readRecord(
  store: SessionStore,
  sessionId: string,
  timeoutMs: number,
): Promise<SessionRecord> {
  const what = `store.get for session ${redactId(sessionId)}`;
  let record: unknown;
  try {
    record = await callStore<unknown>(
      (callback) => store.get(sessionId, callback),
      store.get.length >= 2,
      timeoutMs,
      what,
    );
  } catch (error) {
    if (error instanceof SessionError && error.code === "NOT_FOUND") {
      throw notFound(sessionId);
    }
    throw error;
  }
  if (record === undefined || record === null) throw notFound(sessionId);
  if (
    typeof record !== "object" ||
    typeof (record as { cookie?: unknown }).cookie !== "object" ||
    (record as { cookie?: unknown }).cookie === null
  ) {
    throw new SessionError(
      "STORE_ERROR",
      `${what} returned something that is not an express-session record (no 'cookie' object)`,
    );
  }
  if (isExpired(record as SessionRecord)) {
    throw new SessionError("NOT_FOUND", `session ${redactId(sessionId)} has expired`);
  }
  return record as SessionRecord;
}

/**
 * A private copy of a record, as `structuredClone` makes it (`Date`s stay dates). A record that
 * cannot be copied (a function or a socket inside) is a store error, not a crash.
 */
export function copyRecord(record: SessionRecord, sessionId: string): SessionRecord {
  try {
    try {
      return copyPlain(record, 0) as SessionRecord;
    } catch (error) {
      if (error !== NOT_PLAIN) throw error;
      return structuredClone(record);
    }
  } catch (error) {
    throw new SessionError(
      "STORE_ERROR",
      `the stored session ${redactId(sessionId)} cannot be copied: see error.cause`,
      { cause: error },
    );
  }
}

/** Thrown by {@link copyPlain} where only `structuredClone` copies faithfully. */
const NOT_PLAIN = new Error("not plain data");
/** Deeper than this, data may be cyclic: `structuredClone` handles cycles. */
const MAX_PLAIN_DEPTH = 32;

/**
 * Copies JSON-shaped data (what stores hand back) about five times faster than `structuredClone`,
 * which it defers to for any other object (a `Date`, a `Map`) and where it could differ (cycles,
 * sparse arrays, arrays with extra keys).
 */
function copyPlain(value: unknown, depth: number): unknown {
  if (typeof value !== "object" || value === null) {
    if (typeof value === "function" || typeof value === "symbol") throw NOT_PLAIN;
    return value;
  }
  if (depth > MAX_PLAIN_DEPTH) throw NOT_PLAIN;
  if (Array.isArray(value)) {
    const length = value.length;
    if (Object.keys(value).length !== length) throw NOT_PLAIN;
    const copy = new Array<unknown>(length);
    for (let index = 0; index < length; index++) copy[index] = copyPlain(value[index], depth + 1);
    return copy;
  }
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return structuredClone(value);
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const item = copyPlain((value as Record<string, unknown>)[key], depth + 1);
    // A "__proto__" key from JSON.parse is data: assigning it would set the prototype instead.
    if (key === "__proto__") {
      Object.defineProperty(copy, key, {
        value: item,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    } else {
      copy[key] = item;
    }
  }
  return copy;
}

function notFound(sessionId: string): SessionError {
  return new SessionError(
    "NOT_FOUND",
    `session ${redactId(sessionId)} is not in the store (expired, destroyed, or the HTTP app uses another store)`,
  );
}

/** A store answer that later handshakes of the same session may share for a while. */
interface SharedAnswer {
  readonly record: SessionRecord;
  readonly timer: NodeJS.Timeout;
}

/**
 * Coalesces reads of one session id into a single store call: many tabs or a reconnect storm cost
 * one read. A read is shared while it is in flight and, with a `windowMs`, for that long after it
 * answered (successful answers only). Callers must copy the record before mutating it.
 */
export class SessionLoader {
  readonly #store: SessionStore;
  readonly #timeoutMs: number;
  readonly #windowMs: number;
  readonly #inFlight = new Map<string, Promise<SessionRecord>>();
  /** Reads in flight that began before their session changed: their answer is not shared later. */
  readonly #outdated = new Set<Promise<SessionRecord>>();
  readonly #answers = new Map<string, SharedAnswer>();
  #closed = false;

  constructor(store: SessionStore, timeoutMs: number, windowMs = 0) {
    this.#store = store;
    this.#timeoutMs = timeoutMs;
    this.#windowMs = windowMs;
  }

  /** How many reads are in flight (for leak checks). */
  get pending(): number {
    return this.#inFlight.size;
  }

  /** How many answered reads are being shared within the window (for leak checks). */
  get shared(): number {
    return this.#answers.size;
  }

  /** Reads `sessionId`, sharing a read in flight or one answered within the window. */
  load(sessionId: string): Promise<SessionRecord> {
    const answer = this.#answers.get(sessionId);
    if (answer !== undefined) return Promise.resolve(answer.record);
    let read = this.#inFlight.get(sessionId);
    if (read === undefined) {
      const started = readRecord(this.#store, sessionId, this.#timeoutMs);
      read = started;
      this.#inFlight.set(sessionId, started);
      started.then(
        (record) => {
          this.#inFlight.delete(sessionId);
          if (!this.#outdated.delete(started)) this.#share(sessionId, record);
        },
        () => {
          this.#inFlight.delete(sessionId);
          this.#outdated.delete(started);
        },
      );
    }
    return read;
  }

  /** The session changed: later handshakes read it afresh. */
  forget(sessionId: string): void {
    if (this.#windowMs === 0) return;
    const read = this.#inFlight.get(sessionId);
    if (read !== undefined) this.#outdated.add(read);
    const answer = this.#answers.get(sessionId);
    if (answer === undefined) return;
    clearTimeout(answer.timer);
    this.#answers.delete(sessionId);
  }

  /** Drops every shared answer and its timer (the server is closing). */
  clear(): void {
    this.#closed = true;
    for (const answer of this.#answers.values()) clearTimeout(answer.timer);
    this.#answers.clear();
  }

  #share(sessionId: string, record: SessionRecord): void {
    if (this.#windowMs === 0 || this.#closed) return;
    const timer = setTimeout(() => {
      this.#answers.delete(sessionId);
    }, this.#windowMs).unref();
    this.#answers.set(sessionId, { record, timer });
  }
}
