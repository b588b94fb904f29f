// faceverify Web SDK: launches a selfie verification on the kiosk's local
// agent and shows its capture screens in a full-screen iframe. No
// dependencies; an ES module.
//
// The screens are the agent's own page (GET {agentURL}/ui/) in an iframe,
// not a navigation: the partner page stays loaded, so its onCompletion
// callback and state survive, and the agent's page keeps its own origin
// (the camera preview never becomes readable by the partner page).
// The agent must list the partner page's origin in api.allowed_origins.

let agent = null;

/** @param {{agentURL?: string}} [opts] */
export function initialise(opts = {}) {
  const url = new URL(opts.agentURL || "http://127.0.0.1:8470");
  agent = url.origin;
  return { agentURL: agent };
}

/**
 * Starts a verification and shows the capture screens until it ends.
 * Resolves (and calls onCompletion) with {status, reason, sessionId,
 * correlationId}; status is VERIFIED, REJECTED, FAILED or CANCELLED.
 * Rejects with an Error carrying .code and .field when the agent refuses
 * the launch (e.g. field "theme.colors.text" for a low-contrast theme).
 */
export async function launchSelfieVerification({ token, correlationId, baseURL, expiresAt, theme, locale, onCompletion } = {}) {
  if (!agent) initialise();
  const body = { token, correlation_id: correlationId, base_url: baseURL };
  if (expiresAt) body.expires_at = expiresAt;
  if (theme) body.theme = theme;
  if (locale) body.locale = locale;
  const resp = await fetch(agent + "/v1/verify", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  const launched = await resp.json().catch(() => ({}));
  if (resp.status !== 202) {
    const err = new Error(launched.message || "launch refused: HTTP " + resp.status);
    err.code = launched.code || "http_" + resp.status;
    err.field = launched.field || "";
    throw err;
  }
  const frame = document.createElement("iframe");
  frame.src = agent + "/ui/";
  frame.title = "Identity check";
  frame.setAttribute("allow", "fullscreen");
  Object.assign(frame.style, { position: "fixed", inset: "0", width: "100vw", height: "100vh", border: "0", zIndex: "2147483647", background: "#fff" });
  document.body.appendChild(frame);
  return new Promise((resolve) => {
    const es = new EventSource(agent + "/ui/events");
    es.addEventListener("state", (e) => {
      const s = JSON.parse(e.data).session;
      if (!s || s.session_id !== launched.session_id || !s.status) return;
      const result = { status: s.status, reason: s.reason || "", sessionId: s.session_id, correlationId: s.correlation_id };
      // Keep the result screen (with its countdown) up for the hold.
      const hold = JSON.parse(e.data).hold_ms || 0;
      es.close();
      setTimeout(() => frame.remove(), hold);
      if (onCompletion) onCompletion(result);
      resolve(result);
    });
  });
}
