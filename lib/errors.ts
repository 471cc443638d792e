/**
 * Why a handshake has no session. Stable: match on these, not on messages.
 *
 * - `NO_COOKIE`: the request carries no session cookie (or no session id at all).
 * - `BAD_SIGNATURE`: the cookie is unsigned, or signed with none of the configured secrets.
 * - `NOT_FOUND`: the store has no such session, or it has expired.
 * - `STORE_ERROR`: the store failed, or returned something that is not a session; see `cause`.
 * - `TIMEOUT`: the store did not answer within `lookupTimeout`.
 * - `HYDRATE_FAILED`: `hydrate()` threw or rejected; see `cause`.
 * - `BAD_ORIGIN`: a browser page of another origin opened the handshake (option `origins`), or a
 *   JSONP handshake (option `jsonp`).
 * - `SERVER_CLOSING`: the handshake finished after `close()` began.
 */
export type SessionErrorCode =
  | "NO_COOKIE"
  | "BAD_SIGNATURE"
  | "NOT_FOUND"
  | "STORE_ERROR"
  | "TIMEOUT"
  | "HYDRATE_FAILED"
  | "BAD_ORIGIN"
  | "SERVER_CLOSING";

const defaultMessages: Record<SessionErrorCode, string> = {
  NO_COOKIE: "the request carries no session cookie",
  BAD_SIGNATURE: "the session cookie is not signed with any configured secret",
  NOT_FOUND: "the session is not in the store (expired, destroyed, or another store)",
  STORE_ERROR: "the session store failed",
  TIMEOUT: "the session store did not answer in time",
  HYDRATE_FAILED: "hydrate() failed",
  BAD_ORIGIN: "the page's origin may not open a socket with this session",
  SERVER_CLOSING: "the server is closing",
};

const CODES: ReadonlySet<string> = new Set(Object.keys(defaultMessages));

/** Whether `value` is one of the {@link SessionErrorCode}s. */
export function isSessionErrorCode(value: unknown): value is SessionErrorCode {
  return typeof value === "string" && CODES.has(value);
}

/**
 * The one error type this library emits (`session_error`) and rejects with. Its `code` is stable;
 * its message is written for the person debugging and never holds a secret, a whole session id or a
 * store's own error text (that stays in `cause`).
 *
 * @example
 * server.on("session_error", (error, req) => {
 *   if (error.code === "STORE_ERROR") log.error(error.cause, "session store down");
 * });
 */
export class SessionError extends Error {
  /** What went wrong, as a stable code. */
  readonly code: SessionErrorCode;
  /**
   * The session concerned, for failures of background work on a live session (revalidation,
   * touch, a bus refresh, a delete): those have no handshake request to show. Operator-side only:
   * never in the message.
   */
  sessionId?: string;

  /**
   * Builds a refusal with its stable code. Throw one from `hydrate()` or `sessionIdFrom()` to
   * refuse a handshake with that code.
   *
   * @param code - the stable code
   * @param message - a human explanation; defaults to a generic one for the code
   * @param options - `cause`: the underlying error (a store's, or one `hydrate()` threw)
   */
  constructor(code: SessionErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? defaultMessages[code], options);
    this.name = "SessionError";
    this.code = code;
  }
}

/** What a debug line says of a failure: its message, never more (a store's error may be long). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : "unknown";
}

/** A short, non-identifying form of a session id for messages and logs. */
export function redactId(sessionId: string): string {
  return sessionId.length > 8 ? `${sessionId.slice(0, 4)}…` : "…";
}

/**
 * The one mapping from anything thrown to a `SessionError`: a `SessionError` passes through (its
 * code wins), anything else becomes `code` with `message`, the original kept as `cause`.
 */
export function toSessionError(
  error: unknown,
  code: SessionErrorCode,
  message: string,
): SessionError {
  return error instanceof SessionError ? error : new SessionError(code, message, { cause: error });
}
