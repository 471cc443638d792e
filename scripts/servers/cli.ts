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
} from "./servers";

/**
 * The matrix's servers by hand, to poke at a store outside jest:
 *
 *   npx ts-node -T scripts/servers/cli.ts up [kind ...]   prepares and starts them in a new temp
 *                                                         directory, prints it and the ports
 *   npx ts-node -T scripts/servers/cli.ts down <dir>      stops them and deletes the directory
 *
 * Each stops by itself after STORES_SERVER_LIFETIME seconds (900) anyway.
 */
async function main(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  if (command === "up") {
    const kinds = rest.length > 0 ? (rest as ServerKind[]) : [...SERVER_KINDS];
    const unknown = kinds.filter((kind) => !SERVER_KINDS.includes(kind));
    if (unknown.length > 0) throw new Error(`unknown server: ${unknown.join(", ")}`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eio-stores-"));
    const specs: ServerSpec[] = [];
    for (const kind of kinds) {
      const why = unavailable(kind);
      if (why !== undefined) throw new Error(why);
      const spec = { kind, port: DEFAULT_PORTS[kind], dir: path.join(dir, kind) };
      prepare(spec);
      await start(spec);
      specs.push(spec);
      console.log(`${kind} on 127.0.0.1:${spec.port}`);
    }
    fs.writeFileSync(path.join(dir, "cli.json"), JSON.stringify(specs));
    console.log(`stop with: npx ts-node -T scripts/servers/cli.ts down ${dir}`);
  } else if (command === "down" && rest.length === 1) {
    const dir = rest[0];
    const specs = JSON.parse(fs.readFileSync(path.join(dir, "cli.json"), "utf8")) as ServerSpec[];
    await Promise.all(specs.map((spec) => stop(spec)));
    fs.rmSync(dir, { recursive: true, force: true });
  } else {
    throw new Error("usage: cli.ts up [redis|postgres|mariadb|memcached ...] | down <dir>");
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
