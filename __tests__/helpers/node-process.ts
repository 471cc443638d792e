/**
 * One node of a multi-process deployment, run as a child process by redis-multi-process.test.ts
 * (`fork` with `-r ts-node/register/transpile-only`): an HTTP app with express-session on a
 * RedisStore, and a SessionServer with a RedisSessionBus, on the Redis at `REDIS_URL`, channel
 * `BUS_CHANNEL`. It reports its URL and every session event to the parent over IPC and runs the
 * parent's commands (`update`, `destroy`, `stats`). It exits when the parent disconnects or on SIGTERM.
 */
import type { SessionEndReason, SessionServerStats, SessionSocket } from "../../lib";
import type { AppSession } from "./app";
import { closeRedisNode, startRedisNode } from "./redis-node";

/** What a node tells the parent. */
export type NodeReport =
  | { readonly type: "ready"; readonly url: string }
  | {
      readonly type: "session";
      readonly socketId: string;
      readonly sessionId: string;
      readonly user: string | null;
    }
  | { readonly type: "session_update"; readonly socketId: string; readonly counter: number | null }
  | { readonly type: "session_end"; readonly socketId: string; readonly reason: SessionEndReason }
  | {
      readonly type: "server_session_end";
      readonly sessionId: string;
      readonly reason: SessionEndReason;
    }
  | {
      readonly type: "reply";
      readonly id: number;
      readonly value?: number | SessionServerStats;
      readonly error?: string;
    };

/** What the parent asks a node to do; each gets a `reply` with the same `id`. */
export type NodeCommand =
  | {
      /** `updateSession` on a socket of the session here: sets `counter`. */
      readonly cmd: "update";
      readonly id: number;
      readonly sessionId: string;
      readonly counter: number;
    }
  | { readonly cmd: "destroy"; readonly id: number; readonly sessionId: string }
  | { readonly cmd: "stats"; readonly id: number };

function report(message: NodeReport): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const url = process.env.REDIS_URL;
  const channel = process.env.BUS_CHANNEL;
  if (url === undefined || channel === undefined) throw new Error("REDIS_URL and BUS_CHANNEL");
  const node = await startRedisNode(url, "child", { bus: { channel } });
  const { app, server } = node;

  server.on("session", (socket: SessionSocket<AppSession>, session) => {
    report({
      type: "session",
      socketId: socket.id,
      sessionId: socket.sessionId,
      user: session.user?.name ?? null,
    });
    socket.on("session_update", (value) => {
      report({ type: "session_update", socketId: socket.id, counter: value.counter ?? null });
    });
    socket.on("session_end", (reason) => {
      report({ type: "session_end", socketId: socket.id, reason });
    });
  });
  server.on("session_end", (sessionId, reason) => {
    report({ type: "server_session_end", sessionId, reason });
  });

  async function run(command: NodeCommand): Promise<number | SessionServerStats> {
    switch (command.cmd) {
      case "update": {
        const socket = server.socketsOf(command.sessionId).at(0);
        if (socket === undefined) throw new Error("no socket of that session here");
        await socket.updateSession((record) => {
          record.counter = command.counter;
        });
        return server.socketsOf(command.sessionId).length;
      }
      case "destroy":
        return server.destroySession(command.sessionId);
      case "stats":
        return server.stats;
    }
  }

  process.on("message", (command: NodeCommand) => {
    run(command).then(
      (value) => {
        report({ type: "reply", id: command.id, value });
      },
      (error: unknown) => {
        report({
          type: "reply",
          id: command.id,
          error: error instanceof Error ? error.message : "failed",
        });
      },
    );
  });

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 2000).unref();
    void closeRedisNode(node).finally(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("disconnect", stop);

  report({ type: "ready", url: app.url });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
