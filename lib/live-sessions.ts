import type { IncomingMessage } from "node:http";
import createDebug from "debug";
import { SessionError, messageOf, redactId, toSessionError } from "./errors";
import { KeyCounts } from "./key-counts";
import { copyRecord, isUncopyable } from "./record-copy";
import { fingerprintOf } from "./record-fingerprint";
import type {
  SessionBus,
  SessionBusLease,
  SessionBusMessage,
  SessionBusStatus,
} from "./session-bus";
import type { SessionLoader } from "./session-loader";
import type { SessionEndReason, SessionHost, SessionSocket } from "./session-socket";
import type { SessionRecord, StoreClient } from "./store";

const debug = createDebug("engine.io-session");

/** @internal What the live sessions need from their server. */
export interface LiveSessionsOptions<S, R extends SessionRecord> {
  readonly store: StoreClient;
  readonly loader: SessionLoader;
  readonly bus: SessionBus | undefined;
  /** This node's id on the bus: its own messages come back and are ignored. */
  readonly nodeId: string;
  readonly touchInterval: number | false;
  readonly revalidateInterval: number | false;
  /** The server's `hydrate()`, its failures already `SessionError`s. */
  hydrate(record: R, sessionId: string, req: IncomingMessage): S | Promise<S>;
  /** A session's sockets here were ended (the server emits `session_end`). */
  onEnd(sessionId: string, reason: SessionEndReason): void;
  /** Background work on a session failed (the server emits `session_error`). */
  onError(error: SessionError): void;
  /** The bus lost or regained its connection. */
  onBusStatus(status: SessionBusStatus): void;
}

/** The local state of one session that has open sockets here. */
interface SessionState<S, R extends SessionRecord> {
  readonly sockets: Set<SessionSocket<S, R>>;
  /** The data the sockets hold, without the cookie and store bookkeeping: what "changed" means. */
  fingerprint: string | undefined;
  /** The sequence number of the value the sockets hold: an answer read before it is older. */
  applied: number;
  /** A revalidation of this session is in flight. */
  revalidating: boolean;
  /** A background touch of this session is in flight: the next tick skips it (no pile-up). */
  touching: boolean;
}

/** A session's end, remembered while a handshake that began before it may still finish. */
interface Tombstone {
  readonly seq: number;
  readonly at: number;
}

/** How many times a failed store delete is tried again in the background. */
const DELETE_RETRIES = 6;

/** How long a tombstone outlives its last pending handshake: engine.io's own handshake tail. */
const TOMBSTONE_MS = 10_000;
/**
 * With a bus, a session found gone by revalidation waits this long for the bus message that says
 * why (another node's `destroySession` deletes right after publishing): the reason is then
 * `"destroyed"`, not `"expired"`.
 */
const END_REASON_GRACE_MS = 250;

function isNotFound(error: unknown): boolean {
  return error instanceof SessionError && error.code === "NOT_FOUND";
}

function destroyed(sessionId: string): SessionError {
  return new SessionError(
    "NOT_FOUND",
    `session ${redactId(sessionId)} was destroyed (logout) while this was in flight`,
  );
}

/** `record` with a sessionId for a background `session_error`. */
function about(error: SessionError, sessionId: string): SessionError {
  if (error.sessionId === undefined) error.sessionId = sessionId;
  return error;
}

/**
 * @internal
 * The live sessions of one server: which sockets each session has here, and every rule about a
 * session after its handshake. One order of operations for every path:
 *
 * - A session is **live**, then **ending** (a `destroySession` began: handshakes are refused, no
 *   update, save or touch writes), then **gone**. An end leaves a tombstone, so a handshake, update
 *   or touch that began before it cannot finish with a socket or a write.
 * - Every read and write takes a sequence number; a value is given to the sockets only when it is
 *   newer than the one they hold (refreshes never go back in time, whichever path they come from).
 * - Writes of one session are serialized: in this process by a lock, across nodes by the bus's
 *   lease (when it has one), checked right before the write.
 */
export class LiveSessions<S, R extends SessionRecord> implements SessionHost<S, R> {
  readonly #options: LiveSessionsOptions<S, R>;
  readonly #sessions = new Map<string, SessionState<S, R>>();
  readonly #locks = new Map<string, Promise<unknown>>();
  /** Handshakes in flight per session id (between `beginHandshake` and `finishHandshake`). */
  readonly #pending = new KeyCounts();
  readonly #tombstones = new Map<string, Tombstone>();
  /** Destroys in progress per session id (here, or announced by another node). */
  readonly #ending = new KeyCounts();
  /** Store deletes that failed and are being retried, by session id. */
  readonly #retries = new Map<string, { attempt: number; timer: NodeJS.Timeout }>();
  #seq = 0;
  #touchTimer: NodeJS.Timeout | undefined;
  #revalidateTimer: NodeJS.Timeout | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;
  #busStatus: SessionBusStatus | "none";
  #closed = false;

  constructor(options: LiveSessionsOptions<S, R>) {
    this.#options = options;
    this.#busStatus = options.bus === undefined ? "none" : "connected";
  }

  // ---- what the server reads --------------------------------------------------------------------

  /** How many sessions have at least one open socket here. */
  get size(): number {
    return this.#sessions.size;
  }

  /** How many open sockets have a session here. */
  get sockets(): number {
    let count = 0;
    for (const state of this.#sessions.values()) count += state.sockets.size;
    return count;
  }

  /** How many per-session locks are held or queued (for leak checks). */
  get locks(): number {
    return this.#locks.size;
  }

  /** How many timers run (for leak checks). */
  get timers(): number {
    return (
      (this.#touchTimer ? 1 : 0) + (this.#revalidateTimer ? 1 : 0) + (this.#sweepTimer ? 1 : 0)
    );
  }

  /** Remembered ends and ends in progress (for leak checks). */
  get tombstones(): number {
    return this.#tombstones.size + this.#ending.size;
  }

  /** Whether the bus reaches the other nodes: `"none"` without a bus. */
  get busStatus(): SessionBusStatus | "none" {
    return this.#busStatus;
  }

  /** The open sockets of a session here, as a new array. */
  socketsOf(sessionId: string): SessionSocket<S, R>[] {
    const state = this.#sessions.get(sessionId);
    return state === undefined ? [] : [...state.sockets];
  }

  // ---- handshakes -------------------------------------------------------------------------------

  /** A handshake of `sessionId` starts; the number it returns is what it passes on. */
  beginHandshake(sessionId: string): number {
    this.#pending.up(sessionId);
    return this.#seq;
  }

  /** The handshake is resolved: a refusal when the session ended since it began. */
  finishHandshake(sessionId: string, started: number): SessionError | undefined {
    this.#pending.down(sessionId);
    return this.#endedSince(sessionId, started) ? destroyed(sessionId) : undefined;
  }

  /**
   * Indexes a new socket until it closes or its session ends. `false`: the session ended after
   * its handshake was resolved (engine.io's handshake tail); the caller closes the socket.
   */
  add(socket: SessionSocket<S, R>, started: number): boolean {
    const { sessionId } = socket;
    if (this.#endedSince(sessionId, started)) return false;
    let state = this.#sessions.get(sessionId);
    if (state === undefined) {
      state = {
        sockets: new Set(),
        fingerprint: undefined,
        applied: started,
        revalidating: false,
        touching: false,
      };
      this.#sessions.set(sessionId, state);
      this.#startTimers();
    } else if (state.applied > started) {
      // Its handshake read the session before the value the other sockets hold: catch it up.
      state.sockets.add(socket);
      void this.#catchUp(socket);
      return true;
    }
    state.sockets.add(socket);
    return true;
  }

  /** Forgets `socket` (it closed). The last socket of a session takes the session state along. */
  release(socket: SessionSocket<S, R>): void {
    const state = this.#sessions.get(socket.sessionId);
    if (state === undefined || !state.sockets.delete(socket)) return;
    if (state.sockets.size === 0) {
      this.#sessions.delete(socket.sessionId);
      this.#stopTimersIfIdle();
    }
  }

  // ---- ends -------------------------------------------------------------------------------------

  /** Ends a session's sockets here and on every node; the store keeps the session. */
  closeSession(sessionId: string, reason: SessionEndReason): number {
    const closed = this.#endLocal(sessionId, reason);
    this.#publish({ type: "end", origin: this.#options.nodeId, sessionId, reason });
    return closed;
  }

  /**
   * Logout everywhere. In this order: the session is **ending** (handshakes refused, no write
   * lands), its sockets here end and every node is told (neither waits on the store), then the
   * store delete runs after any write in flight (the lock) and is tried twice; when it settles the
   * session is **gone**. A failed delete rejects and is a `session_error`: the sockets stay ended.
   */
  async destroy(sessionId: string): Promise<number> {
    if (!this.#options.store.destroys) {
      throw new SessionError("STORE_ERROR", "the store has no destroy(sid, callback) method");
    }
    this.#ending.up(sessionId);
    this.#tombstone(sessionId);
    let closed = 0;
    try {
      closed = this.#endLocal(sessionId, "destroyed");
      this.#publish({
        type: "end",
        origin: this.#options.nodeId,
        sessionId,
        reason: "destroyed",
      });
      await this.#exclusive(
        sessionId,
        async () => {
          try {
            await this.#options.store.destroy(sessionId);
          } catch {
            debug("store.destroy of %s failed; trying once more", redactId(sessionId));
            await this.#options.store.destroy(sessionId);
          }
        },
        true,
      );
    } catch (error) {
      const failure = toSessionError(error, "STORE_ERROR", "store.destroy failed: see error.cause");
      this.#options.onError(about(failure, sessionId));
      // Still ending: handshakes stay refused while the delete is retried in the background.
      this.#retryDelete(sessionId, 0);
      throw failure;
    } finally {
      this.#ending.down(sessionId);
      this.#tombstone(sessionId);
    }
    return closed;
  }

  /**
   * A delete that failed is tried again, with backoff (1, 2, 4, ... × `lookupTimeout`, up to
   * {@link DELETE_RETRIES} times) and at once when the bus reconnects; the session stays
   * **ending** here meanwhile (its handshakes refused). The last failure is a `session_error`.
   */
  #retryDelete(sessionId: string, attempt: number): void {
    if (this.#closed) return;
    const previous = this.#retries.get(sessionId);
    if (previous === undefined) this.#ending.up(sessionId);
    else clearTimeout(previous.timer);
    const timer = setTimeout(
      () => {
        void this.#deleteAgain(sessionId, attempt);
      },
      this.#options.store.timeoutMs * 2 ** attempt,
    ).unref();
    this.#retries.set(sessionId, { attempt, timer });
  }

  async #deleteAgain(sessionId: string, attempt: number): Promise<void> {
    const retry = this.#retries.get(sessionId);
    if (retry === undefined) return;
    clearTimeout(retry.timer);
    try {
      await this.#options.store.destroy(sessionId);
    } catch (error) {
      if (attempt + 1 < DELETE_RETRIES && this.#retries.has(sessionId)) {
        this.#retryDelete(sessionId, attempt + 1);
        return;
      }
      this.#options.onError(
        about(
          toSessionError(error, "STORE_ERROR", "store.destroy failed on every retry"),
          sessionId,
        ),
      );
    }
    if (this.#retries.delete(sessionId)) {
      this.#ending.down(sessionId);
      this.#tombstone(sessionId);
    }
  }

  // ---- what sockets ask -------------------------------------------------------------------------

  /** Writes the socket's record, then gives every socket of the session the saved value. */
  save(socket: SessionSocket<S, R>): Promise<void> {
    const { sessionId } = socket;
    return this.#exclusive(sessionId, async (beforeWrite) => {
      const record = copyRecord(socket.record, sessionId) as R;
      await beforeWrite();
      await this.#options.store.set(sessionId, record);
      this.#afterWrite(sessionId);
      const failure = await this.#apply(sessionId, record, ++this.#seq, socket);
      if (failure !== undefined) throw failure;
    });
  }

  /** A fresh read for one socket; older than what the socket holds → the socket keeps its value. */
  async reload(socket: SessionSocket<S, R>): Promise<S> {
    const { sessionId } = socket;
    const token = ++this.#seq;
    const record = (await this.#read(sessionId)) as R;
    const session = await this.#options.hydrate(record, sessionId, socket.request);
    const state = this.#sessions.get(sessionId);
    if (state !== undefined && state.applied > token) return socket.session;
    socket.record = record;
    socket.session = session;
    return session;
  }

  /** Extends the life of the store's current session (never a socket's copy). */
  touch(sessionId: string): Promise<void> {
    return this.#exclusive(sessionId, async (beforeWrite) => {
      const token = ++this.#seq;
      let current: R;
      try {
        current = (await this.#read(sessionId)) as R;
      } catch (error) {
        if (isNotFound(error)) this.#gone(sessionId, token);
        throw error;
      }
      await beforeWrite();
      await this.#options.store.touch(sessionId, current);
      await this.#take(sessionId, current, token);
    });
  }

  /** Read-modify-write, serialized per session (across nodes with a bus lease). */
  update(socket: SessionSocket<S, R>, mutate: (record: R) => void | Promise<void>): Promise<S> {
    const { sessionId } = socket;
    return this.#exclusive(sessionId, async (beforeWrite) => {
      const record = (await this.#read(sessionId)) as R;
      await mutate(record);
      const written = copyRecord(record, sessionId) as R; // storable, and the caller keeps no alias
      await beforeWrite();
      await this.#options.store.set(sessionId, written);
      this.#afterWrite(sessionId);
      const failure = await this.#apply(sessionId, written, ++this.#seq, socket);
      if (failure !== undefined) throw failure;
      return socket.session;
    });
  }

  // ---- the bus ------------------------------------------------------------------------------------

  /** Starts listening on the bus (once). */
  subscribe(): void {
    const { bus } = this.#options;
    bus
      ?.subscribe(
        (message) => {
          this.#onBusMessage(message);
        },
        (status) => {
          this.#onBusStatus(status);
        },
      )
      .catch((error: unknown) => {
        debug("bus subscribe failed: %s", messageOf(error));
        this.#onBusStatus("disconnected");
      });
  }

  #onBusMessage(message: SessionBusMessage): void {
    if (message.origin === this.#options.nodeId) return;
    const { sessionId } = message;
    if (message.type === "update") {
      this.#options.loader.forget(sessionId);
      void this.#refreshFromStore(sessionId);
      return;
    }
    if (message.reason === "destroyed") {
      // The other node deletes after publishing: until that is surely done, this node refuses the
      // session's handshakes too (they could read it before the delete lands).
      this.#ending.up(sessionId);
      setTimeout(() => {
        this.#ending.down(sessionId);
        this.#tombstone(sessionId);
      }, this.#options.store.timeoutMs * 3).unref();
      this.#tombstone(sessionId);
    }
    this.#endLocal(sessionId, message.reason);
  }

  #onBusStatus(status: SessionBusStatus): void {
    const before = this.#busStatus;
    this.#busStatus = status;
    if (before === status) return;
    debug("bus %s", status);
    this.#options.onBusStatus(status);
    // Messages sent while the bus was down may be lost: re-check every open session once, and
    // try the deletes that failed meanwhile again now.
    if (status === "connected" && before === "disconnected") {
      this.revalidateAll();
      for (const [sessionId, retry] of this.#retries)
        void this.#deleteAgain(sessionId, retry.attempt);
    }
  }

  #publish(message: SessionBusMessage): void {
    this.#options.bus?.publish(message).catch((error: unknown) => {
      debug(
        "bus publish of %s failed: other nodes re-check when their bus reconnects: %s",
        message.type,
        messageOf(error),
      );
    });
  }

  // ---- lifecycle ------------------------------------------------------------------------------------

  /** Stops every timer; later sockets start none (until `reopen`). */
  close(): void {
    this.#closed = true;
    this.#stopTimers();
    for (const [sessionId, retry] of this.#retries) {
      clearTimeout(retry.timer);
      this.#ending.down(sessionId);
    }
    this.#retries.clear();
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    this.#tombstones.clear();
  }

  /** The server listens again after a close (engine.io re-initialises on a new `listen`). */
  reopen(): void {
    this.#closed = false;
    if (this.#sessions.size > 0) this.#startTimers();
  }

  /** Re-reads each connected session once: gone → `"expired"`; changed → `session_update`. */
  revalidateAll(): void {
    for (const [sessionId, state] of this.#sessions) {
      if (!state.revalidating) void this.#revalidate(sessionId, state);
    }
  }

  // ---- internals ----------------------------------------------------------------------------------

  /** Whether the session is ending, or ended after `started`. */
  #endedSince(sessionId: string, started: number): boolean {
    if (this.#ending.has(sessionId)) return true;
    const tombstone = this.#tombstones.get(sessionId);
    return tombstone !== undefined && tombstone.seq > started;
  }

  /** Remembers an end: what began before it may not finish. Shared reads from before are dropped. */
  #tombstone(sessionId: string): void {
    this.#options.loader.forget(sessionId);
    if (this.#closed) return;
    this.#tombstones.set(sessionId, { seq: ++this.#seq, at: Date.now() });
    this.#sweepTimer ??= setInterval(() => {
      this.#sweep();
    }, TOMBSTONE_MS).unref();
  }

  #sweep(): void {
    const old = Date.now() - TOMBSTONE_MS;
    for (const [sessionId, tombstone] of this.#tombstones) {
      if (tombstone.at <= old && !this.#pending.has(sessionId)) this.#tombstones.delete(sessionId);
    }
    if (this.#tombstones.size === 0) {
      clearInterval(this.#sweepTimer);
      this.#sweepTimer = undefined;
    }
  }

  /** Ends the session's sockets here: each emits `session_end`, then closes. */
  #endLocal(sessionId: string, reason: SessionEndReason): number {
    this.#options.loader.forget(sessionId);
    const state = this.#sessions.get(sessionId);
    if (state === undefined) return 0;
    this.#sessions.delete(sessionId);
    this.#stopTimersIfIdle();
    const sockets = [...state.sockets];
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

  /** A fresh store read, copied (storable): never shared with a handshake, never cached. */
  async #read(sessionId: string): Promise<SessionRecord> {
    return copyRecord(await this.#options.store.get(sessionId), sessionId);
  }

  /** A write landed: handshakes read afresh, other nodes re-read. */
  #afterWrite(sessionId: string): void {
    this.#options.loader.forget(sessionId);
    this.#publish({ type: "update", origin: this.#options.nodeId, sessionId });
  }

  /**
   * Runs `task` alone for this session: after every earlier task of it in this process, and, with
   * a bus that locks, holding the lease across nodes. `beforeWrite()` rejects with `NOT_FOUND`
   * when the session ended since the task began (nothing may write it back) and with `TIMEOUT`
   * when the lease was lost meanwhile.
   */
  #exclusive<T>(
    sessionId: string,
    task: (beforeWrite: () => Promise<void>) => Promise<T>,
    leaseOptional = false,
  ): Promise<T> {
    return this.#locked(sessionId, async () => {
      const started = this.#seq;
      const { bus, store } = this.#options;
      let lease: SessionBusLease | undefined;
      if (bus?.lock !== undefined && this.#busStatus !== "disconnected") {
        try {
          lease = await bus.lock(sessionId, store.timeoutMs * 3, store.timeoutMs);
        } catch (error) {
          // A delete goes ahead without the lease: the tombstones already stop writes here.
          if (!leaseOptional) throw error;
        }
      }
      const beforeWrite = async (): Promise<void> => {
        if (this.#endedSince(sessionId, started)) throw destroyed(sessionId);
        if (lease !== undefined && !(await lease.held())) {
          throw new SessionError(
            "TIMEOUT",
            `the cross-node lock of session ${redactId(sessionId)} expired before the write: nothing was written`,
          );
        }
        if (this.#endedSince(sessionId, started)) throw destroyed(sessionId);
      };
      try {
        return await task(beforeWrite);
      } finally {
        await lease?.release();
      }
    });
  }

  /** Runs `task` after every earlier task of the same session id; the lock entry then goes away. */
  #locked<T>(sessionId: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(sessionId) ?? Promise.resolve();
    const run = previous.then(task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.#locks.set(sessionId, tail);
    // The entry goes before the caller hears the outcome: a finished task holds no lock.
    const unlock = (): void => {
      if (this.#locks.get(sessionId) === tail) this.#locks.delete(sessionId);
    };
    return run.then(
      (value) => {
        unlock();
        return value;
      },
      (error: unknown) => {
        unlock();
        throw error;
      },
    );
  }

  /**
   * Gives every socket of the session its own copy of `record`, hydrated, and `session_update`,
   * if `token` is newer than what they hold. A socket whose copy or hydrate fails keeps its
   * session and gets a `session_error`, except `caller`, whose failure is returned instead.
   */
  async #apply(
    sessionId: string,
    record: R,
    token: number,
    caller?: SessionSocket<S, R>,
  ): Promise<SessionError | undefined> {
    const state = this.#sessions.get(sessionId);
    if (state === undefined || token < state.applied) return undefined;
    state.applied = token;
    state.fingerprint = fingerprintOf(record);
    let callerFailure: SessionError | undefined;
    await Promise.all(
      [...state.sockets].map(async (socket) => {
        let copy: R;
        let session: S;
        try {
          copy = copyRecord(record, sessionId) as R;
          session = await this.#options.hydrate(copy, sessionId, socket.request);
        } catch (error) {
          const failure = about(
            toSessionError(error, "HYDRATE_FAILED", "hydrate() failed on refresh"),
            sessionId,
          );
          if (socket === caller) callerFailure = failure;
          else this.#options.onError(failure);
          return;
        }
        // A newer value arrived while this one was being hydrated: it wins.
        if (state.applied !== token || !state.sockets.has(socket)) return;
        socket.record = copy;
        socket.session = session;
        socket.emit("session_update", session);
      }),
    );
    return callerFailure;
  }

  /**
   * The store's current session was read (touch, revalidation, bus): changed data refreshes the
   * sockets; unchanged data only moves each socket's cookie to what the store holds.
   */
  async #take(sessionId: string, current: R, token: number): Promise<void> {
    const state = this.#sessions.get(sessionId);
    if (state === undefined || token < state.applied) return;
    const [first] = state.sockets; // a session's state exists only while it has sockets
    state.fingerprint ??= fingerprintOf(first.record);
    if (fingerprintOf(current) !== state.fingerprint) {
      debug("session %s changed in the store: refreshing", redactId(sessionId));
      await this.#apply(sessionId, current, token);
      return;
    }
    for (const socket of state.sockets) socket.record.cookie = { ...current.cookie };
  }

  /** The store has no such session (anymore): its sockets end. */
  #gone(sessionId: string, token: number): void {
    const state = this.#sessions.get(sessionId);
    if (state === undefined || token < state.applied) return;
    if (this.#options.bus === undefined) {
      this.#endLocal(sessionId, "expired");
      return;
    }
    // A destroy on another node announces itself just before its delete: wait for that word.
    setTimeout(() => {
      if (this.#sessions.get(sessionId) === state) this.#endLocal(sessionId, "expired");
    }, END_REASON_GRACE_MS).unref();
  }

  /** A socket that joined with an older value than its session's other sockets reads afresh. */
  async #catchUp(socket: SessionSocket<S, R>): Promise<void> {
    const before = socket.session;
    try {
      const session = await this.reload(socket);
      if (session !== before) socket.emit("session_update", session);
    } catch (error) {
      this.#options.onError(
        about(
          toSessionError(error, "STORE_ERROR", "catching up a new socket failed"),
          socket.sessionId,
        ),
      );
    }
  }

  /** Re-reads one session and takes what the store holds (bus update). */
  async #refreshFromStore(sessionId: string): Promise<void> {
    const state = this.#sessions.get(sessionId);
    if (state === undefined) return;
    await this.#revalidate(sessionId, state);
  }

  async #revalidate(sessionId: string, state: SessionState<S, R>): Promise<void> {
    const token = ++this.#seq;
    state.revalidating = true;
    try {
      const current = (await this.#read(sessionId)) as R;
      await this.#take(sessionId, current, token);
    } catch (error) {
      if (isNotFound(error)) {
        this.#gone(sessionId, token);
      } else {
        const failure = about(
          toSessionError(error, "STORE_ERROR", "background session work failed"),
          sessionId,
        );
        this.#options.onError(failure);
        if (isUncopyable(failure)) this.#endLocal(sessionId, "closed");
      }
    } finally {
      state.revalidating = false;
    }
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
        this.revalidateAll();
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
    for (const [sessionId, state] of this.#sessions) {
      // A slow or unreachable store must not queue one touch per tick in the session's lock.
      if (state.touching) continue;
      state.touching = true;
      this.touch(sessionId)
        .catch((error: unknown) => {
          if (isNotFound(error)) return; // its sockets ended ("expired")
          this.#options.onError(
            about(toSessionError(error, "STORE_ERROR", "touching the session failed"), sessionId),
          );
          if (isUncopyable(error)) this.#endLocal(sessionId, "closed");
        })
        .finally(() => {
          state.touching = false;
        });
    }
  }
}
