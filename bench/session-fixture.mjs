// The session every bench process measures with: one secret, one cookie name, one realistic record
// and the Cookie header a browser would send for it. Shared by the loopback server (server.mjs) and
// the in-process probe (handshake-cost.mjs), so that both measure the same session.
import crypto from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const signature = require("cookie-signature");

export const SECRET = "bench secret: keyboard cat on a shared 2-core machine";
export const COOKIE_NAME = "connect.sid";
const DAY = 24 * 60 * 60 * 1000;

/** A session id as express-session makes them: 24 random bytes, base64url. */
export function newSessionId() {
  return crypto.randomBytes(24).toString("base64url");
}

/** A realistic express-session record: the cookie plus a small logged-in user. */
export function sessionRecord() {
  return {
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
}

/** A browser's Cookie header: two unrelated cookies, then the signed session cookie of `sessionId`. */
export function cookieHeader(sessionId) {
  return [
    "_ga=GA1.1.1234567890.1700000000",
    "theme=dark",
    `${COOKIE_NAME}=${encodeURIComponent(`s:${signature.sign(sessionId, SECRET)}`)}`,
  ].join("; ");
}
