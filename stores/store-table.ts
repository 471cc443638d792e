import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import session from "express-session";
import createMemoryStore from "memorystore";
import { RedisStore } from "connect-redis";
import { RedisStore as RedisStore8 } from "connect-redis-8";
import { createClient } from "redis";
import { Redis } from "ioredis";
import pg from "pg";
import mysql from "mysql2/promise";
import connectPgSimple from "connect-pg-simple";
import expressMysqlSession from "express-mysql-session";
import connectMemcached from "connect-memcached";
import sessionFileStore from "session-file-store";
import Database from "better-sqlite3";
import betterSqlite3SessionStore from "better-sqlite3-session-store";
import type { ServerKind, ServerSpec } from "../scripts/servers/servers";
import { MYSQL_DATABASE, serversState } from "./servers-env";

/** One of the nine stores, opened against its backing server. */
export interface OpenedStore {
  readonly store: session.Store;
  /**
   * When the store itself will drop `sid` (ms since the epoch), read from its own bookkeeping
   * (Redis PTTL, the SQL expiry columns, memcached's item TTL, the file's `__lastAccess`, the
   * LRU entry); `Infinity` for never, `undefined` when it does not hold the session.
   */
  expiresAt(sid: string): Promise<number | undefined>;
  /** Closes its clients (the backing server keeps running). */
  close(): Promise<void>;
}

/** A row of the matrix. */
export interface StoreCase {
  /** The name the checks are listed under. */
  readonly name: string;
  /** The backing server, when there is one (the restart check needs it). */
  readonly server?: ServerKind;
  /** Whether its data survives a restart of the backing server. */
  readonly persistent: boolean;
  open(): Promise<OpenedStore>;
}

function spec(kind: ServerKind): ServerSpec {
  const found = serversState().servers[kind];
  if (found === undefined) throw new Error(`no ${kind} server was started`);
  return found;
}

const PREFIX = "sess:";

/** memcached's meta get: `mg <key> t` answers `HD t<seconds>` (-1: no expiry) or `EN` (miss). */
function memcachedTtl(port: number, key: string): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let data = "";
    socket.setTimeout(2000, () => {
      socket.destroy();
      reject(new Error("memcached mg timed out"));
    });
    socket.once("error", reject);
    socket.on("data", (chunk: Buffer) => {
      data += chunk.toString("latin1");
      if (!data.endsWith("\r\n")) return;
      socket.destroy();
      const match = /^HD t(-?\d+)/.exec(data);
      if (match !== null) resolve(Number(match[1]));
      else if (data.startsWith("EN")) resolve(undefined);
      else reject(new Error(`memcached mg answered ${data.trim()}`));
    });
    socket.write(`mg ${key} t\r\n`);
  });
}

function fromTtlMs(ttl: number): number | undefined {
  if (ttl === -2) return undefined;
  if (ttl === -1) return Number.POSITIVE_INFINITY;
  return Date.now() + ttl;
}

function fromCookie(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const record = JSON.parse(raw) as { cookie?: { expires?: string | null } };
  const expires = record.cookie?.expires;
  return typeof expires === "string" ? new Date(expires).getTime() : Number.POSITIVE_INFINITY;
}

const MemcachedStore = connectMemcached(session);
const PgStore = connectPgSimple(session);
const MySQLStore = expressMysqlSession(session);
const FileStore = sessionFileStore(session);
const MemoryStore2 = createMemoryStore(session);
/** Its expiry interval is never unref'd nor cleared, so a process using it cannot exit by itself. */
class SqliteStore extends betterSqlite3SessionStore(session) {
  // `declare`: set by the base constructor (through startInterval), before field initializers run.
  declare interval: NodeJS.Timeout | undefined;
  override startInterval(): void {
    this.interval = setInterval(() => {
      this.clearExpiredSessions();
    }, this.expired.intervalMs);
  }
  stopInterval(): void {
    clearInterval(this.interval);
  }
}

/** The nine stores, in the order of docs/stores.md. */
export const STORE_CASES: readonly StoreCase[] = [
  {
    name: "express-session MemoryStore",
    persistent: false,
    open() {
      const store = new session.MemoryStore();
      const sessions = (store as unknown as { sessions: Record<string, string | undefined> })
        .sessions;
      return Promise.resolve({
        store,
        // MemoryStore has no TTL of its own: the record's cookie.expires is its expiry.
        expiresAt: (sid) => Promise.resolve(fromCookie(sessions[sid])),
        close: () => Promise.resolve(),
      });
    },
  },
  {
    name: "memorystore",
    persistent: false,
    open() {
      const store = new MemoryStore2({ checkPeriod: 60_000 });
      const lru = (store as unknown as { store: { dump(): { k: string; e: number }[] } }).store;
      return Promise.resolve({
        store,
        expiresAt: (sid) => {
          const entry = lru.dump().find((hit) => hit.k === sid);
          return Promise.resolve(entry === undefined ? undefined : entry.e);
        },
        close: () => {
          store.stopInterval();
          return Promise.resolve();
        },
      });
    },
  },
  {
    name: "connect-redis 9 + redis 5",
    server: "redis",
    persistent: true,
    async open() {
      const client = createClient({
        url: `redis://127.0.0.1:${spec("redis").port}`,
        socket: { reconnectStrategy: () => 200, connectTimeout: 2000 },
      });
      client.on("error", () => {
        // Expected while the restart check has Redis down; node-redis reconnects by itself.
      });
      await client.connect();
      const store = new RedisStore({ client, prefix: PREFIX });
      return {
        store,
        expiresAt: async (sid) => fromTtlMs(await client.pTTL(PREFIX + sid)),
        close: async () => {
          client.destroy();
          await Promise.resolve();
        },
      };
    },
  },
  {
    name: "connect-redis 8.1 + ioredis 5",
    server: "redis",
    persistent: true,
    async open() {
      const client = new Redis({
        host: "127.0.0.1",
        port: spec("redis").port,
        retryStrategy: () => 200,
        connectTimeout: 2000,
        lazyConnect: true,
      });
      client.on("error", () => {
        // Expected while the restart check has Redis down; ioredis reconnects by itself.
      });
      await client.connect();
      const store = new RedisStore8({ client, prefix: PREFIX });
      return {
        store,
        expiresAt: async (sid) => fromTtlMs(await client.pttl(PREFIX + sid)),
        close: async () => {
          client.disconnect();
          await Promise.resolve();
        },
      };
    },
  },
  {
    name: "connect-pg-simple + PostgreSQL 15",
    server: "postgres",
    persistent: true,
    open() {
      const pool = new pg.Pool({
        host: "127.0.0.1",
        port: spec("postgres").port,
        user: "postgres",
        database: "postgres",
        connectionTimeoutMillis: 2000,
      });
      pool.on("error", () => {
        // An idle client lost its server (the restart check): the pool drops it.
      });
      const store = new PgStore({
        pool,
        createTableIfMissing: true,
        pruneSessionInterval: false,
        errorLog: () => undefined,
      });
      return Promise.resolve({
        store,
        expiresAt: async (sid) => {
          const result = await pool.query<{ expire: Date }>(
            'SELECT expire FROM "session" WHERE sid = $1',
            [sid],
          );
          return result.rows[0]?.expire.getTime();
        },
        close: async () => {
          await store.close();
          await pool.end();
        },
      });
    },
  },
  {
    name: "express-mysql-session + MariaDB",
    server: "mariadb",
    persistent: true,
    async open() {
      const { port } = spec("mariadb");
      const setup = await mysql.createConnection({ host: "127.0.0.1", port, user: "root" });
      await setup.query(`CREATE DATABASE IF NOT EXISTS ${MYSQL_DATABASE}`);
      await setup.end();
      const store = new MySQLStore({
        host: "127.0.0.1",
        port,
        user: "root",
        database: MYSQL_DATABASE,
        clearExpired: false,
      });
      await store.onReady();
      const pool = mysql.createPool({
        host: "127.0.0.1",
        port,
        user: "root",
        database: MYSQL_DATABASE,
        connectionLimit: 2,
      });
      return {
        store,
        expiresAt: async (sid) => {
          const [rows] = await pool.query<mysql.RowDataPacket[]>(
            "SELECT expires FROM sessions WHERE session_id = ?",
            [sid],
          );
          const row = rows[0] as { expires: number } | undefined;
          return row === undefined ? undefined : row.expires * 1000;
        },
        close: async () => {
          await store.close();
          await pool.end();
        },
      };
    },
  },
  {
    name: "connect-memcached + memcached",
    server: "memcached",
    persistent: false,
    open() {
      const { port } = spec("memcached");
      const store = new MemcachedStore({
        hosts: `127.0.0.1:${port}`,
        prefix: PREFIX,
        // The memcached client (2.2.2) shuns a server for `retry` ms after each error, and after
        // `failures` errors declares it dead: then only the system `ping` command (spawned; an
        // ENOENT crashes the process) brings it back, first after `reconnect` ms (5 h by default).
        retries: 0,
        retry: 200,
        failures: 1_000_000,
        // Each error also arms a timer of this many ms (5 min by default) that holds the process.
        failuresTimeout: 1000,
        timeout: 1000,
        idle: 2000,
      });
      return Promise.resolve({
        store,
        expiresAt: async (sid) => {
          const ttl = await memcachedTtl(port, PREFIX + sid);
          if (ttl === undefined) return undefined;
          return ttl === -1 ? Number.POSITIVE_INFINITY : Date.now() + ttl * 1000;
        },
        close: () => {
          store.client.end();
          return Promise.resolve();
        },
      });
    },
  },
  {
    name: "session-file-store",
    persistent: true,
    open() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eio-stores-files-"));
      const ttlSeconds = 3600;
      const store = new FileStore({
        path: dir,
        ttl: ttlSeconds,
        reapInterval: -1,
        logFn: () => undefined,
      });
      return Promise.resolve({
        store,
        expiresAt: async (sid) => {
          let raw: string;
          try {
            raw = await fs.promises.readFile(path.join(dir, `${sid}.json`), "utf8");
          } catch {
            return undefined;
          }
          // Its own rule (helpers.isExpired): __lastAccess + (cookie.originalMaxAge || ttl).
          const record = JSON.parse(raw) as {
            __lastAccess: number;
            cookie?: { originalMaxAge?: number | null };
          };
          const lifetime = record.cookie?.originalMaxAge ?? ttlSeconds * 1000;
          return record.__lastAccess + lifetime;
        },
        close: () => {
          fs.rmSync(dir, { recursive: true, force: true });
          return Promise.resolve();
        },
      });
    },
  },
  {
    name: "better-sqlite3-session-store",
    persistent: true,
    open() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "eio-stores-sqlite-"));
      const client = new Database(path.join(dir, "sessions.db"));
      const store = new SqliteStore({ client });
      const select = client.prepare("SELECT expire FROM sessions WHERE sid = ?");
      return Promise.resolve({
        store,
        expiresAt: (sid) => {
          const row = select.get(sid) as { expire: string } | undefined;
          return Promise.resolve(row === undefined ? undefined : new Date(row.expire).getTime());
        },
        close: () => {
          store.stopInterval();
          client.close();
          fs.rmSync(dir, { recursive: true, force: true });
          return Promise.resolve();
        },
      });
    },
  },
];

/** The rows named `names`, in table order (a suite runs the stores of one backing server). */
export function storeCases(...names: string[]): StoreCase[] {
  const cases = STORE_CASES.filter((row) => names.some((name) => row.name.startsWith(name)));
  if (cases.length !== names.length) throw new Error(`unknown store among ${names.join(", ")}`);
  return cases;
}
