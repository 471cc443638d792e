/**
 * @internal
 * Timeouts of one fixed length, sharing one timer. Every store call has a deadline
 * (`lookupTimeout`). Because every entry has the same length, start order is deadline order: the
 * oldest entry is the next to expire, and one timer armed for it is enough.
 *
 * Entries live in a ring of slots (an array used as a FIFO queue), not in a `Map` keyed by entry
 * objects: a keyed `Map` churned by every handshake kept about 1 KB per handshake alive through
 * scavenges into old space (measured with --trace-gc; bench/handshake-cost.mjs), and each entry
 * needed two closures. A cancelled entry is just marked; its slot is dropped when it
 * reaches the head of the queue (at the latest when it would have expired).
 *
 * When nothing is pending the timer is not cleared but unref'd: a handshake at a time (the common
 * case) would otherwise clear and re-create it every time. It fires at most once idle, finds
 * nothing, and stops; it never keeps the process alive while nothing is pending.
 */
export class Deadlines {
  readonly #ms: number;
  /** Queued entries, oldest first, from `#head` on (cancelled ones included until dropped). */
  #queue: DeadlineEntry[] = [];
  #head = 0;
  #live = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /** The fixed length of every deadline, in milliseconds. */
  get ms(): number {
    return this.#ms;
  }

  /** How many deadlines are pending (for leak checks). */
  get size(): number {
    return this.#live;
  }

  /** Calls `onExpire` in `ms` unless the returned deadline is cancelled first. */
  start(onExpire: () => void): Deadline {
    const entry = new CallbackEntry(this, onExpire);
    this.add(entry);
    return entry;
  }

  /** Starts `entry`'s deadline: its `expire()` runs in `ms` unless it is cancelled first. */
  add(entry: DeadlineEntry): void {
    entry.at = Date.now() + this.#ms;
    entry.pending = true;
    this.#queue.push(entry);
    if (this.#live++ === 0 && this.#timer !== undefined) this.#timer.ref();
    if (this.#timer === undefined) this.#arm(this.#ms);
  }

  /** @internal An entry was cancelled. */
  cancelled(): void {
    this.#live--;
    if (this.#live === 0) {
      // Nothing pending: drop every slot; the timer stays, unref'd, for the next start.
      this.#queue = [];
      this.#head = 0;
      this.#timer?.unref();
    } else this.#compact();
  }

  #compact(): void {
    // Drop cancelled entries at the head; shrink the array once half of it is consumed.
    const queue = this.#queue;
    while (this.#head < queue.length && !queue[this.#head].pending) {
      queue[this.#head++] = undefined as unknown as DeadlineEntry;
    }
    if (this.#head > 1024 && this.#head * 2 > queue.length) {
      this.#queue = queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #arm(ms: number): void {
    clearTimeout(this.#timer); // an expiry callback may have armed one already
    // Not unref'd: a pending store call is work in progress, as a socket is.
    this.#timer = setTimeout(() => {
      this.#expire();
    }, ms);
  }

  #expire(): void {
    this.#timer = undefined;
    const now = Date.now();
    const queue = this.#queue;
    while (this.#head < queue.length) {
      const entry = queue[this.#head];
      if (entry.pending && entry.at > now) {
        this.#arm(entry.at - now);
        return;
      }
      queue[this.#head++] = undefined as unknown as DeadlineEntry;
      if (entry.pending) {
        entry.pending = false;
        this.#live--;
        entry.expire();
      }
    }
    this.#queue = [];
    this.#head = 0;
  }
}

/**
 * @internal
 * One pending deadline of {@link Deadlines}.
 */
export interface Deadline {
  /** Cancels the deadline; its callback will not run. Idempotent. */
  cancel(): void;
}

/**
 * @internal
 * An entry of {@link Deadlines}: subclass it to be your own deadline (no closure needed), or use
 * `start(onExpire)`.
 */
export abstract class DeadlineEntry implements Deadline {
  /** When it expires (`Date.now()` ms); set by `Deadlines#add`. */
  at = 0;
  /** Started and neither cancelled nor expired. */
  pending = false;
  readonly #owner: Deadlines;

  constructor(owner: Deadlines) {
    this.#owner = owner;
  }

  /** Runs once when the deadline passes first. */
  abstract expire(): void;

  cancel(): void {
    if (!this.pending) return;
    this.pending = false;
    this.#owner.cancelled();
  }
}

class CallbackEntry extends DeadlineEntry {
  readonly #onExpire: () => void;

  constructor(owner: Deadlines, onExpire: () => void) {
    super(owner);
    this.#onExpire = onExpire;
  }

  override expire(): void {
    this.#onExpire();
  }
}
