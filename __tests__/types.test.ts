/*
 * Type tests. ts-jest type-checks this file, so a wrong type here fails the suite, and so does a
 * `@ts-expect-error` that no longer finds an error. Each test also checks something at runtime.
 */
import { IncomingMessage } from "node:http";
import { Socket as NetSocket } from "node:net";
import path from "node:path";
import ts from "typescript";
import { Server as EngineServer, type Socket as EngineSocket } from "engine.io";
import session, { type SessionData, type Store } from "express-session";
import {
  SessionError,
  SessionServer,
  SessionSocket,
  attach,
  type ConnectionError,
  type EngineHeaders,
  type SessionErrorCode,
  type SessionRecord,
  type SessionServerEvents,
  type SessionSocketEvents,
  type SessionStore,
} from "../lib";
import {
  SECRET,
  attachServer,
  client,
  closeClients,
  outcome,
  startApp,
  type AppSession,
  type TestApp,
} from "./helpers/app";

/** `true` exactly when A and B are the same type (not merely assignable). */
type Equals<A, B> =
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the standard exact-equality trick
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** `true` when A is assignable to B. */
type Extends<A, B> = [A] extends [B] ? true : false;

/** A session type unrelated to the app's, to catch S leaking as `any` or `unknown`. */
interface CartSession {
  cookie: { expires?: Date | string | null };
  cart: string[];
}

describe("types", () => {
  const opened: { close(): unknown }[] = [];
  let app: TestApp | undefined;

  afterEach(async () => {
    closeClients();
    for (const each of opened.splice(0)) each.close();
    await app?.close();
    app = undefined;
  });

  function unattached<S = SessionRecord>(): SessionServer<S> {
    const server = new SessionServer<S>({ store: new session.MemoryStore(), secret: SECRET });
    opened.push(server);
    return server;
  }

  it("type-checks (so a type error or an unused @ts-expect-error here fails this suite)", () => {
    // ts-jest only transpiles when tsconfig sets isolatedModules: check this file for real.
    const configPath = path.join(__dirname, "..", "tsconfig.json");
    const { config } = ts.readConfigFile(configPath, (file) => ts.sys.readFile(file)) as {
      config: unknown;
    };
    const parsed = ts.parseJsonConfigFileContent(config, ts.sys, path.dirname(configPath));
    const program = ts.createProgram({ rootNames: [__filename], options: parsed.options });
    const file = program.getSourceFile(__filename)!;

    const problems = [
      ...program.getSyntacticDiagnostics(file),
      ...program.getSemanticDiagnostics(file),
    ].map((diagnostic) => {
      const line = file.getLineAndCharacterOfPosition(diagnostic.start ?? 0).line + 1;
      return `line ${line}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")}`;
    });

    expect(problems).toEqual([]);
  });

  describe("SessionServer events", () => {
    it("types the session listener's socket and session with S", async () => {
      app = await startApp();
      const server = attachServer(app);
      opened.push(server);
      const cookie = await app.login("alice");
      const seen = new Promise<string | undefined>((resolve) => {
        server.on("session", (socket, value) => {
          const socketIsTyped: Equals<typeof socket, SessionSocket<AppSession, AppSession>> = true;
          const sessionIsTyped: Equals<typeof value, AppSession> = true;
          const name: string | undefined = value.user?.name;
          const sameValue: AppSession = socket.session;
          expect([socketIsTyped, sessionIsTyped]).toEqual([true, true]);
          expect(sameValue).toBe(value);
          resolve(name);
        });
      });

      const result = await outcome(client(app, "websocket", cookie));

      expect(result.kind).toBe("open");
      await expect(seen).resolves.toBe("alice");
    });

    it("defaults S to SessionRecord", () => {
      const server = unattached();
      server.on("session", (socket, value) => {
        const isRecord: Equals<typeof value, SessionRecord> = true;
        expect(isRecord).toBe(true);
      });

      expect(server.listenerCount("session")).toBe(1);
    });

    it("rejects a misspelt event name", () => {
      const server = unattached<AppSession>();
      const listener = (): void => undefined;

      // @ts-expect-error: "sesion" is not an event of SessionServer
      server.on("sesion", listener);
      // @ts-expect-error: nor is "sessionError"
      server.once("sessionError", listener);

      expect(server.listenerCount("session")).toBe(0);
    });

    it("rejects a session listener with the wrong signature", () => {
      const server = unattached<AppSession>();
      const takesString = (socket: string): void => {
        expect(typeof socket).toBe("string");
      };
      const takesThree = (socket: unknown, value: unknown, extra: number): void => {
        expect(extra).toBeGreaterThan(0);
      };

      // @ts-expect-error: the first parameter is a SessionSocket, not a string
      server.on("session", takesString);
      // @ts-expect-error: the listener gets two arguments, not three
      server.on("session", takesThree);

      expect(server.listenerCount("session")).toBe(2);
    });

    it("rejects using the session as a type it is not", () => {
      const server = unattached<CartSession>();
      server.on("session", (socket, value) => {
        // @ts-expect-error: a CartSession has no user
        const name: unknown = value.user;
        // @ts-expect-error: cart is string[], not number
        const count: number = value.cart;
        // @ts-expect-error: the socket's session is a CartSession, whose cart holds strings
        const numbers: { cart: number[] } = socket.session;
        expect([name, count, numbers]).toBeDefined();
      });
      const cart: string[] = [];
      server.on("session", (socket, value) => {
        cart.push(...value.cart);
      });

      expect(server.listenerCount("session")).toBe(2);
    });

    it("types session_error with a SessionError and the request", () => {
      const server = unattached();
      const listener: SessionServerEvents<SessionRecord>["session_error"] = (error, req) => {
        const code: SessionErrorCode = error.code;
        const url: string | undefined = req?.url;
        expect([code, url]).toBeDefined();
      };
      server.on("session_error", listener);

      const parameters: Equals<
        Parameters<typeof listener>,
        [error: SessionError, req: IncomingMessage | undefined]
      > = true;

      expect(parameters).toBe(true);
      expect(server.listeners("session_error")).toEqual([listener]);
    });

    it("keeps engine.io's connection and connection_error events typed", async () => {
      app = await startApp();
      const server = attachServer(app);
      opened.push(server);
      server.on("connection", (socket) => {
        const isEngineSocket: Equals<typeof socket, EngineSocket> = true;
        expect(isEngineSocket).toBe(true);
      });
      const refused = new Promise<ConnectionError>((resolve) => {
        server.on("connection_error", (error) => {
          const isConnectionError: Equals<typeof error, ConnectionError> = true;
          expect(isConnectionError).toBe(true);
          resolve(error);
        });
      });
      // @ts-expect-error: a connection listener gets an engine.io Socket, not a SessionSocket
      server.on("connection", (socket: SessionSocket<AppSession>) => socket.sessionId);

      const result = await outcome(client(app, "polling"));
      const error = await refused;

      expect(result.kind).toBe("error");
      expect(error.code).toBe(EngineServer.errors.FORBIDDEN);
      const name: string | undefined = error.context?.name;
      expect(name).toBe("NO_COOKIE");
    });

    it("keeps engine.io's header events typed", () => {
      const server = unattached();
      server.on("initial_headers", (headers, req) => {
        const types: [Equals<typeof headers, EngineHeaders>, Equals<typeof req, IncomingMessage>] =
          [true, true];
        headers["x-session"] = types.length;
      });
      server.on("headers", (headers) => {
        headers["x-server"] = "engine.io-session";
      });
      // @ts-expect-error: headers listeners do not get a socket
      server.on("headers", (socket: EngineSocket) => socket.readyState);

      expect(server.listenerCount("initial_headers")).toBe(1);
      expect(server.listenerCount("headers")).toBe(2);
    });

    it("types emit's arguments", () => {
      const server = unattached<AppSession>();
      const codes: SessionErrorCode[] = [];
      server.on("session_error", (error) => {
        codes.push(error.code);
      });
      const req = new IncomingMessage(new NetSocket());

      server.emit("session_error", new SessionError("TIMEOUT"), req);
      // @ts-expect-error: session_error carries a SessionError, not a string
      server.emit("session_error", "TIMEOUT", req);

      expect(codes).toEqual(["TIMEOUT", undefined]);
    });
  });

  describe("SessionServer", () => {
    it("is an engine.io Server", () => {
      const server = unattached<AppSession>();
      const asEngine: EngineServer = server;

      expect(asEngine).toBeInstanceOf(EngineServer);
    });

    it("returns S from attach()", async () => {
      app = await startApp();
      const server = attach<CartSession>(app.httpServer, { store: app.store, secret: SECRET });
      opened.push(server);

      const typed: Equals<typeof server, SessionServer<CartSession>> = true;

      expect(typed).toBe(true);
      expect(server).toBeInstanceOf(SessionServer);
    });

    it("types sessionOf() as the SessionSocket of S or undefined", async () => {
      app = await startApp();
      const server = attach<CartSession>(app.httpServer, {
        store: app.store,
        secret: SECRET,
        required: false,
      });
      opened.push(server);
      const connection = new Promise<EngineSocket>((resolve) => {
        server.once("connection", resolve);
      });

      const typed: Equals<
        ReturnType<typeof server.sessionOf>,
        SessionSocket<CartSession, CartSession> | undefined
      > = true;
      const parameter: Equals<Parameters<typeof server.sessionOf>, [conn: EngineSocket]> = true;

      expect([typed, parameter]).toEqual([true, true]);
      const result = await outcome(client(app, "polling"));

      expect(result.kind).toBe("open");
      expect(server.sessionOf(await connection)).toBeUndefined();
    });

    it("keeps hydrate and sessionIdFrom protected", () => {
      const server = unattached<AppSession>();
      const req = new IncomingMessage(new NetSocket());
      const record: SessionRecord = { cookie: { originalMaxAge: null } };

      // @ts-expect-error: sessionIdFrom is protected
      const id = server.sessionIdFrom(req);
      // @ts-expect-error: hydrate is protected
      const hydrated: unknown = server.hydrate(record, "some-session-id", req);

      expect(id).toBeUndefined();
      expect(hydrated).toEqual(record);
    });

    it("lets subclasses call and override hydrate and sessionIdFrom", () => {
      class Sub extends SessionServer<{ name: string }> {
        idOf(req: IncomingMessage): string | undefined {
          return this.sessionIdFrom(req);
        }

        protected override hydrate(record: SessionRecord, sessionId: string): { name: string } {
          return { name: sessionId };
        }

        protected override sessionIdFrom(req: IncomingMessage): string | undefined {
          return req.headers["x-session-id"] as string | undefined;
        }
      }
      class WrongHydrate extends SessionServer<{ name: string }> {
        // @ts-expect-error: hydrate must return S (or a promise of it)
        protected override hydrate(): { name: number } {
          return { name: 1 };
        }
      }
      const server = new Sub({ store: new session.MemoryStore(), secret: SECRET });
      const wrong = new WrongHydrate({ store: new session.MemoryStore(), secret: SECRET });
      opened.push(server, wrong);
      const req = new IncomingMessage(new NetSocket());
      req.headers["x-session-id"] = "abc";

      expect(server.idOf(req)).toBe("abc");
    });
  });

  describe("SessionSocket events", () => {
    it("types message data as string | Buffer and close as (reason, description?)", async () => {
      app = await startApp();
      const server = attachServer(app);
      opened.push(server);
      const cookie = await app.login("alice");
      const received = new Promise<string | Buffer>((resolve) => {
        server.on("session", (socket) => {
          socket.on("message", (data) => {
            const isData: Equals<typeof data, string | Buffer> = true;
            expect(isData).toBe(true);
            resolve(data);
          });
          socket.on("close", (reason, description) => {
            const types: [
              Equals<typeof reason, string>,
              Equals<typeof description, Error | undefined>,
            ] = [true, true];
            expect(types).toEqual([true, true]);
          });
          socket.on("session", (value) => {
            const isSession: Equals<typeof value, AppSession> = true;
            expect(isSession).toBe(true);
          });
          // @ts-expect-error: "mesage" is not an event of SessionSocket
          socket.on("mesage", () => undefined);
          // @ts-expect-error: message data is string | Buffer, not number
          socket.on("message", (data: number) => data > 0);
        });
      });

      const socket = client(app, "websocket", cookie);
      const result = await outcome(socket);
      socket.send("hello");

      expect(result.kind).toBe("open");
      await expect(received).resolves.toBe("hello");
    });

    it("exposes the event map as SessionSocketEvents<S>", () => {
      const message: Equals<
        Parameters<SessionSocketEvents<CartSession>["message"]>,
        [data: string | Buffer]
      > = true;
      const sessionEvent: Equals<
        Parameters<SessionSocketEvents<CartSession>["session"]>,
        [session: CartSession]
      > = true;

      expect([message, sessionEvent]).toEqual([true, true]);
    });
  });

  describe("SessionError", () => {
    it("types code as the SessionErrorCode union", () => {
      const error = new SessionError("NOT_FOUND", "gone", { cause: new Error("why") });

      const code: Equals<typeof error.code, SessionErrorCode> = true;
      const known: Extends<
        "NO_COOKIE" | "BAD_SIGNATURE" | "NOT_FOUND" | "STORE_ERROR" | "TIMEOUT" | "HYDRATE_FAILED",
        SessionErrorCode
      > = true;
      const notAnyString: Extends<string, SessionErrorCode> = false;

      expect([code, known, notAnyString]).toEqual([true, true, false]);
      expect(error.code).toBe("NOT_FOUND");
      expect(error).toBeInstanceOf(Error);
    });

    it("rejects an unknown code", () => {
      // @ts-expect-error: "NOPE" is not a SessionErrorCode
      const error = new SessionError("NOPE");
      // @ts-expect-error: code is readonly
      error.code = "TIMEOUT";

      expect(error).toBeInstanceOf(SessionError);
    });
  });

  describe("SessionRecord and SessionStore", () => {
    it("accepts express-session's SessionData as a SessionRecord", async () => {
      const memory = new session.MemoryStore();
      const cookie = new session.Cookie();
      cookie.originalMaxAge = 60_000;
      cookie.maxAge = 60_000;
      const data: SessionData = { cookie, user: { name: "alice" } };
      await new Promise<void>((resolve, reject) => {
        memory.set("sid-1", data, (error: unknown) => {
          if (error) reject(error instanceof Error ? error : new Error("set failed"));
          else resolve();
        });
      });

      const asRecord: SessionRecord = data;
      const read = await new Promise<SessionData | null | undefined>((resolve, reject) => {
        memory.get("sid-1", (error: unknown, value) => {
          if (error) reject(error instanceof Error ? error : new Error("get failed"));
          else resolve(value);
        });
      });
      const readAsRecord: SessionRecord | null | undefined = read;

      expect(asRecord.cookie.originalMaxAge).toBe(60_000);
      expect(read?.user).toEqual({ name: "alice" });
      expect(readAsRecord?.cookie.expires).toEqual(expect.any(String));
    });

    it("accepts express-session's MemoryStore and Store as a SessionStore", () => {
      const memory = new session.MemoryStore();
      const asStore: Store = memory;
      const fromMemory: SessionStore = memory;
      const fromStore: SessionStore = asStore;

      const server = new SessionServer({ store: fromStore, secret: SECRET });
      opened.push(server);

      expect(fromMemory).toBe(memory);
      expect(server).toBeInstanceOf(SessionServer);
    });

    it("accepts a promise-only store object literal", async () => {
      const records = new Map<string, SessionRecord>([["sid-1", { cookie: { expires: null } }]]);
      const store: SessionStore = {
        get: (sid: string) => Promise.resolve(records.get(sid) ?? null),
      };
      const server = new SessionServer({ store, secret: SECRET });
      opened.push(server);

      await expect(store.get("sid-1", () => undefined)).resolves.toEqual({
        cookie: { expires: null },
      });
    });

    it("rejects a store without get or a record without cookie", () => {
      // @ts-expect-error: a store needs get
      const noGet: SessionStore = { set: () => undefined };
      // @ts-expect-error: a record needs its cookie
      const noCookie: SessionRecord = { user: { name: "alice" } };

      expect(() => new SessionServer({ store: noGet, secret: SECRET })).toThrow(TypeError);
      expect(noCookie).not.toHaveProperty("cookie");
    });
  });
});
