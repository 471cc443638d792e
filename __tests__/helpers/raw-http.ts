import http, { type IncomingMessage } from "node:http";
import { randomBytes } from "node:crypto";

// Bare HTTP requests to an engine.io endpoint, to see exactly what a client gets back.

/** A status, `Set-Cookie` lines and a body exactly as the server sent them. */
export interface RawReply {
  status: number;
  /** The `Set-Cookie` lines, one per header line. */
  setCookie: string[];
  body: string;
}

/** The reply that `res` starts, once its whole body arrived. */
async function replyOf(res: IncomingMessage): Promise<RawReply> {
  const body = await readBody(res);
  return { status: res.statusCode ?? 0, setCookie: res.headers["set-cookie"] ?? [], body };
}

/** Reads the whole body of `res` as text. */
export function readBody(res: IncomingMessage, encoding: BufferEncoding = "utf8"): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    res.setEncoding(encoding);
    res.on("data", (chunk: string) => (body += chunk));
    res.on("end", () => {
      resolve(body);
    });
    res.on("error", reject);
  });
}

/** A polling handshake (`GET /engine.io/?EIO=4&transport=polling`) to the server at `url`. */
export function pollingReply(url: string, cookie?: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${url}/engine.io/?EIO=4&transport=polling`,
      { headers: cookie === undefined ? {} : { cookie } },
      (res) => {
        replyOf(res).then(resolve, reject);
      },
    );
    req.on("error", reject);
  });
}

/** A websocket handshake to the server at `url`: 101 with no body, or the refusal's status and body. */
export function websocketReply(url: string, cookie?: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/engine.io/?EIO=4&transport=websocket`, {
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": randomBytes(16).toString("base64"),
        ...(cookie === undefined ? {} : { cookie }),
      },
    });
    req.on("upgrade", (res: IncomingMessage, socket) => {
      socket.destroy();
      resolve({
        status: res.statusCode ?? 0,
        setCookie: res.headers["set-cookie"] ?? [],
        body: "",
      });
    });
    req.on("response", (res) => {
      replyOf(res).then(resolve, reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * Closes the polling session that `openPacket` (the body of a successful polling handshake)
 * opened on the server at `url`, the way a client does: a close packet ("1").
 */
export function closePolling(url: string, openPacket: string): Promise<void> {
  const { sid } = JSON.parse(openPacket.slice(1)) as { sid: string };
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/engine.io/?EIO=4&transport=polling&sid=${sid}`,
      { method: "POST", headers: { "content-type": "text/plain" } },
      (res) => {
        res.resume();
        res.on("end", resolve);
      },
    );
    req.on("error", reject);
    req.end("1");
  });
}
