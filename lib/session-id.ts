import { parseCookie } from "cookie";
import { unsign } from "cookie-signature";
import createDebug from "debug";
import { SessionError } from "./errors";

const debug = createDebug("engine.io-session");

/** express-session marks its signed cookie values with this prefix. */
const SIGNED_PREFIX = "s:";

/**
 * Reads the session id from a `Cookie` header the way express-session does: the first cookie named
 * `name`, whose value must be `s:<id>.<signature>` signed with one of `secrets` (tried in order,
 * compared in constant time by cookie-signature).
 *
 * @returns the verified id, or `undefined` when there is no such cookie
 * @throws SessionError `BAD_SIGNATURE` when the cookie is there but unsigned or forged
 */
export function sessionIdFromCookie(
  header: string | undefined,
  name: string,
  secrets: readonly string[],
): string | undefined {
  // Cheap test first: most non-session requests never pay for a parse.
  if (header === undefined || !header.includes(name)) return undefined;
  // Parse raw, then strip the quotes, then percent-decode: the order express-session's parser (cookie
  // 0.7) uses, so a header means the same session to the HTTP app and to the socket server.
  const raw = parseCookie(header, RAW)[name];
  if (raw === undefined) return undefined;
  const value = percentDecode(stripQuotes(raw));
  if (value === "") return undefined;
  if (!value.startsWith(SIGNED_PREFIX)) {
    throw new SessionError(
      "BAD_SIGNATURE",
      `cookie '${name}' is not signed: express-session cookies look like 's:<id>.<signature>'`,
    );
  }
  const signed = value.slice(SIGNED_PREFIX.length);
  for (const secret of secrets) {
    const id = unsign(signed, secret);
    if (id !== false) return id;
  }
  // How many secrets there are is the operator's business, not the client's: the debug line says it.
  debug("cookie '%s' is signed with none of the %d configured secret(s)", name, secrets.length);
  throw new SessionError("BAD_SIGNATURE", `cookie '${name}' is signed with none of the secrets`);
}

/** Parser options that keep values as they are on the wire. */
const RAW = { decode: (value: string) => value };

/**
 * RFC 6265 allows a quoted value. Like express-session, a value that starts and ends with `"` loses
 * both (a lone `"` too, leaving nothing).
 */
function stripQuotes(value: string): string {
  return value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

/** Percent-decodes like express-session: a value that cannot be decoded stays as it is. */
function percentDecode(value: string): string {
  if (!value.includes("%")) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The names of the cookies in a header, for a debug line that explains a missing session. */
export function cookieNames(header: string | undefined): string[] {
  if (header === undefined) return [];
  return Object.keys(parseCookie(header)).slice(0, 20);
}
