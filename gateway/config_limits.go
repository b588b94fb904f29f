package gateway

import (
	"fmt"
	"net/url"
	"time"
)

// Defaults of the decode limits ([limits] in facegateway.toml).
const (
	// DefaultMaxSelfiePixels is 2048×2048: the agent uploads a square crop
	// of at most 0.9 × the frame's shorter side scaled to crop_max_side
	// (640 by default), so a genuine selfie is far smaller.
	DefaultMaxSelfiePixels = 2048 * 2048
	// DefaultDecodeMemory (256 MiB) admits any one image a 40-Mpixel
	// limit allows in its common forms (a 40-Mpixel baseline 4:2:0 JPEG
	// costs 220 MB, an 8-bit RGB PNG 160 MB) and refuses the 16-bit RGBA
	// PNG of that size (479 MB); with the process's ~100 MB of models the
	// gateway then peaks well under 600 MB whatever it is sent.
	DefaultDecodeMemory = 256 << 20
	// DefaultDecodeWait bounds an upload's wait for decode budget.
	DefaultDecodeWait = 2 * time.Second
)

func defaultLimitsConfig() LimitsConfig {
	return LimitsConfig{
		MaxSelfieBytes:  8 << 20,
		MaxJSONBytes:    64 << 10,
		MaxSelfiePixels: DefaultMaxSelfiePixels,
		DecodeMemory:    DefaultDecodeMemory,
		DecodeWait:      DefaultDecodeWait,
		Rate:            defaultRateConfig(),
		Lockout:         defaultLockout,
	}
}

// selfiePixels is the selfie pixel limit in force: limits.max_selfie_pixels,
// or inference.max_pixels when that is lower.
func (c *Config) selfiePixels() int {
	return min(c.Limits.MaxSelfiePixels, c.Inference.MaxPixels)
}

// validateDecode checks the decode limits.
func (l LimitsConfig) validateDecode() error {
	switch {
	case l.MaxSelfiePixels < 64*64:
		return errField("limits.max_selfie_pixels", "must be ≥ 4096, got %d", l.MaxSelfiePixels)
	case l.DecodeMemory < 16<<20:
		return errField("limits.decode_memory", "must be ≥ 16777216 (16 MiB), got %d", l.DecodeMemory)
	case l.DecodeWait < 0 || l.DecodeWait > time.Minute:
		return errField("limits.decode_wait", "must be in [0s, 1m], got %v", l.DecodeWait)
	}
	return nil
}

// validateNetwork refuses, for a partner without allow_private_network,
// reference_url, callback_url and image_hosts entries that name a host
// known without resolving to be in a refused range (an IP literal or
// "localhost"): every call to it would be refused at connect time.
func (p PartnerConfig) validateNetwork(i int) error {
	if p.AllowPrivateNetwork {
		return nil
	}
	check := func(field, host string) error {
		if rule := privateHost(host); rule != "" {
			return errField(fmt.Sprintf("partners[%d].%s", i, field), "host %q is a %s address: calls to it are refused unless partners[%d].allow_private_network = true", host, rule, i)
		}
		return nil
	}
	for _, f := range [][2]string{{"reference_url", p.ReferenceURL}, {"callback_url", p.CallbackURL}} {
		if u, err := url.Parse(f[1]); err == nil && f[1] != "" {
			if err := check(f[0], u.Hostname()); err != nil {
				return err
			}
		}
	}
	for j, h := range p.ImageHosts {
		host, _ := splitHostEntry(h)
		if err := check(fmt.Sprintf("image_hosts[%d]", j), host); err != nil {
			return err
		}
	}
	return nil
}
