// Kiosk capture screens. State arrives from the agent as Server-Sent
// Events (GET events); the page only decides which screen shows it. No
// scores, thresholds or images other than the live preview ever reach it.

const $ = (sel) => document.querySelector(sel);
const RETRY_SHOW_MS = 2500;   // "try again" banner before the capture screen
const INSTRUCTIONS_MS = 2000; // "get ready" at the start of a session (the camera already runs)

const FONTS = {
  "atkinson-hyperlegible": '"Atkinson Hyperlegible", system-ui, sans-serif',
  "system-ui": "system-ui, sans-serif",
};

// Failed reasons → error screens; any other failure is "could not finish".
const ERROR_SCREENS = {
  CAMERA_ERROR: "err_camera", CAMERA_LOST: "err_camera",
  GATEWAY_UNAVAILABLE: "err_gateway", UPLOAD_FAILED: "err_gateway", UPLOAD_QUEUED: "err_gateway",
  TOKEN_EXPIRED: "err_token", INVALID_TOKEN: "err_token",
  DEVICE_NOT_ENROLLED: "err_device", DEVICE_REVOKED: "err_device",
  SIGNATURE_REJECTED: "err_device", CLOCK_SKEW: "err_device",
};

let st = null;           // last UIState
let holdEnd = 0;         // Date.now() when a result returns to idle
let retryUntil = 0;      // Date.now() until which "try again" shows
let lastAttempt = 0, lastPhase = "", lastSession = "";
let instructionsUntil = 0;
let current = "";
let themeKey = "";

// Test and screenshot hook: every screen shown, in order.
window.__faceverify = { screens: [], state: () => st, screen: () => current };

function fmt(s, vars) {
  return s.replace(/\{(\w)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

function applyTheme() {
  const key = JSON.stringify([st.theme, st.locale, st.strings]);
  if (key === themeKey) return;
  themeKey = key;
  const t = st.theme, c = t.colors, r = document.documentElement.style;
  r.setProperty("--primary", c.primary);
  r.setProperty("--bg", c.background);
  r.setProperty("--surface", c.surface);
  r.setProperty("--text", c.text);
  r.setProperty("--success", c.success);
  r.setProperty("--error", c.error);
  r.setProperty("--on-primary", st.label_on_primary);
  r.setProperty("--radius", t.radius + "px");
  r.setProperty("--font", FONTS[t.font] || FONTS["system-ui"]);
  document.documentElement.lang = st.locale;
  const logo = $("#logo");
  if (t.logo) { logo.src = t.logo; logo.hidden = false; } else { logo.removeAttribute("src"); logo.hidden = true; }
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = st.strings[el.dataset.t] || "";
  for (const el of document.querySelectorAll("[data-alt]")) el.alt = st.strings[el.dataset.alt] || "";
  for (const el of document.querySelectorAll("[data-label]")) el.setAttribute("aria-label", st.strings[el.dataset.label] || "");
  document.title = st.strings.idle_title;
}

function screenFor(now) {
  const s = st && st.session;
  if (!s) return "idle";
  if (s.status) {
    if (now >= holdEnd) return "idle";
    switch (s.state) {
      case "verified": return "verified";
      case "rejected": return "rejected";
      case "cancelled": return "idle";
    }
    return ERROR_SCREENS[s.reason] || "failed";
  }
  if (s.state === "capturing") {
    if (now < retryUntil) return "retry";
    return s.guidance && now >= instructionsUntil ? "capture" : "instructions";
  }
  return "processing"; // uploading, queued, processing
}

function show(name) {
  if (name === current) return;
  current = name;
  window.__faceverify.screens.push(name);
  for (const el of document.querySelectorAll("[data-screen]")) el.hidden = el.dataset.screen !== name;
  document.body.dataset.screen = name;
  const cam = $("#camera");
  if (name === "capture") {
    if (!cam.getAttribute("src")) cam.src = "preview.mjpg";
  } else if (cam.getAttribute("src")) {
    cam.removeAttribute("src"); // closes the preview stream
  }
  const h1 = document.querySelector(`[data-screen="${name}"] h1`);
  if (h1 && name !== "capture") $("#announce").textContent = h1.textContent;
}

function render() {
  if (!st) return;
  applyTheme();
  const now = Date.now();
  const name = screenFor(now);
  show(name);
  const s = st.session;
  if (name === "capture") {
    const g = st.strings["guide_" + s.guidance] || "";
    const gEl = $("#guidance");
    if (gEl.textContent !== g) gEl.textContent = g;
    const bar = $("#progress");
    const p = s.guidance === "GOOD" ? (s.progress || 0) : 0;
    bar.setAttribute("aria-valuenow", String(p));
    bar.firstElementChild.style.width = p + "%";
  }
  if (name === "retry") {
    $("#retry-body").textContent = fmt(st.strings.retry_body, { n: s.attempts_left });
  }
  if (name === "processing") {
    $("#processing-body").textContent = s.state === "queued" ? st.strings.queued_body : st.strings.processing_body;
  }
  const cd = $("#countdown");
  if (s && s.status && now < holdEnd && name !== "idle") {
    cd.hidden = false;
    cd.textContent = fmt(st.strings.countdown, { s: Math.ceil((holdEnd - now) / 1000) });
  } else {
    cd.hidden = true;
  }
}

function onState(next) {
  const s = next.session;
  if (s) {
    if (s.session_id !== lastSession) { lastSession = s.session_id; lastAttempt = s.attempt; lastPhase = ""; retryUntil = 0;
      instructionsUntil = s.status ? 0 : Date.now() + INSTRUCTIONS_MS; }
    // The gateway asked for another capture: say so, with attempts left.
    if (s.state === "capturing" && s.attempt > lastAttempt && lastPhase === "processing" && s.attempts_left > 0) {
      retryUntil = Date.now() + RETRY_SHOW_MS;
    }
    lastAttempt = s.attempt;
    lastPhase = s.state === "queued" || s.state === "uploading" ? "processing" : s.state;
    if (s.status) holdEnd = Date.now() + next.hold_ms;
  }
  st = next;
  render();
}

function fitOval() {
  // Oval size from the agent's guide geometry: height_frac of the frame height.
  const o = $("#oval");
  if (st) o.style.height = st.oval.height_frac * 100 + "%";
}

const es = new EventSource("events");
es.addEventListener("state", (e) => { onState(JSON.parse(e.data)); fitOval(); });
setInterval(render, 250);
