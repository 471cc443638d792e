import session from "express-session";
import WebSocket from "ws";
import type { Socket as ClientSocket } from "engine.io-client";
import {
  SessionServer,
  type SessionEndReason,
  type SessionError,
  type SessionRecord,
  type SessionServerOptions,
  type SessionSocket,
  type SessionStore,
  type StoreCallback,
} from "../../lib";
import {
  SECRET,
  client,
  closeClients,
  fetchReply,
  listenOnLoopback,
  loginAt,
  outcome,
  sessionApp,
  until,
  upgraded,
  type AppSession,
  type HttpReply,
  type TestApp,
  type TransportMode,
} from "./app";
import { pollingReply } from "./raw-http";

// ---------------------------------------------------------------------------------------------
// An express-session app with the routes live-session tests need.

export interface LiveAppOptions {
  /** express-session's `cookie` option (e.g. `maxAge`, so that requests move `expires`). */
  cookie?: session.CookieOptions;
  /** express-session's `name`. */
  name?: string;
  /** Trust `X-Forwarded-Proto: https` (for `secure` cookies over plain HTTP). */
  trustProxy?: boolean;
}

/** A {@link TestApp} (usable with `client()` and `attachServer()`) with more routes. */
export interface LiveApp extends TestApp {
  readonly store: session.MemoryStore;
  /** GET `path` with `cookie` and extra headers. */
  request(path: string, cookie?: string, headers?: Record<string, string>): Promise<HttpReply>;
  /** `GET /whoami`: the session as express sees it. */
  whoami(cookie: string): Promise<{ user: { name: string } | null; counter: number | null }>;
  /** `GET /counter?value=n`: sets the counter over HTTP. */
  setCounter(cookie: string, value: number): Promise<void>;
  /** The record in the store, as the next HTTP request would load it (`undefined`: none). */
  stored(sessionId: string): Promise<AppSession | undefined>;
  /** How many sessions the store holds. */
  count(): Promise<number>;
}

/**
 * A real Express app with express-session and a MemoryStore on 127.0.0.1, port 0. Routes:
 * `/login?name=`, `/whoami`, `/logout`, `/counter?value=`.
 */
export async function startLiveApp(options: LiveAppOptions = {}): Promise<LiveApp> {
  const store = new session.MemoryStore();
  const name = options.name ?? "connect.sid";
  const app = sessionApp({ store, secret: SECRET, name, cookie: options.cookie });
  if (options.trustProxy === true) app.set("trust proxy", true);
  app.get("/counter", (req, res) => {
    req.session.counter = Number(req.query.value);
    res.json({ ok: true });
  });
  const { httpServer, url, close } = await listenOnLoopback(app);

  function request(path: string, cookie?: string, headers?: Record<string, string>) {
    return fetchReply(url, path, cookie, headers);
  }

  async function ok(path: string, cookie?: string): Promise<HttpReply> {
    const res = await request(path, cookie);
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}`);
    return res;
  }

  return {
    httpServer,
    store,
    url,
    request,
    get: request,
    login: (user) => loginAt(url, user, name),
    async whoami(cookie: string) {
      const res = await ok("/whoami", cookie);
      return res.body as { user: { name: string } | null; counter: number | null };
    },
    async setCounter(cookie: string, value: number) {
      await ok(`/counter?value=${value}`, cookie);
    },
    stored(sessionId: string) {
      return new Promise<AppSession | undefined>((resolve, reject) => {
        store.get(sessionId, (error: unknown, record) => {
          if (error) reject(error instanceof Error ? error : new Error("store failed"));
          else resolve(record ?? undefined);
        });
      });
    },
    count() {
      return new Promise<number>((resolve, reject) => {
        store.length((error: unknown, length?: number) => {
          if (error) reject(error instanceof Error ? error : new Error("store failed"));
          else resolve(length ?? 0);
        });
      });
    },
    close,
  };
}

// ---------------------------------------------------------------------------------------------
// A store for the SessionServer that wraps the app's real MemoryStore: counts calls, and can be
// told to fail, hang, hold answers back, or lack a method.

export type StoreMethod = "get" | "set" | "touch" | "destroy";

export interface InstrumentedStore extends SessionStore {
  readonly memory: session.MemoryStore;
  /** Calls so far, per method. */
  readonly calls: Record<StoreMethod, number>;
  /** Session ids of `touch` calls, in order. */
  readonly touched: string[];
  /** Reads in flight right now, and the most there ever were at once. */
  readonly inFlight: { now: number; max: number };
  /** While set, every call answers with this error (after a tick, like a network store). */
  failWith: Error | undefined;
  /** While set, `get` never answers. */
  hang: boolean;
  /** While set, `get` waits for `release()` before it reads. */
  holdCalls: boolean;
  /** While set, `get` reads at once but its answer waits for `release()`. */
  holdAnswers: boolean;
  /** How many reads or answers are held back. */
  readonly held: number;
  /** Runs the held reads and delivers the held answers. */
  release(): void;
  /** While set, `get` answers with a record that cannot be copied (it holds a function). */
  uncloneable: boolean;
}

/**
 * A store over `memory` (the app's MemoryStore) for the SessionServer. `without` leaves methods
 * out, the way minimal stores do.
 */
export function instrumentedStore(
  memory: session.MemoryStore,
  without: readonly Exclude<StoreMethod, "get">[] = [],
): InstrumentedStore {
  const held: (() => void)[] = [];

  /** Calls back with `failWith` after a tick, or runs `work`. */
  function failOr(callback: ((error: unknown) => void) | undefined, work: () => void): void {
    const failure = store.failWith;
    if (failure === undefined) {
      work();
    } else {
      setImmediate(() => callback?.(failure));
    }
  }

  function read(sid: string, callback: StoreCallback<SessionRecord | null>): void {
    failOr(callback, () => {
      const { uncloneable, holdAnswers } = store;
      store.inFlight.now++;
      store.inFlight.max = Math.max(store.inFlight.max, store.inFlight.now);
      memory.get(sid, (error: unknown, record) => {
        const answer = (): void => {
          store.inFlight.now--;
          const value = (record ?? null) as SessionRecord | null;
          if (uncloneable && value !== null) Object.assign(value, { method: () => undefined });
          callback(error, value);
        };
        if (holdAnswers) held.push(answer);
        else answer();
      });
    });
  }

  const store: InstrumentedStore = {
    memory,
    calls: { get: 0, set: 0, touch: 0, destroy: 0 },
    touched: [],
    inFlight: { now: 0, max: 0 },
    failWith: undefined,
    hang: false,
    holdCalls: false,
    holdAnswers: false,
    uncloneable: false,
    get held() {
      return held.length;
    },
    release() {
      for (const run of held.splice(0)) run();
    },
    get(sid: string, callback: StoreCallback<SessionRecord | null>) {
      store.calls.get++;
      if (store.hang) return;
      if (store.holdCalls) {
        held.push(() => {
          read(sid, callback);
        });
      } else {
        read(sid, callback);
      }
    },
    set(sid: string, record: SessionRecord, callback?: StoreCallback) {
      store.calls.set++;
      failOr(callback, () => {
        memory.set(sid, record as session.SessionData, callback);
      });
    },
    touch(sid: string, record: SessionRecord, callback?: StoreCallback) {
      store.calls.touch++;
      store.touched.push(sid);
      failOr(callback, () => {
        memory.touch(sid, record as session.SessionData, () => callback?.());
      });
    },
    destroy(sid: string, callback?: StoreCallback) {
      store.calls.destroy++;
      failOr(callback, () => {
        memory.destroy(sid, callback);
      });
    },
  };
  if (without.includes("set")) delete store.set;
  if (without.includes("touch")) delete store.touch;
  if (without.includes("destroy")) delete store.destroy;
  return store;
}

// ---------------------------------------------------------------------------------------------
// What a server and its sockets did.

export interface LiveWatch<S> {
  /** Every SessionSocket, by engine.io socket id. */
  readonly byId: Map<string, SessionSocket<S>>;
  /** Server `session_end` events, in order. */
  readonly ends: [string, SessionEndReason][];
  /** Server `session_error` events, in order. */
  readonly errors: SessionError[];
  /** Per socket, its `session_update`, `session_end` and `close` events in order. */
  readonly events: Map<SessionSocket<S>, string[]>;
  /** Per socket, the values its `session_update` events carried. */
  readonly updates: Map<SessionSocket<S>, S[]>;
}

export function watchLive<S>(server: SessionServer<S>): LiveWatch<S> {
  const watch: LiveWatch<S> = {
    byId: new Map(),
    ends: [],
    errors: [],
    events: new Map(),
    updates: new Map(),
  };
  server.on("session", (socket) => {
    const events: string[] = [];
    const updates: S[] = [];
    watch.byId.set(socket.id, socket);
    watch.events.set(socket, events);
    watch.updates.set(socket, updates);
    socket.on("session_update", (value) => {
      events.push("session_update");
      updates.push(value);
    });
    socket.on("session_end", (reason) => events.push(`session_end ${reason}`));
    socket.on("close", () => events.push("close"));
  });
  server.on("session_end", (sessionId, reason) => watch.ends.push([sessionId, reason]));
  server.on("session_error", (error) => watch.errors.push(error));
  return watch;
}

/** The events of `socket` recorded by `watch`. */
export function eventsOf<S>(watch: LiveWatch<S>, socket: SessionSocket<S>): string[] {
  return watch.events.get(socket) ?? [];
}

/** The `session_update` values of `socket` recorded by `watch`. */
export function updatesOf<S>(watch: LiveWatch<S>, socket: SessionSocket<S>): S[] {
  return watch.updates.get(socket) ?? [];
}

export interface Connected<S> {
  client: ClientSocket;
  socket: SessionSocket<S>;
}

/** Connects a real client with `cookie` over `mode`; resolves with it and its SessionSocket. */
export async function connectLive<S>(
  app: TestApp,
  watch: LiveWatch<S>,
  mode: TransportMode,
  cookie: string,
): Promise<Connected<S>> {
  const socket = client(app, mode, cookie);
  const result = await outcome(socket);
  if (result.kind !== "open") throw new Error(`client refused: ${result.error.message}`);
  await until(() => watch.byId.has(socket.id));
  const sessionSocket = watch.byId.get(socket.id)!;
  if (mode === "upgrade") {
    await upgraded(socket);
    await until(() => sessionSocket.transport === "websocket");
  }
  return { client: socket, socket: sessionSocket };
}

/** Resolves with the reason when the client closes. */
export function clientClosed(socket: ClientSocket): Promise<string> {
  return new Promise((resolve) =>
    socket.once("close", (reason) => {
      resolve(reason);
    }),
  );
}

/** Resolves with the next `session_update` value of `socket`. */
export function nextUpdate<S>(socket: SessionSocket<S>): Promise<S> {
  return new Promise((resolve) =>
    socket.once("session_update", (value) => {
      resolve(value);
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Raw handshakes, to read the exact response headers.

export interface RawHandshake {
  status: number;
  /** The `Set-Cookie` lines, one per header line. */
  setCookie: string[];
}

/** A bare polling handshake: `GET /engine.io/?EIO=4&transport=polling`. */
export async function pollingHandshake(url: string, cookie?: string): Promise<RawHandshake> {
  const { status, setCookie } = await pollingReply(url, cookie);
  return { status, setCookie };
}

/** A bare websocket handshake; resolves with the 101's headers (the socket is then closed). */
export function websocketHandshake(url: string, cookie?: string): Promise<RawHandshake> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace(/^http/, "ws")}/engine.io/?EIO=4&transport=websocket`, {
      headers: cookie === undefined ? {} : { cookie },
    });
    ws.once("upgrade", (res) => {
      resolve({ status: res.statusCode ?? 0, setCookie: res.headers["set-cookie"] ?? [] });
    });
    ws.once("open", () => {
      ws.close();
    });
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0, setCookie: res.headers["set-cookie"] ?? [] });
      res.resume();
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

/** A `Set-Cookie` line taken apart: name, value, and attributes keyed by lower-case name. */
export interface ParsedSetCookie {
  name: string;
  value: string;
  attributes: Record<string, string | true>;
}

export function parseSetCookie(line: string): ParsedSetCookie {
  const [pair, ...rest] = line.split(";").map((part) => part.trim());
  const equals = pair.indexOf("=");
  const attributes: Record<string, string | true> = {};
  for (const part of rest) {
    const at = part.indexOf("=");
    if (at === -1) attributes[part.toLowerCase()] = true;
    else attributes[part.slice(0, at).toLowerCase()] = part.slice(at + 1);
  }
  return { name: pair.slice(0, equals), value: pair.slice(equals + 1), attributes };
}

// ---------------------------------------------------------------------------------------------
// One app, one server over an instrumented store, a watch; all closed by `closeLive()`.

const opened: { close(): unknown }[] = [];
const openedApps: LiveApp[] = [];

export interface LiveSetup<S> {
  app: LiveApp;
  server: SessionServer<S>;
  watch: LiveWatch<S>;
  /** The server's store: the app's MemoryStore, instrumented. */
  store: InstrumentedStore;
}

export interface LiveSetupOptions<S> {
  /** SessionServer options (the store and secret default to the app's). */
  server?: Partial<SessionServerOptions>;
  app?: LiveAppOptions;
  /** Store methods the server's store lacks. */
  without?: readonly Exclude<StoreMethod, "get">[];
  /** Builds the server, e.g. a subclass; default `new SessionServer(httpServer, options)`. */
  make?: (app: LiveApp, options: SessionServerOptions) => SessionServer<S>;
}

export async function setupLive<S = AppSession>(
  options: LiveSetupOptions<S> = {},
): Promise<LiveSetup<S>> {
  const app = await startLiveApp(options.app);
  openedApps.push(app);
  const store = instrumentedStore(app.store, options.without);
  const serverOptions: SessionServerOptions = { store, secret: SECRET, ...options.server };
  const server =
    options.make?.(app, serverOptions) ?? new SessionServer<S>(app.httpServer, serverOptions);
  opened.push(server);
  return { app, server, watch: watchLive(server), store };
}

/** Closes every client, server and app opened since the last call. */
export async function closeLive(): Promise<void> {
  closeClients();
  for (const closable of opened.splice(0)) closable.close();
  await Promise.all(openedApps.splice(0).map((app) => app.close()));
}

/** An `updateSession` mutation: adds one to the stored counter. */
export function increment(data: AppSession): void {
  data.counter = (data.counter ?? 0) + 1;
}
