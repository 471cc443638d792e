import { randomBytes } from "node:crypto";
import type { IncomingMessage, Server as HttpServer, ServerResponse } from "node:http";
import { Server, type Socket } from "engine.io";
import createDebug from "debug";
import { SessionError, redactId, type SessionErrorCode } from "./errors";
import {
  engineOptions,
  sessionSettings,
  type SessionServerOptions,
  type SessionSettings,
} from "./options";
import { cookieNames, sessionIdFromCookie } from "./session-id";
import { originCheck, type OriginCheck } from "./origin";
import type { SessionBusMessage } from "./session-bus";
import { newSession } from "./session-cookie";
import { SessionRegistry } from "./session-registry";
import {
  SessionSocket,
  type ResolvedSession,
  type SessionEndReason,
  type SessionHost,
} from "./session-socket";
import { SessionLoader, copyRecord, type SessionRecord } from "./store";

const debug = createDebug("engine.io-session");

/** engine.io does not export its request type; this is it. */
type EngineRequest = Parameters<Server["verify"]>[0];
/** engine.io's `verify` callback. */
type VerifyCallback = Parameters<Server["verify"]>[2];

/** What engine.io emits as `connection_error`; a refused session has `context.name` = its code. */
export interface ConnectionError {
  /** The refused request. */
  req: IncomingMessage;
  /** engine.io's error code (`Server.errors`): 4 (FORBIDDEN) for a refused session. */
  code: number;
  /** engine.io's standard message, e.g. "Forbidden". */
  message: string;
  /** For a refused session: `{ name: SessionErrorCode, message }`. */
  context?: {
    /** The `SessionErrorCode` of a refused session (or `"SERVER_CLOSING"`), else engine.io's own. */
    name?: SessionErrorCode | (string & {});
    /** The refusal's explanation, as its `SessionError` says it. */
    message?: string;
    [key: string]: unknown;
  };
}

/** A snapshot of what a {@link SessionServer} holds in memory. */
export interface SessionServerStats {
  /** Sessions with at least one open socket here. */
  sessions: number;
  /** Open sockets with a session here. */
  sockets: number;
  /** Handshake store reads in flight (shared between concurrent handshakes of one session). */
  pendingLookups: number;
  /** Answered store reads still shared with new handshakes (option `coalesceWindow`). */
  sharedLookups: number;
  /** Per-session update locks held or queued. */
  locks: number;
  /** Running touch and revalidation timers (0, 1 or 2). */
  timers: number;
}

/** Response headers as engine.io hands them to `initial_headers` and `headers` listeners. */
export type EngineHeaders = Record<string, string | string[] | number | undefined>;

/** An engine.io packet, as `flush` listeners see it. */
export interface EnginePacket {
  /** The packet type: "open", "message", "ping", ... */
  type: string;
  /** The payload, if any. */
  data?: unknown;
}

/** The events of a {@link SessionServer}: its own and engine.io's, all typed. */
export interface SessionServerEvents<S> {
  /** A socket with a verified, loaded session. Listeners added here see every client message. */
  session: (socket: SessionSocket<S>, session: S) => void;
  /** Why a handshake had no session (emitted whether or not `required` refused it). */
  session_error: (error: SessionError, req: IncomingMessage) => void;
  /** engine.io: a raw socket connected (with or without a session). */
  connection: (socket: Socket) => void;
  /** engine.io: a request was refused. */
  connection_error: (error: ConnectionError) => void;
  /** engine.io: headers of the first response of a socket, editable. */
  initial_headers: (headers: EngineHeaders, req: IncomingMessage) => void;
  /** engine.io: headers of every response, editable. */
  headers: (headers: EngineHeaders, req: IncomingMessage) => void;
  /** engine.io: a socket's write buffer is about to be flushed. */
  flush: (socket: Socket, buffer: EnginePacket[]) => void;
  /** engine.io: a socket's write buffer was drained. */
  drain: (socket: Socket) => void;
  /** A session's sockets here were ended (once per end), after each got its `session_end`. */
  session_end: (sessionId: string, reason: SessionEndReason) => void;
}

/** The typed event methods of {@link SessionServer} (they replace engine.io's untyped ones). */
export declare interface SessionServer<S = SessionRecord> {
  /** Adds `listener` for `event`; its arguments are typed by {@link SessionServerEvents}. */
  on<E extends keyof SessionServerEvents<S>>(event: E, listener: SessionServerEvents<S>[E]): this;
  /** Adds a one-time `listener` for `event`. */
  once<E extends keyof SessionServerEvents<S>>(event: E, listener: SessionServerEvents<S>[E]): this;
  /** Removes `listener` from `event` (alias of `removeListener`). */
  off<E extends keyof SessionServerEvents<S>>(event: E, listener: SessionServerEvents<S>[E]): this;
  /** Adds `listener` for `event` (alias of `on`). */
  addListener<E extends keyof SessionServerEvents<S>>(
    event: E,
    listener: SessionServerEvents<S>[E],
  ): this;
  /** Adds `listener` for `event` before the listeners already there. */
  prependListener<E extends keyof SessionServerEvents<S>>(
    event: E,
    listener: SessionServerEvents<S>[E],
  ): this;
  /** Adds a one-time `listener` for `event` before the listeners already there. */
  prependOnceListener<E extends keyof SessionServerEvents<S>>(
    event: E,
    listener: SessionServerEvents<S>[E],
  ): this;
  /** Removes `listener` from `event`. */
  removeListener<E extends keyof SessionServerEvents<S>>(
    event: E,
    listener: SessionServerEvents<S>[E],
  ): this;
  /** Emits `event` with typed arguments; returns whether it had listeners. Apps rarely call it. */
  emit<E extends keyof SessionServerEvents<S>>(
    event: E,
    ...args: Parameters<SessionServerEvents<S>[E]>
  ): boolean;
}

/** A WebTransport session as engine.io hands it over (it never passes through `verify`). */
interface WebTransportSession {
  close(): void;
}

function isHttpServer(value: unknown): value is HttpServer {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { listen?: unknown }).listen === "function" &&
    typeof (value as { on?: unknown }).on === "function"
  );
}

/** The failures that `create: true` answers with a new session (a broken store is not one). */
const CREATABLE: ReadonlySet<SessionErrorCode> = new Set([
  "NO_COOKIE",
  "BAD_SIGNATURE",
  "NOT_FOUND",
]);

function asSessionError(error: unknown, code: SessionErrorCode, message: string): SessionError {
  return error instanceof SessionError ? error : new SessionError(code, message, { cause: error });
}

function hydrateFailed(error: unknown, sessionId: string): SessionError {
  return asSessionError(
    error,
    "HYDRATE_FAILED",
    `hydrate() failed for session ${redactId(sessionId)}: see error.cause`,
  );
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** The client hung up while its handshake waited for the store: finishing it would make a ghost. */
function clientLeft(req: IncomingMessage): boolean {
  return req.socket.destroyed || !req.socket.readable;
}

/**
 * An engine.io `Server` that resolves the express-session session of every handshake before the
 * socket exists: signed cookie → verified id → store (coalesced, bounded by `lookupTimeout`) →
 * `hydrate()`. Handshakes without a usable session are refused (or, with `required: false`, connect
 * anonymously) and explained by a `session_error`. Requests after the handshake do no session work.
 *
 * @typeParam S - the app's session type, what `session` listeners receive
 *
 * @example
 * const store = new session.MemoryStore();
 * app.use(session({ store, secret: "keyboard cat", resave: false, saveUninitialized: false }));
 * const httpServer = http.createServer(app).listen(3000);
 *
 * const server = new SessionServer<AppSession>(httpServer, { store, secret: "keyboard cat" });
 * server.on("session", (socket, session) => {
 *   socket.send(`hello ${session.user?.name}`);
 * });
 * server.on("session_error", (error) => console.warn(error.code));
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- typed events over engine.io's EventEmitter
export class SessionServer<S = SessionRecord> extends Server {
  readonly #settings: SessionSettings;
  readonly #loader: SessionLoader;
  readonly #registry: SessionRegistry<S>;
  readonly #originAllowed: OriginCheck;
  /** This node's id on the bus: its own messages come back and are ignored. */
  readonly #nodeId = randomBytes(8).toString("hex");
  readonly #wrappers = new WeakMap<Socket, SessionSocket<S>>();
  /**
   * Resolved handshakes waiting for their `connection`, by request. A side table rather than a
   * property on the request: engine.io keeps every socket's request, and a new property would grow
   * each of them for the socket's whole life.
   */
  readonly #resolved = new WeakMap<IncomingMessage, ResolvedSession<S>>();
  /** What every socket of this server asks of it: built once, shared by all sockets. */
  readonly #host: SessionHost<S>;
  #closing = false;

  /** Builds the server unattached: call `attach(httpServer)` or drive `handleRequest`/`handleUpgrade`. */
  constructor(options: SessionServerOptions);
  /** Builds the server and attaches it to `httpServer`, as `eio.attach(httpServer, options)` does. */
  constructor(httpServer: HttpServer, options: SessionServerOptions);
  constructor(
    httpServerOrOptions: HttpServer | SessionServerOptions,
    maybeOptions?: SessionServerOptions,
  ) {
    const httpServer = isHttpServer(httpServerOrOptions) ? httpServerOrOptions : undefined;
    const options = httpServer === undefined ? httpServerOrOptions : maybeOptions;
    const settings = sessionSettings(options);
    const engineOpts = engineOptions(options as SessionServerOptions);
    super(engineOpts);
    this.#settings = settings;
    this.#loader = new SessionLoader(
      settings.store,
      settings.lookupTimeout,
      settings.coalesceWindow,
    );
    this.#originAllowed = originCheck(settings.origins);
    this.#registry = new SessionRegistry<S>({
      ...settings,
      hydrate: (record, sessionId, req) => this.hydrate(record, sessionId, req),
      onChange: (sessionId) => {
        this.#loader.forget(sessionId);
      },
      onEnd: (sessionId, reason) => this.emit("session_end", sessionId, reason),
      onError: (error, req) => this.emit("session_error", error, req),
    });
    this.#host = {
      read: (sessionId) => this.#registry.read(sessionId),
      write: (sessionId, record) => this.#registry.write(sessionId, record),
      touch: (sessionId, record) => this.#registry.touch(sessionId, record),
      update: async (sessionId, mutate, caller) => {
        const record = await this.#registry.update(sessionId, mutate, caller);
        this.#publish({ type: "update", origin: this.#nodeId, sessionId });
        return record;
      },
      hydrate: (record, sessionId, request) => this.hydrate(record, sessionId, request),
      destroySession: (sessionId) => this.destroySession(sessionId),
      release: (socket) => {
        this.#registry.remove(socket);
      },
    };
    // Registered first, so the session event precedes every listener the app adds.
    this.prependListener("connection", (conn) => {
      this.#onConnection(conn);
    });
    settings.bus
      ?.subscribe((message) => {
        this.#onBusMessage(message);
      })
      .catch((error: unknown) => {
        debug("bus subscribe failed: %s", error instanceof Error ? error.message : "unknown");
      });
    if (settings.create) {
      this.prependListener("initial_headers", (headers, req) => {
        const resolved = this.#resolved.get(req);
        if (resolved?.setCookie !== undefined) {
          appendSetCookie(headers, resolved.setCookie, resolved.response);
        }
      });
    }
    if (httpServer !== undefined) this.attach(httpServer, engineOpts);
  }

  /**
   * The {@link SessionSocket} of a raw engine.io socket, or `undefined` for an anonymous one. This is
   * how socket.io handlers reach the session: `server.sessionOf(socket.conn)`.
   *
   * @example
   * io.on("connection", (socket) => {
   *   const session = engine.sessionOf(socket.conn)?.session; // undefined only with required: false
   * });
   */
  sessionOf(conn: Socket): SessionSocket<S> | undefined {
    return this.#wrappers.get(conn);
  }

  /** How many store reads are in flight right now (they are shared between concurrent handshakes). */
  get pendingLookups(): number {
    return this.#loader.pending;
  }

  /** What this server holds in memory now: for metrics, and for leak checks in tests. */
  get stats(): SessionServerStats {
    return {
      sessions: this.#registry.size,
      sockets: this.#registry.sockets,
      pendingLookups: this.#loader.pending,
      sharedLookups: this.#loader.shared,
      locks: this.#registry.locks,
      timers: this.#registry.timers,
    };
  }

  /** The open sockets of a session in this process. */
  socketsOf(sessionId: string): SessionSocket<S>[] {
    return this.#registry.socketsOf(sessionId);
  }

  /**
   * Ends a session's sockets here: each emits `session_end` with `reason`, then closes; the server
   * emits `session_end` once. The store keeps the session.
   *
   * @returns how many sockets were closed
   */
  closeSession(sessionId: string, reason: SessionEndReason = "closed"): number {
    const closed = this.#registry.closeSession(sessionId, reason);
    this.#publish({ type: "end", origin: this.#nodeId, sessionId, reason });
    return closed;
  }

  /**
   * Logout everywhere: deletes the session from the store (`store.destroy`), then ends its sockets
   * with reason `"destroyed"`. Call it from your HTTP logout route.
   *
   * @returns how many sockets were closed
   * @example
   * app.post("/logout", async (req, res) => {
   *   await server.destroySession(req.sessionID); // store entry gone, every socket ended
   *   req.session.destroy(() => res.clearCookie("connect.sid").redirect("/")); // no re-save
   * });
   */
  async destroySession(sessionId: string): Promise<number> {
    const closed = await this.#registry.destroySession(sessionId);
    this.#publish({ type: "end", origin: this.#nodeId, sessionId, reason: "destroyed" });
    return closed;
  }

  /** Stops accepting handshakes and every timer, then closes every socket (engine.io's `close`). */
  override close(): this {
    this.#closing = true;
    this.#registry.close();
    this.#loader.clear();
    this.#settings.bus?.close().catch((error: unknown) => {
      debug("bus close failed: %s", error instanceof Error ? error.message : "unknown");
    });
    return super.close();
  }

  /**
   * Turns the stored record into the app's session value. Overwrite it to load a user, attach
   * helpers, or check a field; throw (or throw a `SessionError` with its own code) to refuse the
   * handshake with `HYDRATE_FAILED`. `record` is this socket's private copy; the default returns it.
   *
   * @param record - the socket's private copy of the stored session
   * @param sessionId - the verified session id
   * @param req - the handshake request
   * @example
   * class AppServer extends SessionServer<AppUser> {
   *   protected override async hydrate(record: SessionRecord): Promise<AppUser> {
   *     const { userId } = record as AppSession;
   *     if (userId === undefined) throw new SessionError("HYDRATE_FAILED", "not logged in");
   *     return users.load(userId); // a throw or a rejection refuses the handshake
   *   }
   * }
   */
  protected hydrate(
    record: SessionRecord,
    sessionId: string,
    req: IncomingMessage,
  ): S | Promise<S> {
    return record as unknown as S;
  }

  /**
   * The verified session id of a handshake request, or `undefined` when it carries none. Overwrite it
   * to read the id from elsewhere (e.g. an `Authorization` header of a native app); throw
   * `new SessionError("BAD_SIGNATURE")` for a forged one. Default: the signed cookie `name`.
   *
   * @param req - the handshake request
   * @example
   * class TokenServer extends SessionServer {
   *   protected override sessionIdFrom(req: IncomingMessage): string | undefined {
   *     const auth = req.headers.authorization;
   *     // verifyToken throws new SessionError("BAD_SIGNATURE") for a forged token
   *     if (auth?.startsWith("Session ")) return verifyToken(auth.slice(8));
   *     return super.sessionIdFrom(req); // browsers: the signed cookie
   *   }
   * }
   */
  protected sessionIdFrom(req: IncomingMessage): string | undefined {
    return sessionIdFromCookie(req.headers.cookie, this.#settings.name, this.#settings.secrets);
  }

  /** @internal Resolves the session of handshakes; everything else goes straight to engine.io. */
  protected override verify(req: EngineRequest, upgrade: boolean, fn: VerifyCallback): void {
    if (req._query.sid) {
      super.verify(req, upgrade, fn);
      return;
    }
    super.verify(req, upgrade, (errorCode, errorContext) => {
      if (errorCode === undefined) void this.#finishHandshake(req, fn);
      else fn(errorCode, errorContext);
    });
  }

  /** @internal WebTransport sessions skip `verify` and carry no cookies: close them when required. */
  override onWebTransportSession(session: WebTransportSession): Promise<unknown> {
    if (this.#settings.required) {
      debug("closing a WebTransport session: it carries no cookie and a session is required");
      session.close();
      return Promise.resolve();
    }
    return super.onWebTransportSession(session);
  }

  async #finishHandshake(req: EngineRequest, fn: VerifyCallback): Promise<void> {
    let outcome: ResolvedSession<S> | SessionError;
    try {
      outcome = await this.#resolve(req);
    } catch (error) {
      outcome = asSessionError(error, "STORE_ERROR", "session lookup failed: see error.cause");
    }
    if (clientLeft(req)) {
      debug("handshake dropped: the client left while its session was being resolved");
      // A half-closed connection stays open on our side until destroyed (websocket upgrades).
      req.socket.destroy();
      return;
    }
    if (this.#closing) {
      fn(Server.errors.FORBIDDEN, { name: "SERVER_CLOSING", message: "the server is closing" });
      return;
    }
    if (outcome instanceof SessionError) {
      debug("handshake without session: %s: %s", outcome.code, outcome.message);
      this.emit("session_error", outcome, req);
      if (this.#settings.required) {
        fn(Server.errors.FORBIDDEN, { name: outcome.code, message: outcome.message });
      } else {
        fn();
      }
      return;
    }
    this.#resolved.set(req, outcome);
    fn();
  }

  async #resolve(req: EngineRequest): Promise<ResolvedSession<S>> {
    this.#checkOrigin(req);
    // One async frame for the whole path: each await costs a promise and a microtask per handshake.
    let sessionId: string;
    let record: SessionRecord;
    try {
      sessionId = this.#sessionIdOf(req);
      // Each socket gets its own copy: concurrent handshakes share one read, never one object.
      record = copyRecord(await this.#loader.load(sessionId), sessionId);
    } catch (error) {
      if (
        !this.#settings.create ||
        !(error instanceof SessionError) ||
        !CREATABLE.has(error.code)
      ) {
        throw error;
      }
      debug("no usable session (%s): creating one", error.code);
      return this.#create(req);
    }
    // hydrate() runs outside the try: its refusals never create a session.
    const hydrated = this.#hydrate(record, sessionId, req);
    const session = isPromiseLike(hydrated) ? await hydrated : hydrated;
    debug("session %s resolved", redactId(sessionId));
    return { sessionId, record, session, created: false };
  }

  #checkOrigin(req: EngineRequest): void {
    let allowed: boolean;
    try {
      allowed = this.#originAllowed(req);
    } catch (error) {
      throw new SessionError("BAD_ORIGIN", "the `origins` function threw: see error.cause", {
        cause: error,
      });
    }
    if (!allowed) {
      const origin = String(req.headers.origin);
      throw new SessionError(
        "BAD_ORIGIN",
        `origin ${JSON.stringify(origin.slice(0, 100))} may not open a socket here: list it in \`origins\``,
      );
    }
  }

  async #create(req: EngineRequest): Promise<ResolvedSession<S>> {
    const { name, secrets, cookie } = this.#settings;
    const fresh = newSession(name, secrets[0] ?? "", cookie);
    const record = structuredClone(fresh.record);
    // hydrate() first: a session it refuses is never stored (nobody would ever hold its cookie).
    const session = await this.#hydrate(record, fresh.sessionId, req);
    await this.#registry.write(fresh.sessionId, fresh.record);
    // On polling, engine.io's headers replace what middlewares set on the response: keep theirs.
    const response = req._query.transport === "polling" ? req.res : undefined;
    return { ...fresh, record, session, created: true, response };
  }

  /** The app's `hydrate()`, its failures as `HYDRATE_FAILED`; synchronous when the app's is. */
  #hydrate(record: SessionRecord, sessionId: string, req: EngineRequest): S | Promise<S> {
    let hydrated: S | Promise<S>;
    try {
      hydrated = this.hydrate(record, sessionId, req);
    } catch (error) {
      throw hydrateFailed(error, sessionId);
    }
    // The rejection handler is made only for an asynchronous hydrate(): no closure per handshake.
    if (!isPromiseLike(hydrated)) return hydrated;
    return Promise.resolve(hydrated).catch((error: unknown) => {
      throw hydrateFailed(error, sessionId);
    });
  }

  /** The verified session id of a handshake; throws `NO_COOKIE` or `BAD_SIGNATURE`. */
  #sessionIdOf(req: EngineRequest): string {
    let sessionId: string | undefined;
    try {
      sessionId = this.sessionIdFrom(req);
    } catch (error) {
      throw asSessionError(error, "BAD_SIGNATURE", "sessionIdFrom() threw: see error.cause");
    }
    if (sessionId === undefined) throw this.#noCookie(req);
    return sessionId;
  }

  #noCookie(req: IncomingMessage): SessionError {
    if (this.sessionIdFrom !== SessionServer.prototype.sessionIdFrom) {
      return new SessionError("NO_COOKIE", "sessionIdFrom() found no session id in the request");
    }
    const { name } = this.#settings;
    if (debug.enabled) {
      const sent = cookieNames(req.headers.cookie);
      debug(
        "no cookie '%s' in the handshake; cookies sent: %s",
        name,
        sent.length > 0 ? sent.join(", ") : "none (cross-origin client without withCredentials?)",
      );
    }
    return new SessionError("NO_COOKIE", `no cookie '${name}' in the handshake request`);
  }

  #publish(message: SessionBusMessage): void {
    this.#settings.bus?.publish(message).catch((error: unknown) => {
      debug(
        "bus publish of %s failed: other nodes miss it: %s",
        message.type,
        error instanceof Error ? error.message : "unknown",
      );
    });
  }

  #onBusMessage(message: SessionBusMessage): void {
    if (message.origin === this.#nodeId) return;
    const { sessionId } = message;
    this.#loader.forget(sessionId);
    if (message.type === "end") {
      this.#registry.closeSession(sessionId, message.reason);
      return;
    }
    void this.#refreshFromStore(sessionId);
  }

  /** Another node updated the session: re-read it once and refresh the sockets here. */
  async #refreshFromStore(sessionId: string): Promise<void> {
    const sockets = this.#registry.socketsOf(sessionId);
    if (sockets.length === 0) return;
    try {
      await this.#registry.refresh(sessionId, await this.#registry.read(sessionId));
    } catch (error) {
      const failure = asSessionError(error, "STORE_ERROR", "re-reading an updated session failed");
      this.emit("session_error", failure, sockets[0].request);
    }
  }

  #onConnection(conn: Socket): void {
    const req = conn.request as IncomingMessage | null;
    const resolved = req === null ? undefined : this.#resolved.get(req);
    if (req === null || resolved === undefined) return;
    this.#resolved.delete(req);
    if (this.#closing) {
      // The handshake passed verify before close() but engine.io finished it after (an async
      // generateId): the socket must not outlive the server.
      debug("closing a socket whose handshake finished after close()");
      conn.close();
      return;
    }
    const socket = new SessionSocket<S>(conn, resolved, this.#host);
    this.#wrappers.set(conn, socket);
    this.#registry.add(socket);
    this.emit("session", socket, resolved.session);
    socket.emit("session", resolved.session);
  }
}

/** A header value as a list of lines. */
function headerLines(value: string | string[] | number | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [String(value)];
}

/**
 * Adds the Set-Cookie of a session created at this handshake to the first response, after any other
 * (engine.io's own `io` cookie and those engine.io middlewares set included).
 */
function appendSetCookie(
  headers: EngineHeaders,
  setCookie: string,
  pollingResponse: ServerResponse | undefined,
): void {
  const existing = headers["Set-Cookie"];
  if (pollingResponse === undefined) {
    // Websocket: ws writes each key as one header line, joining arrays with commas, and adds the
    // middlewares' headers itself: a second key keeps every cookie its own line.
    if (existing === undefined) headers["Set-Cookie"] = [setCookie];
    else headers["set-cookie"] = setCookie;
    return;
  }
  // Polling: res.writeHead(200, headers) replaces what was set with res.setHeader().
  headers["Set-Cookie"] = [
    ...headerLines(pollingResponse.getHeader("set-cookie")),
    ...headerLines(existing),
    setCookie,
  ];
}

/**
 * Builds a {@link SessionServer} attached to `httpServer`: the drop-in for `eio.attach`.
 *
 * @example
 * const httpServer = http.createServer(app).listen(3000);
 * // the same store and secret as express-session's
 * const server = attach<AppSession>(httpServer, { store, secret });
 * server.on("session", (socket, session) => socket.send(`hello ${session.user?.name}`));
 */
export function attach<S = SessionRecord>(
  httpServer: HttpServer,
  options: SessionServerOptions,
): SessionServer<S> {
  return new SessionServer<S>(httpServer, options);
}
