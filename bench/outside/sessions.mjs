// The 10,000 logged-in sessions every process of this benchmark agrees on: the server fills its
// MemoryStore from here and the load generators sign the same ids into cookies, so nothing about
// the sessions has to travel between processes. Ids look like express-session's (32 characters of
// base64url); cookies are signed the way express-session signs them (cookie-signature, "s:" prefix,
// encodeURIComponent as cookie.serialize does).
import { createHash } from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const signature = require("cookie-signature");

export const SESSIONS = 10_000;
export const SECRET = "outside benchmark secret, not a real one";
export const COOKIE_NAME = "connect.sid";
const DAY = 24 * 60 * 60 * 1000;

/** Session id number `i` (0 ≤ i < SESSIONS). */
export function sessionId(i) {
  return createHash("sha256").update(`outside-${i}`).digest("base64url").slice(0, 32);
}

/** The Cookie header a logged-in browser of session `i` sends. */
export function cookieHeader(i) {
  const value = `s:${signature.sign(sessionId(i), SECRET)}`;
  return `${COOKIE_NAME}=${encodeURIComponent(value)}`;
}

/** All cookie headers, index = session number. */
export function allCookieHeaders() {
  return Array.from({ length: SESSIONS }, (_, i) => cookieHeader(i));
}

/** What express-session would store for a logged-in user (about 300 bytes of JSON). */
export function record(i) {
  return {
    cookie: {
      originalMaxAge: DAY,
      expires: new Date(Date.now() + DAY).toISOString(),
      secure: false,
      httpOnly: true,
      path: "/",
      sameSite: "lax",
    },
    user: { id: i, name: `user ${i}`, email: `user${i}@example.com`, roles: ["reader", "writer"] },
    csrfSecret: createHash("sha1").update(`csrf-${i}`).digest("hex"),
    cart: { items: [{ sku: `sku-${i % 97}`, qty: 1 + (i % 3) }], updatedAt: Date.now() },
  };
}

/** Fills an express-session store with every session; resolves when all are written. */
export function fillStore(store) {
  return Promise.all(
    Array.from(
      { length: SESSIONS },
      (_, i) =>
        new Promise((resolve, reject) => {
          store.set(sessionId(i), record(i), (err) => (err ? reject(err) : resolve()));
        }),
    ),
  );
}
