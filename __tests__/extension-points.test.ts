import type { IncomingMessage } from "node:http";
import { sign, unsign } from "cookie-signature";
import type { Socket as ClientSocket } from "engine.io-client";
import {
  SessionError,
  SessionServer,
  type SessionRecord,
  type SessionServerOptions,
  type SessionSocket,
  type SessionStore,
} from "../lib";
import {
  SECRET,
  client,
  closeClients,
  delay,
  outcome,
  sessionIdOf,
  signedCookie,
  startApp,
  until,
  type AppSession,
  type TestApp,
} from "./helpers/app";

/** What the app wants its sockets to carry instead of the raw record. */
interface Profile {
  name: string;
  sid: string;
}

/** The user of a record written by the test app's /login. */
function userOf(record: SessionRecord): { name: string } | undefined {
  return (record as AppSession).user;
}

/** Turns the stored record into a Profile; a session without a user name is NOT_FOUND. */
class ProfileServer extends SessionServer<Profile> {
  protected override hydrate(record: SessionRecord, sessionId: string): Profile {
    const user = userOf(record);
    if (user === undefined || user.name === "") {
      throw new SessionError("NOT_FOUND", "the session has no logged-in user");
    }
    return { name: user.name, sid: sessionId };
  }
}

/** Like ProfileServer, but loads the profile asynchronously (as from a database). */
class AsyncProfileServer extends SessionServer<Profile> {
  protected override async hydrate(
    record: SessionRecord,
    sessionId: string,
    req: IncomingMessage,
  ): Promise<Profile> {
    await delay(10);
    const name = userOf(record)?.name ?? "";
    return { name: `${name}@${req.headers["x-app"] as string}`, sid: sessionId };
  }
}

/** Runs whatever hydrate the test gives it. */
type Hydrator = (record: SessionRecord, sessionId: string, req: IncomingMessage) => unknown;

class HydratingServer extends SessionServer<unknown> {
  readonly #hydrator: Hydrator;

  constructor(
    httpServer: TestApp["httpServer"],
    options: SessionServerOptions,
    hydrator: Hydrator,
  ) {
    super(httpServer, options);
    this.#hydrator = hydrator;
  }

  protected override hydrate(
    record: SessionRecord,
    sessionId: string,
    req: IncomingMessage,
  ): unknown {
    return this.#hydrator(record, sessionId, req);
  }
}

/** Reads the session id from `Authorization: Bearer <signed id>`, as a native app would send it. */
class BearerServer extends SessionServer<AppSession> {
  protected override sessionIdFrom(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization;
    if (header === undefined) return undefined;
    const token = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
    const id = unsign(token, SECRET);
    if (id === false) throw new SessionError("BAD_SIGNATURE", "the bearer token is forged");
    return id;
  }
}

/** A sessionIdFrom with a bug in it. */
class CrashingIdServer extends SessionServer<AppSession> {
  static readonly failure = new Error("token parser crashed");

  protected override sessionIdFrom(): string | undefined {
    throw CrashingIdServer.failure;
  }
}

/** A store that hands out its own stored objects (no copy), after `ms`, so reads get shared. */
function sharingStore(
  records: Map<string, AppSession>,
  ms: number,
): SessionStore & { gets: number } {
  const store = {
    gets: 0,
    get(sid: string, callback: (error: unknown, record?: SessionRecord | null) => void) {
      store.gets++;
      setTimeout(() => {
        callback(null, records.get(sid) ?? null);
      }, ms);
    },
  };
  return store;
}

/**
 * Runs the handshake of `socket` (a client just made) on `server`; resolves with how it ended for
 * the client and the `session` event it gave.
 */
async function handshakeWithSession<S>(server: SessionServer<S>, socket: ClientSocket) {
  const session = new Promise<{ socket: SessionSocket<S>; session: S }>((resolve) => {
    server.once("session", (sessionSocket, value) => {
      resolve({ socket: sessionSocket, session: value });
    });
  });
  const [result, emitted] = await Promise.all([outcome(socket), session]);
  return { result, ...emitted };
}

/**
 * Runs the handshake of `socket` (a client just made) on `server`; resolves with how it ended for
 * the client and the `session_error` it caused.
 */
async function handshakeWithError<S>(server: SessionServer<S>, socket: ClientSocket) {
  const sessionError = new Promise<SessionError>((resolve) => {
    server.once("session_error", (error) => {
      resolve(error);
    });
  });
  const result = await outcome(socket);
  return { result, error: await sessionError };
}

/** Counts the `event`s `server` emits from now on. */
function countEvents<S>(
  server: SessionServer<S>,
  event: "connection" | "session",
): { readonly count: number } {
  const counted = { count: 0 };
  server.on(event, () => {
    counted.count++;
  });
  return counted;
}

const MODES = ["polling", "websocket"] as const;

describe("SessionServer extension points", () => {
  let app: TestApp;
  let server: { close(): unknown } | undefined;

  beforeEach(async () => {
    app = await startApp();
  });

  afterEach(async () => {
    closeClients();
    server?.close();
    server = undefined;
    await app.close();
  });

  function options(extra: Partial<SessionServerOptions> = {}): SessionServerOptions {
    return { store: app.store, secret: SECRET, ...extra };
  }

  /** Keeps `built` for afterEach to close, and hands it back typed. */
  function track<T extends { close(): unknown }>(built: T): T {
    server = built;
    return built;
  }

  for (const mode of MODES) {
    describe(`#hydrate (${mode})`, () => {
      it("gives session listeners the value hydrate returns", async () => {
        const profiles = track(new ProfileServer(app.httpServer, options()));
        const cookie = await app.login("alice");

        const { result, socket, session } = await handshakeWithSession(
          profiles,
          client(app, mode, cookie),
        );

        const typed: Profile = session;
        expect(result.kind).toBe("open");
        expect(typed).toEqual({ name: "alice", sid: sessionIdOf(cookie) });
        expect(socket.session).toBe(session);
        expect(profiles.sessionOf(socket.conn)?.session).toEqual(session);
      });

      it("waits for an async hydrate, which receives the handshake request", async () => {
        const profiles = track(new AsyncProfileServer(app.httpServer, options()));
        const cookie = await app.login("bob");

        const { result, session: profile } = await handshakeWithSession(
          profiles,
          client(app, mode, cookie, { extraHeaders: { cookie, "x-app": "native" } }),
        );

        expect(result.kind).toBe("open");
        expect(profile).toEqual({ name: "bob@native", sid: sessionIdOf(cookie) });
      });

      it("refuses the handshake with HYDRATE_FAILED when hydrate throws, keeping the cause", async () => {
        const failure = new Error("user database unreachable");
        const failing = track(
          new HydratingServer(app.httpServer, options(), () => {
            throw failure;
          }),
        );
        const connections = countEvents(failing, "connection");
        const cookie = await app.login("alice");

        const { result, error } = await handshakeWithError(failing, client(app, mode, cookie));

        expect(result.kind).toBe("error");
        expect(error.code).toBe("HYDRATE_FAILED");
        expect(error.cause).toBe(failure);
        expect(error.message).not.toContain(failure.message);
        expect(error.message).not.toContain(sessionIdOf(cookie));
        expect(connections.count).toBe(0);
      });

      it("refuses the handshake with HYDRATE_FAILED when an async hydrate rejects", async () => {
        const failure = new Error("profile service timed out");
        const failing = track(
          new HydratingServer(app.httpServer, options(), async () => {
            await delay(5);
            throw failure;
          }),
        );
        const cookie = await app.login("alice");

        const { result, error } = await handshakeWithError(failing, client(app, mode, cookie));

        expect(result.kind).toBe("error");
        expect(error.code).toBe("HYDRATE_FAILED");
        expect(error.cause).toBe(failure);
      });

      it("refuses the handshake with the code of a SessionError hydrate throws", async () => {
        const profiles = track(new ProfileServer(app.httpServer, options()));
        const sessions = countEvents(profiles, "session");
        const cookie = await app.login("");

        const { result, error } = await handshakeWithError(profiles, client(app, mode, cookie));

        expect(result.kind).toBe("error");
        expect(error).toBeInstanceOf(SessionError);
        expect(error.code).toBe("NOT_FOUND");
        expect(error.message).toBe("the session has no logged-in user");
        expect(sessions.count).toBe(0);
      });

      it("connects anonymously when hydrate throws and a session is not required", async () => {
        const failing = track(
          new HydratingServer(app.httpServer, options({ required: false }), () => {
            throw new Error("nope");
          }),
        );
        const sessions = countEvents(failing, "session");
        const cookie = await app.login("alice");
        const connection = new Promise<void>((resolve) => {
          failing.once("connection", () => {
            resolve();
          });
        });

        const { result, error } = await handshakeWithError(failing, client(app, mode, cookie));
        await connection;

        expect(result.kind).toBe("open");
        expect(error.code).toBe("HYDRATE_FAILED");
        expect(sessions.count).toBe(0);
      });

      it("hands hydrate a private copy that it may mutate", async () => {
        const sid = "shared-session-id-0001";
        const records = new Map<string, AppSession>([
          [sid, { cookie: { originalMaxAge: null }, user: { name: "alice" }, counter: 1 }],
        ]);
        const store = sharingStore(records, 30);
        const received: AppSession[] = [];
        const mutating = track(
          new HydratingServer(app.httpServer, options({ store }), (record) => {
            const session = record as AppSession;
            received.push(structuredClone(session));
            session.user!.name = "mallory";
            session.counter = 99;
            return session;
          }),
        );
        const sessions: unknown[] = [];
        mutating.on("session", (_socket, session) => {
          sessions.push(session);
        });
        const cookie = signedCookie(sid);

        // Two tabs at once: one shared store read feeds both handshakes.
        const results = await Promise.all([
          outcome(client(app, mode, cookie)),
          outcome(client(app, mode, cookie)),
        ]);
        await until(() => sessions.length === 2);

        expect(results.map((each) => each.kind)).toEqual(["open", "open"]);
        expect(store.gets).toBe(1);
        expect(received).toEqual([
          { cookie: { originalMaxAge: null }, user: { name: "alice" }, counter: 1 },
          { cookie: { originalMaxAge: null }, user: { name: "alice" }, counter: 1 },
        ]);
        expect(records.get(sid)).toEqual({
          cookie: { originalMaxAge: null },
          user: { name: "alice" },
          counter: 1,
        });
        expect(sessions[0]).not.toBe(sessions[1]);
      });
    });

    describe(`#sessionIdFrom (${mode})`, () => {
      it("takes the session from an Authorization: Bearer header", async () => {
        const bearer = track(new BearerServer(app.httpServer, options()));
        const cookie = await app.login("alice");
        const token = sign(sessionIdOf(cookie), SECRET);

        const { result, socket, session } = await handshakeWithSession(
          bearer,
          client(app, mode, undefined, { extraHeaders: { authorization: `Bearer ${token}` } }),
        );

        expect(result.kind).toBe("open");
        expect(session.user?.name).toBe("alice");
        expect(socket.sessionId).toBe(sessionIdOf(cookie));
        expect(socket.request.headers.cookie).toBeUndefined();
      });

      it("refuses a forged bearer token with BAD_SIGNATURE", async () => {
        const bearer = track(new BearerServer(app.httpServer, options()));
        const cookie = await app.login("alice");
        const forged = sign(sessionIdOf(cookie), "not the secret");

        const { result, error } = await handshakeWithError(
          bearer,
          client(app, mode, undefined, { extraHeaders: { authorization: `Bearer ${forged}` } }),
        );

        expect(result.kind).toBe("error");
        expect(error.code).toBe("BAD_SIGNATURE");
        expect(error.message).toBe("the bearer token is forged");
      });

      it("refuses a request without the header with NO_COOKIE, whatever cookie it sends", async () => {
        const bearer = track(new BearerServer(app.httpServer, options()));
        const cookie = await app.login("alice");

        const { result, error } = await handshakeWithError(bearer, client(app, mode, cookie));

        expect(result.kind).toBe("error");
        expect(error.code).toBe("NO_COOKIE");
      });

      it("turns anything else sessionIdFrom throws into BAD_SIGNATURE with the cause", async () => {
        const crashing = track(new CrashingIdServer(app.httpServer, options()));
        const connections = countEvents(crashing, "connection");
        const cookie = await app.login("alice");

        const { result, error } = await handshakeWithError(crashing, client(app, mode, cookie));

        expect(result.kind).toBe("error");
        expect(error.code).toBe("BAD_SIGNATURE");
        expect(error.cause).toBe(CrashingIdServer.failure);
        expect(connections.count).toBe(0);
      });
    });
  }
});
