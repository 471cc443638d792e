import { createRequire } from "node:module";
import session from "express-session";
import { serialize } from "cookie";
import { SessionServer } from "../lib";
import type { IncomingMessage } from "node:http";
import { checkCookieName, cookieOptions, resolveCookieOptions } from "../lib/cookie-options";
import { listenOnLoopback } from "./helpers/app";

/** The `cookie` (0.7) express-session serializes its Set-Cookie with: the reference. */
const expressCookie = createRequire(require.resolve("express-session"))("cookie") as {
  serialize(name: string, value: string, options?: Record<string, unknown>): string;
};

/** The message of the TypeError `body` throws. */
function rejection(body: () => unknown): string {
  try {
    body();
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return (error as Error).message;
  }
  throw new Error("no error thrown");
}

const nameMessage = (got: string): string =>
  `engine.io-session: \`name\` must be the cookie name express-session uses (an RFC 6265 token: letters, digits and !#$%&'*+-.^_\`|~), got ${got}`;

describe("checkCookieName", () => {
  it.each(["connect.sid", "sid", "__Host-sid", "a!#$%&'*+-.^_`|~z", "X1"])(
    "accepts the token %p",
    (name) => {
      expect(() => {
        checkCookieName(name, "name");
      }).not.toThrow();
      expect(() => expressCookie.serialize(name, "v")).not.toThrow();
    },
  );

  it.each(["my sid", "a;b", "a=b", 'a"b', "a,b", "a\tb", "a\r\nb", "(sid)", "sïd", "a/b", "a@b"])(
    "refuses %p, as express-session's cookie would",
    (name) => {
      expect(
        rejection(() => {
          checkCookieName(name, "name");
        }),
      ).toBe(nameMessage(JSON.stringify(name)));
      expect(() => expressCookie.serialize(name, "v")).toThrow(TypeError);
    },
  );

  it.each([
    ["", '""'],
    [5, "5"],
    [null, "null"],
    [["sid"], "an array"],
  ])("refuses %p, which is no name at all", (name, got) => {
    expect(
      rejection(() => {
        checkCookieName(name, "name");
      }),
    ).toBe(nameMessage(got));
  });

  it("names the option it checks", () => {
    expect(
      rejection(() => {
        checkCookieName("a b", "cookieName");
      }),
    ).toMatch(/^engine\.io-session: `cookieName` must/);
  });
});

describe("cookieOptions", () => {
  it("returns {} for no options", () => {
    expect(cookieOptions(undefined, "sessionCookie")).toEqual({});
  });

  it("returns a copy of valid options", () => {
    const options = {
      path: "/app",
      domain: ".example.com",
      httpOnly: false,
      secure: true,
      partitioned: true,
      sameSite: "none",
      priority: "high",
      maxAge: 60_000,
    };
    const copy = cookieOptions(options, "sessionCookie");
    expect(copy).toEqual(options);
    expect(copy).not.toBe(options);
  });

  it("lower-cases sameSite and priority, which express-session accepts in any case", () => {
    expect(cookieOptions({ sameSite: "Lax", priority: "HIGH" }, "sessionCookie")).toEqual({
      sameSite: "lax",
      priority: "high",
    });
  });

  it.each([true, false, "lax", "strict", "none", "LAX", "Strict"])(
    "accepts sameSite %p",
    (sameSite) => {
      expect(() => cookieOptions({ sameSite }, "sessionCookie")).not.toThrow();
    },
  );

  it("accepts a valid expires Date and copies it", () => {
    const expires = new Date(Date.now() + 3_600_000);
    const copy = cookieOptions({ expires }, "sessionCookie") as { expires?: Date };
    expect(copy.expires).toEqual(expires);
    expect(copy.expires).not.toBe(expires);
  });

  it("accepts every path and domain express-session's cookie serializes", () => {
    for (const [path, domain] of [
      ["/", "example.com"],
      ["/a b/c", "sub.example.co.uk"],
      ["/~x/%20", "localhost"],
      ["/", "127.0.0.1"],
    ]) {
      expect(() => cookieOptions({ path, domain }, "sessionCookie")).not.toThrow();
      expect(() => expressCookie.serialize("sid", "v", { path, domain })).not.toThrow();
      expect(() => serialize("sid", "v", { path, domain })).not.toThrow();
    }
  });

  /** Each bad option and the end of its message, after `sessionCookie.`. */
  const bad: [Record<string, unknown>, string][] = [
    [
      { path: "/a\r\nSet-Cookie: x=y" },
      'path` must not contain control characters (CR, LF, ...), `;` or non-ASCII characters, got "/a\\r\\nSet-Cookie: x=y"',
    ],
    [
      { path: "/a;b" },
      'path` must not contain control characters (CR, LF, ...), `;` or non-ASCII characters, got "/a;b"',
    ],
    [
      { path: "/a\u0000" },
      'path` must not contain control characters (CR, LF, ...), `;` or non-ASCII characters, got "/a\\u0000"',
    ],
    [
      { path: "/é" },
      'path` must not contain control characters (CR, LF, ...), `;` or non-ASCII characters, got "/é"',
    ],
    [{ path: "" }, 'path` must be a non-empty string, got ""'],
    [
      { domain: "example.com;x" },
      'domain` must be a domain name like "example.com" or ".example.com" (letters, digits, hyphens and dots; no port), got "example.com;x"',
    ],
    [
      { domain: "example.com\r\n" },
      'domain` must be a domain name like "example.com" or ".example.com" (letters, digits, hyphens and dots; no port), got "example.com\\r\\n"',
    ],
    [
      { domain: "example.com:443" },
      'domain` must be a domain name like "example.com" or ".example.com" (letters, digits, hyphens and dots; no port), got "example.com:443"',
    ],
    [
      { domain: "-bad.example" },
      'domain` must be a domain name like "example.com" or ".example.com" (letters, digits, hyphens and dots; no port), got "-bad.example"',
    ],
    [{ domain: 5 }, "domain` must be a non-empty string, got 5"],
    [
      { sameSite: "loose" },
      'sameSite` must be true, false, "lax", "strict" or "none", got "loose"',
    ],
    [{ sameSite: 1 }, 'sameSite` must be true, false, "lax", "strict" or "none", got 1'],
    [{ priority: "urgent" }, 'priority` must be "low", "medium" or "high", got "urgent"'],
    [{ priority: true }, 'priority` must be "low", "medium" or "high", got true'],
    [{ partitioned: "yes" }, 'partitioned` must be true or false, got "yes"'],
    [{ httpOnly: 1 }, "httpOnly` must be true or false, got 1"],
    [{ secure: "true" }, 'secure` must be true or false, got "true"'],
    [{ maxAge: 0 }, "maxAge` must be a positive number of milliseconds, got 0"],
    [{ maxAge: Infinity }, "maxAge` must be a positive number of milliseconds, got Infinity"],
    [{ expires: new Date(NaN) }, "expires` must be a valid Date, got an invalid Date"],
    [{ expires: "2030-01-01" }, 'expires` must be a valid Date, got "2030-01-01"'],
    [{ expires: 1767225600000 }, "expires` must be a valid Date, got 1767225600000"],
  ];

  it.each(bad)("refuses %p", (options, rest) => {
    expect(rejection(() => cookieOptions(options, "sessionCookie"))).toBe(
      `engine.io-session: \`sessionCookie.${rest}`,
    );
  });

  it.each([
    { path: "/a\r\nb" },
    { path: "/a;b" },
    { domain: "example.com;x" },
    { domain: "example.com:443" },
    { sameSite: "loose" },
    { priority: "urgent" },
  ])("refuses %p, which express-session's cookie refuses too", (options) => {
    expect(() => cookieOptions(options, "sessionCookie")).toThrow(TypeError);
    expect(() => expressCookie.serialize("sid", "v", options)).toThrow(TypeError);
  });

  it('keeps express-session\'s "auto" for secure and sameSite (decided per request)', () => {
    expect(cookieOptions({ secure: "auto", sameSite: "Auto" }, "sessionCookie")).toEqual({
      secure: "auto",
      sameSite: "auto",
    });
  });

  it("refuses maxAge together with expires", () => {
    expect(
      rejection(() => cookieOptions({ maxAge: 1000, expires: new Date() }, "sessionCookie")),
    ).toBe(
      "engine.io-session: `sessionCookie` has both `maxAge` and `expires`: pass one (`maxAge` is what express-session recommends)",
    );
  });

  it.each([null, "path=/", 5, ["/"]])("refuses %p as the options object", (value) => {
    expect(rejection(() => cookieOptions(value, "sessionCookie"))).toMatch(
      /^engine\.io-session: `sessionCookie` must be an object of express-session cookie options, got /,
    );
  });

  it("names the option it checks", () => {
    expect(rejection(() => cookieOptions({ path: "/;" }, "cookie"))).toMatch(
      /^engine\.io-session: `cookie\.path`/,
    );
  });
});

describe("resolveCookieOptions", () => {
  /** The request a real HTTP server receives for a GET with `headers`. */
  async function realRequest(headers: Record<string, string> = {}): Promise<IncomingMessage> {
    let received: IncomingMessage | undefined;
    const server = await listenOnLoopback((req, res) => {
      received = req;
      res.end();
    });
    try {
      await (await fetch(server.url, { headers })).text();
    } finally {
      await server.close();
    }
    if (received === undefined) throw new Error("no request");
    return received;
  }

  const auto = cookieOptions({ secure: "auto", sameSite: "auto", path: "/" }, "sessionCookie");

  it("returns options without auto as they are", async () => {
    const options = cookieOptions({ secure: true, sameSite: "lax" }, "sessionCookie");
    expect(resolveCookieOptions(options, await realRequest())).toBe(options);
  });

  it("decides auto as plain HTTP for a plain request", async () => {
    expect(resolveCookieOptions(auto, await realRequest())).toEqual({
      secure: false,
      sameSite: "lax",
      path: "/",
    });
  });

  it.each(["https", "HTTPS, http", " https "])(
    "decides auto as HTTPS behind a proxy that says X-Forwarded-Proto %p",
    async (proto) => {
      expect(resolveCookieOptions(auto, await realRequest({ "x-forwarded-proto": proto }))).toEqual(
        { secure: true, sameSite: "none", path: "/" },
      );
    },
  );

  it("decides auto as plain HTTP when the proxy's first hop was http", async () => {
    const req = await realRequest({ "x-forwarded-proto": "http, https" });
    expect(resolveCookieOptions(auto, req)).toMatchObject({ secure: false });
  });

  it("decides auto as HTTPS on a TLS socket", () => {
    const req = { socket: { encrypted: true }, headers: {} } as unknown as IncomingMessage;
    expect(resolveCookieOptions(auto, req)).toMatchObject({ secure: true, sameSite: "none" });
  });

  it("decides sameSite auto alone, keeping secure", async () => {
    const options = cookieOptions({ secure: true, sameSite: "auto" }, "sessionCookie");
    expect(resolveCookieOptions(options, await realRequest())).toEqual({
      secure: true,
      sameSite: "lax",
    });
  });

  it("decides each auto on its own", async () => {
    const req = await realRequest({ "x-forwarded-proto": "https" });
    const secureOnly = cookieOptions({ secure: "auto", sameSite: "strict" }, "sessionCookie");
    expect(resolveCookieOptions(secureOnly, req)).toEqual({ secure: true, sameSite: "strict" });
  });
});

describe("a created session's cookie with auto", () => {
  it("is Lax and not Secure over HTTP, SameSite=None; Secure behind an HTTPS proxy", async () => {
    const loopback = await listenOnLoopback(() => undefined);
    const server = new SessionServer(loopback.httpServer, {
      store: new session.MemoryStore(),
      secret: "s",
      create: true,
      sessionCookie: { secure: "auto", sameSite: "auto" } as never,
    });
    try {
      const setCookie = async (headers: Record<string, string>): Promise<string[]> => {
        const res = await fetch(`${loopback.url}/engine.io/?EIO=4&transport=polling`, { headers });
        await res.text();
        expect(res.status).toBe(200);
        return res.headers.getSetCookie();
      };
      const [plain] = await setCookie({});
      expect(plain).toMatch(/; SameSite=Lax$/);
      expect(plain).not.toMatch(/; Secure/);
      const [proxied] = await setCookie({ "x-forwarded-proto": "https" });
      expect(proxied).toMatch(/; Secure; SameSite=None$/);
    } finally {
      server.close();
      await loopback.close();
    }
  });
});

describe("SessionServer with bad cookie options", () => {
  const store = new session.MemoryStore();
  const valid = { store, secret: "s", create: true };

  it("throws at construction for a path with CRLF", () => {
    expect(
      () => new SessionServer({ ...valid, sessionCookie: { path: "/\r\nX-Evil: 1" } }),
    ).toThrow(/^engine\.io-session: `sessionCookie\.path` must not contain control characters/);
  });

  it("throws at construction for a domain with ;", () => {
    expect(
      () => new SessionServer({ ...valid, sessionCookie: { domain: "example.com; Secure" } }),
    ).toThrow(/^engine\.io-session: `sessionCookie\.domain` must be a domain name/);
  });

  it.each(["my sid", "sid;", "a\r\nb"])("throws at construction for the cookie name %p", (name) => {
    expect(() => new SessionServer({ store, secret: "s", name })).toThrow(
      /^engine\.io-session: `name` must be the cookie name express-session uses \(an RFC 6265 token/,
    );
  });

  it("builds a server for valid options", () => {
    const server = new SessionServer({
      ...valid,
      sessionCookie: { sameSite: "Lax" as "lax", priority: "high" } as never,
    });
    server.close();
  });
});
