import type { IncomingMessage } from "node:http";

/**
 * Which `Origin`s may open a socket with a session (cross-site WebSocket hijacking defence):
 * - `"same-origin"`: only pages of the host the request was sent to;
 * - `"*"`: any (only when the cookie's `SameSite` or another check protects you);
 * - a list of origins such as `"https://app.example.com"` (the request's own host is always allowed);
 * - a function that decides (it also sees requests without `Origin`, as `undefined`).
 * A request without an `Origin` header (native apps, servers) always passes the first three.
 */
export type OriginsOption =
  | "same-origin"
  | "*"
  | readonly string[]
  | ((origin: string | undefined, req: IncomingMessage) => boolean);

/**
 * Decides one handshake: `undefined` when allowed, else why not. Throws whatever a user function
 * throws.
 */
export type OriginCheck = (
  req: IncomingMessage & { _query?: Record<string, string | undefined> },
) => string | undefined;

/** `scheme://host[:port]`, lower-cased, without a trailing slash: how browsers send `Origin`. */
function normalize(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, "");
}

/** Whether `origin` names the host this request was sent to (scheme aside: proxies end TLS). */
function isSameOrigin(origin: string, req: IncomingMessage): boolean {
  const host = req.headers.host;
  if (host === undefined) return false;
  try {
    const page = new URL(origin);
    // Read the Host with the page's scheme, so that its default port drops out on both sides
    // (`Host: example.com:443` is the origin `https://example.com`).
    return page.host !== "" && page.host === new URL(`${page.protocol}//${host}`).host;
  } catch {
    return false; // "null" (sandboxed frames, file://), a garbage Origin or Host
  }
}

/** Compiles the options once into the per-handshake check. */
export function originCheck(option: OriginsOption, jsonp: boolean): OriginCheck {
  const allowed = originAllowed(option);
  return (req) => {
    if (!jsonp && typeof req._query?.j === "string") {
      return "JSONP polling is off (option `jsonp`): a JSONP response is readable by any page";
    }
    if (allowed(req)) return undefined;
    const origin = String(req.headers.origin);
    return `origin ${JSON.stringify(origin.slice(0, 100))} may not open a socket here: list it in \`origins\``;
  };
}

function originAllowed(option: OriginsOption): (req: IncomingMessage) => boolean {
  if (typeof option === "function") {
    return (req) => option(req.headers.origin, req);
  }
  if (option === "*") return () => true;
  const allowed = new Set(option === "same-origin" ? [] : option.map(normalize));
  return (req) => {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    return allowed.has(normalize(origin)) || isSameOrigin(origin, req);
  };
}
