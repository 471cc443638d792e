// ESM consumer: named imports from the CommonJS build must work (Node's cjs-module-lexer).
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { SessionServer, attach, SessionError } from "engine.io-session";
import * as namespace from "engine.io-session";
import defaultExport from "engine.io-session";
import { run } from "./scenario.cjs";

const required = createRequire(import.meta.url)("engine.io-session");
assert.equal(SessionServer, required.SessionServer, "one SessionServer for import and require");
assert.equal(attach, required.attach);
assert.equal(SessionError, required.SessionError);
assert.equal(namespace.SessionSocket, required.SessionSocket, "SessionSocket is a named export");
assert.equal(defaultExport, required, "the default import is module.exports");

run(
  { SessionServer, attach, SessionError, SessionSocket: namespace.SessionSocket },
  "esm.mjs (import)",
);
