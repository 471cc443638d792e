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
export type { SessionBus, SessionBusMessage } from "./session-bus";
export { SessionError } from "./errors";
export type { SessionErrorCode } from "./errors";
export type { SessionServerOptions } from "./options";
export type { SessionRecord, SessionStore, StoreCallback } from "./store";
