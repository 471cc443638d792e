// The floor: what any correct implementation must do per handshake, and nothing else, as an engine.io
// `allowRequest`. One cookie parse, one HMAC-SHA256 per secret tried (express-session's order, via
// cookie-signature), one store read, one private copy (structuredClone) kept with the socket on its
// request (which engine.io keeps for the socket's life). Refuses a handshake without a logged-in
// session, as every session variant of the bench does.
/* global structuredClone -- a Node global, as in lib/ */
import { createRequire } from "node:module";
import { COOKIE_NAME } from "./session-fixture.mjs";

const require = createRequire(import.meta.url);
const signature = require("cookie-signature");
const { parseCookie } = require("cookie");

/** The floor `allowRequest` for `store`, verifying with `secrets` (newest first). */
export function floorAllowRequest(store, secrets) {
  return function floor(req, callback) {
    const header = req.headers.cookie;
    const value = header === undefined ? undefined : parseCookie(header)[COOKIE_NAME];
    if (value === undefined || !value.startsWith("s:")) {
      callback("no session", false);
      return;
    }
    const signed = value.slice(2);
    let sessionId = false;
    for (const secret of secrets) {
      sessionId = signature.unsign(signed, secret);
      if (sessionId !== false) break;
    }
    if (sessionId === false) {
      callback("bad signature", false);
      return;
    }
    store.get(sessionId, (error, record) => {
      if (error || !record?.user) {
        callback("no session", false);
        return;
      }
      req.session = structuredClone(record);
      callback(null, true);
    });
  };
}
