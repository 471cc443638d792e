// Just enough typing for the stores that ship none, as the matrix uses them (checked against their
// sources: connect-pg-simple 10.0.0, express-mysql-session 3.0.3, connect-memcached 3.0.0 with
// memcached 2.2.2, session-file-store 1.5.0, better-sqlite3-session-store 0.1.0, better-sqlite3 12).

declare module "connect-pg-simple" {
  import type session from "express-session";
  import type { Pool } from "pg";

  interface PgStoreOptions {
    pool?: Pool;
    tableName?: string;
    createTableIfMissing?: boolean;
    /** Seconds, when the cookie has no `expires`. @default 86400 */
    ttl?: number;
    pruneSessionInterval?: number | false;
    errorLog?: (...args: unknown[]) => void;
  }
  interface PgStore extends session.Store {
    get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void;
    set(sid: string, session: session.SessionData, callback?: (err?: unknown) => void): void;
    destroy(sid: string, callback?: (err?: unknown) => void): void;
    close(): Promise<void>;
  }
  interface PgStoreConstructor {
    new (options?: PgStoreOptions): PgStore;
  }
  function connectPgSimple(s: typeof session): PgStoreConstructor;
  export = connectPgSimple;
}

declare module "express-mysql-session" {
  import type session from "express-session";

  interface MySQLStoreOptions {
    host?: string;
    port?: number;
    user?: string;
    password?: string;
    database?: string;
    /** ms, when the cookie has no `expires`. @default 86400000 */
    expiration?: number;
    clearExpired?: boolean;
    createDatabaseTable?: boolean;
    connectionLimit?: number;
  }
  interface MySQLStore extends session.Store {
    get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void;
    set(sid: string, session: session.SessionData, callback?: (err?: unknown) => void): void;
    destroy(sid: string, callback?: (err?: unknown) => void): void;
    onReady(): Promise<void>;
    close(): Promise<void>;
  }
  interface MySQLStoreConstructor {
    new (options: MySQLStoreOptions): MySQLStore;
  }
  function expressMysqlSession(s: typeof session): MySQLStoreConstructor;
  export = expressMysqlSession;
}

declare module "connect-memcached" {
  import type session from "express-session";

  interface MemcachedStoreOptions {
    hosts: string | string[];
    prefix?: string;
    /** Seconds; overrides the cookie's `maxAge`. */
    ttl?: number;
    // Options of the `memcached` client it builds.
    retries?: number;
    retry?: number;
    timeout?: number;
    failures?: number;
    failuresTimeout?: number;
    reconnect?: number;
    minTimeout?: number;
    maxTimeout?: number;
    idle?: number;
    poolSize?: number;
  }
  interface MemcachedClient {
    end(): void;
  }
  interface MemcachedStore extends session.Store {
    readonly client: MemcachedClient;
    get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void;
    set(sid: string, session: session.SessionData, callback?: (err?: unknown) => void): void;
    destroy(sid: string, callback?: (err?: unknown) => void): void;
  }
  interface MemcachedStoreConstructor {
    new (options: MemcachedStoreOptions): MemcachedStore;
  }
  function connectMemcached(s: typeof session): MemcachedStoreConstructor;
  export = connectMemcached;
}

declare module "session-file-store" {
  import type session from "express-session";

  interface FileStoreOptions {
    path?: string;
    /** Seconds, when the cookie has no `originalMaxAge`. @default 3600 */
    ttl?: number;
    retries?: number;
    reapInterval?: number;
    logFn?: (...args: unknown[]) => void;
  }
  interface FileStore extends session.Store {
    get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void;
    set(sid: string, session: session.SessionData, callback?: (err?: unknown) => void): void;
    destroy(sid: string, callback?: (err?: unknown) => void): void;
  }
  interface FileStoreConstructor {
    new (options?: FileStoreOptions): FileStore;
  }
  function sessionFileStore(s: typeof session): FileStoreConstructor;
  export = sessionFileStore;
}

declare module "better-sqlite3" {
  interface Statement {
    get(...params: unknown[]): unknown;
    run(...params: unknown[]): unknown;
  }
  class Database {
    constructor(filename: string);
    prepare(sql: string): Statement;
    exec(sql: string): this;
    close(): void;
  }
  export = Database;
}

declare module "better-sqlite3-session-store" {
  import type session from "express-session";
  import type Database from "better-sqlite3";

  interface SqliteStoreOptions {
    client: Database;
    expired?: { clear?: boolean; intervalMs?: number };
  }
  interface SqliteStore extends session.Store {
    readonly expired: { clear: boolean; intervalMs: number };
    /** Starts the never-cleared, never-unref'd interval that deletes expired rows. */
    startInterval(): void;
    clearExpiredSessions(): void;
    get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void;
    set(sid: string, session: session.SessionData, callback?: (err?: unknown) => void): void;
    destroy(sid: string, callback?: (err?: unknown) => void): void;
  }
  interface SqliteStoreConstructor {
    new (options: SqliteStoreOptions): SqliteStore;
  }
  function betterSqlite3SessionStore(s: typeof session): SqliteStoreConstructor;
  export = betterSqlite3SessionStore;
}
