/** Throws the `TypeError` of a bad option: `message` says what to fix. */
export function fail(message: string): never {
  throw new TypeError(`engine.io-session: ${message}`);
}

/** A short, safe description of a bad value for an option error (never a whole secret). */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 20 ? "…" : value);
    case "number":
    case "boolean":
      return String(value);
    default:
      return typeof value;
  }
}
