/**
 * @internal
 * Timeouts of one fixed length, sharing one timer. Every store call has a deadline
 * (`lookupTimeout`). Because every entry has the same length, start order is deadline order: the
 * oldest entry is the next to expire, and one timer armed for it is enough.
 *
 * Entries live in a ring of slots (an array used as a FIFO queue), not in a `Map` keyed by entry
 * objects: a keyed `Map` churned by every handshake kept about 1 KB per handshake alive through
 * scavenges into old space (measured with --trace-gc; bench/handshake-cost.mjs), and each entry
 * needed two closures. A cancelled entry just forgets its callback; its slot is dropped when it
 * reaches the head of the queue (at the latest when it would have expired).
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
    const entry = new DeadlineEntry(this, onExpire, Date.now() + this.#ms);
    this.#queue.push(entry);
    this.#live++;
    if (this.#timer === undefined) this.#arm(this.#ms);
    return entry;
  }

  /** @internal An entry was cancelled. */
  cancelled(): void {
    this.#live--;
    if (this.#live === 0) {
      // Nothing pending: drop every slot and the timer.
      this.#queue = [];
      this.#head = 0;
      if (this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    } else this.#compact();
  }

  #compact(): void {
    // Drop cancelled entries at the head; shrink the array once half of it is consumed.
    const queue = this.#queue;
    while (this.#head < queue.length && queue[this.#head].onExpire === undefined) {
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
      const onExpire = entry.onExpire;
      if (onExpire !== undefined && entry.at > now) {
        this.#arm(entry.at - now);
        return;
      }
      queue[this.#head++] = undefined as unknown as DeadlineEntry;
      if (onExpire !== undefined) {
        entry.onExpire = undefined;
        this.#live--;
        onExpire();
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

class DeadlineEntry implements Deadline {
  onExpire: (() => void) | undefined;
  readonly at: number;
  readonly #owner: Deadlines;

  constructor(owner: Deadlines, onExpire: () => void, at: number) {
    this.#owner = owner;
    this.onExpire = onExpire;
    this.at = at;
  }

  cancel(): void {
    if (this.onExpire === undefined) return;
    this.onExpire = undefined;
    this.#owner.cancelled();
  }
}
