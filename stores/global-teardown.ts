import { serversState, stopServers } from "./servers-env";

/** Jest global teardown: stops the servers, including any a suite restarted. */
export default async function globalTeardown(): Promise<void> {
  await stopServers(serversState());
}
