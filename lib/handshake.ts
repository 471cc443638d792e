import type { IncomingMessage, ServerResponse } from "node:http";
import createDebug from "debug";
import { SessionError, redactId, toSessionError, type SessionErrorCode } from "./errors";
import { hydrateSafely, isPromiseLike, type Hydrate } from "./hydrate";
import type { LiveSessions } from "./live-sessions";
import type { SessionSettings } from "./options";
import { resolveCookieOptions } from "./cookie-options";
import type { OriginCheck } from "./origin";
import { copyRecord } from "./record-copy";
import { newSession } from "./session-cookie";
import { cookieNames } from "./session-id";
import type { SessionLoader } from "./session-loader";
import type { ResolvedSession } from "./session-socket";
import type { SessionRecord, StoreClient } from "./store";

const debug = createDebug("engine.io-session");

/** @internal engine.io's handshake request: an IncomingMessage with its parsed query and response. */
export type HandshakeRequest = IncomingMessage & {
  _query: Record<string, string | undefined>;
  res?: ServerResponse;
};

/** @internal What resolving a handshake needs. */
export interface HandshakeOptions<S, R extends SessionRecord> {
  readonly settings: SessionSettings;
  readonly store: StoreClient;
  readonly loader: SessionLoader;
  readonly live: LiveSessions<S, R>;
  readonly originCheck: OriginCheck;
  /** The server's `sessionIdFrom()`. */
  sessionIdFrom(req: IncomingMessage): string | undefined;
  /** Whether `sessionIdFrom()` is the app's own (its "no id" is not about a cookie). */
  readonly customSessionId: boolean;
  /** The server's `hydrate()`. */
  readonly hydrate: Hydrate<S, R>;
}

/** The failures that `create: true` answers with a new session (a broken store is not one). */
const CREATABLE: ReadonlySet<SessionErrorCode> = new Set([
  "NO_COOKIE",
  "BAD_SIGNATURE",
  "NOT_FOUND",
]);

function creatable(error: unknown): boolean {
  return error instanceof SessionError && CREATABLE.has(error.code);
}

/**
 * @internal
 * Resolves the session of one handshake, in this order: origin → verified id → store (coalesced)
 * → private copy → `hydrate()` (or, with `create`, a new session); then checks that the session
 * did not end meanwhile. Rejects with a `SessionError` that says why there is no session.
 */
export class Handshakes<S, R extends SessionRecord> {
  readonly #options: HandshakeOptions<S, R>;

  constructor(options: HandshakeOptions<S, R>) {
    this.#options = options;
  }

  /** The session of `req`, or a rejection with the `SessionError` that explains its absence. */
  async resolve(req: HandshakeRequest): Promise<ResolvedSession<S, R>> {
    const { live, loader, settings } = this.#options;
    this.#checkOrigin(req);
    let sessionId: string;
    try {
      sessionId = this.#sessionIdOf(req);
    } catch (error) {
      if (settings.create && creatable(error)) return this.#create(req, error);
      throw error;
    }
    // One async frame for the whole path: each await costs a promise and a microtask.
    const started = live.beginHandshake(sessionId);
    let finished = false;
    try {
      let record: R;
      try {
        record = copyRecord(await loader.load(sessionId), sessionId) as R;
      } catch (error) {
        if (!settings.create || !creatable(error)) throw error;
        finished = true;
        live.finishHandshake(sessionId, started);
        return await this.#create(req, error);
      }
      // hydrate() runs outside the create fallback: its refusals never create a session.
      const hydrated = hydrateSafely(this.#options.hydrate, record, sessionId, req);
      const session = isPromiseLike(hydrated) ? await hydrated : hydrated;
      finished = true;
      const ended = live.finishHandshake(sessionId, started);
      if (ended !== undefined) throw ended;
      if (debug.enabled) debug("session %s resolved", redactId(sessionId));
      return { sessionId, record, session, created: false, started };
    } finally {
      if (!finished) live.finishHandshake(sessionId, started);
    }
  }

  #checkOrigin(req: HandshakeRequest): void {
    let refusal: string | undefined;
    try {
      refusal = this.#options.originCheck(req);
    } catch (error) {
      throw new SessionError("BAD_ORIGIN", "the `origins` function threw: see error.cause", {
        cause: error,
      });
    }
    if (refusal !== undefined) throw new SessionError("BAD_ORIGIN", refusal);
  }

  /** The verified session id; throws `NO_COOKIE` or `BAD_SIGNATURE`. */
  #sessionIdOf(req: HandshakeRequest): string {
    let sessionId: string | undefined;
    try {
      sessionId = this.#options.sessionIdFrom(req);
    } catch (error) {
      throw toSessionError(error, "BAD_SIGNATURE", "sessionIdFrom() threw: see error.cause");
    }
    if (sessionId === undefined) throw this.#noCookie(req);
    return sessionId;
  }

  #noCookie(req: IncomingMessage): SessionError {
    if (this.#options.customSessionId) {
      return new SessionError("NO_COOKIE", "sessionIdFrom() found no session id in the request");
    }
    const { name } = this.#options.settings;
    if (debug.enabled) debug("no cookie '%s' in the handshake: %s", name, whyNoCookie(req, name));
    return new SessionError("NO_COOKIE", `no cookie '${name}' in the handshake request`);
  }

  async #create(req: HandshakeRequest, why: unknown): Promise<ResolvedSession<S, R>> {
    debug("no usable session (%s): creating one", (why as SessionError).code);
    const { settings, store, live } = this.#options;
    const { name, secrets, cookie } = settings;
    // `secure: "auto"` (and the like) are settled per request, as express-session does.
    const fresh = newSession(name, secrets[0], resolveCookieOptions(cookie, req));
    const record = structuredClone(fresh.record) as R;
    const started = live.beginHandshake(fresh.sessionId);
    try {
      // hydrate() first: a session it refuses is never stored (nobody would ever hold its cookie).
      const session = await hydrateSafely(this.#options.hydrate, record, fresh.sessionId, req);
      await store.set(fresh.sessionId, fresh.record);
      record.cookie = { ...fresh.record.cookie };
      // On polling, engine.io's headers replace what middlewares set on the response: keep theirs.
      const response = req._query.transport === "polling" ? req.res : undefined;
      return { ...fresh, record, session, created: true, response, started };
    } finally {
      live.finishHandshake(fresh.sessionId, started);
    }
  }
}

/** Which of the causes of a missing cookie the request shows (for the debug line). */
function whyNoCookie(req: IncomingMessage, name: string): string {
  const header = req.headers.cookie;
  if (header === undefined || header.trim() === "") {
    const site = req.headers["sec-fetch-site"];
    return site === "cross-site" || site === "same-site"
      ? `no Cookie header, from a ${site} page: the client must send credentials (withCredentials) and the cookie must allow it (SameSite=None; Secure)`
      : "no Cookie header at all: not logged in yet, a Secure cookie over plain http, or a cookie for another domain";
  }
  const sent = cookieNames(header);
  return `cookies sent: ${sent.join(", ")}; not '${name}' (another cookie name in express-session? a cookie Path that does not cover the engine.io path?)`;
}
