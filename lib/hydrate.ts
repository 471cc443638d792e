import type { IncomingMessage } from "node:http";
import { redactId, toSessionError } from "./errors";
import type { SessionRecord } from "./store";

/** The app's `hydrate()` as the server's subclass defines it. */
export type Hydrate<S, R extends SessionRecord> = (
  record: R,
  sessionId: string,
  req: IncomingMessage,
) => S | Promise<S>;

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/**
 * The one wrapper of the app's `hydrate()`: its failures (a throw or a rejection) become
 * `HYDRATE_FAILED` (or the code of a `SessionError` it threw); synchronous when the app's is, so
 * a synchronous hydrate costs no promise.
 */
export function hydrateSafely<S, R extends SessionRecord>(
  hydrate: Hydrate<S, R>,
  record: R,
  sessionId: string,
  req: IncomingMessage,
): S | Promise<S> {
  let hydrated: S | Promise<S>;
  try {
    hydrated = hydrate(record, sessionId, req);
  } catch (error) {
    throw failed(error, sessionId);
  }
  if (!isPromiseLike(hydrated)) return hydrated;
  return Promise.resolve(hydrated).catch((error: unknown) => {
    throw failed(error, sessionId);
  });
}

function failed(error: unknown, sessionId: string): Error {
  return toSessionError(
    error,
    "HYDRATE_FAILED",
    `hydrate() failed for session ${redactId(sessionId)}: see error.cause`,
  );
}

export { isPromiseLike };
