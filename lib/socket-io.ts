/**
 * `engine.io-session/socket.io`: a socket.io server whose engine is a {@link SessionServer}, in one
 * call ({@link createSessionIo}). Every socket.io socket, in every namespace, has its session
 * before socket.io sees it; a refused client gets `connect_error` with `err.data.code` and stops
 * retrying. This entry loads `socket.io` (an optional peer dependency); the main entry never does.
 *
 * @module engine.io-session/socket.io
 */
import type { IncomingMessage, Server as HttpServer } from "node:http";
import {
  Server as EngineServer,
  type AttachOptions,
  type ServerOptions,
  type Socket,
} from "engine.io";
import {
  Server as IoServer,
  type DefaultEventsMap,
  type ServerOptions as IoServerOptions,
} from "socket.io";
import type { SessionErrorCode } from "./errors";
import type { SessionServerOptions } from "./options";
import { SessionServer, type SessionServerEvents } from "./session-server";
import type { SessionSocket } from "./session-socket";
import type { RecordOf, SessionRecord } from "./store";

/** socket.io's own options: the ones engine.io does not read. */
type IoOnlyKey = Exclude<keyof IoServerOptions, keyof ServerOptions | keyof AttachOptions>;

/** Every socket.io-only option, so a new one in socket.io's types fails the build here. */
const IO_ONLY_KEYS: Readonly<Record<IoOnlyKey, true>> = {
  serveClient: true,
  adapter: true,
  parser: true,
  connectTimeout: true,
  connectionStateRecovery: true,
  cleanupEmptyChildNamespaces: true,
};

/**
 * Which refusals a socket.io client is told in `err.data.code`, ending its retries: all but a
 * closing server, which a retry may find up again (a restart), or another node may answer.
 */
const TOLD: Readonly<Record<SessionErrorCode, boolean>> = {
  NO_COOKIE: true,
  BAD_SIGNATURE: true,
  NOT_FOUND: true,
  STORE_ERROR: true,
  TIMEOUT: true,
  HYDRATE_FAILED: true,
  BAD_ORIGIN: true,
  SERVER_CLOSING: false,
};

/** socket.io's default path, used for the engine too (engine.io's own default is `/engine.io`). */
const DEFAULT_PATH = "/socket.io";
/** How long a refused connection stays open for CONNECT packets of further namespaces. */
const REFUSAL_GRACE_MS = 1000;
/** socket.io's default `connectTimeout`: a refused client that never asks is closed after it. */
const DEFAULT_CONNECT_TIMEOUT_MS = 45_000;

/**
 * Options of {@link createSessionIo}: every {@link SessionServerOptions} option (the session
 * settings and engine.io's options) plus socket.io's own (`adapter`, `parser`, `connectTimeout`,
 * `connectionStateRecovery`, `cleanupEmptyChildNamespaces`, `serveClient`). Each goes where it
 * belongs: the session settings only to the engine (socket.io never sees the secret), socket.io's
 * options only to socket.io, `path` and `cors` to both.
 *
 * @example
 * const options: SessionIoOptions = {
 *   store, // the same store, secret and cookie name as express-session
 *   secret,
 *   pingTimeout: 20_000, // engine.io
 *   connectionStateRecovery: {}, // socket.io
 * };
 */
export type SessionIoOptions = SessionServerOptions &
  Partial<Omit<IoServerOptions, keyof ServerOptions | keyof AttachOptions>>;

/**
 * What a socket.io client finds in `err.data` of the `connect_error` of a refused handshake;
 * `err.message` is the refusal's explanation.
 *
 * @example
 * socket.on("connect_error", (err) => {
 *   const data: unknown = "data" in err ? err.data : undefined;
 *   if (typeof data === "object" && data !== null && "code" in data) showLogin(String(data.code));
 * });
 */
export interface SessionRefusalData {
  /** Why the handshake had no session: `NO_COOKIE`, `BAD_SIGNATURE`, `NOT_FOUND`, ... */
  code: SessionErrorCode;
}

/** What a socket.io socket of any namespace offers here: its engine.io connection. */
export interface IoSocketLike {
  /** The engine.io socket under the socket.io socket. */
  readonly conn: Socket;
}

/**
 * The socket.io `Server` that {@link createSessionIo} returns: socket.io's own server, with its
 * generics, plus the typed engine and {@link SessionIoServer.sessionOf}.
 *
 * @typeParam S - the app's session type
 * @typeParam ListenEvents - socket.io: the events clients send
 * @typeParam EmitEvents - socket.io: the events the server sends
 * @typeParam ServerSideEvents - socket.io: the events between servers (`serverSideEmit`)
 * @typeParam SocketData - socket.io: the type of `socket.data`
 * @typeParam Guests - `true` when sockets without a session can connect (`required: false`)
 */
export interface SessionIoServer<
  S = SessionRecord,
  ListenEvents extends object = DefaultEventsMap,
  EmitEvents extends object = ListenEvents,
  ServerSideEvents extends object = DefaultEventsMap,
  SocketData = Record<string, unknown>,
  Guests extends boolean = false,
> extends IoServer<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  /**
   * The engine: a {@link SessionServer}. Its events (`session_error`, `connection_error`,
   * `session_end`) and members (`destroySession`, `socketsOf`, `stats`, ...) are here.
   */
  readonly engine: SessionServer<S, RecordOf<S>>;
  /**
   * The {@link SessionSocket} of a socket.io socket of any namespace: `session`, `sessionId`,
   * `updateSession`, ... Read `.session` when you need it: updates replace the value.
   * With `required: false`, `undefined` for a socket without a session.
   *
   * @throws TypeError for a socket of another server
   * @example
   * io.of("/admin").on("connection", (socket) => {
   *   const { session } = io.sessionOf(socket);
   *   socket.emit("hello", session.user?.name ?? "stranger");
   * });
   */
  sessionOf(
    socket: IoSocketLike,
  ): Guests extends true
    ? SessionSocket<S, RecordOf<S>> | undefined
    : SessionSocket<S, RecordOf<S>>;
}

/** What a refused handshake keeps until its connection exists: what the client will be told. */
interface Refusal {
  readonly code: SessionErrorCode;
  readonly message: string;
}

function isRefusal(context: unknown): context is { name: SessionErrorCode; message: string } {
  if (typeof context !== "object" || context === null) return false;
  const { name, message } = context as { name?: unknown; message?: unknown };
  return (
    typeof name === "string" &&
    Object.hasOwn(TOLD, name) &&
    TOLD[name as SessionErrorCode] &&
    typeof message === "string"
  );
}

type EngineRequest = Parameters<EngineServer["verify"]>[0];
type VerifyCallback = Parameters<EngineServer["verify"]>[2];

/**
 * The engine: a SessionServer that accepts the engine.io handshake of a refused client, so the
 * refusal can be told in socket.io's own terms (a CONNECT_ERROR with the code), which a socket.io
 * client reads as `connect_error` and does not retry. The connection never reaches socket.io.
 */
class SessionIoEngine<S> extends SessionServer<S> {
  /** Refused handshakes waiting for their connection, by request (as the core keeps resolved ones). */
  readonly #refusals = new WeakMap<IncomingMessage, Refusal>();
  /** Set by the socket.io server right after construction, before any handshake can finish. */
  refuse!: (conn: Socket, refusal: Refusal) => void;

  /** @internal Turns a session refusal into an accepted handshake that will be told the code. */
  protected override verify(req: EngineRequest, upgrade: boolean, fn: VerifyCallback): void {
    if (req._query.sid) {
      super.verify(req, upgrade, fn);
      return;
    }
    super.verify(req, upgrade, (errorCode, errorContext) => {
      if (errorCode !== EngineServer.errors.FORBIDDEN || !isRefusal(errorContext)) {
        fn(errorCode, errorContext);
        return;
      }
      this.#refusals.set(req, { code: errorContext.name, message: errorContext.message });
      // What engine.io would have emitted for the refusal: server-side logging stays the same.
      this.emit("connection_error", {
        req,
        code: errorCode,
        message: EngineServer.errorMessages[errorCode],
        context: { name: errorContext.name, message: errorContext.message },
      });
      fn();
    });
  }

  /** @internal A refused connection is handed to `refuse`, never to a `connection` listener. */
  override emit<E extends keyof SessionServerEvents<S>>(
    event: E,
    ...args: Parameters<SessionServerEvents<S>[E]>
  ): boolean {
    if (event === "connection") {
      const conn = args[0] as Socket;
      const refusal = this.#refusals.get(conn.request);
      if (refusal !== undefined) {
        this.#refusals.delete(conn.request);
        this.refuse(conn, refusal);
        return false;
      }
    }
    return super.emit(event, ...args);
  }
}

/** socket.io's hidden static-file handler for `/socket.io/socket.io.js` and friends. */
interface ClientServing {
  attachServe(httpServer: HttpServer): void;
}

/** socket.io declares `attachServe` private; it has been there since socket.io 1. */
function clientServingOf(io: object): ClientServing | undefined {
  const candidate = io as Partial<ClientServing>;
  return typeof candidate.attachServe === "function" ? (candidate as ClientServing) : undefined;
}

/** The runtime class behind {@link SessionIoServer}. */
class SessionIo<
  S,
  ListenEvents extends object,
  EmitEvents extends object,
  ServerSideEvents extends object,
  SocketData,
> extends IoServer<ListenEvents, EmitEvents, ServerSideEvents, SocketData> {
  readonly #guests: boolean;
  readonly #engine: SessionServer<S, RecordOf<S>>;

  constructor(
    engine: SessionIoEngine<S>,
    httpServer: HttpServer,
    options: Partial<IoServerOptions>,
    guests: boolean,
  ) {
    super(options);
    this.#guests = guests;
    this.#engine = engine;
    this.bind(engine);
    // As socket.io does when it attaches itself: io.close() also closes the HTTP server.
    this.httpServer = httpServer;
    if (this.serveClient()) {
      const serving = clientServingOf(this);
      if (serving === undefined) {
        throw new TypeError(
          "this socket.io version cannot serve its client bundle here: pass serveClient: false and bundle socket.io-client",
        );
      }
      serving.attachServe(httpServer);
    }
    const connectTimeout = options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
    engine.refuse = (conn, refusal) => {
      refuseConnection(this, conn, refusal, connectTimeout);
    };
  }

  sessionOf(socket: IoSocketLike): SessionSocket<S, RecordOf<S>> | undefined {
    const found = this.#engine.sessionOf(socket.conn);
    if (found === undefined && !this.#guests) {
      throw new TypeError(
        "this socket has no session: its handshake was refused (such a socket never reaches socket.io), or it belongs to another server",
      );
    }
    return found;
  }
}

/**
 * Answers every socket.io CONNECT of a refused connection with a CONNECT_ERROR that carries the
 * code (`{ message, data: { code } }`: socket.io-client's `connect_error`, `err.data.code`), then
 * closes it. socket.io-client destroys a socket on CONNECT_ERROR: no retry.
 */
function refuseConnection(
  io: Pick<IoServer, "_parser" | "encoder">,
  conn: Socket,
  refusal: Refusal,
  connectTimeout: number,
): void {
  const { PacketType, Decoder } = io._parser;
  const decoder = new Decoder();
  // Nothing asked, nothing to tell: drop the connection at once (close() would wait for a poll).
  const drop = (): void => {
    conn.close(true);
  };
  let closeTimer = setTimeout(drop, connectTimeout).unref();
  const answer = (nsp: string): void => {
    const packet = {
      type: PacketType.CONNECT_ERROR,
      nsp,
      data: { message: refusal.message, data: { code: refusal.code } satisfies SessionRefusalData },
    };
    for (const encoded of io.encoder.encode(packet)) conn.write(encoded);
    // A little while for the CONNECTs of other namespaces on this connection; the client's manager
    // usually closes first, once none of its sockets is active. close() sends what is buffered.
    clearTimeout(closeTimer);
    closeTimer = setTimeout(() => {
      conn.close();
    }, REFUSAL_GRACE_MS).unref();
  };
  decoder.on("decoded", (packet: { type: unknown; nsp: string }) => {
    if (packet.type === PacketType.CONNECT) answer(packet.nsp);
  });
  conn.on("data", (data: unknown) => {
    try {
      decoder.add(data);
    } catch {
      drop(); // not socket.io: nothing to tell
    }
  });
  conn.once("close", () => {
    clearTimeout(closeTimer);
    decoder.destroy();
  });
  // socket.io v2 clients (EIO=3, allowEIO3) join "/" without a CONNECT packet.
  if (conn.protocol === 3) answer("/");
}

/** Splits the options: session and engine.io options to the engine, socket.io's to socket.io. */
function splitOptions(options: SessionIoOptions): {
  engine: SessionServerOptions;
  io: Partial<IoServerOptions>;
} {
  const engine: Record<string, unknown> = {};
  const io: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (Object.hasOwn(IO_ONLY_KEYS, key)) io[key] = value;
    else engine[key] = value;
  }
  const path = options.path ?? DEFAULT_PATH;
  engine.path = path;
  io.path = path;
  // socket.io answers CORS preflights for its client bundle with these.
  if (options.cors !== undefined) io.cors = options.cors;
  return { engine: engine as unknown as SessionServerOptions, io };
}

/**
 * Builds a socket.io server whose engine is a {@link SessionServer}, attached to `httpServer` at
 * socket.io's path (`/socket.io`, or `path`), serving the client bundle at
 * `/socket.io/socket.io.js` (unless `serveClient: false`), as `new Server(httpServer, options)`
 * does. Every socket.io socket, in every namespace, has its session: {@link SessionIoServer.sessionOf}.
 *
 * A client refused at the handshake (no cookie, bad signature, not in the store, ...) gets
 * `connect_error` with `err.message` and `err.data.code` (the `SessionErrorCode`), and
 * socket.io-client stops retrying (`socket.active === false`); socket.io never creates a socket
 * for it. The engine emits `session_error` and `connection_error` as usual.
 *
 * @typeParam S - the app's session type
 * @typeParam ListenEvents - socket.io: the events clients send
 * @typeParam EmitEvents - socket.io: the events the server sends
 * @typeParam ServerSideEvents - socket.io: the events between servers
 * @typeParam SocketData - socket.io: the type of `socket.data`
 * @param httpServer - the HTTP server of your app (the one express-session runs in)
 * @param options - the session settings, engine.io's and socket.io's options
 * @example
 * import { createSessionIo } from "engine.io-session/socket.io";
 *
 * app.use(session({ store, secret, resave: false, saveUninitialized: false }));
 * const httpServer = http.createServer(app);
 * const io = createSessionIo<AppSession, ClientToServer, ServerToClient>(httpServer, { store, secret });
 *
 * io.on("connection", (socket) => {
 *   socket.emit("hello", io.sessionOf(socket).session.user?.name ?? "stranger");
 * });
 * io.engine.on("session_error", (error) => console.warn(error.code));
 * httpServer.listen(3000);
 */
export function createSessionIo<
  S = SessionRecord,
  ListenEvents extends object = DefaultEventsMap,
  EmitEvents extends object = ListenEvents,
  ServerSideEvents extends object = DefaultEventsMap,
  SocketData = Record<string, unknown>,
>(
  httpServer: HttpServer,
  options: SessionIoOptions & { required: false },
): SessionIoServer<S, ListenEvents, EmitEvents, ServerSideEvents, SocketData, true>;
/** With `required` left out or `true` (the default): every socket has a session. */
export function createSessionIo<
  S = SessionRecord,
  ListenEvents extends object = DefaultEventsMap,
  EmitEvents extends object = ListenEvents,
  ServerSideEvents extends object = DefaultEventsMap,
  SocketData = Record<string, unknown>,
>(
  httpServer: HttpServer,
  options: SessionIoOptions & { required?: true },
): SessionIoServer<S, ListenEvents, EmitEvents, ServerSideEvents, SocketData>;
/** With `required` a `boolean` known only at run time. */
export function createSessionIo<
  S = SessionRecord,
  ListenEvents extends object = DefaultEventsMap,
  EmitEvents extends object = ListenEvents,
  ServerSideEvents extends object = DefaultEventsMap,
  SocketData = Record<string, unknown>,
>(
  httpServer: HttpServer,
  options: SessionIoOptions,
): SessionIoServer<S, ListenEvents, EmitEvents, ServerSideEvents, SocketData, boolean>;
export function createSessionIo<
  S,
  ListenEvents extends object,
  EmitEvents extends object,
  ServerSideEvents extends object,
  SocketData,
>(
  httpServer: HttpServer,
  options: SessionIoOptions,
): SessionIoServer<S, ListenEvents, EmitEvents, ServerSideEvents, SocketData, boolean> {
  const given: unknown = options; // JavaScript callers may pass anything
  if (typeof given !== "object" || given === null) {
    throw new TypeError(
      "options are required: pass { store, secret } with your express-session store and secret",
    );
  }
  const split = splitOptions(options);
  const engine = new SessionIoEngine<S>(httpServer, split.engine);
  const io = new SessionIo<S, ListenEvents, EmitEvents, ServerSideEvents, SocketData>(
    engine,
    httpServer,
    split.io,
    options.required === false,
  );
  return io as unknown as SessionIoServer<
    S,
    ListenEvents,
    EmitEvents,
    ServerSideEvents,
    SocketData,
    boolean
  >;
}
