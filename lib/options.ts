import type { AttachOptions, ServerOptions } from "engine.io";
import type { OriginsOption } from "./origin";
import type { SessionBus } from "./session-bus";
import type { SessionCookieOptions } from "./session-cookie";
import { cookieOptions } from "./cookie-options";
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
export interface SessionServerOptions extends Omit<ServerOptions, "cookie">, AttachOptions {
  /** The express-session store your HTTP app uses (any compatible store). */
  store: SessionStore;
  /**
   * The secret(s) given to express-session. With an array, the first signs and every one verifies,
   * tried in order (secret rotation).
   */
  secret: string | readonly string[];
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
   * The cookie of sessions made by `create`: express-session's cookie options and defaults.
   * @default { path: "/", httpOnly: true }
   */
  sessionCookie?: SessionCookieOptions;
  /**
   * engine.io's own `io` cookie (for sticky sessions): `true` or options with a `name`. With
   * `create: true` and no `sessionCookie`, an object without `name` is read as `sessionCookie`
   * instead (and not given to engine.io).
   * @default false
   */
  cookie?: ServerOptions["cookie"] | SessionCookieOptions;
}

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
  const { store, secret, name, required, lookupTimeout, coalesceWindow, create } =
    options as Partial<Record<keyof SessionServerOptions, unknown>>;
  if (store === undefined || store === null) {
    fail("`store` is required: pass the express-session store your HTTP app uses");
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
  if (name !== undefined && (typeof name !== "string" || name === "")) {
    fail(`\`name\` must be the non-empty cookie name express-session uses, got ${describe(name)}`);
  }
  if (required !== undefined && typeof required !== "boolean") {
    fail(`\`required\` must be true or false, got ${describe(required)}`);
  }
  milliseconds(lookupTimeout, "lookupTimeout", 1);
  milliseconds(coalesceWindow, "coalesceWindow", 0);
  const touchInterval = interval(options, "touchInterval");
  const revalidateInterval = interval(options, "revalidateInterval");
  if (create !== undefined && typeof create !== "boolean") {
    fail(`\`create\` must be true or false, got ${describe(create)}`);
  }
  return {
    store: store as SessionStore,
    secrets: Object.freeze(secrets as string[]),
    name: name ?? "connect.sid",
    required: required ?? true,
    lookupTimeout: lookupTimeout ?? 5000,
    coalesceWindow: coalesceWindow ?? 0,
    touchInterval,
    revalidateInterval,
    create: create ?? false,
    origins: originsOf((options as SessionServerOptions).origins),
    bus: busOf((options as SessionServerOptions).bus),
    cookie: cookieOptions(
      sessionCookieOf(options as SessionServerOptions),
      (options as SessionServerOptions).sessionCookie === undefined ? "cookie" : "sessionCookie",
    ),
  };
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

/** `sessionCookie`, or the issue-era spelling: `cookie` without `name` when `create` is on. */
function sessionCookieOf(options: SessionServerOptions): unknown {
  if (options.sessionCookie !== undefined || options.create !== true) return options.sessionCookie;
  const cookie: unknown = options.cookie; // unchecked input: null included
  return typeof cookie === "object" && cookie !== null && !("name" in cookie) ? cookie : undefined;
}

/** The options engine.io should see: everything but the session settings (and so no secret). */
export function engineOptions(options: SessionServerOptions): ServerOptions & AttachOptions {
  const {
    store,
    secret,
    name,
    required,
    lookupTimeout,
    coalesceWindow,
    touchInterval,
    revalidateInterval,
    create,
    origins,
    bus,
    sessionCookie,
    cookie,
    ...engine
  } = options;
  const sessionCookieIsOurs = sessionCookie === undefined && sessionCookieOf(options) !== undefined;
  return sessionCookieIsOurs || cookie === undefined
    ? engine
    : { ...engine, cookie: cookie as ServerOptions["cookie"] };
}
