import createDebug from "debug";
import { parseBusMessage, type SessionBus, type SessionBusMessage } from "./session-bus";

const debug = createDebug("engine.io-session:redis");

/** The part of a node-redis v5 client the subscriber connection uses. */
export interface RedisSubscriberLike {
  connect(): Promise<unknown>;
  subscribe(
    channel: string,
    listener: (message: string, channel: string) => void,
  ): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** node-redis 5: `close()`; older: `quit()`. */
  close?(): Promise<unknown>;
  quit?(): Promise<unknown>;
  on(event: "error", listener: (error: unknown) => void): unknown;
}

/** The part of a connected node-redis v5 client (`createClient()`) that RedisSessionBus uses. */
export interface RedisClientLike {
  publish(channel: string, message: string): Promise<unknown>;
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
