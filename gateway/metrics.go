package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metricsNamespace prefixes every metric of the gateway.
const metricsNamespace = "faceverify_gateway"

// metrics are the gateway's Prometheus series; label sets are bounded
// (route patterns, fixed stage/status/reason/result vocabularies).
type metrics struct {
	requests    *prometheus.CounterVec   // route, method, code
	reqDuration *prometheus.HistogramVec // route
	submissions *prometheus.CounterVec   // result
	stage       *prometheus.HistogramVec // stage
	decisions   *prometheus.CounterVec   // status, reason
	callbacks   *prometheus.CounterVec   // result
	reclaims    prometheus.Counter       // submissions claimed again (retry or lease takeover)
	expired     prometheus.Counter       // flows closed as EXPIRED by this replica
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		reqDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
		}, []string{"route"}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "submissions_total",
			Help: "Selfie submissions by result: accepted, duplicate, refused.",
		}, []string{"result"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "processing_duration_seconds",
			Help:    "Submission processing time by stage: decode, selfie, replay, reference_fetch, reference, total.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"stage"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "decisions_total",
			Help: "Processed attempts by status and reason (reason \"\" for VERIFIED).",
		}, []string{"status", "reason"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "callbacks_total",
			Help: "Callback delivery attempts by result: delivered, failed, given_up.",
		}, []string{"result"}),
		reclaims: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "submission_reclaims_total",
			Help: "Submissions claimed again after an earlier claim ended without a result (released for a retry, or taken over when a replica's lease ran out).",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "flows_expired_total",
			Help: "Flows closed as EXPIRED (user token expired without a final decision) by this replica.",
		}),
	}
	reg.MustRegister(m.requests, m.reqDuration, m.submissions, m.stage, m.decisions, m.callbacks, m.reclaims, m.expired,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: metricsNamespace}))
	return m
}
