import type { IncomingMessage } from "node:http";
import WebSocket from "ws";
import type { OriginsOption, SessionError, SessionServer } from "../lib";
import { originCheck, type OriginRequest } from "../lib/origin";
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
  extra: { headers?: Record<string, string>; query?: string } = {},
): Promise<number> {
  const headers: Record<string, string> = { cookie, ...extra.headers };
  if (origin !== undefined) headers.origin = origin;
  if (mode === "polling") {
    const url = `${app.url}/engine.io/?EIO=4&transport=polling${extra.query ?? ""}`;
    return fetch(url, { headers }).then(async (res) => {
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

  describe.each(["polling", "websocket"] as const)("without Origin, over %s", (mode) => {
    const refused = mode === "polling" ? 403 : 400;
    const crossSite = {
      "sec-fetch-site": "cross-site",
      "sec-fetch-mode": "no-cors",
      "sec-fetch-dest": "image",
    };

    it("refuses a request Fetch Metadata marks as cross-site, with BAD_ORIGIN", async () => {
      serve();
      expect(await handshake(app, mode, cookie, undefined, { headers: crossSite })).toBe(refused);
      expect(errors.map((e) => e.code)).toEqual(["BAD_ORIGIN"]);
      // (Node's fetch sets its own Sec-Fetch-Mode.)
      expect(errors[0]?.message).toMatch(
        /^a cross-origin request without Origin \(Sec-Fetch-Site "cross-site", Sec-Fetch-Mode "[a-z-]+", Sec-Fetch-Dest "image"\) may not open a socket here$/,
      );
      expect(server?.clientsCount).toBe(0);
    });

    it("refuses a same-site one (another port of the host) with a list too", async () => {
      serve(["https://front.example.com"]);
      const sameSite = { "sec-fetch-site": "same-site", "sec-fetch-mode": "navigate" };
      expect(await handshake(app, mode, cookie, undefined, { headers: sameSite })).toBe(refused);
      expect(errors.map((e) => e.code)).toEqual(["BAD_ORIGIN"]);
    });

    it("accepts a same-origin one", async () => {
      serve();
      const headers = { "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors" };
      expect(await handshake(app, mode, cookie, undefined, { headers })).toBe(ok[mode]);
      expect(errors).toEqual([]);
    });

    it('accepts a cross-site one with "*"', async () => {
      serve("*");
      expect(await handshake(app, mode, cookie, undefined, { headers: crossSite })).toBe(ok[mode]);
    });
  });

  describe("JSONP polling", () => {
    it.each([
      ["by default", undefined],
      ['with "*"', "*" as const],
    ])("refuses a JSONP handshake %s, with BAD_ORIGIN", async (_name, origins) => {
      serve(origins);
      const status = await handshake(app, "polling", cookie, undefined, { query: "&j=0" });
      expect(status).toBe(403);
      expect(errors.map((e) => e.code)).toEqual(["BAD_ORIGIN"]);
      expect(errors[0]?.message).toMatch(/^JSONP polling may not open a socket here/);
      expect(server?.clientsCount).toBe(0);
    });

    it("serves a same-origin JSONP handshake with jsonp: true", async () => {
      server = attachServer(app, { jsonp: true });
      server.on("session_error", (error) => errors.push(error));
      const res = await fetch(`${app.url}/engine.io/?EIO=4&transport=polling&j=0`, {
        headers: { cookie, "sec-fetch-site": "same-origin", "sec-fetch-dest": "script" },
      });
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^___eio\[0\]\("0\{/);
      expect(errors).toEqual([]);
    });

    it("still refuses a cross-site JSONP handshake with jsonp: true", async () => {
      server = attachServer(app, { jsonp: true });
      server.on("session_error", (error) => errors.push(error));
      const headers = { "sec-fetch-site": "cross-site", "sec-fetch-dest": "script" };
      expect(await handshake(app, "polling", cookie, undefined, { headers, query: "&j=0" })).toBe(
        403,
      );
      expect(errors.map((e) => e.code)).toEqual(["BAD_ORIGIN"]);
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

/** A request as engine.io hands it to the check: headers and the parsed query. */
function request(
  headers: Record<string, string>,
  query: Record<string, string | undefined> = { EIO: "4", transport: "polling" },
): OriginRequest {
  return { headers, _query: query } as unknown as OriginRequest;
}

const HOST = "app.example.com";
const JSONP_QUERY = { EIO: "4", transport: "polling", j: "0" };

describe("originCheck", () => {
  describe("with Origin: the Host header read with the page's scheme", () => {
    const sameOrigin = originCheck("same-origin", false);

    it.each([
      ["example.com:443", "https://example.com", true],
      ["example.com", "https://example.com:443", true],
      ["example.com:80", "http://example.com", true],
      ["EXAMPLE.com", "https://example.com", true],
      ["example.com", "HTTPS://Example.COM/", true],
      ["127.0.0.1:3000", "http://127.0.0.1:3000", true],
      ["[::1]:3000", "http://[::1]:3000", true],
      ["example.com:443", "http://example.com", false],
      ["example.com", "https://example.com:8443", false],
      ["example.com:8443", "https://example.com", false],
      ["evil.example", "https://example.com", false],
      ["example.com", "https://example.com.evil.example", false],
      ["example.com", "https://user@example.com", false],
      ["a b", "https://example.com", false],
      ["a b", "https://a b", false],
      ["", "https://example.com", false],
      ["example.com", "null", false],
      ["example.com", "example.com", false],
    ])("Host %p, Origin %p: allowed %p", (host, origin, expected) => {
      expect(sameOrigin(request({ host, origin })) === undefined).toBe(expected);
    });

    it("refuses a request with Origin but no Host", () => {
      expect(sameOrigin(request({ origin: "https://example.com" }))).toBeDefined();
    });

    it("says which origin it refused and what to do", () => {
      expect(sameOrigin(request({ host: HOST, origin: "https://evil.example" }))).toBe(
        'origin "https://evil.example" may not open a socket here: list it in `origins`',
      );
    });

    it("bounds a long Origin in the explanation", () => {
      const origin = `https://${"a".repeat(500)}.example`;
      expect(sameOrigin(request({ host: HOST, origin }))?.length).toBeLessThan(200);
    });

    it("matches listed origins whatever their case, trailing slash or default port", () => {
      const listed = originCheck(
        ["HTTPS://Front.example.com:443/", "http://dev.example:5173"],
        false,
      );
      expect(listed(request({ host: HOST, origin: "https://front.example.com" }))).toBeUndefined();
      expect(listed(request({ host: HOST, origin: "http://dev.example:5173" }))).toBeUndefined();
      expect(listed(request({ host: HOST, origin: `https://${HOST}` }))).toBeUndefined();
      expect(listed(request({ host: HOST, origin: "http://dev.example:5174" }))).toBeDefined();
      expect(listed(request({ host: HOST, origin: "http://front.example.com" }))).toBeDefined();
    });
  });

  describe("without Origin: Fetch Metadata", () => {
    /** Each request without Origin a browser (or another client) sends, and whether it passes. */
    const cases: [string, Record<string, string>, boolean][] = [
      ["no Fetch Metadata (native app, server, Node client)", {}, true],
      [
        "Sec-Fetch-Site same-origin (the page's own polling)",
        { "sec-fetch-site": "same-origin", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty" },
        true,
      ],
      [
        "Sec-Fetch-Site none (typed in the address bar)",
        { "sec-fetch-site": "none", "sec-fetch-mode": "navigate", "sec-fetch-dest": "document" },
        true,
      ],
      [
        "a same-origin <img>",
        { "sec-fetch-site": "same-origin", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image" },
        true,
      ],
      [
        "a same-site <script> (another port of the host)",
        { "sec-fetch-site": "same-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "script" },
        false,
      ],
      [
        "a cross-site <img>",
        { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "image" },
        false,
      ],
      [
        "a cross-site no-cors fetch",
        { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "empty" },
        false,
      ],
      [
        "a cross-site navigation",
        {
          "sec-fetch-site": "cross-site",
          "sec-fetch-mode": "navigate",
          "sec-fetch-dest": "document",
        },
        false,
      ],
      [
        "a same-site <iframe>",
        { "sec-fetch-site": "same-site", "sec-fetch-mode": "navigate", "sec-fetch-dest": "iframe" },
        false,
      ],
      ["an unknown Sec-Fetch-Site", { "sec-fetch-site": "somewhere" }, false],
      ["Sec-Fetch-Mode navigate without Sec-Fetch-Site", { "sec-fetch-mode": "navigate" }, false],
      ["Sec-Fetch-Mode no-cors without Sec-Fetch-Site", { "sec-fetch-mode": "no-cors" }, false],
      ["Sec-Fetch-Dest image without Sec-Fetch-Site", { "sec-fetch-dest": "image" }, false],
      [
        "Sec-Fetch-Mode cors, Dest empty, without Sec-Fetch-Site",
        { "sec-fetch-mode": "cors", "sec-fetch-dest": "empty" },
        true,
      ],
      ["Sec-Fetch-Dest websocket without Sec-Fetch-Site", { "sec-fetch-dest": "websocket" }, true],
    ];

    it.each(cases)("%s: allowed %p by same-origin and by a list", (_name, headers, expected) => {
      for (const option of ["same-origin", ["https://front.example.com"]] as const) {
        const check = originCheck(option, false);
        expect(check(request({ host: HOST, ...headers })) === undefined).toBe(expected);
      }
    });

    it.each(cases)('%s: allowed by "*"', (_name, headers) => {
      expect(originCheck("*", false)(request({ host: HOST, ...headers }))).toBeUndefined();
    });

    it("explains a refusal with the headers it read", () => {
      const check = originCheck("same-origin", false);
      expect(
        check(
          request({
            host: HOST,
            "sec-fetch-site": "cross-site",
            "sec-fetch-mode": "no-cors",
            "sec-fetch-dest": "image",
          }),
        ),
      ).toBe(
        'a cross-origin request without Origin (Sec-Fetch-Site "cross-site", Sec-Fetch-Mode "no-cors", Sec-Fetch-Dest "image") may not open a socket here',
      );
      expect(check(request({ host: HOST, "sec-fetch-mode": "navigate" }))).toBe(
        'a cross-origin request without Origin (Sec-Fetch-Mode "navigate") may not open a socket here',
      );
    });

    it("hands the decision to a function, with undefined as the origin and the request", () => {
      const seen: [string | undefined, string | undefined][] = [];
      const check = originCheck((origin, req) => {
        seen.push([origin, req.headers["sec-fetch-site"]]);
        return req.headers["sec-fetch-site"] !== "cross-site";
      }, false);
      expect(check(request({ host: HOST, "sec-fetch-site": "same-site" }))).toBeUndefined();
      expect(check(request({ host: HOST, "sec-fetch-site": "cross-site" }))).toBe(
        "a request without Origin was refused by the `origins` function",
      );
      expect(check(request({ host: HOST, origin: "https://x.example" }))).toBeUndefined();
      expect(seen).toEqual([
        [undefined, "same-site"],
        [undefined, "cross-site"],
        ["https://x.example", undefined],
      ]);
    });

    it("names the origin a function refused", () => {
      const check = originCheck(() => false, false);
      expect(check(request({ host: HOST, origin: "https://x.example" }))).toBe(
        'origin "https://x.example" was refused by the `origins` function',
      );
    });

    it("lets a throwing function's error through (the server makes it BAD_ORIGIN)", () => {
      const boom = new Error("boom");
      const check = originCheck(() => {
        throw boom;
      }, false);
      expect(() => check(request({ host: HOST }))).toThrow(boom);
    });
  });

  describe("JSONP", () => {
    const options: [string, OriginsOption][] = [
      ["same-origin", "same-origin"],
      ["a list", ["https://front.example.com"]],
      ['"*"', "*"],
      ["a function that allows everything", () => true],
    ];

    it.each(options)("refuses a JSONP handshake with %s unless jsonp is on", (_name, option) => {
      const req = request({ host: HOST, "sec-fetch-site": "same-origin" }, JSONP_QUERY);
      expect(originCheck(option, false)(req)).toBe(
        "JSONP polling may not open a socket here: a page of any site can read its answers (option `jsonp`)",
      );
      expect(originCheck(option, true)(req)).toBeUndefined();
    });

    it("refuses JSONP even from the request's own host", () => {
      const req = request({ host: HOST, origin: `https://${HOST}` }, JSONP_QUERY);
      expect(originCheck("same-origin", false)(req)).toMatch(/^JSONP polling may not/);
    });

    it("keeps the other rules when jsonp is on", () => {
      const check = originCheck("same-origin", true);
      const crossSite = { host: HOST, "sec-fetch-site": "cross-site", "sec-fetch-dest": "script" };
      expect(check(request(crossSite, JSONP_QUERY))).toMatch(/^a cross-origin request/);
    });

    it("reads j as engine.io does: only a string makes a JSONP request", () => {
      const check = originCheck("same-origin", false);
      const arrayJ = { EIO: "4", transport: "polling", j: ["0"] } as unknown as Record<
        string,
        string
      >;
      expect(check(request({ host: HOST }, arrayJ))).toBeUndefined();
      expect(check(request({ host: HOST }, { EIO: "4", j: undefined }))).toBeUndefined();
      expect(check({ headers: { host: HOST } } as unknown as OriginRequest)).toBeUndefined();
    });
  });
});
