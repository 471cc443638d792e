import type { SessionSocket } from "./session-socket";

/**
 * The open sockets of each session in this process, indexed by session id. An entry lives exactly
 * as long as its session has an open socket here.
 */
export class SessionRegistry<S> {
  readonly #bySession = new Map<string, Set<SessionSocket<S>>>();

  /** How many sessions have at least one open socket here. */
  get size(): number {
    return this.#bySession.size;
  }

  /** Indexes `socket` until it closes. */
  add(socket: SessionSocket<S>): void {
    let sockets = this.#bySession.get(socket.sessionId);
    if (sockets === undefined) {
      sockets = new Set();
      this.#bySession.set(socket.sessionId, sockets);
    }
    sockets.add(socket);
    socket.conn.once("close", () => {
      this.#remove(socket);
    });
  }

  /** The open sockets of a session, as a new array. */
  socketsOf(sessionId: string): SessionSocket<S>[] {
    const sockets = this.#bySession.get(sessionId);
    return sockets === undefined ? [] : [...sockets];
  }

  #remove(socket: SessionSocket<S>): void {
    const sockets = this.#bySession.get(socket.sessionId);
    if (sockets === undefined) return;
    sockets.delete(socket);
    if (sockets.size === 0) this.#bySession.delete(socket.sessionId);
  }
}
