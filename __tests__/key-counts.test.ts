import { KeyCounts } from "../lib/key-counts";

describe("KeyCounts", () => {
  it("counts per key and forgets a key at zero", () => {
    const counts = new KeyCounts();

    counts.up("a");
    counts.up("a");
    counts.up("b");
    expect(counts.size).toBe(2);
    counts.down("a");
    expect(counts.has("a")).toBe(true);
    counts.down("a");

    expect(counts.has("a")).toBe(false);
    expect(counts.has("b")).toBe(true);
    expect(counts.size).toBe(1);
  });

  it("leaves a key without a count alone (the size never goes below zero)", () => {
    const counts = new KeyCounts();

    counts.down("never counted");
    counts.up("a");
    counts.down("a");
    counts.down("a");

    expect(counts.size).toBe(0);
    expect(counts.has("a")).toBe(false);
    counts.up("a");
    expect(counts.size).toBe(1);
  });

  it("takes keys that are Object.prototype's names as plain keys", () => {
    const counts = new KeyCounts();

    expect(counts.has("constructor")).toBe(false);
    expect(counts.has("__proto__")).toBe(false);
    counts.up("__proto__");
    counts.up("toString");

    expect(counts.has("__proto__")).toBe(true);
    expect(counts.size).toBe(2);
    counts.down("__proto__");
    expect(counts.has("__proto__")).toBe(false);
  });
});
