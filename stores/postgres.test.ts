import { describeStoreMatrix } from "./matrix";
import { storeCases } from "./store-table";

// PostgreSQL 15.
describeStoreMatrix(storeCases("connect-pg-simple"));
