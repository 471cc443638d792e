/**
 * `engine.io-session`: an engine.io server that knows the express-session session of every socket,
 * verified at the handshake. Start with {@link SessionServer} (or {@link attach}); sockets are
 * {@link SessionSocket}s; every refusal is a {@link SessionError} with a stable code.
 *
 * @module engine.io-session
 */
export { SessionServer, attach } from "./session-server";
export type {
  ConnectionError,
  EngineHeaders,
  EnginePacket,
  SessionServerEvents,
  SessionServerStats,
} from "./session-server";
export { SessionSocket } from "./session-socket";
export type {
  SendOptions,
  SessionEndReason,
  SessionSocketEvents,
  TransportName,
} from "./session-socket";
export type { SessionCookieOptions } from "./session-cookie";
export type { OriginsOption } from "./origin";
export type {
  SessionBus,
  SessionBusLease,
  SessionBusMessage,
  SessionBusStatus,
} from "./session-bus";
export { SessionError } from "./errors";
export type { SessionErrorCode } from "./errors";
export type {
  ExpressSessionOptions,
  SessionServerBaseOptions,
  SessionServerOptions,
} from "./options";
export type { RecordOf, SessionRecord, SessionStore, StoreCallback } from "./store";
