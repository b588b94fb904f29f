package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/internal/testenv"
	"github.com/faceverify/faceverify/models"
	"github.com/faceverify/faceverify/uplink/gateway"
)

// axeFile is axe-core, pinned with its sha256 in models/manifest.json and
// fetched by `make models` (a test tool: the agent never serves it).
const axeFile = "axe/axe.min.js"

// loadAxe returns axe-core's source after checking its pinned sha256.
func loadAxe(t *testing.T) string {
	t.Helper()
	const dir = "../models"
	m, err := models.Load()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(dir, axeFile); errors.Is(err, models.ErrMissing) {
		testenv.Missing(t, "%s missing: run `make models` (npm axe-core, sha256-pinned in models/manifest.json)", filepath.Join(dir, axeFile))
	} else if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, axeFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// axeRun runs axe-core's WCAG 2.0/2.1 A and AA rules on the page as it
// is and returns one line per violation (rule, help, offending nodes).
const axeRun = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
  .then(r => r.violations.map(v => v.id + " (" + v.impact + "): " + v.help + " at " +
    v.nodes.map(n => n.target.join(" ")).join(", ")))`

// axeViolations injects axe (once per page) and runs it.
func axeViolations(ctx context.Context, axeSrc string) ([]string, error) {
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof axe === "object" || (() => { `+axeSrc+`; return true })()`)); err != nil {
		return nil, err
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[json.RawMessage](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, err
	}
	var out []string
	return out, json.Unmarshal(raw, &out)
}

// showOnly makes screen the only visible section, as the page's show()
// does, so every screen (errors included) can be checked on demand.
func showOnly(screen string) string {
	return `(() => { for (const el of document.querySelectorAll("[data-screen]")) el.hidden = el.dataset.screen !== ` +
		jsQuote(screen) + `; document.body.dataset.screen = ` + jsQuote(screen) + `; return true })()`
}

// TestKioskScreensAxe runs axe-core on every kiosk screen, with the
// default theme and with a partner theme in Indonesian, and requires 0
// WCAG 2.1 A/AA violations per screen.
func TestKioskScreensAxe(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	bin := chromiumPath(t)
	axeSrc := loadAxe(t)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), browserOpts(t, bin, 800, 480)...)
	defer acancel()
	for _, tc := range []struct{ name, launch string }{
		{"default", ""},
		{"partner-theme-id", `"locale":"id","theme":{"colors":{"primary":"#7b1fa2","background":"#fffdf7","text":"#222222"},"radius":4}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := agenttest.NewGateway(token)
			defer gw.Close()
			cfg := testCfg()
			cfg.Capture.Window = 30 * time.Second // the session stays on the capture screen while axe runs
			cfg.Capture.AnalyzeFPS = 5
			h := startDeps(t, cfg, Deps{Source: plainSource(t), Analyzer: &scriptAnalyzer{Last: agenttest.NoFace()},
				Gateway: gateway.New(gateway.Options{})})
			bctx, bcancel := chromedp.NewContext(actx)
			defer bcancel()
			bctx, tcancel := context.WithTimeout(bctx, 120*time.Second)
			defer tcancel()
			if err := chromedp.Do(bctx, chromedp.Navigate(h.url("/ui/")), chromedp.WaitVisible(`[data-screen=idle]`)); err != nil {
				t.Fatalf("open the screens: %v", err)
			}
			if tc.launch != "" {
				body := `{"token":"` + token + `","correlation_id":"corr-axe","base_url":"` + gw.URL() + `",` + tc.launch + `}`
				if code, resp := h.post("/v1/verify", body); code != http.StatusAccepted {
					t.Fatalf("launch: %d %v", code, resp)
				}
				if err := chromedp.Do(bctx, chromedp.WaitVisible(`[data-screen=capture]`)); err != nil {
					t.Fatalf("capture screen: %v", err)
				}
				raw, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.lang`))
				if err != nil || raw != "id" {
					t.Fatalf("theme not applied: lang %q %v", raw, err)
				}
			}
			// axe must be able to fail here: an image without alt text.
			if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(() => { const i = document.createElement("img"); i.id = "axe-probe"; document.querySelector("main").append(i); return true })()`)); err != nil {
				t.Fatal(err)
			}
			if v, err := axeViolations(bctx, axeSrc); err != nil || len(v) == 0 || !strings.HasPrefix(v[0], "image-alt") {
				t.Fatalf("axe did not report an image without alt: %v %v", v, err)
			}
			if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`(document.querySelector("#axe-probe").remove(), true)`)); err != nil {
				t.Fatal(err)
			}
			var screens []string
			raw, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("[data-screen]")].map(e => e.dataset.screen)`))
			if err != nil {
				t.Fatal(err)
			}
			screens = raw
			if len(screens) < 12 {
				t.Fatalf("found screens %v, want the 12 of index.html", screens)
			}
			for _, s := range screens {
				if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](showOnly(s))); err != nil {
					t.Fatal(err)
				}
				v, err := axeViolations(bctx, axeSrc)
				if err != nil {
					t.Fatalf("%s: axe: %v", s, err)
				}
				if len(v) > 0 {
					t.Errorf("screen %s: %d axe violations:\n%s", s, len(v), strings.Join(v, "\n"))
				}
			}
		})
	}
}
