import { describeStoreMatrix } from "./matrix";
import { storeCases } from "./store-table";

// memcached.
describeStoreMatrix(storeCases("connect-memcached"));
