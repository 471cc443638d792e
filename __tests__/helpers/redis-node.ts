import { performance } from "node:perf_hooks";
import { RedisStore } from "connect-redis";
import type { Socket as ClientSocket } from "engine.io-client";
import type {
  SessionEndReason,
  SessionError,
  SessionServer,
  SessionServerOptions,
  SessionSocket,
} from "../../lib";
import { RedisSessionBus, type RedisSessionBusOptions } from "../../lib/redis";
import {
  attachServer,
  client,
  outcome,
  startApp,
  until,
  type AppSession,
  type TestApp,
  type TransportMode,
} from "./app";
import { closeRedis, connectRedis, type ConnectOptions, type RedisClient } from "./redis";

/**
 * A socket event a node can log, as one line: `session_update <counter>`, `session_end <reason>`,
 * `close` or `message <data>`.
 */
export type LoggedEvent = "session_update" | "session_end" | "close" | "message";

/** One node of a deployment: its own Redis client, RedisStore, HTTP app and SessionServer. */
export interface RedisNode {
  readonly name: string;
  readonly app: TestApp;
  readonly redis: RedisClient;
  readonly server: SessionServer<AppSession>;
  /** SessionSockets in order of connection. */
  readonly sockets: SessionSocket<AppSession>[];
  /** Per socket: the events {@link RedisNodeOptions.log} names, in order. */
  readonly events: Map<SessionSocket<AppSession>, string[]>;
  /** Server session_end events, with when they happened (performance.now()). */
  readonly ends: { sessionId: string; reason: SessionEndReason; at: number }[];
  readonly errors: SessionError[];
}

export interface RedisNodeOptions {
  /** How the node's Redis client connects (offline queue, reconnection delay). */
  client?: ConnectOptions;
  /** Gives the server a RedisSessionBus on the node's client, with these options. */
  bus?: RedisSessionBusOptions;
  /** More SessionServer options; a `store` here replaces the node's RedisStore for the server. */
  server?: Partial<SessionServerOptions>;
  /** The socket events to log in {@link RedisNode.events} (default: none). */
  log?: readonly LoggedEvent[];
}

/** Starts a node on the Redis at `url`; {@link closeRedisNode} stops it. */
export async function startRedisNode(
  url: string,
  name: string,
  options: RedisNodeOptions = {},
): Promise<RedisNode> {
  const redis = await connectRedis(url, options.client);
  const store = new RedisStore({ client: redis });
  const app = await startApp({ store });
  const bus = options.bus === undefined ? {} : { bus: new RedisSessionBus(redis, options.bus) };
  const server = attachServer(app, { store, ...bus, ...options.server });
  const node: RedisNode = {
    name,
    app,
    redis,
    server,
    sockets: [],
    events: new Map(),
    ends: [],
    errors: [],
  };
  const log = new Set(options.log);
  server.on("session", (socket) => {
    const events: string[] = [];
    node.sockets.push(socket);
    node.events.set(socket, events);
    if (log.has("session_update")) {
      socket.on("session_update", (value) => events.push(`session_update ${value.counter ?? ""}`));
    }
    if (log.has("session_end")) {
      socket.on("session_end", (reason) => events.push(`session_end ${reason}`));
    }
    if (log.has("close")) socket.on("close", () => events.push("close"));
    if (log.has("message")) socket.on("message", (data) => events.push(`message ${String(data)}`));
  });
  server.on("session_end", (sessionId, reason) => {
    node.ends.push({ sessionId, reason, at: performance.now() });
  });
  server.on("session_error", (error) => node.errors.push(error));
  return node;
}

/** Closes the node's server, app and Redis client. */
export async function closeRedisNode(node: RedisNode): Promise<void> {
  node.server.close();
  await node.app.close();
  await closeRedis(node.redis);
}

/** Opens a real client on `node`; resolves with it and its SessionSocket there. */
export async function connectTo(
  node: RedisNode,
  mode: TransportMode,
  cookie: string,
): Promise<{ client: ClientSocket; socket: SessionSocket<AppSession> }> {
  const socket = client(node.app, mode, cookie);
  const result = await outcome(socket);
  if (result.kind !== "open") throw new Error(`refused on ${node.name}: ${result.error.message}`);
  await until(() => node.sockets.some((each) => each.id === socket.id));
  return { client: socket, socket: node.sockets.find((each) => each.id === socket.id)! };
}

/** The events `node` logged for `socket`. */
export function eventsOf(node: RedisNode, socket: SessionSocket<AppSession>): string[] {
  return node.events.get(socket) ?? [];
}
