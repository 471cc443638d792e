import { sign } from "cookie-signature";
import type session from "express-session";
import { SessionError } from "../lib/errors";
import { cookieNames, sessionIdFromCookie } from "../lib/session-id";
import { SECRET, sessionIdOf, signedCookie, startApp, type TestApp } from "./helpers/app";

/** The `Cookie` header value express-session would set: `s:` + cookie-signature, URI-encoded. */
function cookieValue(sid: string, secret: string): string {
  return encodeURIComponent(`s:${sign(sid, secret)}`);
}

/** The SessionError `fn` throws; fails the test if it returns or throws something else. */
function thrownBy(fn: () => unknown): SessionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SessionError);
    return error as SessionError;
  }
  throw new Error("expected a SessionError, nothing was thrown");
}

/** Whether the store behind `app` holds `sid`. */
function storeHas(store: session.Store, sid: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    store.get(sid, (error: unknown, record) => {
      if (error) reject(error instanceof Error ? error : new Error("store failed"));
      else resolve(record !== undefined && record !== null);
    });
  });
}

const SID = "q2Y8mIXo1E3vFPr9Kc0uTzLw6aSgJbNd";
const NOT_SIGNED =
  "cookie 'connect.sid' is not signed: express-session cookies look like 's:<id>.<signature>'";

describe("sessionIdFromCookie", () => {
  describe("with a cookie signed as express-session signs it", () => {
    it("returns the session id", () => {
      const header = `connect.sid=${cookieValue(SID, SECRET)}`;

      expect(sessionIdFromCookie(header, "connect.sid", [SECRET])).toBe(SID);
    });

    it("returns the session id among other cookies", () => {
      const header = `theme=dark; connect.sid=${cookieValue(SID, SECRET)}; lang=en`;

      expect(sessionIdFromCookie(header, "connect.sid", [SECRET])).toBe(SID);
    });

    it("accepts a value that is not percent-encoded", () => {
      const header = `connect.sid=s:${sign(SID, SECRET)}`;

      expect(sessionIdFromCookie(header, "connect.sid", [SECRET])).toBe(SID);
    });

    it("decodes a signature whose '+' and '/' are percent-encoded", () => {
      // Find a deterministic id whose base64 signature holds both '+' and '/'.
      let sid = "";
      for (let i = 0; ; i++) {
        sid = `id-${i}`;
        const signature = sign(sid, SECRET).slice(sid.length + 1);
        if (signature.includes("+") && signature.includes("/")) break;
      }
      const value = cookieValue(sid, SECRET);
      expect(value).toContain("%2B");
      expect(value).toContain("%2F");

      expect(sessionIdFromCookie(`connect.sid=${value}`, "connect.sid", [SECRET])).toBe(sid);
    });

    it("returns an id that itself holds dots", () => {
      const header = `connect.sid=${cookieValue("a.b.c", SECRET)}`;

      expect(sessionIdFromCookie(header, "connect.sid", [SECRET])).toBe("a.b.c");
    });

    it("tolerates spaces around the cookie pair", () => {
      const header = `a=1;   connect.sid=${cookieValue(SID, SECRET)}  ; b=2`;

      expect(sessionIdFromCookie(header, "connect.sid", [SECRET])).toBe(SID);
    });

    it("reads the cookie of a custom name", () => {
      const header = `app.sid=${cookieValue(SID, SECRET)}`;

      expect(sessionIdFromCookie(header, "app.sid", [SECRET])).toBe(SID);
    });

    it("ignores the default cookie when a custom name is configured", () => {
      const header = `connect.sid=${cookieValue(SID, SECRET)}`;

      expect(sessionIdFromCookie(header, "app.sid", [SECRET])).toBeUndefined();
    });
  });

  describe("with a cookie express-session set over HTTP", () => {
    let app: TestApp | undefined;

    afterEach(async () => {
      await app?.close();
      app = undefined;
    });

    it("returns the id of the session express-session stored", async () => {
      app = await startApp();
      const cookie = await app.login("alice");

      const sid = sessionIdFromCookie(cookie, "connect.sid", [SECRET]);

      expect(sid).toBe(sessionIdOf(cookie));
      expect(await storeHas(app.store, sid!)).toBe(true);
    });

    it("returns the id of a cookie with a custom name", async () => {
      app = await startApp({ name: "my.app.sid" });
      const cookie = await app.login("alice");
      expect(cookie.startsWith("my.app.sid=")).toBe(true);

      const sid = sessionIdFromCookie(`other=1; ${cookie}`, "my.app.sid", [SECRET]);

      expect(sid).toBe(sessionIdOf(cookie));
      expect(await storeHas(app.store, sid!)).toBe(true);
    });

    it("accepts a cookie signed with the old secret after rotation", async () => {
      app = await startApp({ secret: "old secret" });
      const cookie = await app.login("alice");

      const sid = sessionIdFromCookie(cookie, "connect.sid", ["new secret", "old secret"]);

      expect(sid).toBe(sessionIdOf(cookie));
    });

    it("accepts a cookie the app signed with the first of its rotated secrets", async () => {
      app = await startApp({ secret: ["new secret", "old secret"] });
      const cookie = await app.login("alice");

      expect(sessionIdFromCookie(cookie, "connect.sid", ["new secret"])).toBe(sessionIdOf(cookie));
      expect(() => sessionIdFromCookie(cookie, "connect.sid", ["old secret"])).toThrow(
        SessionError,
      );
    });

    it("rejects a cookie signed with a secret that is not configured", async () => {
      app = await startApp({ secret: "retired secret" });
      const cookie = await app.login("alice");

      const error = thrownBy(() =>
        sessionIdFromCookie(cookie, "connect.sid", ["new secret", "old secret"]),
      );

      expect(error.code).toBe("BAD_SIGNATURE");
      expect(error.message).toBe("cookie 'connect.sid' is signed with none of the secrets");
    });

    it("returns the first of two cookies of the same name, as express-session does", async () => {
      app = await startApp();
      const alice = await app.login("alice");
      const bob = await app.login("bob");
      const header = `${alice}; ${bob}`;

      const whoami = await app.get("/whoami", header);

      expect(whoami.body).toMatchObject({ user: { name: "alice" } });
      expect(sessionIdFromCookie(header, "connect.sid", [SECRET])).toBe(sessionIdOf(alice));
    });

    // express-session parses with cookie 0.7, which strips the double quotes of a quoted value
    // (RFC 6265 allows DQUOTE around a cookie-value); lib/session-id.ts strips them too.
    it("accepts a double-quoted value, as express-session does", async () => {
      app = await startApp();
      const cookie = await app.login("alice");
      const value = cookie.slice("connect.sid=".length);
      const header = `connect.sid="${value}"`;

      const whoami = await app.get("/whoami", header);
      expect(whoami.body).toMatchObject({ user: { name: "alice" } });

      expect(sessionIdFromCookie(header, "connect.sid", [SECRET])).toBe(sessionIdOf(cookie));
    });

    // express-session treats an empty value as no cookie at all (a new session); the contract
    // (DESIGN.md §2) maps "no session cookie / no id" to NO_COOKIE, i.e. `undefined` here.
    it("returns undefined for an empty value, as express-session does", async () => {
      app = await startApp();

      const whoami = await app.get("/whoami", "connect.sid=");
      expect(whoami.body).toMatchObject({ user: null });

      expect(sessionIdFromCookie("connect.sid=", "connect.sid", [SECRET])).toBeUndefined();
    });
  });

  describe("with secret rotation", () => {
    it("accepts a cookie signed with the first secret", () => {
      const header = `connect.sid=${cookieValue(SID, "new")}`;

      expect(sessionIdFromCookie(header, "connect.sid", ["new", "old"])).toBe(SID);
    });

    it("accepts a cookie signed with an older secret", () => {
      const header = `connect.sid=${cookieValue(SID, "old")}`;

      expect(sessionIdFromCookie(header, "connect.sid", ["new", "old"])).toBe(SID);
    });

    it("accepts a cookie signed with the last of many secrets", () => {
      const header = `connect.sid=${cookieValue(SID, "oldest")}`;

      expect(sessionIdFromCookie(header, "connect.sid", ["new", "old", "older", "oldest"])).toBe(
        SID,
      );
    });

    it("throws BAD_SIGNATURE for a secret that is not in the list", () => {
      const header = `connect.sid=${cookieValue(SID, "stolen")}`;

      const error = thrownBy(() => sessionIdFromCookie(header, "connect.sid", ["new", "old"]));

      expect(error.code).toBe("BAD_SIGNATURE");
      expect(error.message).toBe("cookie 'connect.sid' is signed with none of the secrets");
    });

    it("says 'secret' in the singular when one secret is configured", () => {
      const header = `sid=${cookieValue(SID, "stolen")}`;

      const error = thrownBy(() => sessionIdFromCookie(header, "sid", ["only"]));

      expect(error.message).toBe("cookie 'sid' is signed with none of the secrets");
    });

    it("never puts a secret or the id in the message", () => {
      const header = `connect.sid=${cookieValue(SID, "stolen")}`;

      const error = thrownBy(() =>
        sessionIdFromCookie(header, "connect.sid", ["new-secret", "old-secret"]),
      );

      expect(error.message).not.toContain("new-secret");
      expect(error.message).not.toContain("old-secret");
      expect(error.message).not.toContain("stolen");
      expect(error.message).not.toContain(SID);
    });
  });

  describe("with a forged cookie", () => {
    it("throws BAD_SIGNATURE for an unsigned value", () => {
      const error = thrownBy(() =>
        sessionIdFromCookie(`connect.sid=${SID}`, "connect.sid", [SECRET]),
      );

      expect(error.code).toBe("BAD_SIGNATURE");
      expect(error.message).toBe(NOT_SIGNED);
      expect(error.message).not.toContain(SID);
    });

    it("throws BAD_SIGNATURE for an unsigned value that looks signed but lacks 's:'", () => {
      const header = `connect.sid=${encodeURIComponent(sign(SID, SECRET))}`;

      const error = thrownBy(() => sessionIdFromCookie(header, "connect.sid", [SECRET]));

      expect(error.message).toBe(NOT_SIGNED);
    });

    it("names the configured cookie in the 'not signed' message", () => {
      const error = thrownBy(() => sessionIdFromCookie("app.sid=plain", "app.sid", [SECRET]));

      expect(error.message).toBe(
        "cookie 'app.sid' is not signed: express-session cookies look like 's:<id>.<signature>'",
      );
    });

    it("throws BAD_SIGNATURE for a value with broken percent-encoding", () => {
      const error = thrownBy(() =>
        sessionIdFromCookie("connect.sid=s%3A%ZZ", "connect.sid", [SECRET]),
      );

      expect(error.code).toBe("BAD_SIGNATURE");
    });

    it("throws BAD_SIGNATURE for a tampered id", () => {
      const signed = sign(SID, SECRET);
      const tampered = `X${signed.slice(1)}`;
      expect(tampered).not.toBe(signed);

      const error = thrownBy(() =>
        sessionIdFromCookie(`connect.sid=${encodeURIComponent(`s:${tampered}`)}`, "connect.sid", [
          SECRET,
        ]),
      );

      expect(error.code).toBe("BAD_SIGNATURE");
      expect(error.message).toBe("cookie 'connect.sid' is signed with none of the secrets");
    });

    it("throws BAD_SIGNATURE for a tampered signature", () => {
      const signed = sign(SID, SECRET);
      const last = signed.at(-1) === "A" ? "B" : "A";
      const tampered = `${signed.slice(0, -1)}${last}`;

      const error = thrownBy(() =>
        sessionIdFromCookie(`connect.sid=${encodeURIComponent(`s:${tampered}`)}`, "connect.sid", [
          SECRET,
        ]),
      );

      expect(error.code).toBe("BAD_SIGNATURE");
    });

    it("throws BAD_SIGNATURE for a truncated signature", () => {
      const signed = sign(SID, SECRET);

      const error = thrownBy(() =>
        sessionIdFromCookie(`connect.sid=s:${signed.slice(0, -3)}`, "connect.sid", [SECRET]),
      );

      expect(error.code).toBe("BAD_SIGNATURE");
    });

    it("throws BAD_SIGNATURE for a signed value without a signature", () => {
      const error = thrownBy(() =>
        sessionIdFromCookie(`connect.sid=s:${SID}`, "connect.sid", [SECRET]),
      );

      expect(error.code).toBe("BAD_SIGNATURE");
    });

    it("throws BAD_SIGNATURE for a real cookie moved to another session id", async () => {
      const app = await startApp();
      try {
        const cookie = await app.login("alice");
        const sid = sessionIdOf(cookie);
        const value = decodeURIComponent(cookie.slice("connect.sid=".length));
        const signature = value.slice(value.lastIndexOf(".") + 1);
        const forged = `connect.sid=${encodeURIComponent(`s:${SID}.${signature}`)}`;
        expect(SID).not.toBe(sid);

        const error = thrownBy(() => sessionIdFromCookie(forged, "connect.sid", [SECRET]));

        expect(error.code).toBe("BAD_SIGNATURE");
      } finally {
        await app.close();
      }
    });
  });

  describe("without a session cookie", () => {
    it("returns undefined when there is no Cookie header", () => {
      expect(sessionIdFromCookie(undefined, "connect.sid", [SECRET])).toBeUndefined();
    });

    it("returns undefined for an empty Cookie header", () => {
      expect(sessionIdFromCookie("", "connect.sid", [SECRET])).toBeUndefined();
    });

    it("returns undefined when the header lacks that cookie", () => {
      expect(sessionIdFromCookie("theme=dark; lang=en", "connect.sid", [SECRET])).toBeUndefined();
    });

    it("returns undefined when the name only appears inside a value", () => {
      expect(sessionIdFromCookie("last=connect.sid", "connect.sid", [SECRET])).toBeUndefined();
    });

    it("returns undefined when the name only appears without '='", () => {
      expect(sessionIdFromCookie("connect.sid", "connect.sid", [SECRET])).toBeUndefined();
    });

    it("returns undefined when the name is a substring of another cookie's name", () => {
      const header = `my.connect.sid=${cookieValue(SID, SECRET)}; connect.sid.old=junk`;

      expect(sessionIdFromCookie(header, "connect.sid", [SECRET])).toBeUndefined();
    });

    it("returns undefined when the name is a substring of the signed cookie's name", () => {
      const header = `connect.sid=${cookieValue(SID, SECRET)}`;

      expect(sessionIdFromCookie(header, "sid", [SECRET])).toBeUndefined();
    });

    it("returns undefined for a name inherited from Object.prototype", () => {
      expect(sessionIdFromCookie("a=toString", "toString", [SECRET])).toBeUndefined();
      expect(sessionIdFromCookie("a=__proto__", "__proto__", [SECRET])).toBeUndefined();
    });
  });

  describe("with the same name twice", () => {
    it("returns the first of two validly signed cookies", () => {
      const header = `connect.sid=${cookieValue("first-id", SECRET)}; connect.sid=${cookieValue("second-id", SECRET)}`;

      expect(sessionIdFromCookie(header, "connect.sid", [SECRET])).toBe("first-id");
    });

    it("throws when the first is forged even though the second is valid", () => {
      const header = `connect.sid=${cookieValue("first-id", "stolen")}; connect.sid=${cookieValue("second-id", SECRET)}`;

      const error = thrownBy(() => sessionIdFromCookie(header, "connect.sid", [SECRET]));

      expect(error.code).toBe("BAD_SIGNATURE");
    });

    it("reads its own cookie when a longer name that contains it comes first", () => {
      const header = `connect.sid.old=${cookieValue("old-id", SECRET)}; connect.sid=${cookieValue(SID, SECRET)}`;

      expect(sessionIdFromCookie(header, "connect.sid", [SECRET])).toBe(SID);
    });
  });

  it("builds the same value as the test helper's signedCookie", () => {
    expect(sessionIdFromCookie(signedCookie(SID), "connect.sid", [SECRET])).toBe(SID);
  });
});

describe("cookieNames", () => {
  it("returns an empty list without a header", () => {
    expect(cookieNames(undefined)).toEqual([]);
  });

  it("returns an empty list for an empty header", () => {
    expect(cookieNames("")).toEqual([]);
  });

  it("lists the names in header order", () => {
    expect(cookieNames("theme=dark; connect.sid=s%3Aabc.def; lang=en")).toEqual([
      "theme",
      "connect.sid",
      "lang",
    ]);
  });

  it("lists a repeated name once", () => {
    expect(cookieNames("a=1; b=2; a=3")).toEqual(["a", "b"]);
  });

  it("never lists the values", () => {
    const names = cookieNames(`connect.sid=${cookieValue(SID, SECRET)}`);

    expect(names).toEqual(["connect.sid"]);
    expect(names.join(" ")).not.toContain(SID);
  });

  it("lists at most 20 names", () => {
    const header = Array.from({ length: 25 }, (_, i) => `c${i}=v`).join("; ");

    const names = cookieNames(header);

    expect(names).toHaveLength(20);
    expect(names[0]).toBe("c0");
    expect(names[19]).toBe("c19");
  });

  it("lists the names of a cookie express-session set over HTTP", async () => {
    const app = await startApp({ name: "app.sid" });
    try {
      const cookie = await app.login("alice");

      expect(cookieNames(`theme=dark; ${cookie}`)).toEqual(["theme", "app.sid"]);
    } finally {
      await app.close();
    }
  });
});
