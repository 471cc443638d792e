/**
 * `engine.io-session/redis`: {@link RedisSessionBus}, the {@link SessionBus} on Redis pub/sub for
 * deployments of many nodes that share one session store. Needs the optional peer dependency
 * `redis` (node-redis v5).
 *
 * @module engine.io-session/redis
 */
import createDebug from "debug";
import { parseBusMessage, type SessionBus, type SessionBusMessage } from "./session-bus";

const debug = createDebug("engine.io-session:redis");

/**
 * The part of a node-redis v5 client the subscriber connection uses: what
 * {@link RedisClientLike.duplicate} returns.
 */
export interface RedisSubscriberLike {
  /** Opens the connection (node-redis `connect()`). */
  connect(): Promise<unknown>;
  /** Subscribes to `channel`; `listener` receives each message as a string. */
  subscribe(
    channel: string,
    listener: (message: string, channel: string) => void,
  ): Promise<unknown>;
  /** Unsubscribes from `channel`. */
  unsubscribe(channel: string): Promise<unknown>;
  /** node-redis 5: `close()`; older: `quit()`. */
  close?(): Promise<unknown>;
  /** Closes the connection where there is no `close()` (node-redis before 5). */
  quit?(): Promise<unknown>;
  /** Listens for connection errors (node-redis reconnects by itself; the bus only logs them). */
  on(event: "error", listener: (error: unknown) => void): unknown;
}

/**
 * The part of a connected node-redis v5 client (`await createClient().connect()`) that
 * {@link RedisSessionBus} uses. Structural, so node-redis is not needed at compile time.
 */
export interface RedisClientLike {
  /** Publishes `message` on `channel` (node-redis `PUBLISH`). */
  publish(channel: string, message: string): Promise<unknown>;
  /** A new, unconnected client with the same options: the bus subscribes on it. */
  duplicate(): RedisSubscriberLike;
}

/** Options of {@link RedisSessionBus}. */
export interface RedisSessionBusOptions {
  /**
   * The pub/sub channel; nodes that share sessions share it.
   * @default "engine.io-session"
   */
  channel?: string;
}

/**
 * A {@link SessionBus} on Redis pub/sub: publishes with the app's connected node-redis v5 client
 * and subscribes on its own duplicate, which `server.close()` closes (the app's client stays open).
 * A malformed or foreign message on the channel is ignored (debug `engine.io-session:redis`).
 *
 * @example
 * import { createClient } from "redis";
 * import { RedisSessionBus } from "engine.io-session/redis";
 *
 * const redis = await createClient({ url: process.env.REDIS_URL }).connect();
 * const server = new SessionServer(httpServer, { store, secret, bus: new RedisSessionBus(redis) });
 */
export class RedisSessionBus implements SessionBus {
  readonly #client: RedisClientLike;
  readonly #channel: string;
  #subscriber: RedisSubscriberLike | undefined;

  /**
   * @param client - the app's connected node-redis v5 client; it stays the app's to close
   * @param options - the channel
   * @throws TypeError when `client` is not a node-redis client or `channel` is not a non-empty
   * string
   */
  constructor(client: RedisClientLike, options: RedisSessionBusOptions = {}) {
    const given: unknown = client;
    if (
      typeof given !== "object" ||
      given === null ||
      typeof (given as Partial<RedisClientLike>).duplicate !== "function" ||
      typeof (given as Partial<RedisClientLike>).publish !== "function"
    ) {
      throw new TypeError(
        "engine.io-session: RedisSessionBus needs a node-redis v5 client: new RedisSessionBus(await createClient().connect())",
      );
    }
    const channel: unknown = options.channel === undefined ? "engine.io-session" : options.channel;
    if (typeof channel !== "string" || channel === "") {
      throw new TypeError(
        "engine.io-session: RedisSessionBus `channel` must be a non-empty string",
      );
    }
    this.#client = client;
    this.#channel = channel;
  }

  async publish(message: SessionBusMessage): Promise<void> {
    await this.#client.publish(this.#channel, JSON.stringify(message));
  }

  async subscribe(listener: (message: SessionBusMessage) => void): Promise<void> {
    const subscriber = this.#client.duplicate();
    this.#subscriber = subscriber;
    // node-redis reconnects by itself; without a listener an error event would crash the process.
    subscriber.on("error", (error) => {
      debug("subscriber error: %s", error instanceof Error ? error.message : "unknown");
    });
    await subscriber.connect();
    await subscriber.subscribe(this.#channel, (raw) => {
      const message = parseBusMessage(raw);
      if (message === undefined) debug("ignored a malformed or foreign message on the channel");
      else listener(message);
    });
  }

  async close(): Promise<void> {
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber === undefined) return;
    try {
      await subscriber.unsubscribe(this.#channel);
    } finally {
      await (subscriber.close ?? subscriber.quit)?.call(subscriber);
    }
  }
}

export type { SessionBus, SessionBusMessage } from "./session-bus";
