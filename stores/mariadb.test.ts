import { describeStoreMatrix } from "./matrix";
import { storeCases } from "./store-table";

// MariaDB.
describeStoreMatrix(storeCases("express-mysql-session"));
