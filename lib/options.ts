import type { AttachOptions, ServerOptions } from "engine.io";
import type { OriginsOption } from "./origin";
import type { SessionBus } from "./session-bus";
import type { SessionCookieOptions } from "./session-cookie";
import { checkCookieName, cookieOptions } from "./cookie-options";
import { describe, fail } from "./invalid-option";
import type { SessionStore } from "./store";

/**
 * Options of {@link SessionServer}: every engine.io `ServerOptions` and `AttachOptions`, plus the
 * session settings below. Use the same `store`, `secret` and `name` as your express-session.
 *
 * @example
 * const store = new RedisStore({ client: redis }); // connect-redis
 * const secret = ["new secret", "old secret"]; // the first signs, every one verifies
 * app.use(session({ store, secret, name: "app.sid", resave: false, saveUninitialized: false }));
 *
 * const options: SessionServerOptions = {
 *   store, // the same store,
 *   secret, // the same secrets
 *   name: "app.sid", // and the same cookie name as express-session
 *   origins: ["https://app.example.com"], // the front end is served from another origin
 *   revalidateInterval: 60_000, // end sockets of sessions that expired or were destroyed by HTTP
 *   pingTimeout: 20_000, // any engine.io option passes through
 * };
 * const server = new SessionServer<AppSession>(httpServer, options);
 */
export type SessionServerOptions = SessionServerBaseOptions &
  (
    | {
        /** The express-session store your HTTP app uses (any compatible store). */
        store: SessionStore;
        /**
         * The secret(s) given to express-session. With an array, the first signs and every one
         * verifies, tried in order (secret rotation).
         */
        secret: string | readonly string[];
        /** Not with `store` and `secret`: those come from here when it is given. */
        session?: undefined;
      }
    | {
        /**
         * The very options object given to express-session: `store`, `secret`, `name` and
         * `cookie` are read from it, so the two sides cannot drift.
         */
        session: ExpressSessionOptions;
        /** Must be `session.store` when given. */
        store?: SessionStore;
        /** Must be `session.secret` when given. */
        secret?: string | readonly string[];
      }
  );

/**
 * The part of express-session's options this library reads (its `SessionOptions` is assignable;
 * everything else in it is ignored).
 *
 * @example
 * const sessionOptions = { store, secret, name: "app.sid", cookie: { maxAge: 86_400_000 } };
 * app.use(session({ ...sessionOptions, resave: false, saveUninitialized: false }));
 * const server = new SessionServer(httpServer, { session: sessionOptions });
 */
export interface ExpressSessionOptions {
  /** The store (required here: express-session's default MemoryStore cannot be reached). */
  store?: SessionStore;
  /** The secret(s). */
  secret: string | readonly string[];
  /** The cookie name. */
  name?: string;
  /** The cookie options: those of sessions made by `create`. */
  cookie?: SessionCookieOptions;
}

/**
 * Options of {@link SessionServer} other than where the store and secret come from: every
 * engine.io `ServerOptions` and `AttachOptions`, plus the session settings below.
 */
export interface SessionServerBaseOptions extends ServerOptions, AttachOptions {
  /**
   * The session cookie's name.
   * @default "connect.sid"
   */
  name?: string;
  /**
   * Refuse handshakes that have no usable session. With `false` they connect as anonymous sockets:
   * a plain `connection`, no `session` event.
   * @default true
   */
  required?: boolean;
  /**
   * Milliseconds a store lookup may take before the handshake fails with `TIMEOUT`.
   * @default 5000
   */
  lookupTimeout?: number;
  /**
   * Milliseconds during which handshakes of one session share a store read that has already
   * answered. Concurrent handshakes always share a read while it is in flight; a window also
   * covers a reconnect storm that arrives over many event-loop turns (1,000 handshakes of one
   * session cost one read). The price: for that long after the session changes in the store
   * behind this server's back (an HTTP logout, a change by another node), a handshake can still
   * see the answer read before. Changes made through this server (`updateSession`, `saveSession`,
   * `destroySession`, `closeSession`, revalidation, bus messages) drop the shared answer at once.
   * `0` turns it off.
   * @default 0
   */
  coalesceWindow?: number;
  /**
   * Which page origins may open a socket with a session: the defence against cross-site WebSocket
   * hijacking (cookies ride along on a handshake a hostile page opens; CORS does not cover
   * websockets). A handshake whose `Origin` is neither its own host nor allowed gets `BAD_ORIGIN`.
   * Cross-origin apps list their front-end origins here.
   * @default "same-origin"
   */
  origins?: OriginsOption;
  /**
   * Carries session ends and updates between the nodes that share the store, so `destroySession`,
   * `closeSession` and `updateSession` on any node reach the session's sockets on every node.
   * `RedisSessionBus` from `engine.io-session/redis` is one.
   * @default undefined (one node)
   */
  bus?: SessionBus;
  /**
   * While a session has an open socket here, extend its life in the store (`store.touch`) every
   * this many milliseconds, once per session (not per socket). `false`: never.
   * @default false
   */
  touchInterval?: number | false;
  /**
   * Every this many milliseconds, re-read each connected session once: gone or expired → its
   * sockets end (`"expired"`); changed (by HTTP) → `session_update`. `false`: never.
   * @default false
   */
  revalidateInterval?: number | false;
  /**
   * Give a handshake without a usable session (no cookie, bad signature, not in store) a new one:
   * saved to the store, with a signed `Set-Cookie` on the handshake response. For socket-first
   * clients that never loaded an HTTP page.
   * @default false
   */
  create?: boolean;
  /**
   * The cookie of sessions made by `create`: express-session's cookie options and defaults
   * (`session.cookie` when the `session` option is given).
   * @default { path: "/", httpOnly: true }
   */
  sessionCookie?: SessionCookieOptions;
  /**
   * Serve JSONP polling (`&j=` handshakes). Off by default: a JSONP response is a script any page
   * can load with the user's cookies, so with cookie sessions it lets another site read the
   * socket. Turn it on only for clients that cannot do anything else, and never with cookies
   * that matter.
   * @default false
   */
  jsonp?: boolean;
}

/** Every option that is this library's: the rest is engine.io's. One list, used everywhere. */
const SESSION_KEYS = [
  "store",
  "secret",
  "session",
  "name",
  "required",
  "lookupTimeout",
  "coalesceWindow",
  "origins",
  "jsonp",
  "bus",
  "touchInterval",
  "revalidateInterval",
  "create",
  "sessionCookie",
] as const;

/** The session settings after validation, defaults filled in. */
export interface SessionSettings {
  readonly store: SessionStore;
  readonly secrets: readonly string[];
  readonly name: string;
  readonly required: boolean;
  readonly lookupTimeout: number;
  readonly coalesceWindow: number;
  readonly touchInterval: number | false;
  readonly revalidateInterval: number | false;
  readonly create: boolean;
  readonly cookie: SessionCookieOptions;
  readonly origins: OriginsOption;
  readonly jsonp: boolean;
  readonly bus: SessionBus | undefined;
}

/** Node's timers fire at once beyond this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Validates the session options, then fills defaults into a new object (only `undefined` counts as
 * unset). Throws a `TypeError` that says what to fix.
 */
export function sessionSettings(options: unknown): SessionSettings {
  if (typeof options !== "object" || options === null) {
    fail("options are required: pass { store, secret } with your express-session store and secret");
  }
  const given = options as Partial<Record<(typeof SESSION_KEYS)[number], unknown>>;
  const { session } = given;
  if (session !== undefined && (typeof session !== "object" || session === null)) {
    fail(
      `\`session\` must be the options object given to express-session, got ${describe(session)}`,
    );
  }
  const shared = (session ?? {}) as Partial<Record<keyof ExpressSessionOptions, unknown>>;
  const store = fromSession(given.store, shared.store, "store");
  const secret = fromSession(given.secret, shared.secret, "secret");
  const name = fromSession(given.name, shared.name, "name");
  const sessionCookie = given.sessionCookie !== undefined ? given.sessionCookie : shared.cookie;
  const { required, lookupTimeout, coalesceWindow, create, jsonp } = given;
  if (store === undefined || store === null) {
    fail(
      session === undefined
        ? "`store` is required: pass the express-session store your HTTP app uses"
        : "`session.store` is required: give express-session your store explicitly (its default MemoryStore cannot be shared)",
    );
  }
  if (typeof (store as { get?: unknown }).get !== "function") {
    fail("`store` must be an express-session store with a get(sid, callback) method");
  }
  if (secret === undefined) {
    fail("`secret` is required: pass the secret (or array of secrets) given to express-session");
  }
  const secrets: unknown[] = Array.isArray(secret) ? [...(secret as unknown[])] : [secret];
  if (secrets.length === 0) {
    fail(
      "`secret` is an empty array: pass at least one secret, the one express-session signs with",
    );
  }
  secrets.forEach((each, index) => {
    if (typeof each !== "string" || each === "") {
      const where = Array.isArray(secret) ? `\`secret[${index}]\`` : "`secret`";
      fail(`${where} must be a non-empty string, got ${describe(each)}`);
    }
  });
  if (name !== undefined) checkCookieName(name, "name");
  for (const [key, value] of Object.entries({ required, create, jsonp })) {
    if (value !== undefined && typeof value !== "boolean") {
      fail(`\`${key}\` must be true or false, got ${describe(value)}`);
    }
  }
  milliseconds(lookupTimeout, "lookupTimeout", 1);
  milliseconds(coalesceWindow, "coalesceWindow", 0);
  return {
    store: store as SessionStore,
    secrets: Object.freeze(secrets as string[]),
    name: name ?? "connect.sid",
    required: (required as boolean | undefined) ?? true,
    lookupTimeout: lookupTimeout ?? 5000,
    coalesceWindow: coalesceWindow ?? 0,
    touchInterval: interval(options, "touchInterval"),
    revalidateInterval: interval(options, "revalidateInterval"),
    create: (create as boolean | undefined) ?? false,
    origins: originsOf(given.origins),
    jsonp: (jsonp as boolean | undefined) ?? false,
    bus: busOf(given.bus),
    cookie: cookieOptions(
      sessionCookie,
      given.sessionCookie === undefined && session !== undefined
        ? "session.cookie"
        : "sessionCookie",
    ),
  };
}

/** A setting given both at the top level and in `session` must agree: the sides cannot drift. */
function fromSession(top: unknown, shared: unknown, key: string): unknown {
  if (top !== undefined && shared !== undefined && top !== shared) {
    fail(
      `\`${key}\` and \`session.${key}\` differ: give it once, in the options express-session gets`,
    );
  }
  return top !== undefined ? top : shared;
}

function isTimerMs(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 1 && value <= MAX_TIMER_MS;
}

/** Checks an optional duration: a finite number of milliseconds from `min` to what timers take. */
function milliseconds(
  value: unknown,
  key: string,
  min: number,
): asserts value is number | undefined {
  if (
    value !== undefined &&
    (typeof value !== "number" || !Number.isFinite(value) || value < min || value > MAX_TIMER_MS)
  ) {
    fail(
      `\`${key}\` must be a number of milliseconds from ${min} to ${MAX_TIMER_MS}, got ${describe(value)}`,
    );
  }
}

function interval(options: object, key: "touchInterval" | "revalidateInterval"): number | false {
  const value = (options as Record<string, unknown>)[key];
  if (value === undefined || value === false) return false;
  if (!isTimerMs(value)) {
    fail(
      `\`${key}\` must be false or a number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${describe(value)}`,
    );
  }
  return value;
}

function busOf(bus: unknown): SessionBus | undefined {
  if (bus === undefined) return undefined;
  const methods = ["publish", "subscribe", "close"] as const;
  if (
    typeof bus !== "object" ||
    bus === null ||
    !methods.every((method) => typeof (bus as Record<string, unknown>)[method] === "function")
  ) {
    fail(
      "`bus` must be a SessionBus with publish, subscribe and close methods, e.g. new RedisSessionBus(redisClient)",
    );
  }
  return bus as SessionBus;
}

function originsOf(origins: unknown): OriginsOption {
  if (origins === undefined) return "same-origin";
  if (origins === "same-origin" || origins === "*" || typeof origins === "function") {
    return origins as OriginsOption;
  }
  if (Array.isArray(origins) && origins.every((each) => typeof each === "string" && each !== "")) {
    return [...(origins as string[])];
  }
  return fail(
    `\`origins\` must be "same-origin", "*", an array of origins like "https://app.example.com", or a function (origin, req) => boolean, got ${describe(origins)}`,
  );
}

/** The options engine.io should see: everything but the session settings (and so no secret). */
export function engineOptions(options: SessionServerOptions): ServerOptions & AttachOptions {
  const keys: ReadonlySet<string> = new Set(SESSION_KEYS);
  return Object.fromEntries(Object.entries(options).filter(([key]) => !keys.has(key)));
}
