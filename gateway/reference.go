package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/faceverify/faceverify/gateway/api"
)

// errReferenceUnusable: the partner answered, but not with a usable image
// (not found, malformed answer, undecodable, no single face).
var errReferenceUnusable = errors.New("reference image unusable")

// fetchReference gets the flow user's reference image from the partner's
// reference-image API:
//
//	GET <reference_url>?partner_user_id=…&partner_user_id_type=…&flow=…
//
// The answer is api.ReferenceResponse JSON (Image bytes or an ImageURL, which
// is then fetched), or the raw image with Content-Type image/jpeg or
// image/png. Network errors, timeouts, 429 and 5xx are tried again up to
// Config.Reference.Retries times with doubling backoff; other failures wrap
// errReferenceUnusable at once. Each request is bounded by
// Config.Reference.Timeout and each body by Config.Reference.MaxBytes.
func (g *Gateway) fetchReference(ctx context.Context, p PartnerConfig, f Flow) (image.Image, error) {
	u, err := url.Parse(p.ReferenceURL)
	if err != nil {
		return nil, fmt.Errorf("%w: reference_url: %v", errReferenceUnusable, err)
	}
	q := u.Query()
	q.Set("partner_user_id", f.PartnerUserID)
	q.Set("partner_user_id_type", f.PartnerUserIDType)
	q.Set("flow", f.Kind)
	u.RawQuery = q.Encode()
	// image_url may name reference_url's own host or one of image_hosts.
	hosts := append([]string{u.Host}, p.ImageHosts...)
	backoff := g.cfg.Reference.RetryBackoff
	for try := 0; ; try++ {
		img, retry, err := g.fetchReferenceOnce(ctx, u.String(), hosts, !p.InsecureAllowHTTP)
		if err == nil {
			return img, nil
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
// indirection to those hosts ("host" or "host:port"); requireTLS refuses an
// http ImageURL to a non-loopback host. Errors never carry the request URL,
// whose query names the partner's user.
func (g *Gateway) fetchReferenceOnce(ctx context.Context, target string, imageHosts []string, requireTLS bool) (img image.Image, retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.Reference.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", errReferenceUnusable, err)
	}
	req.Header.Set("Accept", "application/json, image/jpeg, image/png")
	resp, err := g.client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // drop the URL: its query names the user
		}
		return nil, true, fmt.Errorf("GET reference: %w", err)
	}
	defer resp.Body.Close()
	// JSON carries the image in base64: allow for the expansion.
	limit := g.cfg.Reference.MaxBytes/3*4 + 4096
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, true, fmt.Errorf("read reference: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return nil, true, fmt.Errorf("reference API answered %s", resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("%w: reference API answered %s", errReferenceUnusable, resp.Status)
	case int64(len(body)) > limit:
		return nil, false, fmt.Errorf("%w: answer longer than %d bytes", errReferenceUnusable, limit)
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	raw := body
	switch mt {
	case "application/json":
		var rr api.ReferenceResponse
		if err := json.Unmarshal(body, &rr); err != nil {
			return nil, false, fmt.Errorf("%w: invalid JSON answer: %v", errReferenceUnusable, err)
		}
		switch {
		case len(rr.Image) > 0:
			raw = rr.Image
		case rr.ImageURL != "" && imageHosts != nil:
			next, err := url.Parse(rr.ImageURL)
			if err != nil || (next.Scheme != "http" && next.Scheme != "https") || next.Host == "" || next.User != nil {
				return nil, false, fmt.Errorf("%w: image_url is not an absolute http(s) URL", errReferenceUnusable)
			}
			if !hostAllowed(next, imageHosts) {
				return nil, false, fmt.Errorf("%w: image_url host %q is neither reference_url's host nor in image_hosts", errReferenceUnusable, next.Host)
			}
			if requireTLS && !secureURL(next.String()) {
				return nil, false, fmt.Errorf("%w: image_url must be https", errReferenceUnusable)
			}
			return g.fetchReferenceOnce(ctx, next.String(), nil, requireTLS)
		default:
			return nil, false, fmt.Errorf("%w: answer has neither image nor image_url", errReferenceUnusable)
		}
	case "image/jpeg", "image/png", "application/octet-stream":
	default:
		return nil, false, fmt.Errorf("%w: unexpected Content-Type %q", errReferenceUnusable, mt)
	}
	if int64(len(raw)) > g.cfg.Reference.MaxBytes {
		return nil, false, fmt.Errorf("%w: image longer than %d bytes", errReferenceUnusable, g.cfg.Reference.MaxBytes)
	}
	img, err = g.decode(bytes.NewReader(raw), g.cfg.Inference.MaxPixels)
	if err != nil {
		return nil, false, fmt.Errorf("%w: %v", errReferenceUnusable, err)
	}
	return img, false, nil
}

// hostAllowed reports whether u's host ("host:port" or "host") matches one
// of hosts, case-insensitively; a host without a port matches any port.
func hostAllowed(u *url.URL, hosts []string) bool {
	for _, h := range hosts {
		if strings.EqualFold(h, u.Host) || strings.EqualFold(h, u.Hostname()) {
			return true
		}
	}
	return false
}
