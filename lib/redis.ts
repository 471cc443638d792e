/**
 * `engine.io-session/redis`: {@link RedisSessionBus}, the {@link SessionBus} on Redis for
 * deployments of many nodes that share one session store: pub/sub for the messages, a capped stream
 * so a node that lost its connection catches up, and a per-session lock for `updateSession`. Needs
 * the optional peer dependency `redis` (node-redis 5 or 6).
 *
 * @module engine.io-session/redis
 */
import { randomBytes } from "node:crypto";
import createDebug from "debug";
import { SessionError, redactId } from "./errors";
import {
  parseBusMessage,
  type SessionBus,
  type SessionBusLease,
  type SessionBusMessage,
  type SessionBusStatus,
} from "./session-bus";

const debug = createDebug("engine.io-session:redis");

/**
 * How long {@link RedisSessionBus.close} waits for a graceful `UNSUBSCRIBE` and `QUIT` before it
 * drops the subscriber connection (a paused or unreachable Redis never answers).
 */
export const CLOSE_TIMEOUT_MS = 1000;

/** How many messages a bus holds while it cannot reach Redis; the oldest go first beyond this. */
const OUTBOX_LIMIT = 1000;

/** The arguments of a Lua script call, as node-redis 5 and 6 take them. */
export interface RedisEvalOptions {
  /** The keys the script touches (`KEYS`). */
  keys: string[];
  /** The other arguments (`ARGV`). */
  arguments: string[];
}

/**
 * The part of a node-redis 5 or 6 client the subscriber connection uses: what
 * {@link RedisClientLike.duplicate} returns.
 */
export interface RedisSubscriberLike {
  /** Whether the connection is up and its handshake (and resubscription) done. */
  readonly isReady: boolean;
  /** Opens the connection (node-redis `connect()`). */
  connect(): Promise<unknown>;
  /** Runs a Lua script: where in the stream this node starts, read before it subscribes. */
  eval(script: string, options: RedisEvalOptions): Promise<unknown>;
  /** Subscribes to `channel`; `listener` receives each message as a string. */
  subscribe(
    channel: string,
    listener: (message: string, channel: string) => void,
  ): Promise<unknown>;
  /** Unsubscribes from `channel`. */
  unsubscribe(channel: string): Promise<unknown>;
  /** Closes the connection gracefully, after the pending replies (node-redis `close()`). */
  close(): Promise<unknown>;
  /** Drops the connection at once: pending commands fail, no reconnection (node-redis `destroy()`). */
  destroy(): void;
  /**
   * Connection events: `"error"` (node-redis reconnects by itself; without a listener the process
   * would crash), `"end"`, `"reconnecting"` and `"ready"` (connected and resubscribed).
   */
  on(
    event: "error" | "end" | "reconnecting" | "ready",
    listener: (error?: unknown) => void,
  ): unknown;
}

/**
 * The part of a connected node-redis 5 or 6 client (`await createClient().connect()`) that
 * {@link RedisSessionBus} uses. Structural, so node-redis is not needed at compile time.
 */
export interface RedisClientLike {
  /**
   * Runs a Lua script (node-redis `EVAL`): publishing (stream entry and `PUBLISH` in one round
   * trip), taking and freeing a session lock, reading the stream after a reconnect.
   */
  eval(script: string, options: RedisEvalOptions): Promise<unknown>;
  /** Reads a key (node-redis `GET`): whether a lock still holds this lease's token. */
  get(key: string): Promise<unknown>;
  /** A new, unconnected client with the same options: the bus subscribes on it. */
  duplicate(): RedisSubscriberLike;
}

/** Options of {@link RedisSessionBus}. */
export interface RedisSessionBusOptions {
  /**
   * The pub/sub channel; nodes that share sessions share it. It also names the bus's keys:
   * `<channel>:log` (the stream of recent messages) and `<channel>:lock:{<sid>}` (update locks),
   * and the channel `<channel>:unlock`.
   * @default "engine.io-session"
   */
  channel?: string;
  /**
   * How many recent messages the stream `<channel>:log` keeps (approximately, `MAXLEN ~`) for nodes
   * that reconnect after an outage. A node cut off for longer than it takes to publish this many
   * misses the older ones; the server's re-check after the reconnect still catches ends and
   * updates that reached the store.
   * @default 10000
   */
  history?: number;
}

/** Publishes a message: stream entry first (its id orders it), then the channel, one round trip. */
const PUBLISH = `local id = redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[3], "*", "m", ARGV[1])
redis.call("PUBLISH", ARGV[2], string.sub(ARGV[1], 1, -2) .. ',"seq":"' .. id .. '"}')
return id`;

/** The stream's newest id, or "0-0": where a node starts reading after it subscribed. */
const TAIL = `local last = redis.call("XREVRANGE", KEYS[1], "+", "-", "COUNT", 1)
if last[1] then return last[1][1] end
return "0-0"`;

/** Stream entries from ARGV[1] (inclusive) on, ARGV[2] at most: [[id, ["m", json]], ...]. */
const RANGE = `return redis.call("XRANGE", KEYS[1], ARGV[1], "+", "COUNT", ARGV[2])`;

/**
 * Takes the lock when it is free: -1. Otherwise flags that someone waits (so the holder's release
 * wakes it) and returns the holder's remaining milliseconds (-2 when it just expired).
 */
const ACQUIRE = `if redis.call("SET", KEYS[1], ARGV[1], "NX", "PX", ARGV[2]) then return -1 end
redis.call("SET", KEYS[2], "1", "PX", ARGV[2])
return redis.call("PTTL", KEYS[1])`;

/**
 * Frees the lock only when it still holds this token (never another holder's): 0 when it did not,
 * 1 when freed, 2 when freed and someone waited (told on the unlock channel).
 */
const RELEASE = `if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("DEL", KEYS[1])
if redis.call("DEL", KEYS[2]) == 1 then
  redis.call("PUBLISH", ARGV[2], ARGV[3])
  return 2
end
return 1`;

/** A stream id `<ms>-<n>` as two numbers, for ordering. */
function parseSeq(seq: string): [number, number] | undefined {
  const match = /^(\d+)-(\d+)$/.exec(seq);
  return match === null ? undefined : [Number(match[1]), Number(match[2])];
}

/** Whether stream id `a` comes after `b`. */
function after(a: [number, number], b: [number, number]): boolean {
  return a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
}

/** Resolves with `promise`'s value, or with `fallback` after `ms` (the timer never holds the process). */
function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<F>((resolve) => {
    timer = setTimeout(
      () => {
        resolve(fallback);
      },
      Math.max(0, ms),
    );
    timer.unref();
  });
  return Promise.race([promise, gaveUp]).finally(() => {
    clearTimeout(timer);
  });
}

const TIMED_OUT: unique symbol = Symbol("timed out");

/** An error's message for a debug line (never a secret: Redis errors carry none). */
function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref();
  });
}

/** A lock waiter: woken early by an unlock message or by close(). */
interface Waiter {
  readonly sessionId: string;
  wake(): void;
}

/**
 * A {@link SessionBus} on Redis: publishes with the app's connected node-redis client (5 or 6) and
 * subscribes on its own duplicate, which `server.close()` closes (the app's client stays open).
 *
 * - **Messages** go to a capped stream and to the channel in one round trip. After its connection
 *   comes back, a node reads the entries it missed from the stream before it reports
 *   `"connected"`; a message that could not reach Redis at all waits in the node's outbox (1,000
 *   at most) and is sent once Redis answers again.
 * - **Locks** (`lock()`): `SET NX PX` with a random token, waiters woken by the holder's release.
 * - A malformed or foreign message on the channel is ignored (debug `engine.io-session:redis`).
 *
 * @example
 * import { createClient } from "redis";
 * import { RedisSessionBus } from "engine.io-session/redis";
 *
 * const redis = await createClient({ url: process.env.REDIS_URL }).connect();
 * const server = new SessionServer(httpServer, { store, secret, bus: new RedisSessionBus(redis) });
 */
export class RedisSessionBus implements SessionBus {
  readonly #client: RedisClientLike;
  readonly #channel: string;
  readonly #unlockChannel: string;
  readonly #streamKey: string;
  readonly #history: string;
  #subscriber: RedisSubscriberLike | undefined;
  #listener: ((message: SessionBusMessage) => void) | undefined;
  #onStatus: ((status: SessionBusStatus) => void) | undefined;
  /** The last status reported (or implied by a finished subscribe()). */
  #status: SessionBusStatus = "disconnected";
  /** The newest stream id delivered here; `undefined` until known. */
  #lastSeen: [number, number] | undefined;
  /** Messages that arrive while the node catches up from the stream: delivered after it. */
  #held: string[] | undefined;
  readonly #outbox: string[] = [];
  #flushTimer: NodeJS.Timeout | undefined;
  #flushDelay = 100;
  readonly #waiters = new Set<Waiter>();
  /** Per session: until when this node leaves a just-freed lock to the nodes that waited for it. */
  readonly #yieldUntil = new Map<string, number>();
  /** subscribe() finished: a later "ready" follows an outage. */
  #started = false;
  #recovering = false;
  #flushing = false;
  #closed = false;

  /**
   * @param client - the app's connected node-redis 5 or 6 client; it stays the app's to close
   * @param options - the channel, the stream's length
   * @throws TypeError when `client` is not a node-redis client, `channel` is not a non-empty
   * string or `history` is not a positive integer
   */
  constructor(client: RedisClientLike, options: RedisSessionBusOptions = {}) {
    const given: unknown = client;
    if (
      typeof given !== "object" ||
      given === null ||
      typeof (given as Partial<RedisClientLike>).duplicate !== "function" ||
      typeof (given as Partial<RedisClientLike>).eval !== "function" ||
      typeof (given as Partial<RedisClientLike>).get !== "function"
    ) {
      throw new TypeError(
        "engine.io-session: RedisSessionBus needs a node-redis 5 or 6 client: new RedisSessionBus(await createClient().connect())",
      );
    }
    const channel: unknown = options.channel === undefined ? "engine.io-session" : options.channel;
    if (typeof channel !== "string" || channel === "") {
      throw new TypeError(
        "engine.io-session: RedisSessionBus `channel` must be a non-empty string",
      );
    }
    const history: unknown = options.history === undefined ? 10_000 : options.history;
    if (typeof history !== "number" || !Number.isSafeInteger(history) || history < 1) {
      throw new TypeError(
        "engine.io-session: RedisSessionBus `history` must be a positive integer (messages kept)",
      );
    }
    this.#client = client;
    this.#channel = channel;
    this.#unlockChannel = `${channel}:unlock`;
    this.#streamKey = `${channel}:log`;
    this.#history = String(history);
  }

  /**
   * Sends `message` to every node. Resolves once Redis has it, or once it waits in the outbox
   * because Redis cannot be reached (it is sent when Redis answers again). Rejects after
   * {@link RedisSessionBus.close}.
   */
  async publish(message: SessionBusMessage): Promise<void> {
    if (this.#closed) throw new Error("engine.io-session: the RedisSessionBus is closed");
    const payload = JSON.stringify(message);
    // Behind a backlog, wait in line: the order of messages is kept.
    if (this.#outbox.length > 0) {
      this.#queue(payload);
      return;
    }
    try {
      await this.#send(payload);
    } catch (error) {
      debug("publish failed (%s): held in the outbox until Redis answers", messageOf(error));
      this.#queue(payload);
    }
  }

  /**
   * Subscribes on a duplicate of the client and starts delivering messages to `listener`.
   * `onStatus` hears `"disconnected"` when the subscriber connection drops and `"connected"` once
   * it is back, resubscribed, and has delivered what the stream holds from the time it was away.
   */
  async subscribe(
    listener: (message: SessionBusMessage) => void,
    onStatus?: (status: SessionBusStatus) => void,
  ): Promise<void> {
    if (this.#subscriber !== undefined || this.#closed) {
      throw new Error("engine.io-session: RedisSessionBus.subscribe() is called once per bus");
    }
    const subscriber = this.#client.duplicate();
    this.#subscriber = subscriber;
    this.#listener = listener;
    this.#onStatus = onStatus;
    // node-redis reconnects by itself; without a listener an error event would crash the process.
    subscriber.on("error", (error) => {
      debug("subscriber error: %s", messageOf(error));
      if (!subscriber.isReady) this.#report("disconnected");
    });
    subscriber.on("end", () => {
      this.#report("disconnected");
    });
    subscriber.on("reconnecting", () => {
      this.#report("disconnected");
    });
    subscriber.on("ready", () => {
      // The first "ready" is subscribe()'s own; later ones follow an outage (resubscribed by now).
      if (this.#started) void this.#recover();
    });
    await subscriber.connect();
    // Where this node starts reading the stream, on the subscriber itself: the app may connect its
    // own client only after the server is built. A message published between this read and the
    // SUBSCRIBE concerns sessions this new node has no socket of yet.
    this.#lastSeen = parseSeq(String(await subscriber.eval(TAIL, this.#args([]))));
    await subscriber.subscribe(this.#channel, (raw) => {
      this.#receive(raw);
    });
    await subscriber.subscribe(this.#unlockChannel, (sessionId) => {
      for (const waiter of this.#waiters) if (waiter.sessionId === sessionId) waiter.wake();
    });
    this.#status = "connected";
    this.#started = true;
  }

  /**
   * Stops delivering and closes the subscriber connection: gracefully when Redis answers within
   * {@link CLOSE_TIMEOUT_MS} (1 s), otherwise by dropping it. Pending lock waits reject; messages
   * still in the outbox are dropped. Leaves the app's client open, and nothing that keeps the
   * process alive. Never rejects.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#flushTimer);
    if (this.#outbox.length > 0) {
      debug("closed with %d unsent message(s) in the outbox", this.#outbox.length);
      this.#outbox.length = 0;
    }
    for (const waiter of this.#waiters) waiter.wake();
    this.#yieldUntil.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber === undefined) return;
    const graceful = subscriber.isReady
      ? (async () => {
          await subscriber.unsubscribe(this.#channel);
          await subscriber.unsubscribe(this.#unlockChannel);
          await subscriber.close();
          return true;
        })().catch(() => false)
      : Promise.resolve(false);
    if (!(await within(graceful, CLOSE_TIMEOUT_MS, false))) {
      debug("subscriber did not close in time: dropping the connection");
      try {
        subscriber.destroy();
      } catch (error) {
        // Already closed: nothing left to drop.
        debug("dropping the subscriber: %s", messageOf(error));
      }
    }
  }

  /**
   * Takes the update lock of `sessionId`, shared by every node on this channel: `SET NX PX ttlMs`
   * with a random token. While another holder has it, waits until its release is announced on the
   * unlock channel, or a short jittered backoff passes (never longer than the holder's remaining
   * time), then tries again.
   *
   * @param ttlMs - how long the lock is granted: a holder that dies frees it after this
   * @param waitMs - how long to wait for it
   * @throws SessionError `TIMEOUT` when the lock could not be had within `waitMs` (or the bus
   *   closed meanwhile), `STORE_ERROR` when Redis failed
   */
  async lock(sessionId: string, ttlMs: number, waitMs: number): Promise<SessionBusLease> {
    if (!(Number.isFinite(ttlMs) && ttlMs >= 1 && Number.isFinite(waitMs) && waitMs >= 0)) {
      throw new TypeError("engine.io-session: lock() needs ttlMs >= 1 and waitMs >= 0 (finite)");
    }
    const key = `${this.#channel}:lock:{${sessionId}}`;
    const keys = [key, `${key}:waiting`];
    const token = randomBytes(16).toString("base64url");
    const ttl = String(Math.ceil(ttlMs));
    const deadline = performance.now() + waitMs;
    let backoff = 2;
    const timeout = (): SessionError =>
      new SessionError(
        "TIMEOUT",
        `the update lock of session ${redactId(sessionId)} was not free within ${waitMs} ms`,
      );
    // This node just freed it while others waited: give them the first go.
    const yieldUntil = this.#yieldUntil.get(sessionId);
    if (yieldUntil !== undefined) {
      if (yieldUntil > performance.now())
        await this.#wait(sessionId, yieldUntil - performance.now());
      else this.#yieldUntil.delete(sessionId);
    }
    for (;;) {
      if (this.#closed) throw timeout();
      const sentAt = performance.now();
      const attempt = this.#client.eval(ACQUIRE, { keys, arguments: [token, ttl] });
      let answer: unknown;
      try {
        answer = await within(attempt, deadline - sentAt, TIMED_OUT);
      } catch (error) {
        throw new SessionError(
          "STORE_ERROR",
          `could not take the update lock of session ${redactId(sessionId)}`,
          { cause: error },
        );
      }
      if (answer === TIMED_OUT) {
        // Redis may still run the SET later: free what we would then hold, not wait for its expiry.
        attempt.then(
          (late) => {
            if (Number(late) === -1) void this.#release(keys, token, sessionId);
          },
          () => undefined,
        );
        throw timeout();
      }
      const remaining = Number(answer);
      if (remaining === -1) return this.#lease(keys, token, sessionId, sentAt + ttlMs);
      const left = deadline - performance.now();
      if (left <= 0) throw timeout();
      // Jittered, so waiters on several nodes do not retry in step.
      const pause = backoff / 2 + (Math.random() * backoff) / 2;
      await this.#wait(sessionId, Math.min(left, pause, remaining > 0 ? remaining : 1));
      backoff = Math.min(backoff * 2, 50);
    }
  }

  /** A lease on a lock just taken: valid until `expiresAt` (performance.now() time) at the latest. */
  #lease(keys: string[], token: string, sessionId: string, expiresAt: number): SessionBusLease {
    let released = false;
    return {
      held: async () => {
        if (released || this.#closed) return false;
        const left = expiresAt - performance.now();
        if (left <= 0) return false;
        try {
          // Bounded by the lease itself: an answer after the expiry would mean nothing.
          const value = await within(this.#client.get(keys[0]), left, TIMED_OUT);
          // A client with a Buffer type mapping answers with a Buffer.
          return (
            (typeof value === "string" || Buffer.isBuffer(value)) && value.toString() === token
          );
        } catch {
          return false;
        }
      },
      release: async () => {
        if (released) return;
        released = true;
        await this.#release(keys, token, sessionId);
      },
    };
  }

  /** Compare-and-delete; never rejects, waits {@link CLOSE_TIMEOUT_MS} at most. */
  async #release(keys: string[], token: string, sessionId: string): Promise<void> {
    try {
      const freed = await within(
        this.#client.eval(RELEASE, {
          keys,
          arguments: [token, this.#unlockChannel, sessionId],
        }),
        CLOSE_TIMEOUT_MS,
        TIMED_OUT,
      );
      if (Number(freed) === 2 && !this.#closed) {
        // Others waited: this node's next update of the session lets them go first.
        this.#yieldUntil.set(sessionId, performance.now() + 3);
      } else if (freed === TIMED_OUT) {
        debug("releasing the lock of %s timed out (it expires by itself)", redactId(sessionId));
      }
    } catch (error) {
      debug(
        "releasing the lock of %s failed (it expires by itself): %s",
        redactId(sessionId),
        messageOf(error),
      );
    }
  }

  /** Sleeps `ms`, or less when `sessionId`'s lock is announced free or the bus closes. */
  #wait(sessionId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        sessionId,
        wake: () => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(
        () => {
          waiter.wake();
        },
        Math.max(0, ms),
      );
      this.#waiters.add(waiter);
    });
  }

  /** The stream key and the node's arguments for a script. */
  #args(argv: string[]): RedisEvalOptions {
    return { keys: [this.#streamKey], arguments: argv };
  }

  async #send(payload: string): Promise<void> {
    await this.#client.eval(PUBLISH, this.#args([payload, this.#channel, this.#history]));
  }

  /** A message off the channel: held while catching up, otherwise delivered unless seen already. */
  #receive(raw: string): void {
    if (this.#held !== undefined) this.#held.push(raw);
    else this.#deliver(raw, this.#seqOf(raw));
  }

  /** The stream id the publishing script added to a message, if any. */
  #seqOf(raw: string): [number, number] | undefined {
    try {
      const value: unknown = JSON.parse(raw);
      const seq =
        typeof value === "object" && value !== null ? (value as { seq?: unknown }).seq : undefined;
      return typeof seq === "string" ? parseSeq(seq) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Hands a message to the listener once: a stream id at or before the last one seen is a repeat. */
  #deliver(raw: string, seq: [number, number] | undefined): void {
    if (seq !== undefined) {
      if (this.#lastSeen !== undefined && !after(seq, this.#lastSeen)) return;
      this.#lastSeen = seq;
    }
    const message = parseBusMessage(raw);
    if (message === undefined) {
      debug("ignored a malformed or foreign message on the channel");
      return;
    }
    try {
      this.#listener?.(message);
    } catch (error) {
      debug("the bus listener threw: %s", messageOf(error));
    }
  }

  /**
   * Delivers what the stream holds after the last id seen, then what arrived meanwhile. Reads with
   * the app's client, which may come back a little after the subscriber: tries for up to 5 s.
   */
  async #catchUp(): Promise<void> {
    this.#held ??= [];
    const deadline = performance.now() + 5000;
    try {
      for (;;) {
        if (this.#closed) break;
        try {
          await this.#readMissed();
          break;
        } catch (error) {
          if (performance.now() > deadline) throw error;
          await delay(50);
        }
      }
    } catch (error) {
      // The server's own re-check after "connected" still catches what reached the store.
      debug("could not read the missed messages: %s", messageOf(error));
    } finally {
      const held = this.#held;
      this.#held = undefined;
      for (const raw of held) this.#deliver(raw, this.#seqOf(raw));
    }
  }

  /** Reads the stream after the last id seen, 500 entries at a time, and delivers each. */
  async #readMissed(): Promise<void> {
    for (;;) {
      const from = this.#lastSeen ?? [0, 0];
      const entries = await this.#client.eval(RANGE, this.#args([`${from[0]}-${from[1]}`, "500"]));
      let fresh = 0;
      for (const entry of Array.isArray(entries) ? (entries as unknown[]) : []) {
        if (!Array.isArray(entry)) continue;
        const [id, fields] = entry as [unknown, unknown];
        const seq = parseSeq(String(id));
        if (seq === undefined || !Array.isArray(fields)) continue;
        if (this.#lastSeen !== undefined && !after(seq, this.#lastSeen)) continue;
        fresh++;
        this.#deliver(String(fields[1]), seq);
      }
      if (fresh === 0) break;
    }
  }

  /** After an outage: catch up, send the outbox, then tell the server. */
  async #recover(): Promise<void> {
    if (this.#recovering) return;
    this.#recovering = true;
    try {
      await this.#catchUp();
      if (this.#closed || this.#subscriber?.isReady !== true) return;
      this.#flushDelay = 100;
      await this.#flush();
      this.#report("connected");
    } finally {
      this.#recovering = false;
    }
  }

  #report(status: SessionBusStatus): void {
    if (this.#closed || status === this.#status) return;
    this.#status = status;
    debug("bus %s", status);
    try {
      this.#onStatus?.(status);
    } catch (error) {
      debug("the status listener threw: %s", messageOf(error));
    }
  }

  #queue(payload: string): void {
    if (this.#outbox.push(payload) > OUTBOX_LIMIT) {
      this.#outbox.shift();
      debug("outbox full: dropped the oldest message");
    }
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushTimer !== undefined || this.#closed) return;
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      void this.#flush();
    }, this.#flushDelay);
    // A retry must not keep a process alive that has nothing else to do.
    this.#flushTimer.unref();
    this.#flushDelay = Math.min(this.#flushDelay * 2, 5000);
  }

  /** Sends the outbox in order; stops at the first failure and tries again later. */
  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#outbox.length > 0 && !this.#closed) {
        try {
          await this.#send(this.#outbox[0]);
        } catch {
          this.#scheduleFlush();
          return;
        }
        this.#outbox.shift();
      }
      this.#flushDelay = 100;
    } finally {
      this.#flushing = false;
    }
  }
}

export type {
  SessionBus,
  SessionBusLease,
  SessionBusMessage,
  SessionBusStatus,
} from "./session-bus";
