import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import session from "express-session";
import { sign } from "cookie-signature";
import { Socket as ClientSocket, type SocketOptions } from "engine.io-client";
import {
  SessionServer,
  type SessionServerOptions,
  type SessionServerStats,
  type SessionStore,
} from "../../lib";

/** The session shape the test app stores. */
export interface AppSession {
  cookie: { originalMaxAge?: number | null; expires?: Date | string | null };
  user?: { name: string };
  counter?: number;
}

declare module "express-session" {
  interface SessionData {
    user?: { name: string };
    counter?: number;
  }
}

export const SECRET = "test secret";

/** A real Express app with express-session on a real HTTP server on 127.0.0.1, port 0. */
export interface TestApp {
  readonly httpServer: http.Server;
  readonly store: session.Store;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Logs `name` in over HTTP; resolves with the `Cookie` header value to send (`connect.sid=...`). */
  login(name: string): Promise<string>;
  /** GET `path` with `cookie`; resolves with status and parsed JSON body. */
  get(path: string, cookie?: string): Promise<{ status: number; body: unknown }>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  store?: session.Store;
  secret?: string | string[];
  name?: string;
}

/** Starts a {@link TestApp} over `store` (a new MemoryStore by default). */
export async function startApp(options: TestAppOptions = {}): Promise<TestApp> {
  const store = options.store ?? new session.MemoryStore();
  const name = options.name ?? "connect.sid";
  const app = sessionApp({ store, secret: options.secret ?? SECRET, name });
  const { httpServer, url, close } = await listenOnLoopback(app);
  return {
    httpServer,
    store,
    url,
    get: (path, cookie) => fetchReply(url, path, cookie),
    login: (user) => loginAt(url, user, name),
    close,
  };
}

/**
 * An Express app with express-session (no resave, no uninitialized sessions) and the routes every
 * test app has: `/login?name=` logs in, `/whoami` shows the session, `/logout` destroys it.
 */
export function sessionApp(options: {
  store: session.Store;
  secret: string | string[];
  name: string;
  cookie?: session.CookieOptions;
}): express.Express {
  const { store, secret, name, cookie } = options;
  const app = express();
  app.use(
    session({
      store,
      secret,
      name,
      resave: false,
      saveUninitialized: false,
      ...(cookie === undefined ? {} : { cookie }),
    }),
  );
  app.get("/login", (req, res) => {
    req.session.user = { name: typeof req.query.name === "string" ? req.query.name : "" };
    res.json({ ok: true });
  });
  app.get("/whoami", (req, res) => {
    res.json({ user: req.session.user ?? null, counter: req.session.counter ?? null });
  });
  app.get("/logout", (req, res, next) => {
    req.session.destroy((error) => {
      if (error) next(error);
      else res.json({ ok: true });
    });
  });
  return app;
}

/** An HTTP server listening on 127.0.0.1, port 0. */
export interface LoopbackServer {
  readonly httpServer: http.Server;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Drops open connections and stops listening. */
  close(): Promise<void>;
}

/** Serves `handler` (an Express app, say) on 127.0.0.1, port 0. */
export async function listenOnLoopback(handler: http.RequestListener): Promise<LoopbackServer> {
  const httpServer = http.createServer(handler);
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const { port } = httpServer.address() as AddressInfo;
  return {
    httpServer,
    url: `http://127.0.0.1:${port}`,
    close() {
      httpServer.closeAllConnections();
      return new Promise<void>((resolve) =>
        httpServer.close(() => {
          resolve();
        }),
      );
    },
  };
}

/** What a GET answered. */
export interface HttpReply {
  status: number;
  /** Parsed when it is JSON, the text otherwise. */
  body: unknown;
  /** The raw `Set-Cookie` lines of the response. */
  setCookie: string[];
}

/** GET `url` + `path`, sending `cookie` (when given) and `headers`. */
export async function fetchReply(
  url: string,
  path: string,
  cookie?: string,
  headers: Record<string, string> = {},
): Promise<HttpReply> {
  const res = await fetch(`${url}${path}`, {
    headers: { ...headers, ...(cookie === undefined ? {} : { cookie }) },
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, setCookie: res.headers.getSetCookie() };
}

/**
 * Logs `user` in over HTTP on the app at `url` (`GET /login?name=`); resolves with the `Cookie`
 * header value to send (`connect.sid=...`).
 */
export async function loginAt(
  url: string,
  user: string,
  cookieName = "connect.sid",
): Promise<string> {
  const path = `/login?name=${encodeURIComponent(user)}`;
  const res = await fetchReply(url, path);
  if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status}`);
  const setCookie = res.setCookie.find((line) => line.startsWith(`${cookieName}=`));
  if (setCookie === undefined) throw new Error("login set no session cookie");
  return setCookie.split(";")[0];
}

/** A SessionServer attached to the app, with the app's store and secret unless overridden. */
export function attachServer<S = AppSession>(
  app: TestApp,
  options: Partial<SessionServerOptions> = {},
): SessionServer<S> {
  return new SessionServer<S>(app.httpServer, { store: app.store, secret: SECRET, ...options });
}

/** The stats of a server that holds nothing (typed: a new stat must be added here). */
export const ZERO_STATS: SessionServerStats = {
  sessions: 0,
  sockets: 0,
  pendingLookups: 0,
  sharedLookups: 0,
  tombstones: 0,
  bus: "none",
  locks: 0,
  timers: 0,
};

/** The three ways a client reaches the server. */
export const TRANSPORTS = {
  polling: { transports: ["polling"] },
  websocket: { transports: ["websocket"] },
  upgrade: { transports: ["polling", "websocket"] },
} as const satisfies Record<string, Partial<SocketOptions>>;

export type TransportMode = keyof typeof TRANSPORTS;
export const TRANSPORT_MODES = Object.keys(TRANSPORTS) as TransportMode[];

const openClients = new Set<ClientSocket>();

/** A real engine.io-client socket to `app` (any server with a URL); closed by `closeClients()`. */
export function client(
  app: Pick<TestApp, "url">,
  mode: TransportMode,
  cookie?: string,
  extra: Partial<SocketOptions> = {},
): ClientSocket {
  const socket = new ClientSocket(app.url, {
    ...TRANSPORTS[mode],
    extraHeaders: cookie === undefined ? {} : { cookie },
    ...extra,
  });
  openClients.add(socket);
  socket.on("close", () => openClients.delete(socket));
  return socket;
}

/** Resolves "open" when the client connects, or the error's description when it is refused. */
export function outcome(
  socket: ClientSocket,
): Promise<{ kind: "open" } | { kind: "error"; error: Error & { description?: unknown } }> {
  return new Promise((resolve) => {
    socket.once("open", () => {
      resolve({ kind: "open" });
    });
    socket.once("error", (error) => {
      resolve({ kind: "error", error: error as Error });
    });
  });
}

/** Resolves when `socket` has upgraded to websocket (or at once if it already has). */
export function upgraded(socket: ClientSocket): Promise<void> {
  if (socket.transport.name === "websocket") return Promise.resolve();
  return new Promise((resolve) =>
    socket.once("upgrade", () => {
      resolve();
    }),
  );
}

export function closeClients(): void {
  for (const socket of openClients) socket.close();
  openClients.clear();
}

/** An express-session cookie for `sid`, signed with `secret`. */
export function signedCookie(sid: string, secret = SECRET, name = "connect.sid"): string {
  return `${name}=${encodeURIComponent(`s:${sign(sid, secret)}`)}`;
}

/** The session id inside a `connect.sid=s%3A<id>.<sig>` cookie. */
export function sessionIdOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf("=") + 1));
  return value.slice(2, value.lastIndexOf("."));
}

/** A store wrapper that counts calls to `get`, for coalescing and hot-path checks. */
export function countingStore<T extends SessionStore>(store: T): T & { gets: number } {
  const counted = store as T & { gets: number };
  const get = store.get.bind(store);
  counted.gets = 0;
  counted.get = (sid, callback) => {
    counted.gets++;
    return get(sid, callback);
  };
  return counted;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `predicate` holds, polling every 5 ms, failing after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await delay(5);
  }
}
