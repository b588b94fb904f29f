// Live fleet page: one row per kiosk, updated from /events (Server-Sent
// Events). Everything is built with DOM text nodes: payloads are never
// inserted as HTML.
"use strict";

const devices = new Map();

function fmtTime(s) {
  if (!s) return "";
  const d = new Date(s);
  return isNaN(d) ? "" : d.toLocaleTimeString();
}

function ago(s) {
  if (!s) return "";
  const sec = Math.max(0, Math.round((Date.now() - new Date(s).getTime()) / 1000));
  if (sec < 60) return sec + " s ago";
  if (sec < 3600) return Math.round(sec / 60) + " min ago";
  return Math.round(sec / 3600) + " h ago";
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function telemetryText(t) {
  if (!t) return "";
  const parts = [];
  if (t.camera && typeof t.camera.fps === "number") parts.push("camera " + t.camera.fps.toFixed(1) + " fps");
  if (t.camera && typeof t.camera.frames_dropped === "number") parts.push(t.camera.frames_dropped + " dropped");
  if (t.spool) parts.push("spool " + t.spool.depth);
  if (typeof t.cpu_temp_c === "number") parts.push("CPU " + t.cpu_temp_c.toFixed(1) + " °C");
  if (t.led) parts.push("LED " + t.led);
  if (t.models) {
    for (const [m, l] of Object.entries(t.models)) parts.push(m + " " + l.mean_ms.toFixed(0) + " ms");
  }
  if (typeof t.uptime_s === "number") parts.push("up " + Math.round(t.uptime_s) + " s");
  if (t.mqtt && t.mqtt.outbox_depth) parts.push("outbox " + t.mqtt.outbox_depth);
  if (t.version) parts.push("v" + t.version);
  return parts.join(" · ");
}

function row(d) {
  let t = null;
  if (d.telemetry) { try { t = JSON.parse(JSON.stringify(d.telemetry)); } catch (e) { t = null; } }
  const tr = el("tr", { "data-device": d.id });
  tr.append(el("td", { "data-field": "id" }, el("strong", {}, d.id)));

  const status = el("td", {},
    el("span", { class: "badge " + (d.status || "unknown"), "data-field": "status" }, d.status || "unknown"));
  if (d.reason) status.append(" ", el("span", { class: "muted", "data-field": "reason" }, d.reason));
  tr.append(status);

  const since = el("td", {});
  if (d.status === "offline" && d.offline_since) {
    since.append(el("span", { "data-field": "offline-since" }, "offline since " + fmtTime(d.offline_since)),
      el("br"), el("span", { class: "muted" }, ago(d.offline_since)));
  } else if (d.since) {
    since.append(el("span", { "data-field": "since" }, fmtTime(d.since)));
  }
  tr.append(since);

  const ev = el("td", {});
  if (d.last_event) {
    const e = d.last_event;
    ev.append(el("span", { "data-field": "last-event" }, e.state + (e.reason ? " (" + e.reason + ")" : "")),
      el("br"), el("span", { class: "muted" }, "#" + e.seq + " · attempt " + e.attempt + " · " + fmtTime(e.time)));
  }
  if (d.gaps) ev.append(el("br"), el("span", { class: "muted", "data-field": "gaps" }, d.gaps + " missed"));
  tr.append(ev);

  const sess = el("td", {});
  if (t) {
    sess.append(el("span", { "data-field": "session" }, t.session || ""));
    if (t.last_outcome) sess.append(el("br"), el("span", { class: "muted", "data-field": "last-outcome" }, "last: " + t.last_outcome));
  }
  tr.append(sess);

  tr.append(el("td", { class: "muted", "data-field": "telemetry" }, telemetryText(t)));

  const cmd = el("td", {});
  const btn = el("button", { type: "button", "data-action": "identify" }, "Identify");
  btn.addEventListener("click", () => identify(d.id, btn));
  cmd.append(btn);
  if (d.last_reply) {
    const r = d.last_reply;
    const txt = r.command + " " + (r.ok ? "ok" : "failed: " + (r.code || "") + " " + (r.message || ""));
    cmd.append(el("br"), el("span", { class: "reply " + (r.ok ? "ok" : "err"), "data-field": "last-reply" }, txt));
  }
  tr.append(cmd);
  return tr;
}

// Rows are rebuilt on every device event; a rebuild between a button's
// press and its release would swallow the click (the release lands on a
// new button). While a pointer is down, rebuilds wait for its release.
let pressed = false;
let deferred = false;
document.addEventListener("pointerdown", () => { pressed = true; }, true);
for (const type of ["pointerup", "pointercancel"]) {
  document.addEventListener(type, () => {
    pressed = false;
    if (deferred) {
      deferred = false;
      setTimeout(() => render(null)); // after the click this release completes
    }
  }, true);
}
window.addEventListener("blur", () => { pressed = false; });

function render(changedId) {
  if (pressed) {
    deferred = true;
    return;
  }
  const rows = document.getElementById("rows");
  const ids = [...devices.keys()].sort();
  rows.replaceChildren(...ids.map((id) => {
    const tr = row(devices.get(id));
    if (id === changedId) tr.classList.add("flash");
    return tr;
  }));
  document.getElementById("empty").hidden = ids.length > 0;
  const counts = {};
  for (const d of devices.values()) counts[d.status] = (counts[d.status] || 0) + 1;
  document.getElementById("summary").textContent =
    Object.entries(counts).map(([k, v]) => v + " " + k).join(", ");
}

async function identify(id, btn) {
  btn.disabled = true;
  try {
    const resp = await fetch("/api/devices/" + encodeURIComponent(id) + "/identify", {
      method: "POST", headers: { "X-Fleet-Request": "1" },
    });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      alert("identify " + id + ": " + (body.error || resp.status));
    }
  } finally {
    setTimeout(() => { btn.disabled = false; }, 1000);
  }
}

function connect() {
  const conn = document.getElementById("conn");
  const es = new EventSource("/events");
  es.addEventListener("open", () => { conn.textContent = "live"; });
  es.addEventListener("error", () => { conn.textContent = "reconnecting…"; });
  es.addEventListener("snapshot", (m) => {
    devices.clear();
    for (const d of JSON.parse(m.data)) devices.set(d.id, d);
    render(null);
  });
  es.addEventListener("device", (m) => {
    const d = JSON.parse(m.data);
    devices.set(d.id, d);
    render(d.id);
  });
}

setInterval(() => render(null), 10000); // refresh the "ago" texts
connect();
