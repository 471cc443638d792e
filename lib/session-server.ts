import { randomBytes } from "node:crypto";
import type { IncomingMessage, Server as HttpServer, ServerResponse } from "node:http";
import { Server, type AttachOptions, type Socket } from "engine.io";
import createDebug from "debug";
import { SessionError, messageOf, type SessionErrorCode } from "./errors";
import { Handshakes, type HandshakeRequest } from "./handshake";
import { hydrateSafely } from "./hydrate";
import { LiveSessions } from "./live-sessions";
import {
  engineOptions,
  sessionSettings,
  type SessionServerOptions,
  type SessionSettings,
} from "./options";
import { originCheck } from "./origin";
import type { SessionBusStatus } from "./session-bus";
import { sessionIdFromCookie } from "./session-id";
import { SessionLoader } from "./session-loader";
import {
  createSocket,
  type ResolvedSession,
  type SessionEndReason,
  type SessionSocket,
} from "./session-socket";
import { StoreClient, type RecordOf, type SessionRecord } from "./store";

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
  /** Running touch, revalidation and tombstone timers (0 to 3). */
  timers: number;
  /** Session ends remembered for handshakes that began before them, and destroys in progress. */
  tombstones: number;
  /** Whether the bus reaches the other nodes: `"none"` without a bus. */
  bus: SessionBusStatus | "none";
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
export interface SessionServerEvents<S, R extends SessionRecord = SessionRecord> {
  /** A socket with a verified, loaded session. Listeners added here see every client message. */
  session: (socket: SessionSocket<S, R>, session: S) => void;
  /**
   * Why a handshake had no session (emitted whether or not `required` refused it), with its
   * request; or why background work on a live session failed (revalidation, touch, a bus
   * refresh, a store delete), with `req` undefined and `error.sessionId` set.
   */
  session_error: (error: SessionError, req: IncomingMessage | undefined) => void;
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
  /** The bus lost or regained its connection (after a reconnect every open session is re-read). */
  bus_status: (status: SessionBusStatus) => void;
}

/** The typed event methods of {@link SessionServer} (they replace engine.io's untyped ones). */
export declare interface SessionServer<S = SessionRecord, R extends SessionRecord = RecordOf<S>> {
  /** Adds `listener` for `event`; its arguments are typed by {@link SessionServerEvents}. */
  on<E extends keyof SessionServerEvents<S, R>>(
    event: E,
    listener: SessionServerEvents<S, R>[E],
  ): this;
  /** Adds a one-time `listener` for `event`. */
  once<E extends keyof SessionServerEvents<S, R>>(
    event: E,
    listener: SessionServerEvents<S, R>[E],
  ): this;
  /** Removes `listener` from `event` (alias of `removeListener`). */
  off<E extends keyof SessionServerEvents<S, R>>(
    event: E,
    listener: SessionServerEvents<S, R>[E],
  ): this;
  /** Adds `listener` for `event` (alias of `on`). */
  addListener<E extends keyof SessionServerEvents<S, R>>(
    event: E,
    listener: SessionServerEvents<S, R>[E],
  ): this;
  /** Adds `listener` for `event` before the listeners already there. */
  prependListener<E extends keyof SessionServerEvents<S, R>>(
    event: E,
    listener: SessionServerEvents<S, R>[E],
  ): this;
  /** Adds a one-time `listener` for `event` before the listeners already there. */
  prependOnceListener<E extends keyof SessionServerEvents<S, R>>(
    event: E,
    listener: SessionServerEvents<S, R>[E],
  ): this;
  /** Removes `listener` from `event`. */
  removeListener<E extends keyof SessionServerEvents<S, R>>(
    event: E,
    listener: SessionServerEvents<S, R>[E],
  ): this;
  /** Emits `event` with typed arguments; returns whether it had listeners. Apps rarely call it. */
  emit<E extends keyof SessionServerEvents<S, R>>(
    event: E,
    ...args: Parameters<SessionServerEvents<S, R>[E]>
  ): boolean;
}

/** A WebTransport session as engine.io hands it over (it never passes through `verify`). */
interface WebTransportSession {
  close(): void;
}

/** Where a raw engine.io socket keeps its wrapper: a property, not a WeakMap (see below). */
const WRAPPER = Symbol("engine.io-session socket");

/**
 * A raw engine.io socket as this server sees it. Keeping the wrapper on the socket itself matters:
 * a `WeakMap<Socket, SessionSocket>` whose value references its key is an ephemeron that V8's
 * minor GC cannot collect, so every closed socket's whole graph lived until a full mark-compact.
 */
type Conn = Socket & { [WRAPPER]?: SessionSocket<never> };

function isHttpServer(value: unknown): value is HttpServer {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { listen?: unknown }).listen === "function" &&
    typeof (value as { on?: unknown }).on === "function"
  );
}

/** The client hung up while its handshake waited for the store: finishing it would make a ghost. */
function clientLeft(req: IncomingMessage): boolean {
  return req.socket.destroyed || !req.socket.readable;
}

/**
 * Adds the refusal's `SessionErrorCode` to the JSON body engine.io writes for a refused polling
 * handshake (`{"code":4,"message":...}`), as `sessionErrorCode`, so that clients can act on it.
 */
function withErrorCode(res: ServerResponse | undefined, code: SessionErrorCode): void {
  if (res === undefined) return;
  const end = res.end.bind(res);
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    res.end = end;
    const [body] = args;
    if (typeof body === "string" && body.startsWith("{")) {
      args[0] = `${body.slice(0, -1)},"sessionErrorCode":${JSON.stringify(code)}}`;
    }
    return (end as (...rest: unknown[]) => ServerResponse)(...args);
  } as ServerResponse["end"];
}

/**
 * An engine.io `Server` that resolves the express-session session of every handshake before the
 * socket exists: signed cookie → verified id → store (coalesced, bounded by `lookupTimeout`) →
 * `hydrate()`. Handshakes without a usable session are refused (or, with `required: false`, connect
 * anonymously) and explained by a `session_error`. Requests after the handshake do no session work.
 *
 * @typeParam S - the app's session type, what `session` listeners receive
 * @typeParam R - the stored record type, what `updateSession` and `hydrate` receive (`S` itself
 *   when `S` is a record, else {@link SessionRecord})
 *
 * @example
 * const store = new session.MemoryStore();
 * const sessionOptions = { store, secret: "keyboard cat" };
 * app.use(session({ ...sessionOptions, resave: false, saveUninitialized: false }));
 * const httpServer = http.createServer(app).listen(3000);
 *
 * const server = new SessionServer<AppSession>(httpServer, { session: sessionOptions });
 * server.on("session", (socket, session) => {
 *   socket.send(`hello ${session.user?.name}`);
 * });
 * server.on("session_error", (error) => console.warn(error.code));
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging -- typed events over engine.io's EventEmitter
export class SessionServer<
  S = SessionRecord,
  R extends SessionRecord = RecordOf<S>,
> extends Server {
  readonly #settings: SessionSettings;
  readonly #loader: SessionLoader;
  readonly #live: LiveSessions<S, R>;
  readonly #handshakes: Handshakes<S, R>;
  /**
   * Resolved handshakes waiting for their `connection`, by request. A side table rather than a
   * property on the request: engine.io keeps every socket's request, and a new property would grow
   * each of them for the socket's whole life.
   */
  readonly #resolved = new WeakMap<IncomingMessage, ResolvedSession<S, R>>();
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
    const store = new StoreClient(settings.store, settings.lookupTimeout);
    this.#loader = new SessionLoader(store, settings.coalesceWindow);
    const hydrate = (record: R, sessionId: string, req: IncomingMessage): S | Promise<S> =>
      this.hydrate(record, sessionId, req);
    const safeHydrate = (record: R, sessionId: string, req: IncomingMessage): S | Promise<S> =>
      hydrateSafely(hydrate, record, sessionId, req);
    this.#live = new LiveSessions<S, R>({
      store,
      loader: this.#loader,
      bus: settings.bus,
      nodeId: randomBytes(8).toString("hex"),
      touchInterval: settings.touchInterval,
      revalidateInterval: settings.revalidateInterval,
      hydrate: safeHydrate,
      onEnd: (sessionId, reason) => this.emit("session_end", sessionId, reason),
      onError: (error) => this.emit("session_error", error, undefined),
      onBusStatus: (status) => this.emit("bus_status", status),
    });
    this.#handshakes = new Handshakes<S, R>({
      settings,
      store,
      loader: this.#loader,
      live: this.#live,
      originCheck: originCheck(settings.origins, settings.jsonp),
      sessionIdFrom: (req) => this.sessionIdFrom(req),
      customSessionId: this.sessionIdFrom !== SessionServer.prototype.sessionIdFrom,
      hydrate,
    });
    // Registered first, so the session event precedes every listener the app adds.
    this.prependListener("connection", (conn) => {
      this.#onConnection(conn);
    });
    this.#live.subscribe();
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
   * The {@link SessionSocket} of a raw engine.io socket of this server, or `undefined` for an
   * anonymous one (`required: false`). This is how socket.io handlers reach the session:
   * `server.sessionOf(socket.conn)`.
   *
   * @throws TypeError for a socket of another engine.io server: socket.io attached its own
   *   engine (`new Server(httpServer)`) instead of this one (`io.bind(server)`)
   * @example
   * io.on("connection", (socket) => {
   *   const session = engine.sessionOf(socket.conn)?.session; // undefined only with required: false
   * });
   */
  sessionOf(conn: Socket): SessionSocket<S, R> | undefined {
    const raw = conn as Conn;
    if ((conn as unknown as { server?: unknown }).server !== this) {
      throw new TypeError(
        'engine.io-session: sessionOf() got a socket of another engine.io server: socket.io attached its own engine. Bind socket.io to the SessionServer (io.bind(server), path "/socket.io") or use engine.io-session/socket.io',
      );
    }
    return raw[WRAPPER];
  }

  /** How many store reads are in flight right now (they are shared between concurrent handshakes). */
  get pendingLookups(): number {
    return this.#loader.pending;
  }

  /** What this server holds in memory now: for metrics, and for leak checks in tests. */
  get stats(): SessionServerStats {
    return {
      sessions: this.#live.size,
      sockets: this.#live.sockets,
      pendingLookups: this.#loader.pending,
      sharedLookups: this.#loader.shared,
      locks: this.#live.locks,
      timers: this.#live.timers,
      tombstones: this.#live.tombstones,
      bus: this.#live.busStatus,
    };
  }

  /** The open sockets of a session in this process. */
  socketsOf(sessionId: string): SessionSocket<S, R>[] {
    return this.#live.socketsOf(sessionId);
  }

  /**
   * Ends a session's sockets here and, with a `bus`, on every node: each emits `session_end` with
   * `reason`, then closes; the server emits `session_end` once. The store keeps the session.
   *
   * @returns how many sockets were closed here
   */
  closeSession(sessionId: string, reason: SessionEndReason = "closed"): number {
    return this.#live.closeSession(sessionId, reason);
  }

  /**
   * Logout everywhere: ends the session's sockets here and on every node (reason `"destroyed"`)
   * at once, refuses its handshakes from now on, then deletes it from the store (`store.destroy`)
   * after any write in flight. Call it from your HTTP logout route. Rejects (and emits a
   * `session_error`) when the delete fails; the sockets are ended all the same.
   *
   * @returns how many sockets were closed here
   * @example
   * app.post("/logout", async (req, res) => {
   *   await server.destroySession(req.sessionID); // store entry gone, every socket ended
   *   req.session.destroy(() => res.clearCookie("connect.sid").redirect("/")); // no re-save
   * });
   */
  destroySession(sessionId: string): Promise<number> {
    return this.#live.destroy(sessionId);
  }

  /** Attaches to `httpServer` (engine.io's `attach`); a later `listen` after a close reopens. */
  override attach(httpServer: HttpServer, options?: AttachOptions): void {
    super.attach(httpServer, options);
    // engine.io closes with the http server and re-initialises on its next `listen`: so do we.
    httpServer.on("listening", () => {
      this.#reopen();
    });
  }

  /** Stops accepting handshakes and every timer, then closes every socket (engine.io's `close`). */
  override close(): this {
    if (!this.#closing) {
      this.#closing = true;
      this.#live.close();
      this.#loader.clear();
      this.#settings.bus?.close().catch((error: unknown) => {
        debug("bus close failed: %s", messageOf(error));
      });
    }
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
   * class AppServer extends SessionServer<AppUser, AppSession> {
   *   protected override async hydrate(record: AppSession): Promise<AppUser> {
   *     if (record.userId === undefined) throw new SessionError("HYDRATE_FAILED", "not logged in");
   *     return users.load(record.userId); // a throw or a rejection refuses the handshake
   *   }
   * }
   */
  protected hydrate(record: R, sessionId: string, req: IncomingMessage): S | Promise<S> {
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
  protected override verify(request: EngineRequest, upgrade: boolean, fn: VerifyCallback): void {
    const req = request as HandshakeRequest;
    if (req._query.sid) {
      super.verify(request, upgrade, fn);
      return;
    }
    super.verify(request, upgrade, (errorCode, errorContext) => {
      if (errorCode !== undefined) {
        fn(errorCode, errorContext);
        return;
      }
      this.#handshakes.resolve(req).then(
        (resolved) => {
          this.#finish(req, fn, resolved);
        },
        (error: unknown) => {
          this.#finish(
            req,
            fn,
            error instanceof SessionError
              ? error
              : new SessionError("STORE_ERROR", "session lookup failed: see error.cause", {
                  cause: error,
                }),
          );
        },
      );
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

  #finish(
    req: HandshakeRequest,
    fn: VerifyCallback,
    outcome: ResolvedSession<S, R> | SessionError,
  ): void {
    if (clientLeft(req)) {
      debug("handshake dropped: the client left while its session was being resolved");
      // A half-closed connection stays open on our side until destroyed (websocket upgrades).
      req.socket.destroy();
      return;
    }
    if (this.#closing) outcome = new SessionError("SERVER_CLOSING");
    if (outcome instanceof SessionError) {
      debug("handshake without session: %s: %s", outcome.code, outcome.message);
      this.emit("session_error", outcome, req);
      if (this.#settings.required || outcome.code === "SERVER_CLOSING") {
        withErrorCode(req.res, outcome.code);
        fn(Server.errors.FORBIDDEN, { name: outcome.code, message: outcome.message });
      } else {
        fn();
      }
      return;
    }
    this.#resolved.set(req, outcome);
    fn();
  }

  #reopen(): void {
    if (!this.#closing) return;
    this.#closing = false;
    this.#live.reopen();
    this.#loader.reopen();
    this.#live.subscribe();
  }

  #onConnection(conn: Conn): void {
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
    const socket = createSocket<S, R>(conn, resolved, this.#live);
    if (!this.#live.add(socket, resolved.started)) {
      // Destroyed during engine.io's own part of the handshake (an async generateId).
      debug("closing a socket whose session was destroyed while its handshake finished");
      this.emit("session_error", new SessionError("NOT_FOUND", "the session was destroyed"), req);
      conn.close();
      return;
    }
    conn[WRAPPER] = socket as unknown as SessionSocket<never>;
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
export function attach<S = SessionRecord, R extends SessionRecord = RecordOf<S>>(
  httpServer: HttpServer,
  options: SessionServerOptions,
): SessionServer<S, R> {
  return new SessionServer<S, R>(httpServer, options);
}
