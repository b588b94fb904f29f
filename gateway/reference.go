package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
)

// referenceError is a failed reference fetch. Detail is safe to show the
// partner (SubmissionDetails' detail): it never carries the request URL
// (whose query names the user) or an address the gateway resolved. Err is
// the cause, for the log.
type referenceError struct {
	Detail string
	Err    error
}

func (e *referenceError) Error() string {
	if e.Err != nil {
		return e.Detail + ": " + e.Err.Error()
	}
	return e.Detail
}

func (e *referenceError) Unwrap() error { return e.Err }

// refErr builds a *referenceError from a partner-safe format.
func refErr(cause error, format string, args ...any) *referenceError {
	return &referenceError{Detail: fmt.Sprintf(format, args...), Err: cause}
}

// referenceDetail is the partner-safe text of a reference failure.
func referenceDetail(err error) string {
	var ar *AddressRefusedError
	var re *referenceError
	switch {
	case errors.As(err, &ar):
		return ar.Detail()
	case errors.As(err, &re):
		return re.Detail
	}
	return "reference unavailable"
}

// fetchReference gets the flow user's encoded reference image from the
// partner's reference-image API:
//
//	GET <reference_url>?partner_user_id=…&partner_user_id_type=…&flow=…
//
// The answer is api.ReferenceResponse JSON (Image bytes or an ImageURL, which
// is then fetched), or the raw image with Content-Type image/jpeg or
// image/png. Network errors, timeouts, 429 and 5xx are tried again up to
// Config.Reference.Retries times with doubling backoff; other failures
// return at once. Each request is bounded by Config.Reference.Timeout and
// each body by Config.Reference.MaxBytes. Every connection goes through
// the partner's guarded client (netguard.go): an address in a refused
// range is an *AddressRefusedError, not retried. Errors are
// *referenceError (or ctx's error).
func (g *Gateway) fetchReference(ctx context.Context, p PartnerConfig, f Flow) ([]byte, error) {
	u, err := url.Parse(p.ReferenceURL)
	if err != nil {
		return nil, refErr(nil, "reference_url cannot be parsed")
	}
	q := u.Query()
	q.Set("partner_user_id", f.PartnerUserID)
	q.Set("partner_user_id_type", f.PartnerUserIDType)
	q.Set("flow", f.Kind)
	u.RawQuery = q.Encode()
	// image_url may name reference_url's own host or one of image_hosts.
	hosts := append([]string{u.Host}, p.ImageHosts...)
	client := g.partnerClient(p.ClientID)
	backoff := g.cfg.Reference.RetryBackoff
	for try := 0; ; try++ {
		raw, retry, err := g.fetchReferenceOnce(ctx, client, u.String(), hosts, !p.InsecureAllowHTTP)
		if err == nil {
			return raw, nil
		}
		if !retry || try >= g.cfg.Reference.Retries {
			return nil, fmt.Errorf("fetch reference (try %d): %w", try+1, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// fetchReferenceOnce makes one request; retry reports whether the failure
// is transient. imageHosts, when non-nil, permits one level of ImageURL
// indirection to those hosts ("host" or "host:port", see hostAllowed);
// requireTLS refuses an http ImageURL to a non-loopback host. Errors never
// carry the request URL, whose query names the partner's user.
func (g *Gateway) fetchReferenceOnce(ctx context.Context, client *http.Client, target string, imageHosts []string, requireTLS bool) (raw []byte, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Reference.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, false, refErr(nil, "invalid reference request URL")
	}
	req.Header.Set("Accept", "application/json, image/jpeg, image/png")
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // drop the URL: its query names the user
		}
		var ar *AddressRefusedError
		switch {
		case errors.As(err, &ar):
			return nil, false, err // not transient: the same answer would come again
		case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
			return nil, true, refErr(err, "reference API timed out after %v", g.cfg.Reference.Timeout)
		}
		return nil, true, refErr(err, "reference API unreachable (connection or TLS failure)")
	}
	defer resp.Body.Close()
	// JSON carries the image in base64: allow for the expansion.
	limit := g.cfg.Reference.MaxBytes/3*4 + 4096
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, true, refErr(err, "reading the reference answer failed")
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, true, refErr(nil, "reference API answered %s", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, false, refErr(errReferenceUnusable, "reference API answered %s", resp.Status)
	case int64(len(body)) > limit:
		return nil, false, refErr(errReferenceUnusable, "reference answer longer than %d bytes", limit)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	raw = body
	switch mt {
	case "application/json":
		var rr api.ReferenceResponse
		if err := json.Unmarshal(body, &rr); err != nil {
			return nil, false, refErr(errReferenceUnusable, "reference answer is not valid JSON")
		}
		switch {
		case len(rr.Image) > 0:
			raw = rr.Image
		case rr.ImageURL != "" && imageHosts != nil:
			next, err := url.Parse(rr.ImageURL)
			if err != nil || (next.Scheme != "http" && next.Scheme != "https") || next.Host == "" || next.User != nil {
				return nil, false, refErr(errReferenceUnusable, "image_url is not an absolute http(s) URL")
			}
			if !hostAllowed(next, imageHosts) {
				return nil, false, refErr(errReferenceUnusable, "image_url host %q (port %s) is neither reference_url's host nor in image_hosts", next.Hostname(), effectivePort(next))
			}
			if requireTLS && !secureURL(next.String()) {
				return nil, false, refErr(errReferenceUnusable, "image_url must be https")
			}
			return g.fetchReferenceOnce(ctx, client, next.String(), nil, requireTLS)
		default:
			return nil, false, refErr(errReferenceUnusable, "reference answer has neither image nor image_url")
		}
	case "image/jpeg", "image/png", "application/octet-stream":
	default:
		return nil, false, refErr(errReferenceUnusable, "reference answer has unexpected Content-Type %q", mt)
	}
	if int64(len(raw)) > g.cfg.Reference.MaxBytes {
		return nil, false, refErr(errReferenceUnusable, "reference image longer than %d bytes", g.cfg.Reference.MaxBytes)
	}
	return raw, false, nil
}

// errReferenceUnusable: the partner answered, but not with a usable image
// (not found, malformed answer, undecodable, no single face).
var errReferenceUnusable = errors.New("reference image unusable")
