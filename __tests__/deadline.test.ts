import { Deadlines } from "../lib/deadline";

describe("Deadlines", () => {
  beforeEach(() => {
    jest.useFakeTimers();
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it("calls back after its length, once", () => {
    const deadlines = new Deadlines(100);
    const expired = jest.fn();

    deadlines.start(expired);
    jest.advanceTimersByTime(99);
    expect(expired).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);

    expect(expired).toHaveBeenCalledTimes(1);
    expect(deadlines.size).toBe(0);
    expect(deadlines.ms).toBe(100);
  });

  it("drops the slots of many entries cancelled in order, and the one left still expires on time", () => {
    const deadlines = new Deadlines(100);
    const cancelledFired = jest.fn();
    const last = jest.fn();
    const early = Array.from({ length: 3000 }, () => deadlines.start(cancelledFired));
    deadlines.start(last);

    // Cancelled oldest first: past 1,024 consumed slots the queue is cut down to what is left.
    for (const deadline of early) deadline.cancel();
    expect(deadlines.size).toBe(1);
    jest.advanceTimersByTime(100);

    expect(last).toHaveBeenCalledTimes(1);
    expect(cancelledFired).not.toHaveBeenCalled();
    expect(deadlines.size).toBe(0);
  });

  it("shares one timer between many deadlines and expires each at its own time", () => {
    const deadlines = new Deadlines(100);
    const order: string[] = [];

    deadlines.start(() => order.push("a"));
    jest.advanceTimersByTime(40);
    deadlines.start(() => order.push("b"));
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(60);
    expect(order).toEqual(["a"]);
    jest.advanceTimersByTime(40);

    expect(order).toEqual(["a", "b"]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it("keeps no timer alive when the last deadline is cancelled, and reuses it for the next", () => {
    const deadlines = new Deadlines(100);
    const expired = jest.fn();
    const refs = (): number =>
      process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;
    jest.useRealTimers(); // the process's own view of what keeps it alive
    const before = refs();

    const first = deadlines.start(expired);
    const second = deadlines.start(expired);
    first.cancel();
    expect(refs()).toBe(before + 1);
    second.cancel();
    second.cancel(); // idempotent
    expect(refs()).toBe(before);
    expect(deadlines.size).toBe(0);

    const third = deadlines.start(expired);
    expect(refs()).toBe(before + 1);
    third.cancel();
    expect(refs()).toBe(before);
    expect(expired).not.toHaveBeenCalled();
  });

  it("lets the idle timer fire once and stop, then expires later deadlines on time", () => {
    const deadlines = new Deadlines(100);
    const expired = jest.fn();

    deadlines.start(expired).cancel();
    jest.advanceTimersByTime(60);
    deadlines.start(expired); // due at 160; the idle timer fires at 100 and re-arms
    jest.advanceTimersByTime(40);
    expect(expired).not.toHaveBeenCalled();
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(59);
    expect(expired).not.toHaveBeenCalled();
    jest.advanceTimersByTime(1);

    expect(expired).toHaveBeenCalledTimes(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it("keeps one timer when an expiry callback starts a new deadline", () => {
    const deadlines = new Deadlines(100);
    const order: string[] = [];

    deadlines.start(() => {
      order.push("first");
      deadlines.start(() => order.push("second"));
    });
    jest.advanceTimersByTime(100);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(100);

    expect(order).toEqual(["first", "second"]);
    expect(jest.getTimerCount()).toBe(0);
  });
});
