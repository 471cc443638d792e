import type { IncomingMessage } from "node:http";

/**
 * Which pages may open a socket with a session (the defence against cross-site WebSocket
 * hijacking and its cousins):
 * - `"same-origin"`: only pages of the host the request was sent to;
 * - `"*"`: any (only when the cookie's `SameSite` or another check protects you);
 * - a list of origins such as `"https://app.example.com"` (the request's own host is always allowed);
 * - a function that decides. It sees every handshake: with the `Origin` header, or with `undefined`
 *   when there is none. A browser request without `Origin` is one a page made with `<img>`,
 *   `<script>`, `<iframe>`, a no-cors `fetch` or a navigation; a function that returns `true` for
 *   `undefined` admits those too unless it also reads `req.headers["sec-fetch-site"]`.
 *
 * A request without `Origin` that the browser marks as cross-origin through Fetch Metadata
 * (`Sec-Fetch-Site: cross-site` or `same-site`) is refused by `"same-origin"` and by a list.
 * A request that carries neither header (native apps, servers, engine.io-client in Node) passes.
 */
export type OriginsOption =
  | "same-origin"
  | "*"
  | readonly string[]
  | ((origin: string | undefined, req: IncomingMessage) => boolean);

/** A handshake request as the check reads it: the headers, and engine.io's parsed query. */
export type OriginRequest = IncomingMessage & { _query?: Record<string, string | undefined> };

/**
 * Decides one handshake: `undefined` when it may go on, otherwise a short explanation of the
 * refusal (the server turns it into a `BAD_ORIGIN` error). Throws whatever a user function throws.
 */
export type OriginCheck = (req: OriginRequest) => string | undefined;

/** `Sec-Fetch-Site` values of requests no other site started. */
const TRUSTED_SITES = new Set(["same-origin", "none"]);
/** `Sec-Fetch-Mode` values that no engine.io client uses: a page's subresource or a navigation. */
const PAGE_MODES = new Set(["navigate", "no-cors", "nested-navigate"]);
/** `Sec-Fetch-Dest` values of engine.io clients' requests (XHR, fetch, WebSocket). */
const CLIENT_DESTS = new Set(["empty", "websocket"]);
/** What may stand in the host of an origin; anything else is a garbage Origin or Host. */
const HOST_CHARS = /^[a-z0-9\-._~!$&'()*+,;=:[\]%]+$/;

/** Drops the default port of `scheme` from a lower-cased `host[:port]`. */
function withoutDefaultPort(scheme: string, host: string): string {
  if (scheme === "https" && host.endsWith(":443")) return host.slice(0, -4);
  if (scheme === "http" && host.endsWith(":80")) return host.slice(0, -3);
  return host;
}

/**
 * `scheme://host[:port]` lower-cased, trailing slashes and the default port dropped: what
 * browsers send as `Origin`. Plain string work: no URL parse per handshake.
 */
function canonical(origin: string): string {
  let value = origin.trim().toLowerCase();
  while (value.endsWith("/")) value = value.slice(0, -1);
  const separator = value.indexOf("://");
  if (separator <= 0) return value; // "null" (sandboxed frames, file://) and garbage stay as they are
  const scheme = value.slice(0, separator);
  return `${scheme}://${withoutDefaultPort(scheme, value.slice(separator + 3))}`;
}

/** Whether `origin` is `<scheme>://<host>`: compared in place, no substring built. */
function names(origin: string, separator: number, host: string): boolean {
  return origin.length === separator + 3 + host.length && origin.endsWith(host);
}

/**
 * Whether `origin` names the host this request was sent to, scheme aside (proxies end TLS): the
 * `Host` header is read with the page's scheme, so `Host: example.com:443` is the origin
 * `https://example.com`. Exact spellings are decided first; case and default ports after.
 */
function isSameOrigin(origin: string, req: IncomingMessage): boolean {
  const host = req.headers.host;
  if (host === undefined || host === "") return false;
  const separator = origin.indexOf("://");
  if (separator <= 0) return false;
  if (!names(origin, separator, host)) {
    const scheme = origin.slice(0, separator).toLowerCase();
    const canonicalHost = withoutDefaultPort(scheme, host.toLowerCase());
    if (canonicalHost === host || !names(origin, separator, canonicalHost)) return false;
  }
  return HOST_CHARS.test(host.toLowerCase()); // a garbage Host never matches
}

/** Quotes a header value for a message: client-controlled, so bounded. */
function quote(value: string): string {
  return JSON.stringify(value.slice(0, 100));
}

/**
 * Why a request without `Origin` looks like a page's cross-origin request (Fetch Metadata), or
 * `undefined` when it does not: same-origin and user-typed (`none`) requests, and clients that
 * send no Fetch Metadata at all (native apps, servers, old browsers).
 */
function crossOriginWithoutOrigin(req: IncomingMessage): string | undefined {
  const { headers } = req;
  const site = headers["sec-fetch-site"];
  if (site !== undefined && TRUSTED_SITES.has(site)) return undefined;
  const mode = headers["sec-fetch-mode"];
  const dest = headers["sec-fetch-dest"];
  if (
    site === undefined &&
    (mode === undefined || !PAGE_MODES.has(mode)) &&
    (dest === undefined || CLIENT_DESTS.has(dest))
  ) {
    return undefined;
  }
  const marks = [
    site === undefined ? undefined : `Sec-Fetch-Site ${quote(site)}`,
    mode === undefined ? undefined : `Sec-Fetch-Mode ${quote(mode)}`,
    dest === undefined ? undefined : `Sec-Fetch-Dest ${quote(dest)}`,
  ].filter((mark) => mark !== undefined);
  return `a cross-origin request without Origin (${marks.join(", ")}) may not open a socket here`;
}

const JSONP_REFUSED =
  "JSONP polling may not open a socket here: a page of any site can read its answers (option `jsonp`)";

/**
 * Compiles the `origins` option, once, into the check of each handshake. The rules, in order:
 * 1. a JSONP handshake (`j` in the query, a string) is refused unless `jsonp` is `true`;
 * 2. a request with `Origin` passes when it is the request's own host, listed, `"*"`, or the
 *    function says so;
 * 3. a request without `Origin` that Fetch Metadata marks as cross-origin (`Sec-Fetch-Site`
 *    `cross-site`/`same-site`, or, without it, `Sec-Fetch-Mode` `navigate`/`no-cors` or a
 *    `Sec-Fetch-Dest` such as `image`) passes only `"*"` or the function; any other request
 *    without `Origin` passes (native apps, servers).
 *
 * @param option - the validated `origins` option
 * @param jsonp - whether JSONP polling handshakes are allowed (the server option `jsonp`)
 * @returns a check that returns `undefined` for an allowed request, else why it is refused
 * @example
 * ```ts
 * const check = originCheck(["https://app.example.com"], false);
 * const refusal = check(req); // undefined, or e.g. 'origin "https://evil.example" may not ...'
 * ```
 */
export function originCheck(option: OriginsOption, jsonp: boolean): OriginCheck {
  const isJsonp = (req: OriginRequest): boolean => !jsonp && typeof req._query?.j === "string";
  if (typeof option === "function") {
    return (req) => {
      if (isJsonp(req)) return JSONP_REFUSED;
      const origin = req.headers.origin;
      if (option(origin, req)) return undefined;
      return origin === undefined
        ? "a request without Origin was refused by the `origins` function"
        : `origin ${quote(origin)} was refused by the \`origins\` function`;
    };
  }
  if (option === "*") return (req) => (isJsonp(req) ? JSONP_REFUSED : undefined);
  const allowed = new Set(option === "same-origin" ? [] : option.map(canonical));
  return (req) => {
    if (isJsonp(req)) return JSONP_REFUSED;
    const origin = req.headers.origin;
    if (origin === undefined) return crossOriginWithoutOrigin(req);
    // Browsers send origins canonical already: the exact spelling first, then the slow path.
    if (allowed.has(origin) || isSameOrigin(origin, req)) return undefined;
    const page = canonical(origin);
    if (page !== origin && (allowed.has(page) || isSameOrigin(page, req))) return undefined;
    return `origin ${quote(origin)} may not open a socket here: list it in \`origins\``;
  };
}
