// Package control is the agent's control surface: the launch request and
// its validation, the refusals (RequestError) and one table of commands
// (Command) served both on the loopback HTTP API (Mount) and as MQTT
// commands (Register), with one mapping from an error to the HTTP status
// and the reply body (FailureOf).
package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/faceverify/faceverify/agent/ui"
	"github.com/faceverify/faceverify/internal/validate"
)

// MaxLaunchBytes bounds a launch request body (HTTP) or command payload
// (MQTT).
const MaxLaunchBytes = 16 << 10

// LaunchRequest starts a verification. The kiosk app gets Token (the user
// token), CorrelationID and BaseURL from the partner's initiate call.
type LaunchRequest struct {
	Token         string // bearer user token; never logged or published
	CorrelationID string
	BaseURL       string // gateway base URL, e.g. https://gw.example.com
	RequestID     string // optional, echoed in the MQTT reply
	// Theme is the partner's look for the kiosk screens (agent/ui.Theme,
	// already validated by DecodeLaunch); nil means ui.DefaultTheme.
	Theme *ui.Theme
	// Locale picks the screens' language: "en" or "id" ("" = ui.DefaultLocale).
	Locale string
	// TokenExpires is when Token expires: the expires_at of the gateway's
	// initiate answer, passed on by the kiosk app; zero when not given
	// (the offline spool then keeps an upload for spool.max_age).
	TokenExpires time.Time
}

// RequestError is a launch request the agent refuses; Field names the JSON
// field ("" for the body as a whole).
type RequestError struct {
	Code    string // "bad_request", "busy", "no_session", "shutting_down"
	Field   string
	Message string
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Errors of Launch and Cancel; test with errors.Is.
var (
	// ErrBusy: a session is already running.
	ErrBusy = &RequestError{Code: "busy", Message: "a verification session is already running"}
	// ErrNoSession: Cancel without a running session.
	ErrNoSession = &RequestError{Code: "no_session", Message: "no verification session is running"}
	// ErrNoSessionYet: the current session asked for before any ran.
	ErrNoSessionYet = &RequestError{Code: "no_session", Message: "no session has run yet"}
	// ErrStopped: the agent is shutting down.
	ErrStopped = &RequestError{Code: "shutting_down", Message: "the agent is shutting down"}
)

// BadField is a bad_request refusal naming field.
func BadField(field, format string, args ...any) *RequestError {
	return &RequestError{Code: "bad_request", Field: field, Message: fmt.Sprintf(format, args...)}
}

// launchJSON accepts the API's snake_case names and the kiosk app's
// camelCase spellings.
type launchJSON struct {
	Token              *string         `json:"token"`
	CorrelationID      *string         `json:"correlation_id"`
	CorrelationIDCamel *string         `json:"correlationId"`
	BaseURL            *string         `json:"base_url"`
	BaseURLCamel       *string         `json:"baseURL"`
	RequestID          *string         `json:"request_id"`
	RequestIDCamel     *string         `json:"requestId"`
	Theme              json.RawMessage `json:"theme"`
	Locale             *string         `json:"locale"`
	ExpiresAt          *string         `json:"expires_at"`
	ExpiresAtCamel     *string         `json:"expiresAt"`
}

// DecodeLaunch parses a launch body: one JSON object with token,
// correlation_id (or correlationId), base_url (or baseURL/baseUrl), an
// optional request_id (or requestId), an optional expires_at (or
// expiresAt: the user token's expiry from the gateway's initiate answer,
// RFC 3339), an optional theme (agent/ui.Theme,
// validated here: a bad theme is refused naming its field, e.g.
// "theme.colors.text", with the computed contrast ratio) and an optional
// locale ("en", "id"). Unknown fields are ignored. It does
// not validate values (see LaunchRequest.Validate); on error the returned
// request still carries the RequestID when it could be read. Errors are
// *RequestError.
func DecodeLaunch(body []byte) (LaunchRequest, error) {
	var req LaunchRequest
	if len(body) > MaxLaunchBytes {
		return req, &RequestError{Code: "bad_request", Message: fmt.Sprintf("body larger than %d bytes", MaxLaunchBytes)}
	}
	if !utf8.Valid(body) {
		return req, &RequestError{Code: "bad_request", Message: "body is not UTF-8"}
	}
	var raw launchJSON
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		// Salvage request_id for the reply if the body is an object at all.
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			if s, ok := m["request_id"].(string); ok {
				req.RequestID = s
			} else if s, ok := m["requestId"].(string); ok {
				req.RequestID = s
			}
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return req, BadField(te.Field, "must be a %s", te.Type.String())
		}
		return req, &RequestError{Code: "bad_request", Message: "body must be a JSON object: " + err.Error()}
	}
	if dec.More() {
		return req, &RequestError{Code: "bad_request", Message: "body must hold exactly one JSON object"}
	}
	pick := func(field string, a, b *string) (string, error) {
		switch {
		case a != nil && b != nil && *a != *b:
			return "", BadField(field, "given twice with different values")
		case a != nil:
			return *a, nil
		case b != nil:
			return *b, nil
		}
		return "", nil
	}
	var err error
	if req.RequestID, err = pick("request_id", raw.RequestID, raw.RequestIDCamel); err != nil {
		return req, err
	}
	if raw.Token != nil {
		req.Token = *raw.Token
	}
	if req.CorrelationID, err = pick("correlation_id", raw.CorrelationID, raw.CorrelationIDCamel); err != nil {
		return req, err
	}
	if req.BaseURL, err = pick("base_url", raw.BaseURL, raw.BaseURLCamel); err != nil {
		return req, err
	}
	if raw.Locale != nil {
		req.Locale = *raw.Locale
	}
	exp, err := pick("expires_at", raw.ExpiresAt, raw.ExpiresAtCamel)
	if err != nil {
		return req, err
	}
	if exp != "" {
		if req.TokenExpires, err = time.Parse(time.RFC3339, exp); err != nil {
			return req, BadField("expires_at", "must be an RFC 3339 time like 2026-12-07T10:15:00Z, got %q", exp)
		}
	}
	if len(raw.Theme) > 0 && string(raw.Theme) != "null" {
		t, err := ui.ParseTheme(raw.Theme)
		if err != nil {
			var fe *ui.FieldError
			if errors.As(err, &fe) {
				return req, BadField(fe.Field, "%s", fe.Message)
			}
			return req, BadField("theme", "%v", err)
		}
		req.Theme = &t
	}
	return req, nil
}

// Validate checks a decoded request. gatewayHosts, when non-empty, lists
// the hosts (host or host:port) base_url may name. Rules: token 1–4096
// visible ASCII characters; correlation_id 1–128 characters of
// [A-Za-z0-9._-] other than "." and ".." (the gateway's rule);
// request_id at most 128 characters without control characters or
// surrounding spaces; base_url an absolute https URL without credentials, query or
// fragment — http is allowed only to a loopback host. Errors are
// *RequestError naming the field.
func (r LaunchRequest) Validate(gatewayHosts []string) error {
	switch {
	case r.Token == "":
		return BadField("token", "is required")
	case len(r.Token) > 4096:
		return BadField("token", "longer than 4096 bytes")
	}
	for i := 0; i < len(r.Token); i++ {
		if c := r.Token[i]; c <= 0x20 || c >= 0x7f {
			return BadField("token", "must be visible ASCII without spaces")
		}
	}
	switch {
	case r.CorrelationID == "":
		return BadField("correlation_id", "is required")
	case !validate.ID(r.CorrelationID, MaxCorrelationIDLen): // the gateway refuses "." and ".." path segments too
		return BadField("correlation_id", "must be 1–%d characters of [A-Za-z0-9._-] (as the gateway requires)", MaxCorrelationIDLen)
	}
	if err := checkID("request_id", r.RequestID, false); err != nil {
		return err
	}
	if r.Locale != "" && !ui.KnownLocale(r.Locale) {
		return BadField("locale", "must be one of %s, got %q", strings.Join(ui.Locales, ", "), r.Locale)
	}
	if r.BaseURL == "" {
		return BadField("base_url", "is required")
	}
	u, err := url.Parse(r.BaseURL)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return BadField("base_url", "must be an absolute URL like https://gateway.example.com")
	}
	if u.User != nil {
		return BadField("base_url", "must not carry credentials")
	}
	if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return BadField("base_url", "must not have a query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !validate.LoopbackHost(u.Hostname()) {
			return BadField("base_url", "must be https (http is allowed only to a loopback host), got http://%s", u.Host)
		}
	default:
		return BadField("base_url", "scheme must be https, got %q", u.Scheme)
	}
	if len(gatewayHosts) > 0 && !hostAllowed(u, gatewayHosts) {
		return BadField("base_url", "host %q is not in session.gateway_hosts", u.Host)
	}
	return nil
}

// MaxCorrelationIDLen is the longest correlation id the gateway accepts
// (gateway/http.go, initiate: correlation_id). A launch with a longer id,
// or one outside [A-Za-z0-9._-], is refused before the camera opens, since
// the gateway would never have issued a flow for it.
const MaxCorrelationIDLen = 128

func checkID(field, v string, required bool) error {
	if v == "" {
		if required {
			return BadField(field, "is required")
		}
		return nil
	}
	if utf8.RuneCountInString(v) > 128 {
		return BadField(field, "longer than 128 characters")
	}
	if strings.TrimSpace(v) != v {
		return BadField(field, "must not start or end with spaces")
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return BadField(field, "must not contain control characters")
		}
	}
	return nil
}

func hostAllowed(u *url.URL, hosts []string) bool {
	for _, h := range hosts {
		if _, _, err := net.SplitHostPort(h); err == nil {
			if strings.EqualFold(h, u.Host) { // entry with a port: exact host:port
				return true
			}
		} else if strings.EqualFold(h, u.Hostname()) { // entry without a port: any port
			return true
		}
	}
	return false
}
