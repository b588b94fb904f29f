// Package gateway is the HTTP client of the verification gateway's device
// API (gateway/api): it submits selfies and polls status with the user
// token, and classifies failures as uplink errors.
package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/uplink"
)

// Options configure a Client.
type Options struct {
	// SubmitTimeout bounds one submission request (default 20s).
	SubmitTimeout time.Duration
	// StatusTimeout bounds one status request (default 5s); a long poll
	// (StatusWait) gets its wait on top.
	StatusTimeout time.Duration
	// UserAgent is sent with every request (default "faceagent").
	UserAgent string
	// Transport overrides the HTTP transport (tests, custom TLS roots).
	Transport http.RoundTripper
	// Signer, when set, signs each submission body with the flow's
	// correlation id (agent/identity.Identity); nil sends unsigned
	// submissions.
	Signer Signer
	// Now is the clock of the signature timestamps (time.Now if nil).
	Now func() time.Time
}

// Signer makes the device signature headers of a submission body for the
// flow correlationID at time t (api.SignDevice).
type Signer interface {
	Sign(correlationID string, t time.Time, body []byte) http.Header
}

// Client implements uplink.Gateway over HTTP. It is safe for concurrent use.
type Client struct {
	opts Options
	http *http.Client
}

var (
	_ uplink.Gateway      = (*Client)(nil)
	_ uplink.StatusWaiter = (*Client)(nil)
)

// maxResponse bounds how much of a gateway answer is read.
const maxResponse = 1 << 20

// New returns a Client.
func New(opts Options) *Client {
	if opts.SubmitTimeout <= 0 {
		opts.SubmitTimeout = 20 * time.Second
	}
	if opts.StatusTimeout <= 0 {
		opts.StatusTimeout = 5 * time.Second
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "faceagent"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tr := opts.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	return &Client{opts: opts, http: &http.Client{
		Transport: tr,
		// Never follow redirects: the bearer token must only go to the
		// base URL the kiosk app gave us.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Submit posts req as JSON to baseURL+api.PathSubmissions with the user
// token, the Idempotency-Key header set to req.IdempotencyKey and, with a
// Signer, the device signature over the body and info.CorrelationID. It
// expects 200, 201 or 202 with an api.SubmissionResponse.
func (c *Client) Submit(ctx context.Context, baseURL, token string, req api.SubmissionRequest, info uplink.SubmitInfo) (api.SubmissionResponse, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return api.SubmissionResponse{}, &uplink.Error{Op: "submit", Err: err}
	}
	var out api.SubmissionResponse
	h := http.Header{"Content-Type": {"application/json"}}
	if req.IdempotencyKey != "" {
		h.Set("Idempotency-Key", req.IdempotencyKey)
	}
	if c.opts.Signer != nil {
		for k, v := range c.opts.Signer.Sign(info.CorrelationID, c.opts.Now(), body) {
			h[k] = v
		}
	}
	err = c.do(ctx, "submit", http.MethodPost, baseURL, api.PathSubmissions, token, h, body, c.opts.SubmitTimeout, &out)
	return out, err
}

// Status gets baseURL+api.PathStatus with the user token.
func (c *Client) Status(ctx context.Context, baseURL, token string) (api.StatusResponse, error) {
	var out api.StatusResponse
	err := c.do(ctx, "status", http.MethodGet, baseURL, api.PathStatus, token, nil, nil, c.opts.StatusTimeout, &out)
	return out, err
}

// StatusWait long-polls baseURL+api.PathStatus?wait=<wait> with the user
// token: the gateway answers when the status changes or after wait. The
// request times out after wait + Options.StatusTimeout, so a gateway that
// holds it for the whole wait still answers in time; ctx ends it earlier.
// wait ≤ 0 is a plain Status call.
func (c *Client) StatusWait(ctx context.Context, baseURL, token string, wait time.Duration) (api.StatusResponse, error) {
	if wait <= 0 {
		return c.Status(ctx, baseURL, token)
	}
	var out api.StatusResponse
	path := api.PathStatus + "?" + url.Values{api.ParamWait: {wait.String()}}.Encode()
	err := c.do(ctx, "status", http.MethodGet, baseURL, path, token, nil, nil, wait+c.opts.StatusTimeout, &out)
	return out, err
}

// PathHealthz is the gateway's unauthenticated health check, the request
// Warm makes.
const PathHealthz = "/healthz"

// Warm gets baseURL+PathHealthz without credentials and reads the answer
// (at most 4 KiB), so the connection goes back to the client's pool for
// the session's upload to reuse (uplink.Warmer). Any HTTP answer is
// success; a network failure or timeout (Options.StatusTimeout) is an
// *uplink.Error.
func (c *Client) Warm(ctx context.Context, baseURL string) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StatusTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+PathHealthz, nil)
	if err != nil {
		return &uplink.Error{Op: "warm", Err: err}
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		return &uplink.Error{Op: "warm", Temporary: true, Err: err}
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return &uplink.Error{Op: "warm", Temporary: true, Err: err}
	}
	return nil
}

func (c *Client) do(ctx context.Context, op, method, baseURL, path, token string, h http.Header, body []byte, timeout time.Duration, out any) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(baseURL, "/")+path, rd)
	if err != nil {
		return &uplink.Error{Op: op, Err: err}
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		// Network errors and timeouts: retrying may help, unless the
		// caller gave up.
		if ctxErr := context.Cause(ctx); ctxErr != nil && errors.Is(ctxErr, context.Canceled) {
			return &uplink.Error{Op: op, Err: context.Canceled}
		}
		return &uplink.Error{Op: op, Temporary: true, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return &uplink.Error{Op: op, StatusCode: resp.StatusCode, Temporary: true, Err: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return &uplink.Error{Op: op, StatusCode: resp.StatusCode, Err: fmt.Errorf("decode answer: %w", err)}
		}
		return nil
	}
	return statusError(op, resp, data)
}

// statusError maps a non-2xx answer: 401 → ErrUnauthorized (ErrTokenExpired
// when the code says so), 410 → ErrTokenExpired, 409 → ErrConflict, 408,
// 425, 429 and 5xx temporary, other statuses permanent.
func statusError(op string, resp *http.Response, data []byte) error {
	e := &uplink.Error{Op: op, StatusCode: resp.StatusCode}
	var body api.Error
	if json.Unmarshal(data, &body) == nil {
		e.Code, e.Message = body.Code, truncate(body.Message, 200)
	}
	switch sc := resp.StatusCode; {
	case sc == http.StatusGone || (sc == http.StatusUnauthorized && strings.Contains(e.Code, "expired")):
		e.Err = uplink.ErrTokenExpired
	case sc == http.StatusUnauthorized || sc == http.StatusForbidden:
		e.Err = uplink.ErrUnauthorized
	case sc == http.StatusConflict:
		e.Err = uplink.ErrConflict
	case sc == http.StatusRequestTimeout, sc == http.StatusTooEarly, sc == http.StatusTooManyRequests, sc >= 500:
		e.Temporary = true
		e.Err = errors.New(http.StatusText(sc))
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
	default:
		e.Err = errors.New(http.StatusText(sc))
	}
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
