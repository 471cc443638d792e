import { DeadlineEntry, Deadlines } from "./deadline";
import { SessionError, redactId } from "./errors";
import { storeForm, storedCookie } from "./store-cookie";

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

/**
 * The stored record type of a server whose session type is `S`: `S` itself when it is a record
 * (the default `hydrate()`), else the plain {@link SessionRecord}.
 */
export type RecordOf<S> = S extends SessionRecord ? S : SessionRecord;

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

/** One shared timer per timeout length (in practice: one per server's `lookupTimeout`). */
const deadlines = new Map<number, Deadlines>();

function deadlinesOf(ms: number): Deadlines {
  let shared = deadlines.get(ms);
  if (shared === undefined) {
    shared = new Deadlines(ms);
    deadlines.set(ms, shared);
  }
  return shared;
}

/** Told when a read settles, before anyone awaiting it (the coalescing loader). */
export interface ReadListener {
  /** The read of `sessionId` that returned `read` settled, with `record` when it found one. */
  readSettled(
    sessionId: string,
    read: Promise<SessionRecord>,
    record: SessionRecord | undefined,
  ): void;
}

/**
 * One store call in flight, settled exactly once: on the first callback or promise outcome, a
 * synchronous throw, or its deadline. Late and repeated answers are ignored. One object holds the
 * whole state (it is its own deadline entry): no closure per step, no promise per layer, and the
 * description for error messages is only built when there is an error.
 */
class StoreCall<T> extends DeadlineEntry {
  readonly #deadlines: Deadlines;
  readonly #method: string;
  readonly #sessionId: string | undefined;
  readonly #timeoutMs: number;
  /** A `store.get` of a session: the answer must be a record, "none" is `NOT_FOUND`. */
  readonly #read: boolean;
  readonly #listener: ReadListener | undefined;
  #settled = false;
  #resolve!: (value: T | undefined) => void;
  #reject!: (error: unknown) => void;
  readonly promise: Promise<T | undefined>;

  constructor(
    deadlinesOfCall: Deadlines,
    method: string,
    sessionId: string | undefined,
    read: boolean,
    listener?: ReadListener,
  ) {
    super(deadlinesOfCall);
    this.#listener = listener;
    this.#deadlines = deadlinesOfCall;
    this.#method = method;
    this.#sessionId = sessionId;
    this.#timeoutMs = deadlinesOfCall.ms;
    this.#read = read;
    this.promise = new Promise<T | undefined>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Starts the deadline and runs `invoke` with this call's callback; a promise it returns may answer too. */
  run(invoke: (callback: StoreCallback<T>) => unknown, declaresCallback: boolean): void {
    this.#deadlines.add(this);
    let returned: unknown;
    try {
      returned = invoke((error, value) => {
        this.settle(error, value);
      });
    } catch (error) {
      this.settle(error ?? new Error("store threw a nullish value"));
      return;
    }
    // A hostile thenable can throw from its `then` getter or from then() itself: settle on that too,
    // so the deadline never outlives the answer.
    try {
      if (isThenable(returned)) {
        returned.then(
          (value) => {
            if (value !== undefined || !declaresCallback) this.settle(undefined, value as T);
          },
          (error: unknown) => {
            this.settle(error ?? new Error("store rejected with a nullish value"));
          },
        );
      }
    } catch (error) {
      this.settle(error ?? new Error("store's promise threw a nullish value"));
    }
  }

  override expire(): void {
    this.settle(
      new SessionError("TIMEOUT", `${this.#what()} did not answer within ${this.#timeoutMs} ms`),
    );
  }

  settle(error: unknown, value?: T): void {
    if (this.#settled) return;
    this.#settled = true;
    this.cancel();
    // Any falsy error means success, as express-session reads it.
    const failure = error
      ? this.#failure(error)
      : this.#read
        ? this.#checkRecord(value)
        : undefined;
    if (this.#listener !== undefined) {
      this.#listener.readSettled(
        this.#sessionId ?? "",
        this.promise as Promise<SessionRecord>,
        failure === undefined ? (value as SessionRecord) : undefined,
      );
    }
    if (failure === undefined) this.#resolve(value);
    else this.#reject(failure);
  }

  /** A read's answer: `NOT_FOUND` for "none", `STORE_ERROR` for what is not a record. */
  #checkRecord(value: unknown): SessionError | undefined {
    if (value === undefined || value === null) return notFound(this.#sessionId ?? "");
    let record: boolean;
    try {
      record = isRecord(value);
    } catch (error) {
      // A hostile answer (a proxy whose getters throw): this runs inside the store's callback.
      return new SessionError("STORE_ERROR", `${this.#what()} failed: see error.cause`, {
        cause: error,
      });
    }
    if (!record) {
      return new SessionError(
        "STORE_ERROR",
        `${this.#what()} returned something that is not an express-session record (no 'cookie' object)`,
      );
    }
    // Live: the store decides expiry, as express-session lets it (it never re-checks
    // `cookie.expires` after `store.get`). Stores that expire by TTL leave that field behind.
    return undefined;
  }

  #failure(error: unknown): SessionError {
    if (error instanceof SessionError) {
      return this.#read && error.code === "NOT_FOUND" ? notFound(this.#sessionId ?? "") : error;
    }
    if (!isNotFoundError(error)) {
      return new SessionError("STORE_ERROR", `${this.#what()} failed: see error.cause`, {
        cause: error,
      });
    }
    return this.#read
      ? notFound(this.#sessionId ?? "")
      : new SessionError("NOT_FOUND", `${this.#what()}: not found`, { cause: error });
  }

  #what(): string {
    return this.#sessionId === undefined
      ? this.#method
      : `store.${this.#method} for session ${redactId(this.#sessionId)}`;
  }
}

function isRecord(value: unknown): value is SessionRecord {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { cookie?: unknown }).cookie === "object" &&
    (value as { cookie?: unknown }).cookie !== null
  );
}

/**
 * Calls one store method that takes a trailing callback, whatever style the store answers in, and
 * settles exactly once: on the first callback or promise outcome, a synchronous throw, or the
 * timeout. Late and repeated answers are ignored; a rejected promise never goes unhandled.
 *
 * With `declaresCallback`, a promise that resolves with `undefined` is not taken as the answer:
 * such stores often resolve first and call back later.
 *
 * @param what - the store method's name (`"set"`), with `sessionId`; or, without, the whole
 *   description used in error messages
 */
export function callStore<T>(
  invoke: (callback: StoreCallback<T>) => unknown,
  declaresCallback: boolean,
  timeoutMs: number,
  what: string,
  sessionId?: string,
): Promise<T | undefined> {
  const call = new StoreCall<T>(deadlinesOf(timeoutMs), what, sessionId, false);
  call.run(invoke, declaresCallback);
  return call.promise;
}

/**
 * Reads a session record from the store with `lookupTimeout`, turning every "no session" answer
 * into a `SessionError`. Does not coalesce; see {@link SessionLoader}.
 */
export function readRecord(
  store: SessionStore,
  sessionId: string,
  timeoutMs: number,
  listener?: ReadListener,
): Promise<SessionRecord> {
  // A read checks its answer (StoreCall#settle): what it resolves with is a record.
  const call = new StoreCall<unknown>(deadlinesOf(timeoutMs), "get", sessionId, true, listener);
  call.run((callback) => store.get(sessionId, callback), store.get.length >= 2);
  return call.promise as Promise<SessionRecord>;
}

function notFound(sessionId: string): SessionError {
  return new SessionError(
    "NOT_FOUND",
    `session ${redactId(sessionId)} is not in the store (expired, destroyed, or the HTTP app uses another store)`,
  );
}

/**
 * @internal
 * The user's store, wrapped once: every call bounded by `lookupTimeout`, settled once, its errors
 * mapped to `SessionError`s; every write handed the session as express-session would hand it.
 */
export class StoreClient {
  /** The user's store, as given. */
  readonly store: SessionStore;
  /** `lookupTimeout`: the bound of every call. */
  readonly timeoutMs: number;

  constructor(store: SessionStore, timeoutMs: number) {
    this.store = store;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Reads a session (live as the store returns it); rejects `NOT_FOUND` when there is none.
   * `listener` hears of the outcome first.
   */
  get(sessionId: string, listener?: ReadListener): Promise<SessionRecord> {
    return readRecord(this.store, sessionId, this.timeoutMs, listener);
  }

  /**
   * Writes `record` with express-session's cookie (expiry reset as `touch()` does), then gives
   * `record` the cookie as the store now keeps it.
   */
  async set(sessionId: string, record: SessionRecord): Promise<void> {
    const { store } = this;
    if (typeof store.set !== "function") {
      throw new SessionError("STORE_ERROR", "the store has no set(sid, session, callback) method");
    }
    const written = storeForm(record);
    await this.#call("set", sessionId, (callback) => store.set?.(sessionId, written, callback));
    record.cookie = storedCookie(written);
  }

  /**
   * Extends the life of `current` (the store's current session, just read) as express-session's
   * touch does: `store.touch`, or `store.set` of that same session where the store has no touch.
   * Then gives `current` the cookie as the store now keeps it.
   */
  async touch(sessionId: string, current: SessionRecord): Promise<void> {
    const { store } = this;
    if (typeof store.touch !== "function") {
      await this.set(sessionId, current);
      return;
    }
    const written = storeForm(current);
    await this.#call("touch", sessionId, (callback) => store.touch?.(sessionId, written, callback));
    current.cookie = storedCookie(written);
  }

  /** Whether the store can delete sessions. */
  get destroys(): boolean {
    return typeof this.store.destroy === "function";
  }

  /** Deletes a session. */
  async destroy(sessionId: string): Promise<void> {
    const { store } = this;
    if (typeof store.destroy !== "function") {
      throw new SessionError("STORE_ERROR", "the store has no destroy(sid, callback) method");
    }
    await this.#call("destroy", sessionId, (callback) => store.destroy?.(sessionId, callback));
  }

  async #call(
    method: string,
    sessionId: string,
    invoke: (callback: (error?: unknown) => void) => unknown,
  ): Promise<void> {
    await callStore<unknown>(invoke, true, this.timeoutMs, method, sessionId);
  }
}
