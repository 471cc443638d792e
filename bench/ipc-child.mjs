// The child's side of forkChild() (processes.mjs), for server.mjs and client.mjs.
import process from "node:process";

/**
 * Answers each `{ id, cmd, args }` the orchestrator sends with `{ id, ok, value }` from
 * `handlers[cmd](args)`, or `{ id, ok: false, error }`; exits when the orchestrator goes away (which
 * lets --cpu-prof write its profile); then tells it `{ ready: true, ...info }`.
 */
export function serveOrchestrator(handlers, info = {}) {
  process.on("message", async ({ id, cmd, args }) => {
    try {
      const handler = handlers[cmd];
      if (handler === undefined) throw new Error(`unknown command '${cmd}'`);
      process.send({ id, ok: true, value: await handler(args) });
    } catch (error) {
      process.send({ id, ok: false, error: String(error?.stack ?? error) });
    }
  });
  process.on("disconnect", () => process.exit(0));
  process.send({ ready: true, ...info });
}
