import type { SessionCookieOptions } from "./session-cookie";
import { describe, fail } from "./invalid-option";

const SAME_SITE = [true, false, "lax", "strict", "none"];

/**
 * Validates the cookie options of sessions made by `create` (option `sessionCookie`) the way
 * express-session and `cookie` would, and returns a copy. Throws a `TypeError` that says what to fix.
 *
 * @param option - the option's name, for the message
 */
export function cookieOptions(cookie: unknown, option: string): SessionCookieOptions {
  if (cookie === undefined) return {};
  if (typeof cookie !== "object" || cookie === null) {
    fail(
      `\`${option}\` must be an object of express-session cookie options, got ${describe(cookie)}`,
    );
  }
  const { path, httpOnly, secure, sameSite, maxAge, domain } = cookie as Record<string, unknown>;
  for (const [key, value] of Object.entries({ path, domain })) {
    if (value !== undefined && (typeof value !== "string" || value === "")) {
      fail(`\`${option}.${key}\` must be a non-empty string, got ${describe(value)}`);
    }
  }
  for (const [key, value] of Object.entries({ httpOnly, secure })) {
    if (value !== undefined && typeof value !== "boolean") {
      fail(`\`${option}.${key}\` must be true or false, got ${describe(value)}`);
    }
  }
  if (sameSite !== undefined && !SAME_SITE.includes(sameSite as string)) {
    fail(
      `\`${option}.sameSite\` must be true, false, "lax", "strict" or "none", got ${describe(sameSite)}`,
    );
  }
  if (
    maxAge !== undefined &&
    !(typeof maxAge === "number" && Number.isFinite(maxAge) && maxAge > 0)
  ) {
    fail(`\`${option}.maxAge\` must be a positive number of milliseconds, got ${describe(maxAge)}`);
  }
  return { ...(cookie as SessionCookieOptions) };
}

/** RFC 6265 token: what `cookie` 1.x accepts as a cookie name. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Checks a cookie name as `cookie` would serialize it. Throws a `TypeError` that says what to fix. */
export function checkCookieName(name: unknown, option: string): asserts name is string {
  if (typeof name !== "string" || !COOKIE_NAME.test(name)) {
    fail(
      `\`${option}\` must be the cookie name express-session uses (an RFC 6265 token: letters, digits and !#$%&'*+-.^_\`|~), got ${describe(name)}`,
    );
  }
}
