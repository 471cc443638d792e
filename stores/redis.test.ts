import { describeStoreMatrix } from "./matrix";
import { storeCases } from "./store-table";

// Both share one Redis, so they run in one suite (the restart check stops it).
describeStoreMatrix(storeCases("connect-redis 9", "connect-redis 8.1"));
