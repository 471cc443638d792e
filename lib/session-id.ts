import { parseCookie } from "cookie";
import { unsign } from "cookie-signature";
import { SessionError } from "./errors";

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
  let value = parseCookie(header)[name];
  if (value === undefined) return undefined;
  // RFC 6265 allows a quoted value; express-session's parser strips the quotes, so do we.
  if (value.length > 1 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
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
  throw new SessionError(
    "BAD_SIGNATURE",
    `cookie '${name}' is signed with none of the ${secrets.length} configured secret${
      secrets.length === 1 ? "" : "s"
    }`,
  );
}

/** The names of the cookies in a header, for a debug line that explains a missing session. */
export function cookieNames(header: string | undefined): string[] {
  if (header === undefined) return [];
  return Object.keys(parseCookie(header)).slice(0, 20);
}
