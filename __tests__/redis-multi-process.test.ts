import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import type { SessionServerStats } from "../lib";
import {
  client,
  closeClients,
  fetchReply,
  loginAt,
  outcome,
  sessionIdOf,
  type TransportMode,
} from "./helpers/app";
import type { NodeCommand, NodeReport } from "./helpers/node-process";
import {
  connectRedis,
  describeRedis,
  eventually,
  uniqueName,
  untilSubscribers,
  useRedis,
  type RedisClient,
} from "./helpers/redis";

/** Distributes `Omit` over a union, so each command keeps its own fields. */
type CommandBody<C> = C extends NodeCommand ? Omit<C, "id"> : never;

/** A node running in a child process, seen from the test. */
class ChildNode {
  readonly reports: NodeReport[] = [];
  readonly #child: ChildProcess;
  #nextId = 1;
  #exited = false;

  constructor(
    readonly name: string,
    redisUrl: string,
    channel: string,
  ) {
    this.#child = fork(path.join(__dirname, "helpers", "node-process.ts"), [], {
      execArgv: ["-r", "ts-node/register/transpile-only"],
      env: {
        ...process.env,
        REDIS_URL: redisUrl,
        BUS_CHANNEL: channel,
        TS_NODE_PROJECT: path.join(__dirname, "..", "tsconfig.json"),
      },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.#child.on("message", (message: NodeReport) => this.reports.push(message));
    this.#child.once("exit", () => {
      this.#exited = true;
    });
  }

  /** Resolves with the first report that matches, waiting `timeoutMs` at most. */
  async next<T extends NodeReport>(
    match: (report: NodeReport) => report is T,
    timeoutMs = 5000,
  ): Promise<T> {
    let found: T | undefined;
    await eventually(
      () => {
        found = this.reports.find(match);
        return found !== undefined || this.#exited;
      },
      timeoutMs,
      `node ${this.name}: expected report`,
    );
    if (found === undefined) throw new Error(`node ${this.name} exited`);
    return found;
  }

  /** The node's URL once it reported ready. */
  async ready(): Promise<string> {
    const report = await this.next(
      (each): each is Extract<NodeReport, { type: "ready" }> => each.type === "ready",
      20_000,
    );
    return report.url;
  }

  /** Sends a command and resolves with its reply's value (rejects with its error). */
  async command(body: CommandBody<NodeCommand>): Promise<number | SessionServerStats | undefined> {
    const id = this.#nextId++;
    this.#child.send({ ...body, id });
    const reply = await this.next(
      (each): each is Extract<NodeReport, { type: "reply" }> =>
        each.type === "reply" && each.id === id,
    );
    if (reply.error !== undefined) throw new Error(`node ${this.name}: ${reply.error}`);
    return reply.value;
  }

  async stats(): Promise<SessionServerStats> {
    return (await this.command({ cmd: "stats" })) as SessionServerStats;
  }

  /** The reports about one socket (by engine.io id), without the id. */
  eventsOf(socketId: string): string[] {
    return this.reports.flatMap((report) => {
      if (report.type === "session_update" && report.socketId === socketId) {
        return [`session_update ${report.counter ?? ""}`];
      }
      if (report.type === "session_end" && report.socketId === socketId) {
        return [`session_end ${report.reason}`];
      }
      return [];
    });
  }

  /** Server `session_end` reports of one session. */
  endsOf(sessionId: string): string[] {
    return this.reports.flatMap((report) =>
      report.type === "server_session_end" && report.sessionId === sessionId ? [report.reason] : [],
    );
  }

  /** SIGTERM, then SIGKILL if it has not exited within 3 s. */
  async kill(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) =>
      this.#child.once("exit", () => {
        resolve();
      }),
    );
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }
}

describeRedis("three processes sharing one Redis (store and bus)", () => {
  const redis = useRedis();
  const channel = uniqueName("engine.io-session:multi-process");
  const urls = new Map<ChildNode, string>();
  let nodes: ChildNode[] = [];
  let probe: RedisClient;

  beforeAll(async () => {
    probe = await connectRedis(redis.url);
    nodes = ["A", "B", "C"].map((name) => new ChildNode(name, redis.url, channel));
    const ready = await Promise.all(nodes.map((node) => node.ready()));
    nodes.forEach((node, index) => urls.set(node, ready[index]));
    await untilSubscribers(probe, channel, 3, 5000);
  }, 30_000);

  afterEach(() => {
    closeClients();
  });

  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.kill()));
  }, 15_000);

  function urlOf(node: ChildNode): string {
    return urls.get(node) ?? "";
  }

  /** Opens a socket on `node` and waits until the node reported its session. */
  async function connect(node: ChildNode, mode: TransportMode, cookie: string) {
    const socket = client({ url: urlOf(node) }, mode, cookie);
    const result = await outcome(socket);
    if (result.kind !== "open") throw new Error(`refused on ${node.name}: ${result.error.message}`);
    const report = await node.next(
      (each): each is Extract<NodeReport, { type: "session" }> =>
        each.type === "session" && each.socketId === socket.id,
    );
    return { node, client: socket, report };
  }

  /** A user logged in on `home`, with a socket on each node (websocket, polling, websocket). */
  async function userOnEveryNode(home: ChildNode, user: string) {
    const cookie = await loginAt(urlOf(home), user);
    const modes: TransportMode[] = ["websocket", "polling", "websocket"];
    const sockets = await Promise.all(
      nodes.map((node, index) => connect(node, modes[index], cookie)),
    );
    return { cookie, sessionId: sessionIdOf(cookie), sockets };
  }

  it("gives sockets on A, B and C the session an HTTP login created on A", async () => {
    const [a] = nodes;
    const alice = await userOnEveryNode(a, "alice");

    for (const { report, client: socket } of alice.sockets) {
      expect(report).toMatchObject({ sessionId: alice.sessionId, user: "alice" });
      expect(socket.readyState).toBe("open");
    }
    expect(alice.sockets.map(({ client: socket }) => socket.transport.name)).toEqual([
      "websocket",
      "polling",
      "websocket",
    ]);
  });

  it("refreshes the sockets on B and C when updateSession runs on A", async () => {
    const [a, b] = nodes;
    const alice = await userOnEveryNode(a, "alice");
    const bob = await userOnEveryNode(b, "bob");

    expect(await a.command({ cmd: "update", sessionId: alice.sessionId, counter: 42 })).toBe(1);

    await eventually(
      () => alice.sockets.every(({ node, client: socket }) => node.eventsOf(socket.id).length > 0),
      3000,
      "every node refreshed",
    );
    for (const { node, client: socket } of alice.sockets) {
      expect(node.eventsOf(socket.id)).toEqual(["session_update 42"]);
    }
    for (const { node, client: socket } of bob.sockets) {
      expect(node.eventsOf(socket.id)).toEqual([]);
      expect(socket.readyState).toBe("open");
    }
    const whoami = await fetchReply(urlOf(nodes[2]), "/whoami", alice.cookie);
    expect(whoami.body).toEqual({ user: { name: "alice" }, counter: 42 });
  });

  it("ends the sockets on A and B when destroySession runs on C", async () => {
    const [a, b, c] = nodes;
    const alice = await userOnEveryNode(a, "alice");
    const bob = await userOnEveryNode(b, "bob");
    const closed = alice.sockets.map(
      ({ client: socket }) =>
        new Promise<void>((resolve) =>
          socket.once("close", () => {
            resolve();
          }),
        ),
    );

    expect(await c.command({ cmd: "destroy", sessionId: alice.sessionId })).toBe(1);

    await Promise.all(closed);
    await eventually(
      () => [a, b].every((node) => node.endsOf(alice.sessionId).length > 0),
      3000,
      "A and B ended the session",
    );
    for (const node of nodes) expect(node.endsOf(alice.sessionId)).toEqual(["destroyed"]);
    // (engine.io-client forgets a closed socket's id: the node's report keeps it.)
    for (const { node, report } of alice.sockets) {
      expect(node.eventsOf(report.socketId)).toEqual(["session_end destroyed"]);
    }
    for (const { node, client: socket } of bob.sockets) {
      expect(node.eventsOf(socket.id)).toEqual([]);
      expect(node.endsOf(bob.sessionId)).toEqual([]);
      expect(socket.readyState).toBe("open");
    }
    const whoami = await fetchReply(urlOf(a), "/whoami", alice.cookie);
    expect(whoami.body).toEqual({ user: null, counter: null });
    // Each node now holds bob's session and socket only (earlier tests' sockets have closed).
    await eventually(
      async () => {
        const stats = await Promise.all(nodes.map((node) => node.stats()));
        return stats.every((each) => each.sessions === 1 && each.sockets === 1);
      },
      3000,
      "each node holds one session",
    );
  });
});
