package health

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/faceverify/faceverify/agent/session"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/uplink/spool"
)

// Namespace prefixes every agent metric.
const Namespace = "faceverify_agent"

// Metrics are the agent's Prometheus metrics, in a private registry
// (served on metrics.listen at /metrics). Label sets are bounded: stages,
// final statuses and reasons from fixed lists. Make them with NewMetrics;
// the methods are safe for concurrent use.
type Metrics struct {
	reg           *prometheus.Registry
	frames        prometheus.Counter
	fps           *fpsMeter
	latency       *prometheus.HistogramVec
	analyzeErrors prometheus.Counter
	sessions      *prometheus.CounterVec
	uploads       *prometheus.CounterVec
	uploadRetries prometheus.Counter
}

// knownReasons bound the reason label of faceverify_agent_sessions_total;
// any other reason is counted as "other".
var knownReasons = map[string]bool{
	"":               true,
	api.ReasonNoFace: true, api.ReasonMultipleFaces: true, api.ReasonLowQuality: true,
	api.ReasonLivenessFailed: true, api.ReasonFaceMismatch: true, api.ReasonReferenceUnavailable: true,
	api.ReasonAttemptsExhausted: true, api.ReasonProcessingError: true,
	session.ReasonCameraLost: true, session.ReasonCameraError: true, session.ReasonAnalyzerError: true,
	session.ReasonTokenExpired: true, session.ReasonInvalidToken: true, session.ReasonSessionTimeout: true,
	session.ReasonUploadFailed: true, session.ReasonUploadRejected: true, session.ReasonGatewayUnavailable: true,
	session.ReasonGatewayError: true, session.ReasonCancelled: true, session.ReasonUploadQueued: true,
	session.ReasonDeviceNotEnrolled: true, session.ReasonDeviceRevoked: true, session.ReasonSignatureRejected: true,
	session.ReasonClockSkew: true, session.ReasonFlowFinal: true,
	"SHUTDOWN": true,
}

// Sources are what Metrics read when scraped rather than count
// themselves. Now is required; a nil counter reads 0, a nil Spool leaves
// the spool metrics out.
type Sources struct {
	Now           func() time.Time // the agent's clock, for the frame rate
	FramesDropped func() uint64    // frames replaced before analysis
	Analyzed      func() uint64    // frames analysed
	Health        *Registry        // faceverify_agent_degraded; none if nil
	Spool         Stater           // the offline spool's counters; none if nil
}

// Stater is the offline spool as Metrics read it (uplink/spool.Spool).
type Stater interface {
	Stats() spool.Stats
}

// NewMetrics returns the agent's metrics in a new private registry.
func NewMetrics(src Sources) *Metrics {
	reg := prometheus.NewRegistry()
	count := func(f func() uint64) func() float64 {
		return func() float64 {
			if f == nil {
				return 0
			}
			return float64(f())
		}
	}
	m := &Metrics{
		reg: reg,
		frames: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "frames_total",
			Help: "Frames delivered by the camera."}),
		fps: newFPSMeter(src.Now),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "analyze_duration_seconds",
			Help:    "Wall time of each stage of one frame analysis (inference.Timings): prepare, detect, landmarks, liveness, embed, total.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 13)}, []string{"stage"}),
		analyzeErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "analyze_errors_total",
			Help: "Frame analyses the inference runtime failed."}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "sessions_total",
			Help: "Finished sessions by final status and reason."}, []string{"status", "reason"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "uploads_total",
			Help: "Submission tries by result: accepted, queued (stored in the offline spool), failed."}, []string{"result"}),
		uploadRetries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "upload_retries_total",
			Help: "Submission tries after the first one of an attempt (session retries; spool retries are faceverify_agent_spool_retries_total)."}),
	}
	counterFunc := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, f)
	}
	gaugeFunc := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, f)
	}
	reg.MustRegister(m.frames, m.latency, m.analyzeErrors, m.sessions, m.uploads, m.uploadRetries,
		gaugeFunc("capture_fps", "Camera frame rate over the last two seconds, frames per second (0 when idle).", m.fps.rate),
		counterFunc("frames_dropped_total", "Frames replaced before analysis (the analyzer was busy).", count(src.FramesDropped)),
		counterFunc("frames_analyzed_total", "Frames analysed.", count(src.Analyzed)),
		gaugeFunc("degraded", "1 while /healthz reports degraded.", func() float64 {
			if src.Health != nil && src.Health.Report().Status == Degraded {
				return 1
			}
			return 0
		}),
	)
	for _, st := range []string{"prepare", "detect", "landmarks", "liveness", "embed", "total"} {
		m.latency.WithLabelValues(st)
	}
	for _, r := range []string{"accepted", "queued", "failed"} {
		m.uploads.WithLabelValues(r)
	}
	if sp := src.Spool; sp != nil {
		stat := func(f func(spool.Stats) float64) func() float64 { return func() float64 { return f(sp.Stats()) } }
		reg.MustRegister(
			gaugeFunc("spool_records", "Submissions waiting in the offline spool.", stat(func(s spool.Stats) float64 { return float64(s.Records) })),
			gaugeFunc("spool_bytes", "Size of the offline spool's records, bytes.", stat(func(s spool.Stats) float64 { return float64(s.Bytes) })),
			counterFunc("spool_stored_total", "Submissions written to the spool.", stat(func(s spool.Stats) float64 { return float64(s.Stored) })),
			counterFunc("spool_delivered_total", "Spooled submissions the gateway accepted.", stat(func(s spool.Stats) float64 { return float64(s.Delivered) })),
			counterFunc("spool_rejected_total", "Spooled submissions the gateway refused permanently.", stat(func(s spool.Stats) float64 { return float64(s.Rejected) })),
			counterFunc("spool_expired_total", "Spooled submissions dropped because their token expired.", stat(func(s spool.Stats) float64 { return float64(s.Expired) })),
			counterFunc("spool_evictions_total", "Spooled submissions evicted (oldest first) to fit spool.max_bytes/max_count.", stat(func(s spool.Stats) float64 { return float64(s.Evicted) })),
			counterFunc("spool_tampered_total", "Spool records that failed authentication and were deleted.", stat(func(s spool.Stats) float64 { return float64(s.Tampered) })),
			counterFunc("spool_retries_total", "Spool deliveries that failed temporarily.", stat(func(s spool.Stats) float64 { return float64(s.Retries) })),
			counterFunc("spool_write_errors_total", "Submissions the spool could not store (e.g. disk full).", stat(func(s spool.Stats) float64 { return float64(s.WriteErrors) })),
		)
	}
	return m
}

// Frame counts a camera frame.
func (m *Metrics) Frame() {
	m.frames.Inc()
	m.fps.tick()
}

// Analysis records one Analyze call.
func (m *Metrics) Analysis(an inference.Analysis, err error) {
	if err != nil {
		m.analyzeErrors.Inc()
		return
	}
	t := an.Timings
	for _, s := range []struct {
		name string
		d    time.Duration
	}{{"prepare", t.Prepare}, {"detect", t.Detect}, {"landmarks", t.Landmarks}, {"liveness", t.Liveness}, {"embed", t.Embed}, {"total", t.Total}} {
		if s.d > 0 {
			m.latency.WithLabelValues(s.name).Observe(s.d.Seconds())
		}
	}
}

// Upload records one submission try (try counts from 1; err is nil when
// the gateway accepted it, spool.ErrQueued when it was spooled).
func (m *Metrics) Upload(try int, err error) {
	if try > 1 {
		m.uploadRetries.Inc()
	}
	switch {
	case err == nil:
		m.uploads.WithLabelValues("accepted").Inc()
	case errors.Is(err, spool.ErrQueued):
		m.uploads.WithLabelValues("queued").Inc()
	default:
		m.uploads.WithLabelValues("failed").Inc()
	}
}

// Session records a finished session.
func (m *Metrics) Session(o session.Outcome) {
	reason := o.Reason
	if !knownReasons[reason] {
		reason = "other"
	}
	m.sessions.WithLabelValues(o.Status, reason).Inc()
}

// fpsMeter estimates the frame rate from the times of the last frames.
type fpsMeter struct {
	now   func() time.Time
	mu    sync.Mutex
	times [64]time.Time
	n     int // frames recorded (ring index = n % len)
}

func newFPSMeter(now func() time.Time) *fpsMeter { return &fpsMeter{now: now} }

func (f *fpsMeter) tick() {
	f.mu.Lock()
	f.times[f.n%len(f.times)] = f.now()
	f.n++
	f.mu.Unlock()
}

// rate is the number of frame intervals within the last two seconds
// divided by their span; 0 with fewer than two such frames.
func (f *fpsMeter) rate() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	var first, last time.Time
	k := 0
	for i := 0; i < min(f.n, len(f.times)); i++ {
		t := f.times[(f.n-1-i)%len(f.times)]
		if now.Sub(t) > 2*time.Second {
			break
		}
		if k == 0 {
			last = t
		}
		first = t
		k++
	}
	if k < 2 || !last.After(first) {
		return 0
	}
	return float64(k-1) / last.Sub(first).Seconds()
}

// FPS is the camera frame rate over the last two seconds, frames per
// second; 0 when idle.
func (m *Metrics) FPS() float64 { return m.fps.rate() }

// Registry is the private Prometheus registry; other components (MQTT,
// camera) may register their collectors on it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
