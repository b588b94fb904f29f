package agent

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/spool"
)

// MetricsHandler serves the agent's metrics in the Prometheus text format.
func (a *Agent) MetricsHandler() http.Handler {
	return a.metrics.Handler()
}

// Registry is the agent's private Prometheus registry; other components
// (MQTT, camera) may register their collectors on it.
func (a *Agent) Registry() *prometheus.Registry { return a.metrics.Registry() }

// MetricsAddr is the address the metrics listener is bound to ("" before
// Ready or when disabled).
func (a *Agent) MetricsAddr() string {
	s, _ := a.metricsAddr.Load().(string)
	return s
}

// listenMetrics binds metrics.listen; nil listener when disabled.
func (a *Agent) listenMetrics() (net.Listener, *http.Server, error) {
	if a.cfg.Metrics.Listen == "" {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", a.cfg.Metrics.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics listen %s: %w", a.cfg.Metrics.Listen, err)
	}
	a.metricsAddr.Store(ln.Addr().String())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.MetricsHandler())
	mux.HandleFunc("GET /healthz", a.handleHealth)
	return ln, &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 15 * time.Second}, nil
}

// uplinkOutcome is a spool delivery as the session's event.
func uplinkOutcome(d spool.Delivery) session.Event {
	if d.Err == nil {
		return session.UploadDone{Response: d.Response}
	}
	class := uplink.Classify(d.Err)
	if errors.Is(d.Err, spool.ErrExpired) {
		class = uplink.ClassExpired
	}
	return session.UploadFailed{Class: class, Err: d.Err}
}
