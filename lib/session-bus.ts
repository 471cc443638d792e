import type { SessionEndReason } from "./session-socket";

/**
 * A message between the nodes that share one session store. `origin` is the id of the node that
 * sent it; a node ignores its own messages (it acted locally already).
 */
export type SessionBusMessage =
  | {
      /** The session ended on `origin`: end its sockets here too, with the same reason. */
      readonly type: "end";
      /** The id of the node that sent the message. */
      readonly origin: string;
      /** The session whose sockets end. */
      readonly sessionId: string;
      /** Why it ended: what each socket's `session_end` carries. */
      readonly reason: SessionEndReason;
    }
  | {
      /** The session was updated in the store on `origin`: re-read it and refresh sockets here. */
      readonly type: "update";
      /** The id of the node that sent the message. */
      readonly origin: string;
      /** The session that changed in the store. */
      readonly sessionId: string;
    };

/**
 * Carries session events between the nodes of a deployment (option `bus`), so a logout or an update
 * on any node reaches the session's sockets on every node. `RedisSessionBus` from
 * `engine.io-session/redis` is the ready-made one; any pub/sub can implement this.
 */
export interface SessionBus {
  /** Sends a message to every node (this one included is fine: its own messages are ignored). */
  publish(message: SessionBusMessage): Promise<void>;
  /** Starts delivering messages to `listener`; called once by the server it is given to. */
  subscribe(listener: (message: SessionBusMessage) => void): Promise<void>;
  /** Stops delivering; leaves any client the app passed in open. */
  close(): Promise<void>;
}

const REASONS: ReadonlySet<unknown> = new Set(["destroyed", "expired", "closed"]);

/** Checks a message from the wire: anything else on the channel is foreign and ignored. */
export function parseBusMessage(raw: string): SessionBusMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const { type, origin, sessionId, reason } = value as Record<string, unknown>;
  if (typeof origin !== "string" || typeof sessionId !== "string" || sessionId === "") {
    return undefined;
  }
  if (type === "update") return { type, origin, sessionId };
  if (type === "end" && REASONS.has(reason)) {
    return { type, origin, sessionId, reason: reason as SessionEndReason };
  }
  return undefined;
}
