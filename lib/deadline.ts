/**
 * @internal
 * Timeouts of one fixed length, sharing one timer. Every store call has a deadline
 * (`lookupTimeout`); a `setTimeout` + `clearTimeout` per call costs microseconds on the handshake
 * path, while adding to and deleting from an insertion-ordered `Set` costs nanoseconds. Because
 * every entry has the same length, insertion order is deadline order: the oldest entry is the next
 * to expire, and one timer armed for it is enough.
 */
export class Deadlines {
  readonly #ms: number;
  /** Pending entries, oldest first: their expiry callback, keyed by their start time. */
  readonly #pending = new Map<Deadline, number>();
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
    return this.#pending.size;
  }

  /** Calls `onExpire` in `ms` unless the returned deadline is cancelled first. */
  start(onExpire: () => void): Deadline {
    const deadline: Deadline = {
      onExpire,
      cancel: () => {
        this.#cancel(deadline);
      },
    };
    this.#pending.set(deadline, Date.now() + this.#ms);
    if (this.#timer === undefined) this.#arm(this.#ms);
    return deadline;
  }

  #cancel(deadline: Deadline): void {
    this.#pending.delete(deadline);
    if (this.#pending.size === 0 && this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
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
    if (this.#pending.size === 0) return;
    const now = Date.now();
    for (const [deadline, at] of this.#pending) {
      if (at > now) {
        this.#arm(at - now);
        return;
      }
      this.#pending.delete(deadline);
      deadline.onExpire();
    }
  }
}

/** One pending deadline of {@link Deadlines}. */
export interface Deadline {
  readonly onExpire: () => void;
  /** Cancels the deadline; its callback will not run. Idempotent. */
  readonly cancel: () => void;
}
