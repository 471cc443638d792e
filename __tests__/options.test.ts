import http from "node:http";
import { Server } from "engine.io";
import session from "express-session";
import { SessionServer, type SessionServerOptions } from "../lib";
import { engineOptions, sessionSettings } from "../lib/options";
import { startApp, type TestApp } from "./helpers/app";

const MAX = 2 ** 31 - 1;

/** Builds a SessionServer from `options` and closes it at once: for reading what it kept. */
function closedServer(options: SessionServerOptions): SessionServer {
  const server = new SessionServer(options);
  server.close();
  return server;
}

/** Runs `use` on a fresh test app with a SessionServer attached (secret "s"), then closes both. */
async function withAttachedServer<T>(
  options: Partial<SessionServerOptions>,
  use: (app: TestApp) => Promise<T>,
): Promise<T> {
  const app = await startApp();
  const server = new SessionServer(app.httpServer, { store: app.store, secret: "s", ...options });
  try {
    return await use(app);
  } finally {
    server.close();
    await app.close();
  }
}

/** The message of the TypeError `fn` throws; fails the test if it does not throw one. */
function typeErrorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return (error as TypeError).message;
  }
  throw new Error("expected a TypeError, nothing was thrown");
}

/** What the SessionServer constructor throws for `options` (and what `sessionSettings` throws). */
function rejection(options: unknown): string {
  const message = typeErrorOf(() => closedServer(options as SessionServerOptions));
  expect(typeErrorOf(() => sessionSettings(options))).toBe(message);
  return message;
}

const store = new session.MemoryStore();
const valid = { store, secret: "keyboard cat" };

const NO_OPTIONS =
  "engine.io-session: options are required: pass { store, secret } with your express-session store and secret";
const NO_STORE =
  "engine.io-session: `store` is required: pass the express-session store your HTTP app uses";
const NOT_A_STORE =
  "engine.io-session: `store` must be an express-session store with a get(sid, callback) method";

/** The message for a `secret` (or `secret[i]`) that is not a non-empty string. */
const secretMessage = (key: string, got: string): string =>
  `engine.io-session: \`${key}\` must be a non-empty string, got ${got}`;
const nameMessage = (got: string): string =>
  `engine.io-session: \`name\` must be the cookie name express-session uses (an RFC 6265 token: letters, digits and !#$%&'*+-.^_\`|~), got ${got}`;
const requiredMessage = (got: string): string =>
  `engine.io-session: \`required\` must be true or false, got ${got}`;
const timeoutMessage = (got: string): string =>
  `engine.io-session: \`lookupTimeout\` must be a number of milliseconds from 1 to ${MAX}, got ${got}`;

/** One test per case: the constructor (and `sessionSettings`) refuses `options` with `message`. */
function itRejects(cases: [title: string, options: unknown, message: string][]): void {
  it.each(cases)("%s", (_title, options, message) => {
    expect(rejection(options)).toBe(message);
  });
}

describe("SessionServer", () => {
  describe("#ctor", () => {
    describe("validation", () => {
      itRejects([
        ["throws an error if no option object is passed", undefined, NO_OPTIONS],
        ["throws an error if the options are null", null, NO_OPTIONS],
        ["throws an error if the options are not an object", "keyboard cat", NO_OPTIONS],
      ]);

      it("throws an error if an HTTP server is passed without options", () => {
        const httpServer = http.createServer();
        const message = typeErrorOf(
          () => new SessionServer(httpServer, undefined as unknown as SessionServerOptions),
        );

        expect(message).toBe(NO_OPTIONS);
        expect(httpServer.listenerCount("request")).toBe(0);
      });

      itRejects([
        ["throws an error if the store is missing", { secret: "s" }, NO_STORE],
        ["throws an error if the store is null", { store: null, secret: "s" }, NO_STORE],
        [
          "throws an error if the store has no get method",
          { store: { set() {} }, secret: "s" },
          NOT_A_STORE,
        ],
        [
          "throws an error if the store's get is not a function",
          { store: { get: "yes" }, secret: "s" },
          NOT_A_STORE,
        ],
        [
          "throws an error if the store is not an object",
          { store: "memory", secret: "s" },
          NOT_A_STORE,
        ],
        ["checks the store before the secret", { secret: [] }, NO_STORE],
      ]);

      itRejects([
        [
          "throws an error if the secret is missing",
          { store },
          "engine.io-session: `secret` is required: pass the secret (or array of secrets) given to express-session",
        ],
        [
          "throws an error if the secret is an empty array",
          { store, secret: [] },
          "engine.io-session: `secret` is an empty array: pass at least one secret, the one express-session signs with",
        ],
        [
          "throws an error if the secret is an empty string",
          { store, secret: "" },
          secretMessage("secret", '""'),
        ],
        [
          "throws an error if the secret is not a string",
          { store, secret: 42 },
          secretMessage("secret", "42"),
        ],
        [
          "throws an error if the secret is null",
          { store, secret: null },
          secretMessage("secret", "null"),
        ],
        [
          "throws an error if the secret is a Buffer",
          { store, secret: Buffer.from("s") },
          secretMessage("secret", "object"),
        ],
        [
          "throws an error naming the index of a non-string secret",
          { store, secret: ["new", "old", 7] },
          secretMessage("secret[2]", "7"),
        ],
        [
          "throws an error naming the index of an empty secret",
          { store, secret: ["new", ""] },
          secretMessage("secret[1]", '""'),
        ],
        [
          "throws an error naming the index of an undefined secret",
          { store, secret: [undefined, "old"] },
          secretMessage("secret[0]", "undefined"),
        ],
        [
          "throws an error for a nested secret array",
          { store, secret: [["new"]] },
          secretMessage("secret[0]", "an array"),
        ],
        [
          "throws an error for a secret that is a boolean",
          { store, secret: ["new", true] },
          secretMessage("secret[1]", "true"),
        ],
      ]);

      it("throws an error naming the index of a hole in the secret array", () => {
        const secret: unknown[] = ["new"];
        secret[2] = "older";

        expect(rejection({ store, secret })).toBe(secretMessage("secret[1]", "undefined"));
      });

      it.each<[string, unknown, string]>([
        ["not a string", 42, "42"],
        ["empty", "", '""'],
        ["null", null, "null"],
        ["an array", ["connect.sid"], "an array"],
        ["a function", () => "connect.sid", "function"],
      ])("throws an error if the name is %s", (_what, name, got) => {
        expect(rejection({ ...valid, name })).toBe(nameMessage(got));
      });

      it.each<[string, unknown, string]>([
        ["not a boolean", "yes", '"yes"'],
        ["a number", 1, "1"],
        ["null", null, "null"],
      ])("throws an error if required is %s", (_what, required, got) => {
        expect(rejection({ ...valid, required })).toBe(requiredMessage(got));
      });

      itRejects([
        [
          "shortens a long string value in the message",
          { ...valid, required: "this string is longer than twenty" },
          requiredMessage('"…"'),
        ],
        [
          "quotes a string value of exactly twenty characters",
          { ...valid, required: "12345678901234567890" },
          requiredMessage('"12345678901234567890"'),
        ],
      ]);

      it.each<[string, unknown, string]>([
        ["negative", -1, "-1"],
        ["0", 0, "0"],
        ["NaN", NaN, "NaN"],
        ["Infinity", Infinity, "Infinity"],
        ["a string", "100", '"100"'],
        ["null", null, "null"],
        ["an object", { ms: 100 }, "object"],
      ])("throws an error if lookupTimeout is %s", (_what, lookupTimeout, got) => {
        expect(rejection({ ...valid, lookupTimeout })).toBe(timeoutMessage(got));
      });

      it("throws an error if lookupTimeout exceeds the largest timer delay", () => {
        expect(rejection({ ...valid, lookupTimeout: MAX + 1 })).toBe(timeoutMessage("2147483648"));
      });

      it("throws an error if lookupTimeout is below 1 ms", () => {
        expect(rejection({ ...valid, lookupTimeout: 0.5 })).toBe(timeoutMessage("0.5"));
        expect(rejection({ ...valid, lookupTimeout: 0.999 })).toBe(timeoutMessage("0.999"));
      });

      it("never puts a secret in a message", () => {
        const message = rejection({ store, secret: ["a very secret value", 0] });

        expect(message).toBe(secretMessage("secret[1]", "0"));
        expect(message).not.toContain("a very secret value");
      });

      it("builds nothing when the options are invalid", () => {
        const httpServer = http.createServer();

        expect(() => new SessionServer(httpServer, { store, secret: [] })).toThrow(TypeError);
        expect(httpServer.listenerCount("request")).toBe(0);
        expect(httpServer.listenerCount("upgrade")).toBe(0);
      });
    });

    describe("valid options", () => {
      it("accepts the smallest options", () => {
        const server = closedServer({ store, secret: "s" });

        expect(server).toBeInstanceOf(Server);
      });

      it("accepts an array of secrets", () => {
        const server = closedServer({ store, secret: ["new", "old"] });

        expect(server).toBeInstanceOf(SessionServer);
      });

      it("accepts a lookupTimeout of 1 and of the largest timer delay", () => {
        for (const lookupTimeout of [1, MAX]) {
          const server = closedServer({ store, secret: "s", lookupTimeout });

          expect(server).toBeInstanceOf(SessionServer);
        }
      });

      it("accepts undefined for every optional setting", () => {
        const server = closedServer({
          store,
          secret: "s",
          name: undefined,
          required: undefined,
          lookupTimeout: undefined,
        });

        expect(server).toBeInstanceOf(SessionServer);
      });

      it("passes engine.io options through to engine.io", () => {
        const server = closedServer({
          ...valid,
          pingInterval: 1234,
          pingTimeout: 4321,
          maxHttpBufferSize: 2048,
          transports: ["websocket"],
        });

        expect(server.opts.pingInterval).toBe(1234);
        expect(server.opts.pingTimeout).toBe(4321);
        expect(server.opts.maxHttpBufferSize).toBe(2048);
        expect(server.opts.transports).toEqual(["websocket"]);
      });

      it("keeps engine.io's defaults for engine.io options not given", () => {
        const server = closedServer(valid);
        const plain = new Server();
        plain.close();

        expect(server.opts.pingInterval).toBe(plain.opts.pingInterval);
        expect(server.opts.pingTimeout).toBe(plain.opts.pingTimeout);
        expect(server.opts.maxHttpBufferSize).toBe(plain.opts.maxHttpBufferSize);
      });

      it("keeps the store and the secret out of engine.io's options", () => {
        const server = closedServer({
          store,
          secret: ["new-secret-x7", "old-secret-y8"],
          name: "app.sid",
          required: false,
          lookupTimeout: 100,
          pingInterval: 1234,
        });

        const opts = server.opts as Record<string, unknown>;
        expect(opts).not.toHaveProperty("store");
        expect(opts).not.toHaveProperty("secret");
        expect(opts).not.toHaveProperty("name");
        expect(opts).not.toHaveProperty("required");
        expect(opts).not.toHaveProperty("lookupTimeout");
        expect(JSON.stringify(opts)).not.toContain("secret-");
        expect(opts.pingInterval).toBe(1234);
      });

      it("passes attach options through when attaching to an HTTP server", async () => {
        await withAttachedServer({ path: "/realtime" }, async (app) => {
          const handshake = "?EIO=4&transport=polling";

          const custom = await app.get(`/realtime/${handshake}`);
          const standard = await app.get(`/engine.io/${handshake}`);

          // engine.io answers on its custom path (refusing: no session cookie)...
          expect(custom.status).toBe(403);
          expect(custom.body).toMatchObject({ code: Server.errors.FORBIDDEN });
          // ...and leaves the default path to the HTTP app.
          expect(standard.status).toBe(404);
        });
      });

      it("does not change the options object it is given", () => {
        const options = { store, secret: ["new", "old"], pingInterval: 1234 };
        closedServer(options);

        expect(options).toEqual({ store, secret: ["new", "old"], pingInterval: 1234 });
      });
    });
  });
});

describe("sessionSettings", () => {
  it("fills in the defaults", () => {
    expect(sessionSettings({ store, secret: "s" })).toMatchObject({
      store,
      secrets: ["s"],
      name: "connect.sid",
      required: true,
      lookupTimeout: 5000,
    });
  });

  it("keeps the store it is given", () => {
    expect(sessionSettings(valid).store).toBe(store);
  });

  it("turns a single secret into a list of one", () => {
    expect(sessionSettings({ store, secret: "only" }).secrets).toEqual(["only"]);
  });

  it("keeps the order of the secrets", () => {
    expect(sessionSettings({ store, secret: ["new", "old", "older"] }).secrets).toEqual([
      "new",
      "old",
      "older",
    ]);
  });

  it("freezes the secrets", () => {
    const { secrets } = sessionSettings({ store, secret: ["new", "old"] });

    expect(Object.isFrozen(secrets)).toBe(true);
  });

  it("copies the secret array, so later changes to it have no effect", () => {
    const secret = ["new", "old"];
    const { secrets } = sessionSettings({ store, secret });
    secret.push("stolen");
    secret[0] = "changed";

    expect(secrets).toEqual(["new", "old"]);
  });

  it("accepts a readonly secret array", () => {
    const secret: readonly string[] = Object.freeze(["new", "old"]);

    expect(sessionSettings({ store, secret }).secrets).toEqual(["new", "old"]);
  });

  it("keeps the given settings", () => {
    expect(
      sessionSettings({
        store,
        secret: "s",
        name: "app.sid",
        required: false,
        lookupTimeout: 250,
      }),
    ).toMatchObject({
      store,
      secrets: ["s"],
      name: "app.sid",
      required: false,
      lookupTimeout: 250,
    });
  });

  it("keeps required: false (only undefined counts as unset)", () => {
    expect(sessionSettings({ ...valid, required: false }).required).toBe(false);
  });

  it("treats undefined settings as unset", () => {
    const settings = sessionSettings({
      ...valid,
      name: undefined,
      required: undefined,
      lookupTimeout: undefined,
    });

    expect(settings.name).toBe("connect.sid");
    expect(settings.required).toBe(true);
    expect(settings.lookupTimeout).toBe(5000);
  });

  it("accepts a lookupTimeout of 1", () => {
    expect(sessionSettings({ ...valid, lookupTimeout: 1 }).lookupTimeout).toBe(1);
  });

  it("accepts a lookupTimeout of 2 ** 31 - 1", () => {
    expect(sessionSettings({ ...valid, lookupTimeout: MAX }).lookupTimeout).toBe(MAX);
  });

  it("accepts a store that only has get", () => {
    const minimal = {
      get(sid: string, callback: (error?: unknown, value?: null) => void) {
        callback(null, null);
      },
    };

    expect(sessionSettings({ store: minimal, secret: "s" }).store).toBe(minimal);
  });

  it("accepts a store whose get is inherited", () => {
    class MyStore extends session.Store {
      get(sid: string, callback: (error: unknown, value?: null) => void): void {
        callback(null, null);
      }
      set(sid: string, record: session.SessionData, callback?: (error?: unknown) => void): void {
        callback?.();
      }
      destroy(sid: string, callback?: (error?: unknown) => void): void {
        callback?.();
      }
    }
    const custom = new MyStore();

    expect(sessionSettings({ store: custom, secret: "s" }).store).toBe(custom);
  });

  it("ignores engine.io options", () => {
    const settings = sessionSettings({ ...valid, pingInterval: 1, path: "/x" });

    expect(settings).not.toHaveProperty("pingInterval");
    expect(settings).not.toHaveProperty("path");
  });
});

describe("engineOptions", () => {
  it("removes the session settings", () => {
    const engine = engineOptions({
      store,
      secret: ["new", "old"],
      name: "app.sid",
      required: false,
      lookupTimeout: 100,
    });

    expect(engine).toEqual({});
  });

  it("keeps every engine.io option", () => {
    const cors = { origin: "https://example.com", credentials: true };
    const engine = engineOptions({
      ...valid,
      pingInterval: 1234,
      pingTimeout: 4321,
      path: "/realtime",
      cors,
      transports: ["polling"],
      allowUpgrades: false,
    });

    expect(engine).toEqual({
      pingInterval: 1234,
      pingTimeout: 4321,
      path: "/realtime",
      cors,
      transports: ["polling"],
      allowUpgrades: false,
    });
    expect(engine.cors).toBe(cors);
  });

  it("returns a new object and leaves the options alone", () => {
    const options: SessionServerOptions = { ...valid, pingInterval: 1234 };

    const engine = engineOptions(options);

    expect(engine).not.toBe(options);
    expect(options).toEqual({ store, secret: "keyboard cat", pingInterval: 1234 });
  });
});

describe("live-session options", () => {
  const interval = (key: string, got: string): string =>
    `engine.io-session: \`${key}\` must be false or a number of milliseconds from 1 to ${MAX}, got ${got}`;

  describe("sessionSettings", () => {
    it("defaults touchInterval, revalidateInterval, create and the session cookie", () => {
      expect(sessionSettings(valid)).toMatchObject({
        touchInterval: false,
        revalidateInterval: false,
        create: false,
        cookie: {},
      });
    });

    it("keeps the given intervals and create", () => {
      expect(
        sessionSettings({ ...valid, touchInterval: 1000, revalidateInterval: MAX, create: true }),
      ).toMatchObject({ touchInterval: 1000, revalidateInterval: MAX, create: true });
    });

    it("keeps create: false and intervals set to false", () => {
      expect(
        sessionSettings({
          ...valid,
          touchInterval: false,
          revalidateInterval: false,
          create: false,
        }),
      ).toMatchObject({ touchInterval: false, revalidateInterval: false, create: false });
    });

    it.each([
      ["touchInterval", 0, "0"],
      ["touchInterval", 0.5, "0.5"],
      ["touchInterval", -5, "-5"],
      ["touchInterval", true, "true"],
      ["touchInterval", MAX + 1, "2147483648"],
      ["revalidateInterval", 0, "0"],
      ["revalidateInterval", 0.5, "0.5"],
      ["revalidateInterval", NaN, "NaN"],
      ["revalidateInterval", "60000", '"60000"'],
      ["revalidateInterval", null, "null"],
    ])("throws an error if %s is %p", (key, value, got) => {
      expect(rejection({ ...valid, [key]: value })).toBe(interval(key, got));
    });

    it("accepts intervals of 1 ms and of the largest timer delay", () => {
      expect(
        sessionSettings({ ...valid, touchInterval: 1, revalidateInterval: MAX }),
      ).toMatchObject({ touchInterval: 1, revalidateInterval: MAX });
      expect(
        sessionSettings({ ...valid, touchInterval: MAX, revalidateInterval: 1 }),
      ).toMatchObject({ touchInterval: MAX, revalidateInterval: 1 });
    });

    it("throws an error if create is not a boolean", () => {
      expect(rejection({ ...valid, create: "yes" })).toBe(
        'engine.io-session: `create` must be true or false, got "yes"',
      );
    });

    it("copies the session cookie options", () => {
      const sessionCookie = {
        path: "/app",
        httpOnly: false,
        secure: true,
        sameSite: "lax" as const,
      };

      const { cookie } = sessionSettings({ ...valid, sessionCookie });

      expect(cookie).toEqual(sessionCookie);
      expect(cookie).not.toBe(sessionCookie);
    });

    it("accepts every sameSite value express-session accepts", () => {
      for (const sameSite of [true, false, "lax", "strict", "none"] as const) {
        expect(sessionSettings({ ...valid, sessionCookie: { sameSite } }).cookie.sameSite).toBe(
          sameSite,
        );
      }
    });

    it("leaves the cookie to engine.io when create is off", () => {
      const settings = sessionSettings({ ...valid, cookie: { path: "/app" } });

      expect(settings.cookie).toEqual({});
    });

    /** Each bad session cookie setting and the end of its message, after `sessionCookie.`. */
    const badCookies: [Record<string, unknown>, string][] = [
      [{ path: "" }, 'path` must be a non-empty string, got ""'],
      [{ path: 5 }, "path` must be a non-empty string, got 5"],
      [{ domain: "" }, 'domain` must be a non-empty string, got ""'],
      [{ domain: 5 }, "domain` must be a non-empty string, got 5"],
      [{ httpOnly: "yes" }, 'httpOnly` must be true or false, got "yes"'],
      [{ secure: 1 }, "secure` must be true or false, got 1"],
      [
        { sameSite: "loose" },
        'sameSite` must be true, false, "lax", "strict" or "none", got "loose"',
      ],
      [{ maxAge: 0 }, "maxAge` must be a positive number of milliseconds, got 0"],
      [{ maxAge: -1000 }, "maxAge` must be a positive number of milliseconds, got -1000"],
      [{ maxAge: NaN }, "maxAge` must be a positive number of milliseconds, got NaN"],
      [{ maxAge: Infinity }, "maxAge` must be a positive number of milliseconds, got Infinity"],
      [{ maxAge: "1h" }, 'maxAge` must be a positive number of milliseconds, got "1h"'],
      [{ maxAge: null }, "maxAge` must be a positive number of milliseconds, got null"],
    ];

    it.each(badCookies)("throws an error naming sessionCookie for %p", (sessionCookie, rest) => {
      expect(rejection({ ...valid, sessionCookie })).toBe(
        `engine.io-session: \`sessionCookie.${rest}`,
      );
    });

    it.each(badCookies)("throws an error naming sessionCookie with create for %p", (bad, rest) => {
      expect(rejection({ ...valid, create: true, sessionCookie: bad })).toBe(
        `engine.io-session: \`sessionCookie.${rest}`,
      );
    });

    it.each([
      ["create is off", { cookie: { path: "" } }],
      ["create is false", { create: false, cookie: { maxAge: -1 } }],
      ["the cookie has a name", { create: true, cookie: { name: "io", path: "" } }],
      ["sessionCookie is given", { create: true, sessionCookie: {}, cookie: { secure: "yes" } }],
    ])("does not check a cookie that goes to engine.io: %s", (_label, options) => {
      expect(sessionSettings({ ...valid, ...options }).cookie).toEqual({});
    });

    it("throws an error if the session cookie is not an object", () => {
      expect(rejection({ ...valid, sessionCookie: "strict" })).toBe(
        'engine.io-session: `sessionCookie` must be an object of express-session cookie options, got "strict"',
      );
      expect(rejection({ ...valid, sessionCookie: null })).toBe(
        "engine.io-session: `sessionCookie` must be an object of express-session cookie options, got null",
      );
      expect(rejection({ ...valid, create: true, sessionCookie: true })).toBe(
        "engine.io-session: `sessionCookie` must be an object of express-session cookie options, got true",
      );
    });

    // express-session takes any maxAge (30 days is common); cookie.maxAge only sets the cookie's
    // and the record's expiry, it is no timer, so it may exceed 2 ** 31 - 1 ms (about 24.8 days).
    it("accepts a session cookie maxAge of 30 days, as express-session does", () => {
      const maxAge = 30 * 24 * 60 * 60 * 1000;

      expect(sessionSettings({ ...valid, sessionCookie: { maxAge } }).cookie.maxAge).toBe(maxAge);
    });

    it("accepts any positive finite maxAge", () => {
      for (const maxAge of [0.5, 1, MAX + 1, 1e15]) {
        expect(sessionSettings({ ...valid, sessionCookie: { maxAge } }).cookie.maxAge).toBe(maxAge);
      }
    });

    it("throws an error for a maxAge past the last date a Date can hold", () => {
      expect(() =>
        sessionSettings({ ...valid, sessionCookie: { maxAge: Number.MAX_SAFE_INTEGER } }),
      ).toThrow(
        "engine.io-session: `sessionCookie.maxAge` reaches past the last date a Date can hold, got 9007199254740991",
      );
    });
  });

  describe("option `session`", () => {
    it("throws an error if it is not an object", () => {
      expect(() => sessionSettings({ session: "express-session" })).toThrow(
        'engine.io-session: `session` must be the options object given to express-session, got "express-session"',
      );
    });

    it("throws an error naming session.store when it has no store", () => {
      expect(() => sessionSettings({ session: { secret: "s" } })).toThrow(
        "engine.io-session: `session.store` is required: give express-session your store explicitly (its default MemoryStore cannot be shared)",
      );
    });

    it("takes name and cookie from it, and accepts the same values given twice", () => {
      const store = new session.MemoryStore();
      const settings = sessionSettings({
        session: { store, secret: ["a", "b"], name: "app.sid", cookie: { maxAge: 1000 } },
        store,
      });

      expect(settings).toMatchObject({ store, secrets: ["a", "b"], name: "app.sid" });
      expect(settings.cookie).toEqual({ maxAge: 1000 });
    });

    it("keeps the session settings away from engine.io", () => {
      const store = new session.MemoryStore();

      expect(engineOptions({ session: { store, secret: "s" }, pingTimeout: 1 })).toEqual({
        pingTimeout: 1,
      });
    });
  });

  describe("engineOptions", () => {
    /** The cookie engine.io sets for `{ path: "/io" }` (named or not): its defaults filled in. */
    const IO_COOKIE = { name: "io", path: "/io", httpOnly: true, sameSite: "lax" };

    it("removes the live-session options", () => {
      expect(
        engineOptions({
          ...valid,
          touchInterval: 1000,
          revalidateInterval: 1000,
          create: true,
          sessionCookie: { path: "/" },
        }),
      ).toEqual({});
    });

    it("keeps engine.io's cookie when create is off", () => {
      expect(engineOptions({ ...valid, cookie: { name: "io", path: "/" } })).toEqual({
        cookie: { name: "io", path: "/" },
      });
    });

    it("gives a cookie with a name to engine.io, with engine.io's defaults", () => {
      for (const create of [true, false]) {
        const server = closedServer({ ...valid, create, cookie: { name: "io", path: "/io" } });

        expect(server.opts.cookie).toEqual(IO_COOKIE);
      }
    });

    it("gives engine.io the cookie when sessionCookie is given too", () => {
      const server = closedServer({
        ...valid,
        create: true,
        sessionCookie: { path: "/session" },
        cookie: { name: "io", path: "/io" },
      });

      expect(server.opts.cookie).toEqual(IO_COOKIE);
    });
  });

  describe("the cookies of a created session", () => {
    /** The Set-Cookie headers of a polling handshake without a session cookie. */
    async function handshakeCookies(options: Partial<SessionServerOptions>): Promise<string[]> {
      return withAttachedServer({ create: true, ...options }, async (app) => {
        const res = await fetch(`${app.url}/engine.io/?EIO=4&transport=polling`);
        await res.text();
        expect(res.status).toBe(200);
        return res.headers.getSetCookie();
      });
    }

    /** The attributes after the value of the cookie named `name`. */
    function attributesOf(cookies: string[], name: string): string[] | undefined {
      const cookie = cookies.find((each) => each.startsWith(`${name}=`));
      return cookie?.split("; ").slice(1);
    }

    it("uses sessionCookie for the session cookie and gives cookie to engine.io", async () => {
      const cookies = await handshakeCookies({
        sessionCookie: { path: "/session" },
        cookie: { name: "io", path: "/io" },
      });

      expect(attributesOf(cookies, "connect.sid")).toEqual(["Path=/session", "HttpOnly"]);
      expect(attributesOf(cookies, "io")).toEqual(["Path=/io", "HttpOnly", "SameSite=Lax"]);
    });
  });
});
