import type http from "node:http";
import express from "express";
import session from "express-session";
import { SECRET, get, listen } from "./harness";

/** What `/whoami` answers: the session as the HTTP app sees it. */
export interface WhoAmI {
  /** express-session's `req.sessionID`: a new id when the store did not have the cookie's. */
  sid: string;
  user: { name: string } | null;
  counter: number | null;
}

/** The cookie lifetime of sessions that do not ask for another at login. */
export const DEFAULT_MAX_AGE = 60_000;

/**
 * The HTTP side: Express + express-session over the store under test, `rolling: true` (every
 * request moves the expiry: express-session calls `store.touch` on unchanged sessions), on
 * 127.0.0.1. Routes: `/login?name=&maxAge=` (`maxAge=none`: a browser-session cookie), `/whoami`,
 * `/counter?value=`, `/logout`.
 */
export interface StoreApp {
  readonly app: express.Express;
  readonly url: string;
  readonly httpServer: http.Server;
  /**
   * Logs in; resolves with the `Cookie` header value. `maxAge` (ms) sets this session's lifetime;
   * `null` makes it a browser-session cookie (no `expires`: the stores' default TTL).
   */
  login(name: string, maxAge?: number | null): Promise<string>;
  /** `GET /whoami`. */
  whoami(cookie: string): Promise<WhoAmI>;
  /** `GET /whoami`, the `Set-Cookie` line of the session cookie (`rolling`: every response has one). */
  setCookieOf(cookie: string): Promise<string | undefined>;
  /** `GET /counter?value=`: changes the session over HTTP. */
  setCounter(cookie: string, value: number): Promise<void>;
  /** `GET /logout`: express-session's `destroy`. */
  logout(cookie: string): Promise<void>;
  close(): Promise<void>;
}

async function ok(url: string, path: string, cookie?: string): ReturnType<typeof get> {
  const reply = await get(`${url}${path}`, cookie);
  if (reply.status !== 200) {
    throw new Error(`GET ${path} answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  }
  return reply;
}

/** Starts a {@link StoreApp} over `store`. */
export async function startStoreApp(store: session.Store): Promise<StoreApp> {
  const app = express();
  app.use(
    session({
      store,
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      rolling: true,
      cookie: { maxAge: DEFAULT_MAX_AGE, sameSite: "lax" },
    }),
  );
  app.get("/login", (req, res) => {
    req.session.user = { name: typeof req.query.name === "string" ? req.query.name : "" };
    const { maxAge } = req.query;
    // What express-session stores without a `maxAge` option (its typings leave out the null).
    if (maxAge === "none") (req.session.cookie as { maxAge: number | null }).maxAge = null;
    else if (typeof maxAge === "string") req.session.cookie.maxAge = Number(maxAge);
    res.json({ ok: true });
  });
  app.get("/whoami", (req, res) => {
    res.json({
      sid: req.sessionID,
      user: req.session.user ?? null,
      counter: req.session.counter ?? null,
    });
  });
  app.get("/counter", (req, res) => {
    req.session.counter = Number(req.query.value);
    res.json({ ok: true });
  });
  app.get("/logout", (req, res, next) => {
    req.session.destroy((error) => {
      if (error) next(error);
      else res.json({ ok: true });
    });
  });
  const loopback = await listen(app);
  const { httpServer, url } = loopback;
  return {
    app,
    url,
    httpServer,
    async login(name, maxAge) {
      const query = maxAge === undefined ? "" : `&maxAge=${maxAge ?? "none"}`;
      const reply = await ok(url, `/login?name=${encodeURIComponent(name)}${query}`);
      const line = reply.setCookie.find((value) => value.startsWith("connect.sid="));
      if (line === undefined) throw new Error("login set no session cookie");
      return line.split(";")[0];
    },
    async whoami(cookie) {
      return (await ok(url, "/whoami", cookie)).body as WhoAmI;
    },
    async setCookieOf(cookie) {
      const reply = await ok(url, "/whoami", cookie);
      return reply.setCookie.find((value) => value.startsWith("connect.sid="));
    },
    async setCounter(cookie, value) {
      await ok(url, `/counter?value=${value}`, cookie);
    },
    async logout(cookie) {
      await ok(url, "/logout", cookie);
    },
    close: () => loopback.close(),
  };
}
