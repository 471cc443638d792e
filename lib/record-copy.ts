import { SessionError, redactId } from "./errors";
import type { SessionRecord } from "./store";

/** Thrown by {@link copyPlain} where only `structuredClone` copies faithfully. */
const NOT_PLAIN = new Error("not plain data");
/** Thrown by {@link copyPlain} for a value that no store could write (a BigInt, a function). */
const NOT_STORABLE = new Error("not storable");
/** Deeper than this, data may be cyclic: `structuredClone` handles cycles. */
const MAX_PLAIN_DEPTH = 32;

/**
 * A private copy of a record, for one socket. The record must also be storable: every store
 * writes sessions as JSON, so a record JSON cannot hold (a BigInt, a cycle, a function) would fail
 * at the first write, far from its cause. It is refused here, as `STORE_ERROR`, instead.
 *
 * JSON-shaped data (what stores hand back) is copied by hand, about five times faster than
 * `structuredClone`, which copies anything else (a `Date`, a `Map`); those rarer records are then
 * checked with `JSON.stringify`.
 */
/** The errors {@link copyRecord} made: a session no socket can hold. */
const uncopyable = new WeakSet();

/** Whether `error` says a stored record cannot be copied or stored (see {@link copyRecord}). */
export function isUncopyable(error: unknown): boolean {
  return typeof error === "object" && error !== null && uncopyable.has(error);
}

export function copyRecord(record: SessionRecord, sessionId: string): SessionRecord {
  try {
    try {
      return copyPlain(record, 0) as SessionRecord;
    } catch (error) {
      if (error !== NOT_PLAIN) throw error;
      const copy = structuredClone(record);
      JSON.stringify(copy); // throws for cycles and BigInts
      return copy;
    }
  } catch (error) {
    const failure = new SessionError(
      "STORE_ERROR",
      `the stored session ${redactId(sessionId)} cannot be copied or stored as JSON: see error.cause`,
      { cause: error === NOT_STORABLE ? new TypeError("a BigInt, function or symbol") : error },
    );
    uncopyable.add(failure);
    throw failure;
  }
}

function copyPlain(value: unknown, depth: number): unknown {
  if (typeof value !== "object" || value === null) {
    if (typeof value === "bigint" || typeof value === "function" || typeof value === "symbol") {
      throw NOT_STORABLE;
    }
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
  if (prototype !== Object.prototype && prototype !== null) throw NOT_PLAIN;
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
