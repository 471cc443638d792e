// A jest reporter for the store matrix: after the run, one line per check and one column per
// store (ok, FAIL, or - where the check does not apply), so a CI log shows the matrix at a glance.
/* global module, process */

/** Short column names, in the order of docs/stores.md. */
const COLUMNS = [
  ["express-session MemoryStore", "Memory"],
  ["memorystore", "memstr"],
  ["connect-redis 9 + redis 5", "redis9"],
  ["connect-redis 8.1 + ioredis 5", "redis8"],
  ["connect-pg-simple + PostgreSQL 15", "pg"],
  ["express-mysql-session + MariaDB", "mysql"],
  ["connect-memcached + memcached", "memc"],
  ["session-file-store", "file"],
  ["better-sqlite3-session-store", "sqlite"],
];

const MARKS = { passed: "ok", failed: "FAIL", pending: "skip", skipped: "skip", todo: "todo" };

class MatrixReporter {
  onRunComplete(_contexts, results) {
    const checks = [];
    const cells = new Map();
    for (const file of results.testResults) {
      for (const test of file.testResults) {
        const store = test.ancestorTitles[0];
        if (!checks.includes(test.title)) checks.push(test.title);
        cells.set(`${store}\n${test.title}`, MARKS[test.status] ?? test.status);
      }
    }
    if (checks.length === 0) return;
    const width = 6;
    const lines = ["", "store matrix (docs/stores.md):", ""];
    lines.push(`    ${COLUMNS.map(([, short]) => short.padStart(width)).join(" ")}`);
    checks.forEach((check, index) => {
      const row = COLUMNS.map(([store]) =>
        (cells.get(`${store}\n${check}`) ?? "-").padStart(width),
      );
      lines.push(`${String(index + 1).padStart(2)}. ${row.join(" ")}  ${check}`);
    });
    process.stderr.write(`${lines.join("\n")}\n\n`);
  }
}

module.exports = MatrixReporter;
