import http from "node:http";
import type { AddressInfo } from "node:net";
import { Socket as ClientSocket } from "engine.io-client";
import type { SessionServer, SessionSocket } from "../lib";

// The matrix's own small helpers (real HTTP on 127.0.0.1, real engine.io clients, one event
// recorder), so that it depends on the library's public API only.

/** The secret the app and the SessionServers share. */
export const SECRET = "store matrix secret";

/** The session the test app stores. */
export interface MatrixSession {
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

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Waits until `predicate` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await delay(10);
  }
}

/** An HTTP server on 127.0.0.1, port 0. */
export interface Listening {
  readonly httpServer: http.Server;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly close: () => Promise<void>;
}

export async function listen(handler: http.RequestListener): Promise<Listening> {
  const httpServer = http.createServer(handler);
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const { port } = httpServer.address() as AddressInfo;
  return {
    httpServer,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.closeAllConnections();
        httpServer.close(() => {
          resolve();
        });
      }),
  };
}

/** A GET with `cookie`: status, parsed JSON body (or the text), `Set-Cookie` lines. */
export async function get(
  url: string,
  cookie?: string,
): Promise<{ status: number; body: unknown; setCookie: string[] }> {
  const res = await fetch(url, { headers: cookie === undefined ? {} : { cookie } });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body, setCookie: res.headers.getSetCookie() };
}

/** The session id inside a `connect.sid=s%3A<id>.<sig>` cookie. */
export function sessionIdOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf("=") + 1));
  return value.slice(2, value.lastIndexOf("."));
}

export type TransportMode = "polling" | "websocket";

const clients = new Set<ClientSocket>();

/** A real engine.io client to `url` sending `cookie`; closed by {@link closeClients}. */
export function client(url: string, mode: TransportMode, cookie?: string): ClientSocket {
  const socket = new ClientSocket(url, {
    transports: [mode],
    extraHeaders: cookie === undefined ? {} : { cookie },
  });
  clients.add(socket);
  socket.on("close", () => clients.delete(socket));
  return socket;
}

export function closeClients(): void {
  for (const socket of clients) socket.close();
  clients.clear();
}

/** Resolves `"open"` when `socket` connects, or the refusal's message and context. */
export function outcome(socket: ClientSocket): Promise<string> {
  return new Promise((resolve) => {
    socket.once("open", () => {
      resolve("open");
    });
    socket.once("error", (error: string | Error) => {
      if (typeof error === "string") {
        resolve(`refused: ${error}`);
        return;
      }
      // engine.io-client's TransportError carries the server's answer in `description`.
      const { description } = error as Error & { description?: unknown };
      let detail = "";
      if (description instanceof Error) detail = ` ${description.message}`;
      else if (description !== undefined) detail = ` ${JSON.stringify(description)}`;
      resolve(`refused: ${error.message}${detail}`);
    });
  });
}

/** What a SessionServer and its sockets did. */
export interface Recorder<S> {
  /** Every SessionSocket, by engine.io socket id. */
  readonly sockets: Map<string, SessionSocket<S>>;
  /** Per socket: `session_update`, `session_end <reason>`, `close`, in order. */
  readonly events: Map<SessionSocket<S>, string[]>;
  /** The codes of the server's `session_error` events, in order. */
  readonly errors: string[];
}

export function record<S>(server: SessionServer<S>): Recorder<S> {
  const recorder: Recorder<S> = { sockets: new Map(), events: new Map(), errors: [] };
  server.on("session", (socket) => {
    const events: string[] = [];
    recorder.sockets.set(socket.id, socket);
    recorder.events.set(socket, events);
    socket.on("session_update", () => events.push("session_update"));
    socket.on("session_end", (reason) => events.push(`session_end ${reason}`));
    socket.on("close", () => events.push("close"));
  });
  server.on("session_error", (error) => recorder.errors.push(error.code));
  return recorder;
}
