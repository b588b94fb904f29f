package broker

import (
	"context"
	"log/slog"
)

// redactedKeys are the attributes mochi-mqtt attaches to some log records
// that hold whole packets or Last Wills, payloads included. A refused
// publish of a signed verify command would otherwise put a user token in the
// log; they are dropped.
var redactedKeys = map[string]bool{"pk": true, "packet": true, "will": true, "payload": true}

// redactHandler drops packet-carrying attributes from mochi-mqtt's records
// and demotes its empty-message records to debug.
type redactHandler struct{ next slog.Handler }

// newBrokerLogger wraps log so that no packet payload reaches it.
func newBrokerLogger(log *slog.Logger) *slog.Logger {
	return slog.New(redactHandler{next: log.Handler()})
}

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	level := r.Level
	if r.Message == "" && level > slog.LevelDebug {
		level = slog.LevelDebug
		if !h.next.Enabled(ctx, level) {
			return nil
		}
	}
	out := slog.NewRecord(r.Time, level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if !redactedKeys[a.Key] {
			out.AddAttrs(a)
		}
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var kept []slog.Attr
	for _, a := range attrs {
		if !redactedKeys[a.Key] {
			kept = append(kept, a)
		}
	}
	return redactHandler{next: h.next.WithAttrs(kept)}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{next: h.next.WithGroup(name)}
}
