import type session from "express-session";
import type { IncomingMessage } from "node:http";
import { unsign } from "cookie-signature";
import {
  SessionServer,
  type SessionCookieOptions,
  type SessionRecord,
  type SessionServerOptions,
  type SessionSocket,
} from "../lib";
import { client, outcome, SECRET, signedCookie, until, type AppSession } from "./helpers/app";
import {
  closeLive,
  parseSetCookie,
  pollingHandshake,
  setupLive,
  websocketHandshake,
  type LiveAppOptions,
  type LiveSetup,
  type ParsedSetCookie,
  type RawHandshake,
} from "./helpers/live";

afterEach(closeLive);

type Transport = "polling" | "websocket";

const HANDSHAKES: Record<Transport, (url: string, cookie?: string) => Promise<RawHandshake>> = {
  polling: pollingHandshake,
  websocket: websocketHandshake,
};

/** What a handshake that was let in answers with. */
const ACCEPTED: Record<Transport, number> = { polling: 200, websocket: 101 };
/** What a refused handshake answers with. */
const REFUSED: Record<Transport, number> = { polling: 403, websocket: 400 };

/** An app and a server with `create: true` (plus `options`), recording its SessionSockets. */
async function creating(
  options: Partial<SessionServerOptions> = {},
  app: LiveAppOptions = {},
): Promise<LiveSetup<AppSession> & { sockets: SessionSocket<AppSession>[] }> {
  const setup = await setupLive({ server: { create: true, ...options }, app });
  const sockets: SessionSocket<AppSession>[] = [];
  setup.server.on("session", (socket) => sockets.push(socket));
  return { ...setup, sockets };
}

/** The `connect.sid` lines of a response. */
function sessionCookies(setCookie: string[]): ParsedSetCookie[] {
  return setCookie.map(parseSetCookie).filter((cookie) => cookie.name === "connect.sid");
}

/** The session id in a signed `connect.sid` value, checked against the secret. */
function verifiedId(cookie: ParsedSetCookie): string {
  const value = decodeURIComponent(cookie.value);
  expect(value.startsWith("s:")).toBe(true);
  const id = unsign(value.slice(2), SECRET);
  if (id === false) throw new Error(`not signed with the secret: ${cookie.value}`);
  return id;
}

/** The `Cookie` header a browser would send back for a `Set-Cookie`. */
function cookieHeader(cookie: ParsedSetCookie): string {
  return `${cookie.name}=${cookie.value}`;
}

/** Attributes with the expiry date blanked out, for comparing two cookies made apart in time. */
function shape(cookie: ParsedSetCookie): Record<string, string | true> {
  const attributes = { ...cookie.attributes };
  if (typeof attributes.expires === "string") attributes.expires = "<date>";
  return attributes;
}

/** A stored cookie with the expiry blanked out, and the expiry itself. */
function storedShape(record: SessionRecord | undefined): {
  cookie: Record<string, unknown>;
  expires: number | null;
} {
  if (record === undefined) throw new Error("no such record");
  const { expires, ...rest } = record.cookie;
  return {
    cookie: { ...rest, expires: expires === null ? null : "<date>" },
    expires: expires === null || expires === undefined ? null : new Date(expires).getTime(),
  };
}

describe("SessionServer", () => {
  describe("option `create`", () => {
    describe.each(["polling", "websocket"] as const)("a bare %s handshake", (transport) => {
      const handshake = HANDSHAKES[transport];

      it("gets a new session in the store and a signed session cookie when it has no cookie", async () => {
        const setup = await creating();

        const response = await handshake(setup.app.url);

        expect(response.status).toBe(ACCEPTED[transport]);
        const cookies = sessionCookies(response.setCookie);
        expect(cookies).toHaveLength(1);
        const sid = verifiedId(cookies[0]);
        await until(() => setup.sockets.length === 1);
        const [socket] = setup.sockets;
        expect(socket.created).toBe(true);
        expect(socket.sessionId).toBe(sid);
        expect(socket.session).toBe(socket.record);
        expect(socket.record).toEqual({
          cookie: { originalMaxAge: null, expires: null, httpOnly: true, path: "/" },
        });
        await expect(setup.app.stored(sid)).resolves.toEqual(socket.record);
        expect(setup.watch.errors).toEqual([]);
      });

      it("gets a cookie the HTTP app accepts: an update made over the socket is seen by express", async () => {
        const setup = await creating();

        const [cookie] = sessionCookies((await handshake(setup.app.url)).setCookie);
        await until(() => setup.sockets.length === 1);
        await setup.sockets[0].updateSession((record) => {
          record.user = { name: "socket-first" };
        });

        await expect(setup.app.whoami(cookieHeader(cookie))).resolves.toEqual({
          user: { name: "socket-first" },
          counter: null,
        });
      });

      it("gets a new random id of at least 128 bits on every handshake", async () => {
        const setup = await creating();

        const ids: string[] = [];
        for (let i = 0; i < 8; i++) {
          const [cookie] = sessionCookies((await handshake(setup.app.url)).setCookie);
          ids.push(verifiedId(cookie));
        }

        expect(new Set(ids).size).toBe(8);
        for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22,}$/);
        await until(() => setup.sockets.length === 8);
        expect(setup.sockets.map((socket) => socket.sessionId)).toEqual(ids);
      });

      it("gets a new session when its cookie is forged", async () => {
        const setup = await creating();
        const login = await setup.app.login("ann");
        const forged = `${login.slice(0, login.lastIndexOf(".") + 1)}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`;

        const [cookie] = sessionCookies((await handshake(setup.app.url, forged)).setCookie);

        const sid = verifiedId(cookie);
        expect(forged).not.toContain(sid);
        await until(() => setup.sockets.length === 1);
        expect(setup.sockets[0]).toMatchObject({ created: true, sessionId: sid });
        expect(setup.sockets[0].session.user).toBeUndefined();
        await expect(setup.app.whoami(login)).resolves.toMatchObject({ user: { name: "ann" } });
      });

      it("gets a new id, never the one it sent, when the store does not know its session", async () => {
        const setup = await creating();
        const unknown = "a-session-id-the-store-never-had";

        const response = await handshake(setup.app.url, signedCookie(unknown));

        const [cookie] = sessionCookies(response.setCookie);
        const sid = verifiedId(cookie);
        expect(sid).not.toBe(unknown);
        await expect(setup.app.stored(unknown)).resolves.toBeUndefined();
        await expect(setup.app.stored(sid)).resolves.toBeDefined();
      });

      it("keeps the session it has and sets no cookie when its session is in the store", async () => {
        const setup = await creating();
        const login = await setup.app.login("ann");

        const response = await handshake(setup.app.url, login);

        expect(response.status).toBe(ACCEPTED[transport]);
        expect(sessionCookies(response.setCookie)).toEqual([]);
        await until(() => setup.sockets.length === 1);
        expect(setup.sockets[0].created).toBe(false);
        expect(setup.sockets[0].session.user).toEqual({ name: "ann" });
        expect(setup.store.calls.set).toBe(0);
      });

      it("is refused, and nothing is created, when the store fails to read its session", async () => {
        const setup = await creating();
        const login = await setup.app.login("ann");
        setup.store.failWith = new Error("connection refused");

        const response = await handshake(setup.app.url, login);

        expect(response.status).toBe(REFUSED[transport]);
        expect(sessionCookies(response.setCookie)).toEqual([]);
        expect(setup.watch.errors.map((error) => error.code)).toEqual(["STORE_ERROR"]);
        expect(setup.store.calls.set).toBe(0);
        expect(setup.sockets).toEqual([]);
      });

      it("is refused, and nothing is created, when the store does not answer in time", async () => {
        const setup = await creating({ lookupTimeout: 50 });
        setup.store.hang = true;

        const response = await handshake(setup.app.url, signedCookie("some-session-id"));

        expect(response.status).toBe(REFUSED[transport]);
        expect(sessionCookies(response.setCookie)).toEqual([]);
        expect(setup.watch.errors.map((error) => error.code)).toEqual(["TIMEOUT"]);
        expect(setup.store.calls.set).toBe(0);
      });

      it("is refused with STORE_ERROR when the store cannot save a new session", async () => {
        const setup = await setupLive({ server: { create: true }, without: ["set"] });

        const response = await handshake(setup.app.url);

        expect(response.status).toBe(REFUSED[transport]);
        expect(sessionCookies(response.setCookie)).toEqual([]);
        expect(setup.watch.errors.map((error) => error.code)).toEqual(["STORE_ERROR"]);
      });

      it("is refused, and nothing is created, without `create`", async () => {
        const setup = await setupLive();

        const response = await handshake(setup.app.url);

        expect(response.status).toBe(REFUSED[transport]);
        expect(sessionCookies(response.setCookie)).toEqual([]);
        expect(setup.watch.errors.map((error) => error.code)).toEqual(["NO_COOKIE"]);
        expect(setup.store.calls.set).toBe(0);
        await expect(setup.app.count()).resolves.toBe(0);
      });

      it("appends the session cookie after a Set-Cookie an earlier `initial_headers` listener set", async () => {
        const setup = await creating();
        setup.server.prependListener("initial_headers", (headers) => {
          headers["Set-Cookie"] = "first=1; Path=/";
        });

        const response = await handshake(setup.app.url);

        expect(response.setCookie).toHaveLength(2);
        expect(response.setCookie[0]).toBe("first=1; Path=/");
        expect(parseSetCookie(response.setCookie[1]).name).toBe("connect.sid");
      });
    });

    describe("with engine.io's own `io` cookie", () => {
      it("appends the session cookie after the `io` cookie of a polling handshake, as a second header", async () => {
        const setup = await creating({ cookie: { name: "io" } });

        const response = await pollingHandshake(setup.app.url);

        expect(response.setCookie.map((line) => parseSetCookie(line).name)).toEqual([
          "io",
          "connect.sid",
        ]);
        verifiedId(parseSetCookie(response.setCookie[1]));
      });

      it("appends the session cookie after a Set-Cookie already on the websocket 101, as a second header", async () => {
        const setup = await creating({ cookie: { name: "io" } });
        // engine.io writes no `io` cookie on a websocket-only handshake; an engine.io middleware's
        // Set-Cookie is the one already there.
        setup.server.use((_req: IncomingMessage, res: unknown, next: () => void) => {
          (res as { setHeader(name: string, value: string): void }).setHeader(
            "Set-Cookie",
            "affinity=a1; Path=/",
          );
          next();
        });

        const response = await websocketHandshake(setup.app.url);

        expect(response.status).toBe(101);
        expect(response.setCookie).toHaveLength(2);
        expect(response.setCookie[0]).toBe("affinity=a1; Path=/");
        verifiedId(parseSetCookie(response.setCookie[1]));
      });
      // res.writeHead() lets override what middlewares set with res.setHeader().
      it("keeps a Set-Cookie an engine.io middleware set on a polling handshake", async () => {
        const setup = await creating();
        setup.server.use((_req: IncomingMessage, res: unknown, next: () => void) => {
          (res as { setHeader(name: string, value: string): void }).setHeader(
            "Set-Cookie",
            "affinity=a1; Path=/",
          );
          next();
        });

        const response = await pollingHandshake(setup.app.url);

        expect(response.setCookie.map((line) => parseSetCookie(line).name)).toEqual([
          "affinity",
          "connect.sid",
        ]);
      });
    });

    describe("the cookie and the stored record", () => {
      const settings: [string, SessionCookieOptions & session.CookieOptions][] = [
        ["express-session's defaults", {}],
        ["maxAge", { maxAge: 60_000 }],
        [
          "every option",
          {
            maxAge: 3_600_000,
            path: "/",
            httpOnly: true,
            secure: true,
            sameSite: "lax",
            domain: "example.test",
          },
        ],
        ["sameSite none", { sameSite: "none", secure: true }],
        ["sameSite strict, no httpOnly", { sameSite: "strict", httpOnly: false }],
        ["secure false", { secure: false }],
      ];

      it.each(settings)("are what express-session makes, with %s", async (_title, cookie) => {
        const setup = await creating({ sessionCookie: cookie }, { cookie, trustProxy: true });
        const login = await setup.app.request("/login?name=ann", undefined, {
          "x-forwarded-proto": "https",
        });
        const [theirs] = sessionCookies(login.setCookie);

        const [ours] = sessionCookies((await pollingHandshake(setup.app.url)).setCookie);

        expect(shape(ours)).toEqual(shape(theirs));
        const theirRecord = storedShape(await setup.app.stored(verifiedId(theirs)));
        const ourRecord = storedShape(await setup.app.stored(verifiedId(ours)));
        expect(ourRecord.cookie).toEqual(theirRecord.cookie);
        if (cookie.maxAge === undefined) {
          expect(ourRecord.expires).toBeNull();
        } else {
          expect(Math.abs((ourRecord.expires ?? 0) - (theirRecord.expires ?? 0))).toBeLessThan(
            5_000,
          );
          const expires = ours.attributes.expires;
          expect(typeof expires).toBe("string");
          expect(new Date(expires as string).getTime()).toBe(
            Math.floor((ourRecord.expires ?? 0) / 1000) * 1000,
          );
        }
      });

      it.each([
        [true, "Strict"],
        [false, undefined],
      ] as const)(
        "sets the SameSite express-session sets for `sameSite: %s`",
        async (sameSite, attribute) => {
          const setup = await creating({ sessionCookie: { sameSite } }, { cookie: { sameSite } });
          const [theirs] = sessionCookies((await setup.app.request("/login?name=ann")).setCookie);

          const [ours] = sessionCookies((await pollingHandshake(setup.app.url)).setCookie);

          expect(ours.attributes.samesite).toBe(attribute);
          expect(shape(ours)).toEqual(shape(theirs));
        },
      );
    });

    describe("a socket-first engine.io-client with `withCredentials`", () => {
      it.each(["polling", "upgrade"] as const)(
        "over %s keeps the new session's cookie and sends it on its next requests",
        async (mode) => {
          const setup = await creating();
          const sent: (string | undefined)[] = [];
          const onRequest = (req: IncomingMessage): void => {
            if (req.url?.includes("sid=") === true) sent.push(req.headers.cookie);
          };
          setup.app.httpServer.on("request", onRequest);
          setup.app.httpServer.on("upgrade", onRequest);

          const tab = client(setup.app, mode, undefined, { withCredentials: true });
          await expect(outcome(tab)).resolves.toEqual({ kind: "open" });
          await until(() => setup.sockets.length === 1 && sent.length >= 1);
          const [socket] = setup.sockets;
          if (mode === "upgrade") await until(() => socket.transport === "websocket");

          expect(socket.created).toBe(true);
          for (const cookie of sent) {
            const pair = cookie?.split("; ").find((part) => part.startsWith("connect.sid="));
            expect(pair).toBeDefined();
            expect(verifiedId(parseSetCookie(pair ?? "="))).toBe(socket.sessionId);
          }
          await socket.updateSession((record) => {
            record.counter = 1;
          });
          await expect(setup.app.whoami(sent[0] ?? "")).resolves.toEqual({
            user: null,
            counter: 1,
          });
        },
      );
    });

    it("does not replace a session that hydrate() refuses with a new one", async () => {
      class Picky extends SessionServer<AppSession> {
        protected override hydrate(data: AppSession): AppSession {
          if (data.user?.name === "mallory") throw new Error("mallory is banned");
          return data;
        }
      }
      const setup = await setupLive({
        server: { create: true },
        make: (app, options) => new Picky(app.httpServer, options),
      });
      const login = await setup.app.login("mallory");

      const response = await pollingHandshake(setup.app.url, login);

      expect(response.status).toBe(403);
      expect(response.setCookie).toEqual([]);
      expect(setup.watch.errors.map((error) => error.code)).toEqual(["HYDRATE_FAILED"]);
      expect(setup.store.calls.set).toBe(0);
      await expect(setup.app.count()).resolves.toBe(1);
    });
    // refused but the session stays in the store, unreachable (no cookie was sent).
    it("leaves no session in the store when hydrate() refuses the new one", async () => {
      class Picky extends SessionServer<AppSession> {
        protected override hydrate(data: AppSession): AppSession {
          if (data.user === undefined) throw new Error("anonymous sessions are not welcome");
          return data;
        }
      }
      const setup = await setupLive({
        server: { create: true },
        make: (app, options) => new Picky(app.httpServer, options),
      });

      const response = await pollingHandshake(setup.app.url);

      expect(response.status).toBe(403);
      expect(setup.watch.errors.map((error) => error.code)).toEqual(["HYDRATE_FAILED"]);
      await expect(setup.app.count()).resolves.toBe(0);
    });
  });
});
