import {
  SessionError,
  isSessionErrorCode,
  messageOf,
  redactId,
  toSessionError,
  type SessionErrorCode,
} from "../lib/errors";

const defaultMessages: Record<SessionErrorCode, string> = {
  NO_COOKIE: "the request carries no session cookie",
  BAD_SIGNATURE: "the session cookie is not signed with any configured secret",
  NOT_FOUND: "the session is not in the store (expired, destroyed, or another store)",
  STORE_ERROR: "the session store failed",
  TIMEOUT: "the session store did not answer in time",
  HYDRATE_FAILED: "hydrate() failed",
  SERVER_CLOSING: "the server is closing",
  BAD_ORIGIN: "the page's origin may not open a socket with this session",
};

const codes = Object.keys(defaultMessages) as SessionErrorCode[];

describe("SessionError", () => {
  describe("#ctor", () => {
    it("is an Error and a SessionError", () => {
      const error = new SessionError("NOT_FOUND");

      expect(error).toBeInstanceOf(Error);
      expect(error).toBeInstanceOf(SessionError);
    });

    it("names itself SessionError", () => {
      const error = new SessionError("TIMEOUT");

      expect(error.name).toBe("SessionError");
      expect(String(error)).toBe("SessionError: the session store did not answer in time");
    });

    it.each(codes)("keeps the code %s", (code) => {
      expect(new SessionError(code).code).toBe(code);
    });

    it.each(codes)("gives %s its own default message", (code) => {
      expect(new SessionError(code).message).toBe(defaultMessages[code]);
    });

    it("gives every code a different default message", () => {
      const messages = new Set(codes.map((code) => new SessionError(code).message));

      expect(messages.size).toBe(codes.length);
    });

    it("uses a custom message instead of the default", () => {
      const error = new SessionError("BAD_SIGNATURE", "cookie 'sid' is not signed");

      expect(error.message).toBe("cookie 'sid' is not signed");
      expect(error.code).toBe("BAD_SIGNATURE");
    });

    it("uses the default message when the message is undefined", () => {
      const error = new SessionError("STORE_ERROR", undefined, { cause: new Error("down") });

      expect(error.message).toBe("the session store failed");
    });

    it("keeps an empty custom message", () => {
      expect(new SessionError("NO_COOKIE", "").message).toBe("");
    });

    it("keeps the cause", () => {
      const cause = new Error("ECONNREFUSED 10.0.0.1:6379");
      const error = new SessionError("STORE_ERROR", "store failed", { cause });

      expect(error.cause).toBe(cause);
      expect(error.message).not.toContain("ECONNREFUSED");
    });

    it("keeps a cause that is not an Error", () => {
      const error = new SessionError("HYDRATE_FAILED", undefined, { cause: "nope" });

      expect(error.cause).toBe("nope");
    });

    it("has no cause when none is given", () => {
      const error = new SessionError("NOT_FOUND", "gone");

      expect(error.cause).toBeUndefined();
      expect(Object.hasOwn(error, "cause")).toBe(false);
    });

    it("has a stack that names the class", () => {
      expect(new SessionError("TIMEOUT").stack).toMatch(/^SessionError: /);
    });
  });
});

describe("redactId", () => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  it("keeps the first four characters of a long id", () => {
    expect(redactId("abcdefghijklmnopqrstuvwxyz012345")).toBe("abcd…");
  });

  it("keeps four characters of a nine-character id", () => {
    expect(redactId("123456789")).toBe("1234…");
  });

  it("hides an id of eight characters entirely", () => {
    expect(redactId("12345678")).toBe("…");
  });

  it("hides a short id entirely", () => {
    expect(redactId("ab")).toBe("…");
  });

  it("hides an empty id", () => {
    expect(redactId("")).toBe("…");
  });

  it("never returns a whole id, whatever its length", () => {
    for (let length = 1; length <= alphabet.length; length++) {
      const id = alphabet.slice(0, length);
      const redacted = redactId(id);

      expect(redacted).not.toContain(id);
      expect(redacted.length).toBeLessThanOrEqual(5);
    }
  });

  it("never returns a whole uid-safe id like express-session's", () => {
    // express-session ids are 32 base64url characters (uid-safe, 24 bytes).
    const id = "q2Y8mIXo1E3vFPr9Kc0uTzLw6aSgJbNd";
    const redacted = redactId(id);

    expect(redacted).toBe("q2Y8…");
    expect(id.startsWith(redacted.slice(0, -1))).toBe(true);
    expect(redacted).not.toContain(id.slice(4));
  });
});

describe("isSessionErrorCode", () => {
  it.each(codes)("knows %s", (code) => {
    expect(isSessionErrorCode(code)).toBe(true);
  });

  it.each([["FORBIDDEN"], [""], [4], [undefined], ["toString"]])("rejects %p", (value) => {
    expect(isSessionErrorCode(value)).toBe(false);
  });
});

describe("toSessionError", () => {
  it("passes a SessionError through, its code winning", () => {
    const error = new SessionError("TIMEOUT");

    expect(toSessionError(error, "STORE_ERROR", "x")).toBe(error);
  });

  it("wraps anything else with the code and message, keeping it as cause", () => {
    const cause = new Error("boom");

    expect(toSessionError(cause, "STORE_ERROR", "the store failed")).toMatchObject({
      code: "STORE_ERROR",
      message: "the store failed",
      cause,
    });
  });
});

describe("messageOf", () => {
  it("says an Error's message and nothing of anything else", () => {
    expect(messageOf(new Error("connection refused"))).toBe("connection refused");
    expect(messageOf("a string")).toBe("unknown");
    expect(messageOf(undefined)).toBe("unknown");
  });
});
