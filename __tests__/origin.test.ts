import type { IncomingMessage } from "node:http";
import WebSocket from "ws";
import type { OriginsOption, SessionError, SessionServer } from "../lib";
import { originCheck } from "../lib/origin";
import {
  attachServer,
  client,
  closeClients,
  outcome,
  startApp,
  TRANSPORT_MODES,
  type AppSession,
  type TestApp,
} from "./helpers/app";

/** Opens a raw handshake with an `Origin` header, as a browser page would. */
function handshake(
  app: TestApp,
  mode: "polling" | "websocket",
  cookie: string,
  origin: string | undefined,
): Promise<number> {
  const headers: Record<string, string> = { cookie };
  if (origin !== undefined) headers.origin = origin;
  if (mode === "polling") {
    return fetch(`${app.url}/engine.io/?EIO=4&transport=polling`, { headers }).then(async (res) => {
      await res.text();
      return res.status;
    });
  }
  return new Promise((resolve) => {
    const ws = new WebSocket(
      `${app.url.replace("http", "ws")}/engine.io/?EIO=4&transport=websocket`,
      {
        headers,
      },
    );
    ws.once("open", () => {
      ws.close();
      resolve(101);
    });
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    ws.once("error", () => {
      resolve(-1);
    });
  });
}

describe("origins", () => {
  let app: TestApp;
  let server: SessionServer<AppSession> | undefined;
  let cookie: string;
  let errors: SessionError[];

  beforeEach(async () => {
    app = await startApp();
    cookie = await app.login("ada");
    errors = [];
  });

  afterEach(async () => {
    closeClients();
    server?.close();
    server = undefined;
    await app.close();
  });

  function serve(origins?: OriginsOption): void {
    server = attachServer(app, origins === undefined ? {} : { origins });
    server.on("session_error", (error) => errors.push(error));
  }

  const ok = { polling: 200, websocket: 101 } as const;

  describe.each(["polling", "websocket"] as const)("over %s", (mode) => {
    it("refuses a page of another origin by default with BAD_ORIGIN", async () => {
      serve();
      const status = await handshake(app, mode, cookie, "https://evil.example");
      expect(status).toBe(mode === "polling" ? 403 : 400);
      expect(errors.map((e) => e.code)).toEqual(["BAD_ORIGIN"]);
      expect(errors[0]?.message).toBe(
        'origin "https://evil.example" may not open a socket here: list it in `origins`',
      );
      expect(server?.clientsCount).toBe(0);
    });

    it("accepts a page of the request's own host by default", async () => {
      serve();
      expect(await handshake(app, mode, cookie, app.url)).toBe(ok[mode]);
      expect(errors).toEqual([]);
    });

    it("accepts a request without Origin by default", async () => {
      serve();
      expect(await handshake(app, mode, cookie, undefined)).toBe(ok[mode]);
    });

    it("refuses the opaque origin null", async () => {
      serve();
      expect(await handshake(app, mode, cookie, "null")).toBe(mode === "polling" ? 403 : 400);
      expect(errors.map((e) => e.code)).toEqual(["BAD_ORIGIN"]);
    });

    it("accepts a listed origin, case and trailing slash aside", async () => {
      serve(["https://App.example.com/"]);
      expect(await handshake(app, mode, cookie, "https://app.example.com")).toBe(ok[mode]);
      expect(await handshake(app, mode, cookie, "https://other.example.com")).toBe(
        mode === "polling" ? 403 : 400,
      );
      expect(await handshake(app, mode, cookie, app.url)).toBe(ok[mode]);
    });

    it('accepts any origin with "*"', async () => {
      serve("*");
      expect(await handshake(app, mode, cookie, "https://evil.example")).toBe(ok[mode]);
    });

    it("asks a function, with the origin and the request", async () => {
      const seen: (string | undefined)[] = [];
      serve((origin: string | undefined, req: IncomingMessage) => {
        seen.push(origin);
        return origin === undefined || req.headers.cookie !== undefined;
      });
      expect(await handshake(app, mode, cookie, "https://any.example")).toBe(ok[mode]);
      expect(await handshake(app, mode, cookie, undefined)).toBe(ok[mode]);
      expect(seen).toEqual(["https://any.example", undefined]);
    });

    it("refuses with BAD_ORIGIN when the function throws, cause kept", async () => {
      const boom = new Error("boom");
      serve(() => {
        throw boom;
      });
      expect(await handshake(app, mode, cookie, "https://any.example")).toBe(
        mode === "polling" ? 403 : 400,
      );
      expect(errors[0]?.code).toBe("BAD_ORIGIN");
      expect(errors[0]?.cause).toBe(boom);
    });
  });

  it.each(TRANSPORT_MODES)("lets a Node client without Origin connect over %s", async (mode) => {
    serve();
    const socket = client(app, mode, cookie);
    expect(await outcome(socket)).toEqual({ kind: "open" });
  });

  it("refuses a hostile origin even with create on", async () => {
    server = attachServer(app, { create: true });
    server.on("session_error", (error) => errors.push(error));
    expect(await handshake(app, "polling", "", "https://evil.example")).toBe(403);
    expect(errors.map((e) => e.code)).toEqual(["BAD_ORIGIN"]);
  });

  it("throws a TypeError that says what to pass for a bad origins option", () => {
    expect(() => attachServer(app, { origins: "same-site" as "*" })).toThrow(
      new TypeError(
        'engine.io-session: `origins` must be "same-origin", "*", an array of origins like "https://app.example.com", or a function (origin, req) => boolean, got "same-site"',
      ),
    );
    expect(() => attachServer(app, { origins: [""] })).toThrow(/`origins` must be/);
  });
});

describe("originCheck same-origin (the Host header read with the page's scheme)", () => {
  const sameOrigin = originCheck("same-origin");
  const request = (host: string, origin: string) =>
    ({ headers: { host, origin } }) as unknown as IncomingMessage;

  it.each([
    ["example.com:443", "https://example.com", true],
    ["example.com", "https://example.com:443", true],
    ["example.com:80", "http://example.com", true],
    ["EXAMPLE.com", "https://example.com", true],
    ["example.com:443", "http://example.com", false],
    ["example.com", "https://example.com:8443", false],
    ["example.com:8443", "https://example.com", false],
    ["evil.example", "https://example.com", false],
    ["a b", "https://example.com", false],
    ["", "https://example.com", false],
  ])("Host %p, Origin %p: %p", (host, origin, expected) => {
    expect(sameOrigin(request(host, origin))).toBe(expected);
  });
});
