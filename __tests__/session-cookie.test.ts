import { newSession } from "../lib/session-cookie";

describe("newSession (the cookie of a session created at a handshake)", () => {
  it("treats sameSite true as strict, as express-session's cookie serializer does", () => {
    const made = newSession("app.sid", "s3cret", { sameSite: true });

    expect(made.setCookie).toMatch(/; SameSite=Strict/);
    expect(made.record.cookie).toHaveProperty("sameSite", "strict");
  });

  it.each(["auto", false] as const)("leaves SameSite out for sameSite %p", (sameSite) => {
    const made = newSession("app.sid", "s3cret", { sameSite });

    expect(made.setCookie).not.toMatch(/samesite/i);
    expect(made.record.cookie).not.toHaveProperty("sameSite");
  });

  it("takes the lifetime from `expires` when no maxAge is given", () => {
    const expires = new Date(Date.now() + 60_000);

    const made = newSession("app.sid", "s3cret", { expires });

    const cookie = made.record.cookie as { originalMaxAge: number; expires: string };
    expect(cookie.originalMaxAge).toBeGreaterThan(59_000);
    expect(cookie.originalMaxAge).toBeLessThanOrEqual(60_000);
    expect(Math.abs(Date.parse(cookie.expires) - expires.getTime())).toBeLessThan(1_000);
    expect(made.setCookie).toMatch(/; Expires=/);
  });
});
