import http from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import session from "express-session";
import { sign } from "cookie-signature";
import { Socket as ClientSocket, type SocketOptions } from "engine.io-client";
import { SessionServer, type SessionServerOptions, type SessionStore } from "../../lib";

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

export async function startApp(options: TestAppOptions = {}): Promise<TestApp> {
  const store = options.store ?? new session.MemoryStore();
  const app = express();
  app.use(
    session({
      store,
      secret: options.secret ?? SECRET,
      name: options.name ?? "connect.sid",
      resave: false,
      saveUninitialized: false,
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
  const httpServer = http.createServer(app);
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const { port } = httpServer.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const cookieName = options.name ?? "connect.sid";

  async function get(path: string, cookie?: string) {
    const res = await fetch(`${url}${path}`, { headers: cookie ? { cookie } : {} });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body, setCookie: res.headers.getSetCookie() };
  }

  return {
    httpServer,
    store,
    url,
    get,
    async login(name: string) {
      const res = await fetch(`${url}/login?name=${encodeURIComponent(name)}`);
      const setCookie = res.headers.getSetCookie().find((c) => c.startsWith(`${cookieName}=`));
      if (setCookie === undefined) throw new Error("login set no session cookie");
      await res.text();
      return setCookie.split(";")[0];
    },
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

/** A SessionServer attached to the app, with the app's store and secret unless overridden. */
export function attachServer<S = AppSession>(
  app: TestApp,
  options: Partial<SessionServerOptions> = {},
): SessionServer<S> {
  return new SessionServer<S>(app.httpServer, { store: app.store, secret: SECRET, ...options });
}

/** The three ways a client reaches the server. */
export const TRANSPORTS = {
  polling: { transports: ["polling"] },
  websocket: { transports: ["websocket"] },
  upgrade: { transports: ["polling", "websocket"] },
} as const satisfies Record<string, Partial<SocketOptions>>;

export type TransportMode = keyof typeof TRANSPORTS;
export const TRANSPORT_MODES = Object.keys(TRANSPORTS) as TransportMode[];

/** A real engine.io-client socket; closed by `closeClients()`. */
const openClients = new Set<ClientSocket>();

export function client(
  app: TestApp,
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
