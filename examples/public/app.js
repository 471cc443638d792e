/* global document, fetch, setTimeout, eio */
"use strict";

// The demo page: plain DOM, no framework. HTTP for login, logout and the first render; an
// engine.io socket (eio, from /vendor/engine.io.min.js) for everything live.

const $ = (id) => document.getElementById(id);

const REASONS = {
  destroyed: "You logged out (in this tab or another one): the server destroyed the session.",
  expired: "The session expired or was removed from the store.",
  closed: "The server closed this session.",
};

let socket;
let ended = false;

function show(view) {
  for (const id of ["loading", "login", "app", "ended"]) $(id).hidden = id !== view;
}

function setStatus(state, text = state) {
  $("status").dataset.state = state;
  $("status").textContent = text;
  $("inc").disabled = state !== "connected";
}

function setCounter(value, source) {
  $("counter").textContent = String(value);
  $("source").textContent = source;
}

function endSession(reason) {
  if (ended) return;
  ended = true;
  $("ended-reason").textContent = REASONS[reason] ?? reason;
  show("ended");
  if (socket) socket.close();
}

/** The first render comes over plain HTTP: the cookie is the session, no socket needed. */
async function start() {
  let response;
  try {
    response = await fetch("/api/me", { cache: "no-store" });
  } catch {
    $("loading").textContent = "The demo server is not reachable.";
    return;
  }
  if (response.status === 401) {
    show("login");
    return;
  }
  const me = await response.json();
  $("who").textContent = me.name;
  setCounter(me.counter, "loaded over HTTP");
  show("app");
  connect();
}

function connect() {
  setStatus("connecting");
  // Same origin, default path /engine.io: the browser sends the session cookie with the handshake.
  socket = eio();
  socket.on("open", () => setStatus("connected"));
  socket.on("message", (data) => receive(JSON.parse(data)));
  socket.on("close", () => {
    if (ended) return;
    setStatus("closed", "disconnected");
    // Not a logout: the server went away or refused the handshake. Ask HTTP whether the session
    // still exists, then reconnect or say it is gone.
    setTimeout(recheck, 2000);
  });
}

async function recheck() {
  try {
    const response = await fetch("/api/me", { cache: "no-store" });
    if (response.status === 401) endSession("expired");
    else if (response.ok) connect();
    else setTimeout(recheck, 3000);
  } catch {
    setTimeout(recheck, 3000);
  }
}

function receive(message) {
  switch (message.type) {
    case "hello":
      $("who").textContent = message.name;
      $("transport").textContent = message.transport;
      $("node").textContent = message.node ?? "–";
      setCounter(message.counter, "live over the socket");
      break;
    case "transport":
      $("transport").textContent = message.transport;
      break;
    case "counter":
      setCounter(message.counter, "live over the socket");
      break;
    case "tabs":
      $("tabs").textContent = String(message.tabs);
      break;
    case "session_end":
      endSession(message.reason);
      break;
    case "error":
      $("source").textContent = message.message;
      break;
  }
}

$("inc").addEventListener("click", () => {
  if (socket && socket.readyState === "open") socket.send(JSON.stringify({ type: "inc" }));
});

$("logout").addEventListener("click", async () => {
  $("logout").disabled = true;
  try {
    const response = await fetch("/logout", { method: "POST" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    // With the socket open, its session_end message ends this tab (and every other one). Without
    // it, nothing else will tell this tab.
    if (!socket || socket.readyState !== "open") endSession("destroyed");
  } catch {
    $("logout").disabled = false;
    $("source").textContent = "logout failed: try again";
  }
});

void start();
