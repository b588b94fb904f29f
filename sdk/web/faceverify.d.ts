export interface InitialiseOptions {
  /** The kiosk agent's loopback API, default "http://127.0.0.1:8470". */
  agentURL?: string;
}
export function initialise(opts?: InitialiseOptions): { agentURL: string };

export interface ThemeColors {
  primary?: string; background?: string; surface?: string;
  text?: string; success?: string; error?: string; // "#rrggbb" or "#rgb"
}
export interface Theme {
  colors?: ThemeColors;
  font?: "atkinson-hyperlegible" | "system-ui";
  radius?: number; // px, 0–32
  logo?: string; // data:image/png;base64,… or data:image/svg+xml;base64,…, ≤ 8 KiB
  strings?: { en?: Record<string, string>; id?: Record<string, string> };
}
export type Status = "VERIFIED" | "REJECTED" | "FAILED" | "CANCELLED";
export interface Completion {
  status: Status;
  reason: string; // e.g. FACE_MISMATCH, LIVENESS_FAILED, TOKEN_EXPIRED; "" when verified
  sessionId: string;
  correlationId: string;
}
export interface LaunchOptions {
  token: string;
  correlationId: string;
  baseURL: string;
  /** The token's expires_at from the partner (RFC 3339); an upload kept offline is dropped when it passes. */
  expiresAt?: string;
  theme?: Theme;
  locale?: "en" | "id";
  onCompletion?: (result: Completion) => void;
}
/** Rejects with an Error having `code` and `field` when the agent refuses the launch. */
export function launchSelfieVerification(opts: LaunchOptions): Promise<Completion>;
