import type { IncomingMessage } from "node:http";
import type { TLSSocket } from "node:tls";
import type { SessionCookieOptions } from "./session-cookie";
import { describe, fail } from "./invalid-option";

/**
 * RFC 6265 `cookie-name`: an RFC 7230 token. The expression express-session's own `cookie` (0.7)
 * serializes with; `cookie` 1.x is looser, so a name that passes here works with both.
 */
/** The last millisecond a `Date` can hold. */
const MAX_DATE_MS = 8.64e15;

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** `cookie`'s `path-value`: printable ASCII and space, no `;` (so no CR, LF or other controls). */
const PATH_VALUE = /^[\u0020-\u003A\u003D-\u007E]*$/;
/** `cookie`'s `domain-value`: dot-separated labels of letters, digits and hyphens. */
const DOMAIN_VALUE =
  /^([.]?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

const SAME_SITE = new Set(["lax", "strict", "none", "auto"]);
const PRIORITY = new Set(["low", "medium", "high"]);

/**
 * Checks the session cookie's name (option `name`) the way express-session's `cookie` would: an
 * RFC 6265 token, so no spaces, quotes, `;`, `=`, `,` or control characters. Throws a `TypeError`
 * that says what to fix.
 *
 * @param name - the value given (a string is expected)
 * @param option - the option's name, for the message
 * @example
 * ```ts
 * checkCookieName("connect.sid", "name"); // passes: `name` is a string from here on
 * checkCookieName("my sid", "name"); // throws TypeError: `name` must be the cookie name ... (an RFC 6265 token ...)
 * ```
 */
export function checkCookieName(name: unknown, option: string): asserts name is string {
  if (typeof name !== "string" || !COOKIE_NAME.test(name)) {
    fail(
      `\`${option}\` must be the cookie name express-session uses (an RFC 6265 token: letters, digits and !#$%&'*+-.^_\`|~), got ${describe(name)}`,
    );
  }
}

/**
 * Validates the cookie options of sessions made by `create` (option `sessionCookie`) the way
 * express-session and `cookie` would, and returns a copy (`sameSite` and `priority` lower-cased).
 * Throws a `TypeError` that says what to fix, at construction, instead of a failing
 * `Set-Cookie` at every handshake.
 *
 * Accepted: `path` (no control characters or `;`), `domain` (a domain name), `httpOnly`,
 * `secure` and `partitioned` (booleans), `sameSite` (`true`, `false`, `"lax"`, `"strict"`,
 * `"none"`, any case), `priority` (`"low"`, `"medium"`, `"high"`, any case), `maxAge` (positive
 * milliseconds) or `expires` (a valid `Date`), not both. `secure: "auto"` and `sameSite: "auto"`
 * (express-session's) are kept: {@link resolveCookieOptions} decides them per request.
 *
 * @param cookie - the option's value (`undefined`: no options)
 * @param option - the option's name, for the message
 * @example
 * ```ts
 * cookieOptions({ sameSite: "Lax", maxAge: 86_400_000 }, "sessionCookie"); // { sameSite: "lax", maxAge: 86400000 }
 * cookieOptions({ path: "/\r\nSet-Cookie: x=y" }, "sessionCookie"); // throws TypeError
 * ```
 */
export function cookieOptions(cookie: unknown, option: string): SessionCookieOptions {
  if (cookie === undefined) return {};
  if (typeof cookie !== "object" || cookie === null || Array.isArray(cookie)) {
    fail(
      `\`${option}\` must be an object of express-session cookie options, got ${describe(cookie)}`,
    );
  }
  const copy = { ...(cookie as Record<string, unknown>) };
  const { path, domain, httpOnly, secure, partitioned, sameSite, priority, maxAge, expires } = copy;
  for (const [key, value] of Object.entries({ path, domain })) {
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      fail(`\`${option}.${key}\` must be a non-empty string, got ${describe(value)}`);
    }
  }
  if (typeof path === "string" && !PATH_VALUE.test(path)) {
    fail(
      `\`${option}.path\` must not contain control characters (CR, LF, ...), \`;\` or non-ASCII characters, got ${describe(path)}`,
    );
  }
  if (typeof domain === "string" && !DOMAIN_VALUE.test(domain)) {
    fail(
      `\`${option}.domain\` must be a domain name like "example.com" or ".example.com" (letters, digits, hyphens and dots; no port), got ${describe(domain)}`,
    );
  }
  if (secure !== undefined && secure !== "auto" && typeof secure !== "boolean") {
    fail(`\`${option}.secure\` must be true or false, got ${describe(secure)}`);
  }
  for (const [key, value] of Object.entries({ httpOnly, partitioned })) {
    if (value !== undefined && typeof value !== "boolean") {
      fail(`\`${option}.${key}\` must be true or false, got ${describe(value)}`);
    }
  }
  if (sameSite !== undefined && typeof sameSite !== "boolean") {
    if (typeof sameSite !== "string" || !SAME_SITE.has(sameSite.toLowerCase())) {
      fail(
        `\`${option}.sameSite\` must be true, false, "lax", "strict" or "none", got ${describe(sameSite)}`,
      );
    }
    copy.sameSite = sameSite.toLowerCase();
  }
  if (priority !== undefined) {
    if (typeof priority !== "string" || !PRIORITY.has(priority.toLowerCase())) {
      fail(`\`${option}.priority\` must be "low", "medium" or "high", got ${describe(priority)}`);
    }
    copy.priority = priority.toLowerCase();
  }
  if (
    maxAge !== undefined &&
    !(typeof maxAge === "number" && Number.isFinite(maxAge) && maxAge > 0)
  ) {
    fail(`\`${option}.maxAge\` must be a positive number of milliseconds, got ${describe(maxAge)}`);
  }
  // A Date ends at 8.64e15 ms: beyond it every created session's expiry would be an invalid Date.
  if (typeof maxAge === "number" && Date.now() + maxAge > MAX_DATE_MS) {
    fail(
      `\`${option}.maxAge\` reaches past the last date a Date can hold, got ${describe(maxAge)}`,
    );
  }
  if (expires !== undefined) {
    if (!(expires instanceof Date) || !Number.isFinite(expires.getTime())) {
      const got = expires instanceof Date ? "an invalid Date" : describe(expires);
      fail(`\`${option}.expires\` must be a valid Date, got ${got}`);
    }
    if (maxAge !== undefined) {
      fail(
        `\`${option}\` has both \`maxAge\` and \`expires\`: pass one (\`maxAge\` is what express-session recommends)`,
      );
    }
    copy.expires = new Date(expires.getTime());
  }
  // `priority`, `partitioned` and `expires` ride along: express-session's `Cookie` reads them too.
  return copy;
}

/**
 * The cookie options for one created session: express-session's `"auto"` values decided for
 * `req`, as express-session decides them. `secure: "auto"` is `true` when the request came over
 * TLS or through a proxy that says so (`X-Forwarded-Proto: https`); `sameSite: "auto"` is `"none"`
 * then and `"lax"` otherwise. Trusting the header is safe here: the cookie goes back to the client
 * that sent it, so a false header only changes that client's own cookie. Options without `"auto"`
 * come back as they are (the same object).
 *
 * @param options - options returned by {@link cookieOptions}
 * @param req - the handshake request the session is created for
 * @example
 * ```ts
 * const cookie = resolveCookieOptions(settings.cookie, req); // then newSession(name, secret, cookie)
 * ```
 */
export function resolveCookieOptions(
  options: SessionCookieOptions,
  req: IncomingMessage,
): SessionCookieOptions {
  const { secure, sameSite } = options as { secure?: unknown; sameSite?: unknown };
  if (secure !== "auto" && sameSite !== "auto") return options;
  const https = isHttps(req);
  return {
    ...options,
    ...(secure === "auto" ? { secure: https } : {}),
    ...(sameSite === "auto" ? { sameSite: https ? "none" : "lax" } : {}),
  };
}

/** Whether `req` came over HTTPS: a TLS socket, or a proxy's first `X-Forwarded-Proto`. */
function isHttps(req: IncomingMessage): boolean {
  if ((req.socket as Partial<TLSSocket> | null)?.encrypted === true) return true;
  // Node joins repeated headers with ", " (an array's toString does the same): the first hop counts.
  const first = req.headers["x-forwarded-proto"]?.toString().split(",")[0];
  return first?.trim().toLowerCase() === "https";
}
