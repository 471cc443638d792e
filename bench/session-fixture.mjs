// The sessions every bench process measures with: the secrets, the cookie name, records of a chosen
// size and the Cookie header a browser would send. Shared by the loopback server (server.mjs), the
// in-process probe (handshake-cost.mjs) and the profiler, so that all measure the same sessions.
import crypto from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const signature = require("cookie-signature");

export const SECRET = "bench secret: keyboard cat on a shared 2-core machine";
export const COOKIE_NAME = "connect.sid";
const DAY = 24 * 60 * 60 * 1000;

/** `count` secrets, newest first as express-session takes them; cookies are signed by the LAST. */
export function secrets(count = 1) {
  return Array.from({ length: count }, (_, i) => (i === 0 ? SECRET : `${SECRET} (old #${i})`));
}

/** A session id as express-session makes them: 24 random bytes, base64url. */
export function newSessionId() {
  return crypto.randomBytes(24).toString("base64url");
}

/**
 * A realistic express-session record: the cookie plus a small logged-in user (≈ 300 B as JSON);
 * with `bytes` above that, a `cart` of ~100-byte items up to about `bytes` of JSON (objects, not one
 * long string: what a copy and the GC really see in big sessions).
 */
export function sessionRecord(bytes = 300) {
  const record = {
    cookie: {
      originalMaxAge: DAY,
      expires: new Date(Date.now() + DAY).toISOString(),
      secure: false,
      httpOnly: true,
      path: "/",
      sameSite: "lax",
    },
    user: { id: "u_1234567", name: "Ada Lovelace", email: "ada@example.com", roles: ["admin"] },
    csrfSecret: "k3Jt0c5mE9v1qXbLr2hQ8w",
    visits: 42,
  };
  const base = JSON.stringify(record).length;
  if (bytes > base + 120) {
    record.cart = [];
    let length = base + 10;
    for (let i = 0; length < bytes; i++) {
      const item = {
        sku: `SKU-${100000 + i}`,
        qty: (i % 5) + 1,
        price: 1999 + i,
        note: "gift wrap",
      };
      record.cart.push(item);
      length += JSON.stringify(item).length + 1;
    }
  } else {
    record.pad = "x".repeat(Math.max(0, bytes - base - 9));
  }
  return record;
}

/** The value of the session cookie of `sessionId`, signed by `secret`. */
export function cookieValue(sessionId, secret = SECRET) {
  return encodeURIComponent(`s:${signature.sign(sessionId, secret)}`);
}

/** A browser's Cookie header: two unrelated cookies, then the signed session cookie of `sessionId`. */
export function cookieHeader(sessionId, secret = SECRET) {
  return [
    "_ga=GA1.1.1234567890.1700000000",
    "theme=dark",
    `${COOKIE_NAME}=${cookieValue(sessionId, secret)}`,
  ].join("; ");
}
