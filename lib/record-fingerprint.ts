import type { SessionRecord } from "./store";

/**
 * What "the session changed" means: its data, without what moves on every request or what a store
 * keeps for itself. The `cookie` (its expiry moves on each HTTP request) and top-level keys that
 * start with `__` (store bookkeeping, such as session-file-store's `__lastAccess`) are left out.
 * `undefined` for a record that cannot be serialized (it is then never reported as changed).
 */
export function fingerprintOf(record: SessionRecord): string | undefined {
  const data: Record<string, unknown> = {};
  for (const key of Object.keys(record)) {
    if (key !== "cookie" && !key.startsWith("__")) {
      data[key] = (record as unknown as Record<string, unknown>)[key];
    }
  }
  try {
    return JSON.stringify(data);
  } catch {
    return undefined;
  }
}
