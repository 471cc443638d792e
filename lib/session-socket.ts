import type { IncomingMessage } from "node:http";
import type { Socket } from "engine.io";
import { TypedEmitter } from "tiny-typed-emitter";
import type { SessionRecord } from "./store";

/** The events of a {@link SessionSocket}. */
export interface SessionSocketEvents<S> {
  /** The session is resolved; emitted once, right after the server's `session` event. */
  session: (session: S) => void;
  /** A message from the client. None is lost: listeners added in a `session` handler see all. */
  message: (data: string | Buffer) => void;
  /** The socket closed; `reason` is engine.io's (e.g. "transport close"). */
  close: (reason: string, description?: Error) => void;
}

/** engine.io's transport names. */
export type TransportName = "polling" | "websocket" | "webtransport";

/** Options of {@link SessionSocket.send}, as engine.io takes them. */
export interface SendOptions {
  /** Whether to compress the message (websocket permessage-deflate, polling http compression). */
  compress?: boolean;
}

/**
 * One engine.io socket together with its verified session. Built by {@link SessionServer} before
 * the app sees the socket; reach it from the `session` event or with `server.sessionOf(conn)`.
 *
 * @example
 * server.on("session", (socket, session) => {
 *   socket.send(`hello ${session.user?.name}`);
 *   socket.on("message", (data) => console.log(socket.sessionId.length, data));
 * });
 */
export class SessionSocket<S> extends TypedEmitter<SessionSocketEvents<S>> {
  /** The raw engine.io socket. */
  readonly conn: Socket;
  /** The engine.io socket id (the `sid` of the protocol). */
  readonly id: string;
  /** The verified express-session id. Treat it as a secret: never send it to other clients. */
  readonly sessionId: string;
  /** The app's session value: what `hydrate()` made of this socket's private copy of the record. */
  session: S;

  /** @internal Built by SessionServer only. */
  constructor(conn: Socket, sessionId: string, session: S) {
    super();
    this.conn = conn;
    this.id = (conn as unknown as { id: string }).id;
    this.sessionId = sessionId;
    this.session = session;
    conn.on("message", (data: string | Buffer) => this.emit("message", data));
    conn.once("close", (reason: string, description?: Error) => {
      this.emit("close", reason, description);
    });
  }

  /** The handshake request (with its cookies and headers). */
  get request(): IncomingMessage {
    return this.conn.request;
  }

  /** engine.io's state of the socket: "opening", "open", "closing" or "closed". */
  get readyState(): Socket["readyState"] {
    return this.conn.readyState;
  }

  /** The name of the transport in use now; it changes when polling upgrades to websocket. */
  get transport(): TransportName {
    return this.conn.transport.name as TransportName;
  }

  /** Sends a message to the client (engine.io's `send`). */
  send(data: string | Buffer, options?: SendOptions, callback?: () => void): this {
    this.conn.send(data, options, callback);
    return this;
  }

  /** Closes the socket. */
  close(): this {
    this.conn.close();
    return this;
  }
}

/** @internal What the server needs to keep about a socket between handshake and `connection`. */
export interface ResolvedSession<S> {
  readonly sessionId: string;
  readonly record: SessionRecord;
  readonly session: S;
}
