import type { SessionRecord } from "./store";

/**
 * The cookie express-session hands a store on `set` and `touch` (its `session/cookie.js`), after
 * the `touch()` it does on every request: `expires` is now + `originalMaxAge` (a `Date`), `maxAge`
 * the remaining milliseconds, and `toJSON()` the fields it stores. Stores size their TTL from
 * `maxAge` (memorystore, connect-memcached, better-sqlite3-session-store) or from `expires`
 * (connect-redis, connect-pg-simple, express-mysql-session), so handing them this shape makes them
 * compute the TTL an HTTP request would have.
 */
class StoreCookie {
  originalMaxAge: number | null;
  #expires: Date | null;
  [field: string]: unknown;

  constructor(stored: SessionRecord["cookie"], now: number) {
    // Every stored field but the expiry (express-session's Cookie copies them the same way).
    for (const key of Object.keys(stored)) {
      if (key !== "expires" && key !== "originalMaxAge" && key !== "maxAge" && key !== "data") {
        this[key] = (stored as Record<string, unknown>)[key];
      }
    }
    const maxAge = stored.originalMaxAge;
    this.originalMaxAge = typeof maxAge === "number" ? maxAge : null;
    this.#expires = this.originalMaxAge === null ? null : new Date(now + this.originalMaxAge);
  }

  /** When the session expires; `null` for a browser-session cookie. */
  get expires(): Date | null {
    return this.#expires;
  }

  /** The remaining milliseconds, as express-session's getter computes them. */
  get maxAge(): number | null {
    return this.#expires === null ? null : this.#expires.getTime() - Date.now();
  }

  /** What express-session's `Cookie#data` holds, in its order. */
  get data(): Record<string, unknown> {
    const { originalMaxAge, partitioned, priority, secure, httpOnly, domain, path, sameSite } =
      this;
    return {
      originalMaxAge,
      partitioned,
      priority,
      expires: this.#expires,
      secure,
      httpOnly,
      domain,
      path,
      sameSite,
    };
  }

  /** What a store's `JSON.stringify(session)` writes: express-session's `Cookie#toJSON`. */
  toJSON(): Record<string, unknown> {
    return this.data;
  }
}

/**
 * The session as express-session would hand it to `store.set` or `store.touch` at this moment:
 * the record's data, with its cookie as a `Cookie` whose expiry was just reset (`touch()`).
 */
export function storeForm(record: SessionRecord, now = Date.now()): SessionRecord {
  return { ...record, cookie: new StoreCookie(record.cookie, now) };
}

/**
 * The cookie as the store keeps it after that write (what its next `get` returns): `expires` as
 * an ISO string, no `maxAge`.
 */
export function storedCookie(written: SessionRecord): SessionRecord["cookie"] {
  return JSON.parse(JSON.stringify(written.cookie)) as SessionRecord["cookie"];
}
