// The outside floor: plain engine.io plus only what resolving a session cannot avoid, written from
// issue 15's definition (not from bench/floor.mjs):
//   1. find the session cookie in the Cookie header (one scan, decode only when escaped);
//   2. verify its HMAC-SHA256 signature (cookie-signature's unsign, as express-session does);
//   3. one store.get;
//   4. one private copy of the record, kept with the socket;
// and refuse the handshake without a session. No origin check, no timeout, no coalescing, no
// bookkeeping: those are the library's behaviours, priced by the difference to this floor.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const signature = require("cookie-signature");

/** The value of cookie `name` in a Cookie header, or undefined (first occurrence wins). */
export function cookieValue(header, name) {
  if (typeof header !== "string") return undefined;
  let at = 0;
  while (at < header.length) {
    while (header.charCodeAt(at) === 32) at++; // spaces after ";"
    const end = header.indexOf(";", at);
    const stop = end === -1 ? header.length : end;
    const eq = header.indexOf("=", at);
    if (eq !== -1 && eq < stop && eq - at === name.length && header.startsWith(name, at)) {
      const raw = header.slice(eq + 1, stop).trim();
      if (!raw.includes("%")) return raw;
      try {
        return decodeURIComponent(raw);
      } catch {
        return raw;
      }
    }
    at = stop + 1;
  }
  return undefined;
}

/** A private copy of a JSON-shaped record (what a store hands back). */
export function copy(value) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(copy);
  if (value instanceof Date) return new Date(value.getTime());
  const out = {};
  for (const key of Object.keys(value)) out[key] = copy(value[key]);
  return out;
}

/** engine.io's allowRequest for the floor; the copy waits on `req.floorSession`. */
export function floorAllowRequest({ store, secret, name }) {
  return (req, fn) => {
    const value = cookieValue(req.headers.cookie, name);
    if (value === undefined || !value.startsWith("s:")) return fn("no session", false);
    const id = signature.unsign(value.slice(2), secret);
    if (id === false) return fn("bad signature", false);
    store.get(id, (err, record) => {
      if (err || !record) return fn("no session", false);
      req.floorSession = copy(record);
      fn(null, true);
    });
  };
}
