package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/faceverify/faceverify/agent/config"
)

// TestReloadChangesTheLogLevel: reload-config sets log.level on the
// daemon's LevelVar and reports it applied; without a LevelVar the change
// needs a restart.
func TestReloadChangesTheLogLevel(t *testing.T) {
	p := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(p, []byte("[device]\nid = \"k1\"\n[log]\nlevel = \"debug\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultConfig()
	cfg.Device.ID = "k1"
	for _, tc := range []struct {
		name        string
		level       *slog.LevelVar
		wantApplied bool
	}{
		{"with a LevelVar", new(slog.LevelVar), true},
		{"without", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{cfg: cfg, log: slog.New(slog.DiscardHandler)}
			res, err := a.fleetReload(FleetOptions{ConfigPath: p, LogLevel: tc.level})
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Contains(res.Applied, "log.level"); got != tc.wantApplied {
				t.Errorf("applied %v, restart %v; want log.level applied = %v", res.Applied, res.RestartRequired, tc.wantApplied)
			}
			if !tc.wantApplied && !slices.Contains(res.RestartRequired, "log.level") {
				t.Errorf("restart %v, want log.level", res.RestartRequired)
			}
			if tc.level != nil && tc.level.Level() != slog.LevelDebug {
				t.Errorf("level %v, want DEBUG", tc.level.Level())
			}
		})
	}
}
