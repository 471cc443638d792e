import { format, stripVTControlCharacters } from "node:util";
import createDebug from "debug";
import type { SessionServer } from "../lib";
import {
  SECRET,
  attachServer,
  client,
  closeClients,
  outcome,
  sessionIdOf,
  startApp,
  type AppSession,
  type TestApp,
} from "./helpers/app";

const NAMESPACE = "engine.io-session";
const OTHER_SECRET = "the other app's secret";
const MODES = ["polling", "websocket"] as const;

describe("debug logging", () => {
  let lines: string[];
  let previousLog: typeof createDebug.log;
  let previousNamespaces: string;
  let app: TestApp | undefined;
  let server: SessionServer<AppSession> | undefined;

  beforeEach(() => {
    lines = [];
    previousLog = createDebug.log;
    previousNamespaces = createDebug.disable();
    createDebug.enable(NAMESPACE);
    createDebug.log = (...args: unknown[]) => {
      lines.push(stripVTControlCharacters(format(...args)));
    };
  });

  afterEach(async () => {
    closeClients();
    server?.close();
    server = undefined;
    await app?.close();
    app = undefined;
    createDebug.log = previousLog;
    createDebug.disable();
    if (previousNamespaces !== "") createDebug.enable(previousNamespaces);
  });

  /** The lines of our namespace logged so far. */
  function ours(): string[] {
    return lines.filter((line) => line.includes(NAMESPACE));
  }

  /** No logged line may hold a secret, a cookie value or a whole session id. */
  function expectNothingSecret(...secrets: string[]): void {
    for (const line of lines) {
      for (const secret of [SECRET, OTHER_SECRET, ...secrets]) {
        expect(line).not.toContain(secret);
      }
    }
  }

  for (const mode of MODES) {
    describe(`a handshake over ${mode}`, () => {
      it("lists the cookies that were sent when the session cookie has another name", async () => {
        app = await startApp({ name: "app.sid" });
        server = attachServer(app);
        const cookie = await app.login("alice");

        const result = await outcome(client(app, mode, `${cookie}; theme=dark`));

        expect(result.kind).toBe("error");
        const line = ours().find((each) => each.includes("no cookie 'connect.sid'"));
        expect(line).toBeDefined();
        expect(line).toMatch(/cookies sent: app\.sid, theme/);
        expectNothingSecret(sessionIdOf(cookie), cookie.slice(cookie.indexOf("=") + 1));
      });

      it("names the causes of a handshake without any Cookie header", async () => {
        app = await startApp();
        server = attachServer(app);

        const result = await outcome(client(app, mode));

        expect(result.kind).toBe("error");
        const line = ours().find((each) => each.includes("no cookie 'connect.sid'"));
        expect(line).toMatch(/no Cookie header at all/);
        expect(line).toContain("not logged in yet");
        expectNothingSecret();
      });

      it("says the cookie is signed with none of the secrets when the secret is wrong", async () => {
        app = await startApp({ secret: OTHER_SECRET });
        server = attachServer(app);
        const cookie = await app.login("alice");

        const result = await outcome(client(app, mode, cookie));

        expect(result.kind).toBe("error");
        // The count of secrets is in the operator's debug line only, never in the refusal.
        expect(ours().find((each) => each.includes("BAD_SIGNATURE"))).toMatch(
          /cookie 'connect\.sid' is signed with none of the secrets/,
        );
        expect(ours().find((each) => each.includes("configured secret"))).toMatch(
          /cookie 'connect\.sid' is signed with none of the 1 configured secret/,
        );
        expectNothingSecret(sessionIdOf(cookie));
      });

      it("says the cookie is not signed when it carries a bare id", async () => {
        app = await startApp();
        server = attachServer(app);
        const bareId = "bare-session-id-0123456789abcdef";

        const result = await outcome(client(app, mode, `connect.sid=${bareId}`));

        expect(result.kind).toBe("error");
        const line = ours().find((each) => each.includes("BAD_SIGNATURE"));
        expect(line).toMatch(/cookie 'connect\.sid' is not signed/);
        expectNothingSecret(bareId);
      });

      it("says the session is not in the store after a logout", async () => {
        app = await startApp();
        server = attachServer(app);
        const cookie = await app.login("alice");
        await app.get("/logout", cookie);

        const result = await outcome(client(app, mode, cookie));

        expect(result.kind).toBe("error");
        const line = ours().find((each) => each.includes("NOT_FOUND"));
        expect(line).toMatch(/is not in the store/);
        expect(line).toContain(sessionIdOf(cookie).slice(0, 4));
        expectNothingSecret(sessionIdOf(cookie));
      });

      it("logs the resolved session by a shortened id", async () => {
        app = await startApp();
        server = attachServer(app);
        const cookie = await app.login("alice");

        const result = await outcome(client(app, mode, cookie));

        expect(result.kind).toBe("open");
        const line = ours().find((each) => each.includes("resolved"));
        expect(line).toContain(`session ${sessionIdOf(cookie).slice(0, 4)}`);
        expectNothingSecret(sessionIdOf(cookie));
      });
    });
  }

  it("logs nothing when the namespace is not enabled", async () => {
    createDebug.disable();
    app = await startApp();
    server = attachServer(app);

    const result = await outcome(client(app, "polling"));

    expect(result.kind).toBe("error");
    expect(lines).toEqual([]);
  });
});
