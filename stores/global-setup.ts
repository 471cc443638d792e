import { STATE_ENV, startServers } from "./servers-env";

/** Jest global setup: one private Redis, PostgreSQL, MariaDB and memcached for the whole run. */
export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const state = await startServers();
  // Workers are forked after this and inherit the environment.
  process.env[STATE_ENV] = state.dir;
  const ports = Object.values(state.servers)
    .map((spec) => `${spec.kind}:${spec.port}`)
    .join(" ");
  process.stderr.write(`\nstores: servers up in ${Date.now() - started} ms (${ports})\n`);
  for (const why of Object.values(state.missing)) process.stderr.write(`stores: skipping ${why}\n`);
}
