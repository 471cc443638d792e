import { randomBytes } from "node:crypto";
import { serialize } from "cookie";
import { sign } from "cookie-signature";
import type { SessionRecord } from "./store";

/**
 * The cookie of a session born on the socket: express-session's cookie options, same defaults
 * (`path: "/"`, `httpOnly: true`, no `maxAge`: a browser-session cookie).
 */
export interface SessionCookieOptions {
  /**
   * The cookie's `Path`.
   * @default "/"
   */
  path?: string;
  /**
   * Whether the cookie is `HttpOnly` (hidden from page scripts).
   * @default true
   */
  httpOnly?: boolean;
  /**
   * Whether the cookie is `Secure` (sent over HTTPS only); `"auto"`: when the handshake came over
   * HTTPS (TLS, or `X-Forwarded-Proto: https`), as express-session decides it.
   * @default false
   */
  secure?: boolean | "auto";
  /**
   * The cookie's `SameSite`; `true` means "strict", as in express-session.
   * @default unset
   */
  sameSite?: boolean | "lax" | "strict" | "none" | "auto";
  /**
   * The cookie's `Priority`.
   * @default unset
   */
  priority?: "low" | "medium" | "high";
  /**
   * Whether the cookie is `Partitioned` (CHIPS).
   * @default unset
   */
  partitioned?: boolean;
  /**
   * When the cookie and the session expire (prefer `maxAge`, as express-session does).
   * @default unset
   */
  expires?: Date;
  /**
   * Milliseconds until the cookie and the session expire.
   * @default unset (browser session)
   */
  maxAge?: number;
  /**
   * The cookie's `Domain`.
   * @default unset (the request's host)
   */
  domain?: string;
}

/** A new session: its id, the record express-session itself would store, and its Set-Cookie. */
export interface NewSession {
  readonly sessionId: string;
  readonly record: SessionRecord;
  readonly setCookie: string;
}

/** express-session's `uid-safe(24)`: 192 random bits, base64url. */
function newSessionId(): string {
  return randomBytes(24).toString("base64url");
}

/**
 * Makes a new session the way express-session does: the stored `cookie` has the fields its `Cookie`
 * serializes, and the Set-Cookie value is `s:<id>.<signature>` signed with the first secret.
 */
export function newSession(
  name: string,
  secret: string,
  options: SessionCookieOptions,
): NewSession {
  const sessionId = newSessionId();
  const path = options.path ?? "/";
  const httpOnly = options.httpOnly ?? true;
  const { domain, priority, partitioned } = options;
  const secure = options.secure === "auto" ? undefined : options.secure;
  const sameSite =
    options.sameSite === true
      ? "strict"
      : options.sameSite === "auto"
        ? undefined
        : options.sameSite || undefined;
  const now = Date.now();
  const maxAge = options.maxAge ?? (options.expires ? options.expires.getTime() - now : undefined);
  const expires = maxAge === undefined ? null : new Date(now + maxAge);
  // The fields express-session's Cookie#data stores, in its order.
  const cookie: Record<string, unknown> = {
    originalMaxAge: maxAge ?? null,
    partitioned,
    priority,
    expires: expires === null ? null : expires.toISOString(),
    secure,
    httpOnly,
    domain,
    path,
    sameSite,
  };
  const stored = Object.fromEntries(
    Object.entries(cookie).filter(([, value]) => value !== undefined),
  );
  const setCookie = serialize(name, `s:${sign(sessionId, secret)}`, {
    path,
    httpOnly,
    secure,
    domain,
    sameSite,
    priority,
    partitioned,
    expires: expires ?? undefined,
  });
  return { sessionId, record: { cookie: stored }, setCookie };
}
