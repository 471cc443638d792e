import type { AttachOptions, ServerOptions } from "engine.io";
import type { SessionStore } from "./store";

/**
 * Options of {@link SessionServer}: every engine.io `ServerOptions` and `AttachOptions`, plus the
 * session settings below. Use the same `store`, `secret` and `name` as your express-session.
 */
export interface SessionServerOptions extends ServerOptions, AttachOptions {
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
}

/** The session settings after validation, defaults filled in. */
export interface SessionSettings {
  readonly store: SessionStore;
  readonly secrets: readonly string[];
  readonly name: string;
  readonly required: boolean;
  readonly lookupTimeout: number;
}

/** Node's timers fire at once beyond this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function fail(message: string): never {
  throw new TypeError(`engine.io-session: ${message}`);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 20 ? "…" : value);
    case "number":
    case "boolean":
      return String(value);
    default:
      return typeof value;
  }
}

/**
 * Validates the session options, then fills defaults into a new object (only `undefined` counts as
 * unset). Throws a `TypeError` that says what to fix.
 */
export function sessionSettings(options: unknown): SessionSettings {
  if (typeof options !== "object" || options === null) {
    fail("options are required: pass { store, secret } with your express-session store and secret");
  }
  const { store, secret, name, required, lookupTimeout } = options as Partial<
    Record<keyof SessionServerOptions, unknown>
  >;
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
  if (
    lookupTimeout !== undefined &&
    (typeof lookupTimeout !== "number" ||
      !Number.isFinite(lookupTimeout) ||
      lookupTimeout <= 0 ||
      lookupTimeout > MAX_TIMER_MS)
  ) {
    fail(
      `\`lookupTimeout\` must be a number of milliseconds from 1 to ${MAX_TIMER_MS}, got ${describe(lookupTimeout)}`,
    );
  }
  return {
    store: store as SessionStore,
    secrets: Object.freeze(secrets as string[]),
    name: name ?? "connect.sid",
    required: required ?? true,
    lookupTimeout: lookupTimeout ?? 5000,
  };
}

/** The options engine.io should see: everything but the session settings (and so no secret). */
export function engineOptions(options: SessionServerOptions): ServerOptions & AttachOptions {
  const { store, secret, name, required, lookupTimeout, ...engine } = options;
  return engine;
}
