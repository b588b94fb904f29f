package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Reasons of a failed connection attempt, as ConnectFailure returns them
// (snake case, a fixed set: they become health reasons and metric labels).
const (
	ReasonMQTTConnecting        = "mqtt"                    // not connected, no attempt has failed yet
	ReasonMQTTNotAuthorised     = "mqtt_not_authorised"     // CONNACK 4 or 5: bad username or password, or not allowed
	ReasonMQTTClientIDRejected  = "mqtt_client_id_rejected" // CONNACK 2
	ReasonMQTTBrokerUnavailable = "mqtt_broker_unavailable" // CONNACK 3
	ReasonMQTTProtocol          = "mqtt_protocol"           // CONNACK 1 or a protocol violation
	ReasonMQTTTLS               = "mqtt_tls"                // TLS handshake or certificate verification failed
	ReasonMQTTRefused           = "mqtt_connection_refused" // nothing listens on the broker's port
	ReasonMQTTUnreachable       = "mqtt_unreachable"        // DNS, timeout, route or any other network error
)

// connectFailureLogEvery is how often a connect failure that keeps the
// same reason is logged again (with the number of attempts meanwhile).
const connectFailureLogEvery = 5 * time.Minute

// classifyConnectError maps a failed connection attempt (paho's error:
// a CONNACK refusal, or "network Error : <dial/TLS error>") to a reason
// and a short human cause.
func classifyConnectError(err error) (reason, cause string) {
	var (
		unknownCA   x509.UnknownAuthorityError
		invalidCert x509.CertificateInvalidError
		hostname    x509.HostnameError
		verify      *tls.CertificateVerificationError
		record      tls.RecordHeaderError
		alert       tls.AlertError
		remoteAlert *net.OpError
		dnsErr      *net.DNSError
	)
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return ReasonMQTTNotAuthorised, "not authorised (bad username or password)"
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return ReasonMQTTClientIDRejected, "client id rejected by the broker"
	case errors.Is(err, packets.ErrorRefusedServerUnavailable):
		return ReasonMQTTBrokerUnavailable, "broker unavailable"
	case errors.Is(err, packets.ErrorRefusedBadProtocolVersion), errors.Is(err, packets.ErrorProtocolViolation):
		return ReasonMQTTProtocol, "MQTT protocol refused (the broker must speak MQTT 3.1.1)"
	case errors.As(err, &unknownCA), errors.As(err, &invalidCert), errors.As(err, &hostname), errors.As(err, &verify):
		return ReasonMQTTTLS, "TLS certificate not trusted (check mqtt.ca_file and the broker's name)"
	case errors.As(err, &record), errors.As(err, &alert), isRemoteTLSAlert(err, &remoteAlert):
		return ReasonMQTTTLS, "TLS handshake failed (check the broker URL scheme, mqtt.cert_file and mqtt.key_file)"
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonMQTTRefused, "connection refused (nothing listens on the broker's port)"
	case errors.As(err, &dnsErr):
		return ReasonMQTTUnreachable, "broker host name not resolved"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ReasonMQTTUnreachable, "connection timed out"
	}
	return ReasonMQTTUnreachable, "broker unreachable"
}

// isRemoteTLSAlert reports a TLS alert the broker sent, which Go surfaces
// as a *net.OpError with Op "remote error" (e.g. "tls: certificate
// required", "tls: bad certificate").
func isRemoteTLSAlert(err error, op **net.OpError) bool {
	return errors.As(err, op) && (*op).Op == "remote error" && strings.Contains((*op).Err.Error(), "tls:")
}

// connectTracker remembers the last failed connection attempt and
// rate-limits its logging: the first failure, a change of reason and then
// every connectFailureLogEvery.
type connectTracker struct {
	mu       sync.Mutex
	reason   string // "" after a successful connect
	loggedAt time.Time
	attempts int // failures since the last log line
	total    int // failures since the last successful connect
}

// failed records one failed attempt; log reports whether to log it now,
// with the attempts made since the last log line.
func (t *connectTracker) failed(reason string, now time.Time) (log bool, attempts, total int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempts++
	t.total++
	if reason != t.reason || now.Sub(t.loggedAt) >= connectFailureLogEvery {
		t.reason, t.loggedAt = reason, now
		attempts, t.attempts = t.attempts, 0
		return true, attempts, t.total
	}
	return false, 0, t.total
}

// connected clears the failure and returns how many attempts had failed.
func (t *connectTracker) connected() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.total
	t.reason, t.loggedAt, t.attempts, t.total = "", time.Time{}, 0, 0
	return n
}

func (t *connectTracker) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reason
}

// onConnectionNotification logs failed connection attempts (paho retries
// them silently) and remembers their reason for ConnectFailure.
func (c *Client) onConnectionNotification(_ paho.Client, n paho.ConnectionNotification) {
	f, ok := n.(paho.ConnectionNotificationFailed)
	if !ok || f.Reason == nil {
		return
	}
	reason, cause := classifyConnectError(f.Reason)
	log, attempts, total := c.connTrack.failed(reason, time.Now())
	if !log {
		return
	}
	c.logger.Warn("mqtt: cannot connect to the broker: "+cause,
		"reason", reason, "err", c.scrub(f.Reason.Error()), "attempts", attempts, "failures", total,
		"next_log_after", connectFailureLogEvery)
}

// scrub removes the password and the broker URL's user info from s.
func (c *Client) scrub(s string) string {
	if c.opts.Password != "" {
		s = strings.ReplaceAll(s, c.opts.Password, "***")
	}
	if c.brokerUser != "" {
		s = strings.ReplaceAll(s, c.brokerUser, "***")
	}
	return s
}

// ConnectFailure is "" while connected; otherwise the reason of the last
// failed connection attempt (ReasonMQTTNotAuthorised, ReasonMQTTTLS, …),
// or ReasonMQTTConnecting when none has failed since the last connect.
// The agent reports it as the mqtt component's health reason.
func (c *Client) ConnectFailure() string {
	if c.isConnected.Load() {
		return ""
	}
	if r := c.connTrack.last(); r != "" {
		return r
	}
	return ReasonMQTTConnecting
}
