import { describeStoreMatrix } from "./matrix";
import { storeCases } from "./store-table";

// The stores without a server of their own.
describeStoreMatrix(
  storeCases(
    "express-session MemoryStore",
    "memorystore",
    "session-file-store",
    "better-sqlite3-session-store",
  ),
);
