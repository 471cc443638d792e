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

/** Whether a bus reaches the other nodes right now. */
export type SessionBusStatus = "connected" | "disconnected";

/**
 * A cross-node lock on one session, held while an `updateSession` reads, mutates and writes it.
 * Granted for a limited time (a holder that dies frees it when it expires).
 */
export interface SessionBusLease {
  /**
   * Whether the lock is still this holder's: checked right before the write, so a holder that
   * stalled past the expiry does not write over the next holder's update.
   */
  held(): Promise<boolean>;
  /** Frees the lock (only if still held by this lease); never rejects. */
  release(): Promise<void>;
}

/**
 * Carries session events between the nodes of a deployment (option `bus`), so a logout or an update
 * on any node reaches the session's sockets on every node. `RedisSessionBus` from
 * `engine.io-session/redis` is the ready-made one; any pub/sub can implement this.
 */
export interface SessionBus {
  /** Sends a message to every node (this one included is fine: its own messages are ignored). */
  publish(message: SessionBusMessage): Promise<void>;
  /**
   * Starts delivering messages to `listener`; called once by the server it is given to.
   * `onStatus` (when the bus can tell) hears when the bus loses and regains its connection: after
   * a reconnect the server re-checks its open sessions, since messages sent meanwhile are lost.
   */
  subscribe(
    listener: (message: SessionBusMessage) => void,
    onStatus?: (status: SessionBusStatus) => void,
  ): Promise<void>;
  /** Stops delivering; leaves any client the app passed in open. Settles within a short bound. */
  close(): Promise<void>;
  /**
   * Optional: a per-session lock shared by every node, so `updateSession` is serialized across the
   * deployment, not only within one process. Resolves once the lock is held for `ttlMs`; rejects
   * (a `SessionError` with code `TIMEOUT`) when it could not be had within `waitMs`.
   */
  lock?(sessionId: string, ttlMs: number, waitMs: number): Promise<SessionBusLease>;
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
