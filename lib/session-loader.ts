import type { ReadListener, SessionRecord, StoreClient } from "./store";

/** A store answer that later handshakes of the same session may share for a while. */
interface SharedAnswer {
  readonly record: SessionRecord;
  readonly timer: NodeJS.Timeout;
}

/**
 * Coalesces the handshake reads of one session id into a single store call: many tabs or a
 * reconnect storm cost one read. A read is shared while it is in flight and, with a `windowMs`,
 * for that long after it answered (successful answers only). Callers must copy the record before
 * mutating it. `forget()` detaches both at once: no read from before a change is shared after it.
 */
export class SessionLoader implements ReadListener {
  readonly #store: StoreClient;
  readonly #windowMs: number;
  /**
   * Reads in flight by session id: a null-prototype dictionary, not a `Map`. A `Map` churned by an
   * entry per handshake kept about half a KB per handshake alive into old space (bench/
   * handshake-cost.mjs under --trace-gc), doubling GC per handshake.
   */
  readonly #inFlight: Record<string, Promise<SessionRecord> | undefined> = Object.create(
    null,
  ) as Record<string, Promise<SessionRecord> | undefined>;
  #inFlightCount = 0;
  /** Inside `store.get` (a store may answer synchronously, before `load` registers the read). */
  #calling = false;
  #settledNow = false;
  readonly #answers = new Map<string, SharedAnswer>();
  #closed = false;

  constructor(store: StoreClient, windowMs = 0) {
    this.#store = store;
    this.#windowMs = windowMs;
  }

  /** How many reads are in flight (for leak checks). */
  get pending(): number {
    return this.#inFlightCount;
  }

  /** How many answered reads are being shared within the window (for leak checks). */
  get shared(): number {
    return this.#answers.size;
  }

  /** Reads `sessionId`, sharing a read in flight or one answered within the window. */
  load(sessionId: string): Promise<SessionRecord> {
    const answer = this.#answers.get(sessionId);
    if (answer !== undefined) {
      // Answered in a later loop turn, as a store read is, not in a microtask: engine.io finishing
      // a handshake in the turn of its request costs ~30 µs more CPU (polling; measured by the
      // bench's shared-cookie section: +51 → +22 µs per handshake, websocket +111 → +72).
      const { record } = answer;
      return new Promise((resolve) => {
        setImmediate(resolve, record);
      });
    }
    const shared = this.#inFlight[sessionId];
    if (shared !== undefined) return shared;
    // The store call tells this loader when it settles (readSettled): no promise, no closures here.
    this.#calling = true;
    const read = this.#store.get(sessionId, this); // never throws: failures reject
    this.#calling = false;
    // A store that answered synchronously has settled already: nothing is in flight.
    if (this.#settledNow) this.#settledNow = false;
    else {
      this.#inFlight[sessionId] = read;
      this.#inFlightCount++;
    }
    return read;
  }

  /** @internal A read of this loader settled (before anyone awaiting it hears of it). */
  readSettled(
    sessionId: string,
    read: Promise<SessionRecord>,
    record: SessionRecord | undefined,
  ): void {
    if (this.#calling)
      this.#settledNow = true; // a synchronous answer, inside load()
    else if (this.#inFlight[sessionId] === read) this.#drop(sessionId);
    else return; // forgotten meanwhile: its answer is not shared
    // Still the current read: share its answer for the window.
    if (record !== undefined) this.#share(sessionId, record);
  }

  /** The session changed or ended: later handshakes read it afresh. */
  forget(sessionId: string): void {
    if (this.#inFlight[sessionId] !== undefined) this.#drop(sessionId);
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

  /** The server listens again after a close: answers may be shared again. */
  reopen(): void {
    this.#closed = false;
  }

  #drop(sessionId: string): void {
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a dictionary by design
    delete this.#inFlight[sessionId];
    this.#inFlightCount--;
  }

  #share(sessionId: string, record: SessionRecord): void {
    if (this.#windowMs === 0 || this.#closed) return;
    const timer = setTimeout(() => {
      this.#answers.delete(sessionId);
    }, this.#windowMs).unref();
    this.#answers.set(sessionId, { record, timer });
  }
}
