import type { IncomingMessage } from "node:http";
import createDebug from "debug";
import { SessionError, redactId } from "./errors";
import type { SessionEndReason, SessionSocket } from "./session-socket";
import { callStore, copyRecord, readRecord, type SessionRecord, type SessionStore } from "./store";

const debug = createDebug("engine.io-session");

/** What the registry needs from its server. */
export interface RegistryOptions<S> {
  readonly store: SessionStore;
  readonly lookupTimeout: number;
  readonly touchInterval: number | false;
  readonly revalidateInterval: number | false;
  /** The server's `hydrate()`. */
  hydrate(record: SessionRecord, sessionId: string, req: IncomingMessage): S | Promise<S>;
  /** The session changed or ended: an answer shared for `coalesceWindow` is now stale. */
  onChange(sessionId: string): void;
  /** A session ended here (the server emits `session_end`). */
  onEnd(sessionId: string, reason: SessionEndReason): void;
  /** Background work failed (the server emits `session_error`). */
  onError(error: SessionError, req: IncomingMessage): void;
}

/** The local state of one session that has open sockets here. */
interface LiveSession<S> {
  readonly sockets: Set<SessionSocket<S>>;
  /** The record as last read from or written to the store, minus its cookie: what "changed" means. */
  fingerprint: string | undefined;
  /** A revalidation of this session is in flight. */
  revalidating: boolean;
  /**
   * Counts the writes and refreshes of this session here. A revalidation whose read started before
   * one of them answers with an older record: it must not roll the sockets back to it.
   */
  generation: number;
}

/** The stored data without the cookie, whose expiry moves on every HTTP request. */
function fingerprintOf(record: SessionRecord): string {
  return JSON.stringify({ ...record, cookie: undefined });
}

/** Resets a record's expiry the way express-session's `touch()` does. */
function resetExpiry(record: SessionRecord): void {
  const maxAge = record.cookie.originalMaxAge;
  if (typeof maxAge === "number") record.cookie.expires = new Date(Date.now() + maxAge);
}

/**
 * The live sessions of one server: the open sockets of each session id, a per-session lock that
 * serializes read-modify-write updates, the touch and revalidation timers, and the store calls that
 * sockets make. Keeps session-server.ts about the handshake.
 */
export class SessionRegistry<S> {
  readonly #options: RegistryOptions<S>;
  readonly #sessions = new Map<string, LiveSession<S>>();
  readonly #locks = new Map<string, Promise<unknown>>();
  #touchTimer: NodeJS.Timeout | undefined;
  #revalidateTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RegistryOptions<S>) {
    this.#options = options;
  }

  /** How many sessions have at least one open socket here. */
  get size(): number {
    return this.#sessions.size;
  }

  /** How many open sockets have a session here. */
  get sockets(): number {
    let count = 0;
    for (const live of this.#sessions.values()) count += live.sockets.size;
    return count;
  }

  /** How many per-session locks are held or queued (for leak checks). */
  get locks(): number {
    return this.#locks.size;
  }

  /** Whether a timer is running (for leak checks). */
  get timers(): number {
    return (this.#touchTimer ? 1 : 0) + (this.#revalidateTimer ? 1 : 0);
  }

  /** Indexes `socket` until it closes or its session ends. */
  add(socket: SessionSocket<S>): void {
    let live = this.#sessions.get(socket.sessionId);
    if (live === undefined) {
      live = {
        sockets: new Set(),
        fingerprint:
          this.#options.revalidateInterval === false ? undefined : fingerprintOf(socket.record),
        revalidating: false,
        generation: 0,
      };
      this.#sessions.set(socket.sessionId, live);
    }
    live.sockets.add(socket);
    this.#startTimers();
  }

  /** Forgets `socket` (it closed). The last socket of a session takes the session with it. */
  remove(socket: SessionSocket<S>): void {
    const live = this.#sessions.get(socket.sessionId);
    if (live === undefined || !live.sockets.delete(socket)) return;
    if (live.sockets.size === 0) {
      this.#sessions.delete(socket.sessionId);
      this.#stopTimersIfIdle();
    }
  }

  /** The open sockets of a session here, as a new array. */
  socketsOf(sessionId: string): SessionSocket<S>[] {
    const live = this.#sessions.get(sessionId);
    return live === undefined ? [] : [...live.sockets];
  }

  /** Ends a session's sockets here: each emits `session_end`, then closes. */
  closeSession(sessionId: string, reason: SessionEndReason): number {
    this.#options.onChange(sessionId);
    const live = this.#sessions.get(sessionId);
    if (live === undefined) return 0;
    this.#sessions.delete(sessionId);
    this.#stopTimersIfIdle();
    const sockets = [...live.sockets];
    debug(
      "session %s ended (%s): closing %d socket(s)",
      redactId(sessionId),
      reason,
      sockets.length,
    );
    for (const socket of sockets) {
      socket.emit("session_end", reason);
      socket.conn.close();
    }
    this.#options.onEnd(sessionId, reason);
    return sockets.length;
  }

  /** Deletes the session from the store, then ends its sockets here with reason "destroyed". */
  async destroySession(sessionId: string): Promise<number> {
    const { store } = this.#options;
    if (typeof store.destroy !== "function") {
      throw new SessionError("STORE_ERROR", "the store has no destroy(sid, callback) method");
    }
    await this.#call("destroy", (callback) => store.destroy?.(sessionId, callback), sessionId);
    return this.closeSession(sessionId, "destroyed");
  }

  /** A fresh read of the record: never shared with a handshake's read, never cached. */
  async read(sessionId: string): Promise<SessionRecord> {
    const record = await readRecord(this.#options.store, sessionId, this.#options.lookupTimeout);
    return copyRecord(record, sessionId);
  }

  /** Writes `record` to the store. */
  async write(sessionId: string, record: SessionRecord): Promise<void> {
    const { store } = this.#options;
    if (typeof store.set !== "function") {
      throw new SessionError("STORE_ERROR", "the store has no set(sid, session, callback) method");
    }
    // An active session's expiry moves forward, as express-session's save after touch() does.
    resetExpiry(record);
    // The fingerprint stays: revalidation then brings this write to the session's other sockets.
    this.#bump(sessionId);
    this.#options.onChange(sessionId);
    try {
      await this.#call("set", (callback) => store.set?.(sessionId, record, callback), sessionId);
    } finally {
      // Again once written: a handshake that read in between saw the old record.
      this.#options.onChange(sessionId);
    }
  }

  /**
   * Extends the session's expiry in the store: `store.touch`, or a locked read-modify-write of the
   * cookie alone where the store has no touch (writing a stale record would undo HTTP changes).
   */
  async touch(sessionId: string, record: SessionRecord): Promise<void> {
    const { store } = this.#options;
    resetExpiry(record);
    if (typeof store.touch === "function") {
      await this.#call(
        "touch",
        (callback) => store.touch?.(sessionId, record, callback),
        sessionId,
      );
      return;
    }
    await this.#locked(sessionId, async () => {
      const fresh = await this.read(sessionId);
      fresh.cookie = record.cookie;
      await this.write(sessionId, fresh);
    });
  }

  /**
   * Read-modify-write, serialized per session id in this process: fresh read, `mutate`, write, then
   * every local socket of the session gets its own copy and `session_update`.
   *
   * @param caller - the socket that asked: a refresh failure of its own rejects the update (the store
   *   has the new record; the socket keeps its old session) instead of becoming a `session_error`
   */
  update(
    sessionId: string,
    mutate: (record: SessionRecord) => void | Promise<void>,
    caller?: SessionSocket<S>,
  ): Promise<SessionRecord> {
    return this.#locked(sessionId, async () => {
      const record = await this.read(sessionId);
      await mutate(record);
      await this.write(sessionId, record);
      const failure = await this.refresh(sessionId, record, caller);
      if (failure !== undefined) throw failure;
      return record;
    });
  }

  /**
   * Gives every local socket of the session its own copy of `record`, hydrated, and emits
   * `session_update` on each. A socket whose copy or hydrate fails keeps its session and gets a
   * `session_error`, except `caller`, whose failure is returned instead.
   */
  async refresh(
    sessionId: string,
    record: SessionRecord,
    caller?: SessionSocket<S>,
  ): Promise<SessionError | undefined> {
    this.#options.onChange(sessionId);
    const live = this.#sessions.get(sessionId);
    if (live === undefined) return undefined;
    live.generation++;
    if (this.#options.revalidateInterval !== false) live.fingerprint = fingerprintOf(record);
    let callerFailure: SessionError | undefined;
    await Promise.all(
      [...live.sockets].map(async (socket) => {
        let copy: SessionRecord;
        let session: S;
        try {
          copy = copyRecord(record, sessionId);
          session = await this.#options.hydrate(copy, sessionId, socket.request);
        } catch (error) {
          const failure =
            error instanceof SessionError
              ? error
              : new SessionError("HYDRATE_FAILED", "hydrate() failed on refresh", { cause: error });
          if (socket === caller) callerFailure = failure;
          else this.#options.onError(failure, socket.request);
          return;
        }
        socket.replaceSession(copy, session);
        socket.emit("session_update", session);
      }),
    );
    return callerFailure;
  }

  /** Stops every timer; later sockets start none. */
  close(): void {
    this.#closed = true;
    this.#stopTimers();
  }

  /** Runs `task` after every earlier task of the same session id; the lock entry then goes away. */
  #locked<R>(sessionId: string, task: () => Promise<R>): Promise<R> {
    const previous = this.#locks.get(sessionId) ?? Promise.resolve();
    const run = previous.then(task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#locks.set(sessionId, tail);
    void tail.then(() => {
      if (this.#locks.get(sessionId) === tail) this.#locks.delete(sessionId);
    });
    return run;
  }

  /** One store write with the lookup timeout and one clear error. */
  async #call(
    method: string,
    invoke: (callback: (error?: unknown) => void) => unknown,
    sessionId: string,
  ): Promise<void> {
    await callStore<unknown>(
      invoke,
      true,
      this.#options.lookupTimeout,
      `store.${method} for session ${redactId(sessionId)}`,
    );
  }

  /** Marks a write of the session: revalidations already in flight are now stale. */
  #bump(sessionId: string): void {
    const live = this.#sessions.get(sessionId);
    if (live !== undefined) live.generation++;
  }

  #startTimers(): void {
    const { touchInterval, revalidateInterval } = this.#options;
    if (this.#closed) return;
    if (touchInterval !== false && this.#touchTimer === undefined) {
      this.#touchTimer = setInterval(() => {
        this.#touchAll();
      }, touchInterval).unref();
    }
    if (revalidateInterval !== false && this.#revalidateTimer === undefined) {
      this.#revalidateTimer = setInterval(() => {
        this.#revalidateAll();
      }, revalidateInterval).unref();
    }
  }

  #stopTimersIfIdle(): void {
    if (this.#sessions.size === 0) this.#stopTimers();
  }

  #stopTimers(): void {
    clearInterval(this.#touchTimer);
    clearInterval(this.#revalidateTimer);
    this.#touchTimer = undefined;
    this.#revalidateTimer = undefined;
  }

  /** Once per session, not per socket. */
  #touchAll(): void {
    for (const [sessionId, live] of this.#sessions) {
      const [first] = live.sockets; // a live session always has a socket
      this.touch(sessionId, first.record).then(
        () => {
          const expires = first.record.cookie.expires;
          for (const socket of live.sockets) socket.record.cookie.expires = expires;
        },
        (error: unknown) => {
          this.#backgroundError(error, first);
        },
      );
    }
  }

  /** Re-reads each connected session once: gone → "expired"; changed → `session_update`. */
  #revalidateAll(): void {
    for (const [sessionId, live] of this.#sessions) {
      if (!live.revalidating) void this.#revalidate(sessionId, live);
    }
  }

  async #revalidate(sessionId: string, live: LiveSession<S>): Promise<void> {
    const [first] = live.sockets; // a live session always has a socket
    live.revalidating = true;
    const generation = live.generation;
    try {
      const record = await this.read(sessionId);
      // A write or refresh since the read began has newer data than this answer: keep it.
      if (live.generation !== generation) return;
      if (this.#sessions.get(sessionId) === live && fingerprintOf(record) !== live.fingerprint) {
        debug("session %s changed in the store: refreshing", redactId(sessionId));
        await this.refresh(sessionId, record);
      }
    } catch (error) {
      if (!(error instanceof SessionError && error.code === "NOT_FOUND")) {
        this.#backgroundError(error, first);
      } else if (this.#sessions.get(sessionId) === live && live.generation === generation) {
        this.closeSession(sessionId, "expired");
      }
    } finally {
      live.revalidating = false;
    }
  }

  #backgroundError(error: unknown, socket: SessionSocket<S>): void {
    this.#options.onError(
      error instanceof SessionError
        ? error
        : new SessionError("STORE_ERROR", "background session work failed", { cause: error }),
      socket.request,
    );
  }
}
