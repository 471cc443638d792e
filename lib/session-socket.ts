import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "engine.io";
import { TypedEmitter } from "tiny-typed-emitter";
import type { RecordOf, SessionRecord } from "./store";

/**
 * Why a session's sockets were ended: `"destroyed"` (`destroySession`, logout), `"expired"`
 * (revalidation found it gone or expired), `"closed"` (`closeSession`; the store keeps it).
 */
export type SessionEndReason = "destroyed" | "expired" | "closed";

/** The events of a {@link SessionSocket}. */
export interface SessionSocketEvents<S> {
  /** The session is resolved; emitted once, right after the server's `session` event. */
  session: (session: S) => void;
  /** A message from the client. None is lost: listeners added in a `session` handler see all. */
  message: (data: string | Buffer) => void;
  /** The socket closed; `reason` is engine.io's (e.g. "transport close"). */
  close: (reason: string, description?: Error) => void;
  /** The session value was replaced (by `updateSession` on any socket of it, or revalidation). */
  session_update: (session: S) => void;
  /** The session ended; the socket closes right after. */
  session_end: (reason: SessionEndReason) => void;
}

/**
 * @internal What a socket asks of its server's live sessions: the narrow interface that keeps
 * sockets from importing the server.
 */
export interface SessionHost<S, R extends SessionRecord> {
  save(socket: SessionSocket<S, R>): Promise<void>;
  reload(socket: SessionSocket<S, R>): Promise<S>;
  touch(sessionId: string): Promise<void>;
  update(socket: SessionSocket<S, R>, mutate: (record: R) => void | Promise<void>): Promise<S>;
  destroy(sessionId: string): Promise<number>;
  /** The socket closed: forget it. */
  release(socket: SessionSocket<S, R>): void;
}

/** engine.io's transport names. */
export type TransportName = "polling" | "websocket" | "webtransport";

/** Options of {@link SessionSocket.send}, as engine.io takes them. */
export interface SendOptions {
  /** Whether to compress the message (websocket permessage-deflate, polling http compression). */
  compress?: boolean;
}

/** @internal Builds a socket (the constructor is private: only the server makes sockets). */
export let createSocket: <S, R extends SessionRecord>(
  conn: Socket,
  resolved: ResolvedSession<S, R>,
  host: SessionHost<S, R>,
) => SessionSocket<S, R>;

/**
 * One engine.io socket together with its verified session. Built by {@link SessionServer} before
 * the app sees the socket; reach it from the `session` event or with `server.sessionOf(conn)`.
 *
 * @example
 * server.on("session", (socket, session) => {
 *   socket.send(`hello ${session.user?.name}`);
 *   socket.on("message", (data) => socket.send(`${session.user?.name}: ${String(data)}`));
 *   socket.on("session_end", (reason) => console.log(`session ended: ${reason}`));
 * });
 */
export class SessionSocket<S, R extends SessionRecord = RecordOf<S>> extends TypedEmitter<
  SessionSocketEvents<S>
> {
  /** The raw engine.io socket. */
  readonly conn: Socket;
  /** The engine.io socket id (the `sid` of the protocol). */
  readonly id: string;
  /** The verified express-session id. Treat it as a secret: never send it to other clients. */
  readonly sessionId: string;
  /** The app's session value: what `hydrate()` made of this socket's private copy of the record. */
  session: S;
  /**
   * The stored form this socket holds: its private copy. With the default `hydrate()`,
   * `session === record`. `saveSession()` writes it.
   */
  record: R;
  /** Whether the session was created by this handshake (option `create`), not by the HTTP app. */
  readonly created: boolean;
  readonly #host: SessionHost<S, R>;

  static {
    createSocket = (conn, resolved, host) => new SessionSocket(conn, resolved, host);
  }

  /** Built by SessionServer only. */
  private constructor(conn: Socket, resolved: ResolvedSession<S, R>, host: SessionHost<S, R>) {
    super();
    this.conn = conn;
    this.id = (conn as unknown as { id: string }).id;
    this.sessionId = resolved.sessionId;
    this.session = resolved.session;
    this.record = resolved.record;
    this.created = resolved.created;
    this.#host = host;
    conn.on("message", (data: string | Buffer) => this.emit("message", data));
    // One close listener does both jobs: the server forgets the socket, then the app hears of it.
    // (`on`, not `once`: engine.io emits "close" once, and once() wraps the listener per socket.)
    conn.on("close", (reason: string, description?: Error) => {
      host.release(this);
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

  /**
   * Writes this socket's `record` to the store (`store.set`, with the cookie express-session would
   * hand it), then gives every socket of the session here the saved value (`session_update`). Use
   * `updateSession` when other sockets or HTTP may write too: `saveSession` overwrites them.
   * Rejects with `NOT_FOUND` once the session was destroyed (nothing is written).
   */
  saveSession(): Promise<void> {
    return this.#host.save(this);
  }

  /**
   * Reads the record afresh from the store (never a cached or shared copy), hydrates it, and replaces
   * `record` and `session`. Rejects with a `SessionError` (`NOT_FOUND`, `STORE_ERROR`, `TIMEOUT`,
   * `HYDRATE_FAILED`) and keeps the old values when it cannot.
   */
  reloadSession(): Promise<S> {
    return this.#host.reload(this);
  }

  /**
   * Extends the session's life in the store as an HTTP request would: reads the store's current
   * session and touches that (`store.touch`, or `store.set` of it where the store has no touch),
   * never this socket's copy. A session that is gone is not brought back: its sockets end
   * (`"expired"`) and this rejects with `NOT_FOUND`. See docs/session-lifetime.md.
   */
  touchSession(): Promise<void> {
    return this.#host.touch(this.sessionId);
  }

  /**
   * Read-modify-write of the stored session, serialized per session id (across every node that
   * shares a bus with a lock, such as `RedisSessionBus`), so concurrent updates from many sockets
   * of one session never lose one: a fresh read, `mutate`, a write, then every socket of the
   * session gets the new value and `session_update`.
   *
   * @returns this socket's new session value. Rejects with a `SessionError` when the read, `mutate`
   *   or the write fails (nothing is written), when the session was destroyed meanwhile
   *   (`NOT_FOUND`, nothing is written), or when `hydrate()` refuses the new record for this
   *   socket (the store has it; this socket keeps its old session).
   * @example
   * socket.on("message", async () => {
   *   await socket.updateSession((record) => {
   *     record.counter = (record.counter ?? 0) + 1; // record: the server's record type
   *   });
   * });
   */
  updateSession(mutate: (record: R) => void | Promise<void>): Promise<S> {
    return this.#host.update(this, mutate);
  }

  /**
   * Deletes the session from the store and ends all its sockets (this one included), like
   * `server.destroySession(socket.sessionId)`: logout everywhere.
   *
   * @returns how many sockets were closed
   */
  destroySession(): Promise<number> {
    return this.#host.destroy(this.sessionId);
  }
}

/** @internal What the server needs to keep about a socket between handshake and `connection`. */
export interface ResolvedSession<S, R extends SessionRecord> {
  readonly sessionId: string;
  readonly record: R;
  readonly session: S;
  readonly created: boolean;
  /** The Set-Cookie of a session created at this handshake. */
  readonly setCookie?: string;
  /** The polling response of a created session, whose middlewares' Set-Cookie must be kept. */
  readonly response?: ServerResponse | undefined;
  /** The live-sessions sequence number when the handshake began (see LiveSessions#endedSince). */
  readonly started: number;
}
