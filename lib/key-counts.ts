/**
 * @internal
 * How many of something are in progress per key (handshakes per session id, destroys per
 * session id). A null-prototype dictionary, not a `Map`: one entry per handshake churned through
 * a `Map` is what promoted memory to old space (see SessionLoader's reads in flight).
 */
export class KeyCounts {
  readonly #counts: Record<string, number | undefined> = Object.create(null) as Record<
    string,
    number | undefined
  >;
  #size = 0;

  /** How many keys have a count above zero. */
  get size(): number {
    return this.#size;
  }

  /** Whether `key` has a count above zero. */
  has(key: string): boolean {
    return this.#counts[key] !== undefined;
  }

  /** Counts one more of `key`. */
  up(key: string): void {
    const count = this.#counts[key];
    if (count === undefined) this.#size++;
    this.#counts[key] = (count ?? 0) + 1;
  }

  /** Counts one less of `key`; the key goes at zero. A key without a count is left alone. */
  down(key: string): void {
    const count = this.#counts[key];
    if (count === undefined) return;
    const left = count - 1;
    if (left > 0) {
      this.#counts[key] = left;
      return;
    }
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- a dictionary by design
    delete this.#counts[key];
    this.#size--;
  }
}
