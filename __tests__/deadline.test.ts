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

  it("drops its timer when the last deadline is cancelled", () => {
    const deadlines = new Deadlines(100);
    const expired = jest.fn();

    const first = deadlines.start(expired);
    const second = deadlines.start(expired);
    first.cancel();
    expect(jest.getTimerCount()).toBe(1);
    second.cancel();
    second.cancel(); // idempotent

    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(200);
    expect(expired).not.toHaveBeenCalled();
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
