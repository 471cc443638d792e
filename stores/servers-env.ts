import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  DEFAULT_PORTS,
  SERVER_KINDS,
  prepare,
  start,
  stop,
  unavailable,
  type ServerKind,
  type ServerSpec,
} from "../scripts/servers/servers";

/** What the global setup started, written to `<dir>/servers.json` for the suites. */
export interface ServersState {
  readonly dir: string;
  readonly servers: Partial<Record<ServerKind, ServerSpec>>;
  /** Why a kind is missing (only with `STORES_ALLOW_SKIP=1`). */
  readonly missing: Partial<Record<ServerKind, string>>;
}

/** The environment variable that carries the state directory from the global setup to the suites. */
export const STATE_ENV = "EIO_STORES_STATE";

/** Name of the MariaDB database the stores use. */
export const MYSQL_DATABASE = "sessions";

/**
 * Starts one private instance of every database server (in parallel), each in its own directory
 * under a new temp directory; stops the started ones again if any fails.
 */
export async function startServers(): Promise<ServersState> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eio-stores-"));
  const allowSkip = process.env.STORES_ALLOW_SKIP === "1";
  const servers: Partial<Record<ServerKind, ServerSpec>> = {};
  const missing: Partial<Record<ServerKind, string>> = {};
  for (const kind of SERVER_KINDS) {
    const why = unavailable(kind);
    if (why === undefined) {
      servers[kind] = { kind, port: DEFAULT_PORTS[kind], dir: path.join(dir, kind) };
    } else if (allowSkip) {
      missing[kind] = why;
    } else {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error(`${why} (install it, or set STORES_ALLOW_SKIP=1 to skip its stores)`);
    }
  }
  const specs = Object.values(servers);
  const results = await Promise.allSettled(
    specs.map(async (spec) => {
      prepare(spec);
      await start(spec);
    }),
  );
  const failed = results.find((result) => result.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(specs.map((spec) => stop(spec)));
    fs.rmSync(dir, { recursive: true, force: true });
    throw failed.reason;
  }
  const state: ServersState = { dir, servers, missing };
  fs.writeFileSync(path.join(dir, "servers.json"), JSON.stringify(state));
  return state;
}

/** Stops every instance of `state` (whoever started it last) and deletes their directories. */
export async function stopServers(state: ServersState): Promise<void> {
  await Promise.all(Object.values(state.servers).map((spec) => stop(spec)));
  fs.rmSync(state.dir, { recursive: true, force: true });
}

/** The state the global setup left for the suites. */
export function serversState(): ServersState {
  const dir = process.env[STATE_ENV];
  if (dir === undefined)
    throw new Error(`${STATE_ENV} is unset: run through jest.stores.config.ts`);
  return JSON.parse(fs.readFileSync(path.join(dir, "servers.json"), "utf8")) as ServersState;
}
