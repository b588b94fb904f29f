package agent

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/uplink/gateway"
)

// fitCheck returns what of the visible screen lies outside the viewport
// or needs scrolling ("" when everything fits): every element of the
// shown section, the countdown on result screens, and the capture
// screen's progress bar and guidance, which must be on screen.
const fitCheck = `(() => {
  const W = innerWidth, H = innerHeight, bad = [];
  const se = document.scrollingElement, main = document.querySelector("main");
  if (se.scrollWidth > se.clientWidth || se.scrollHeight > se.clientHeight) bad.push("page scrolls " + se.scrollWidth + "x" + se.scrollHeight);
  if (main.scrollHeight > main.clientHeight + 1 || main.scrollWidth > main.clientWidth + 1) bad.push("main overflows " + main.scrollWidth + "x" + main.scrollHeight + " in " + main.clientWidth + "x" + main.clientHeight);
  const name = document.body.dataset.screen;
  const els = [...document.querySelectorAll("[data-screen=" + name + "], [data-screen=" + name + "] *, #countdown:not([hidden]), header, header *")];
  for (const el of els) {
    if (el.closest(".sr-only") || el.hidden || el.closest("[hidden]")) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < -1 || r.top < -1 || r.right > W + 1 || r.bottom > H + 1)
      bad.push((el.id ? "#" + el.id : el.tagName.toLowerCase() + (el.className ? "." + el.className : "")) + " at " + [r.left, r.top, r.right, r.bottom].map(Math.round).join(","));
  }
  if (name === "capture") {
    for (const id of ["progress", "guidance", "preview"]) {
      const r = document.getElementById(id).getBoundingClientRect();
      if (r.height < 4 || r.width < 4) bad.push("#" + id + " not visible " + r.width + "x" + r.height);
    }
  }
  return bad.join("; ");
})()`

// plainSource is a 640×480 camera at 15 fps showing the demo photo.
func plainSource(t *testing.T) *stampSource {
	s := newStampSource(t, demoPhoto, 15)
	s.plain = true
	return s
}

// TestKioskScreensFit shows every screen, in Indonesian (the longer
// strings) with a running capture, at kiosk sizes 800×480, 1920×1080 and
// 1080×1920: nothing may scroll or stick out of the viewport, and the
// capture screen's preview, guidance and progress must be visible. With
// FACEVERIFY_UI_SCREENS=dir it also writes one PNG per size and screen.
func TestKioskScreensFit(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	bin := chromiumPath(t)
	shots := os.Getenv("FACEVERIFY_UI_SCREENS")
	gw := agenttest.NewGateway(token)
	defer gw.Close()
	cfg := testCfg()
	cfg.Capture.Window = 30 * time.Second // the capture keeps running while the screens are checked
	cfg.Capture.AnalyzeFPS = 5
	h := startDeps(t, cfg, Deps{Source: plainSource(t), Analyzer: &scriptAnalyzer{Last: farFace},
		Gateway: gateway.New(gateway.Options{})})
	actx, acancel := chromedp.NewExecAllocator(context.Background(), browserOpts(t, bin, 800, 480)...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	bctx, tcancel := context.WithTimeout(bctx, 120*time.Second)
	defer tcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate(h.url("/ui/")), chromedp.WaitVisible(`[data-screen=idle]`)); err != nil {
		t.Fatalf("open the screens: %v", err)
	}
	body := `{"token":"` + token + `","correlation_id":"corr-fit","base_url":"` + gw.URL() + `","locale":"id"}`
	if code, resp := h.post("/v1/verify", body); code != http.StatusAccepted {
		t.Fatalf("launch: %d %v", code, resp)
	}
	if err := chromedp.Do(bctx, chromedp.WaitVisible(`[data-screen=capture]`)); err != nil {
		t.Fatalf("capture screen: %v", err)
	}
	screens, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("[data-screen]")].map(e => e.dataset.screen)`))
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]bool{"verified": true, "rejected": true, "failed": true, "err_camera": true, "err_gateway": true, "err_token": true, "err_device": true}
	for _, size := range []struct{ w, h int }{{800, 480}, {1920, 1080}, {1080, 1920}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			if err := chromedp.Do(bctx, chromedp.EmulateViewport(int64(size.w), int64(size.h))); err != nil {
				t.Fatal(err)
			}
			for _, s := range screens {
				js := showOnly(s)
				if results[s] { // the result hold's countdown shows below the result
					js += `, (document.querySelector("#countdown").hidden = false, document.querySelector("#countdown").textContent = "Kembali ke awal dalam 8 d", true)`
				} else {
					js += `, (document.querySelector("#countdown").hidden = true, true)`
				}
				if _, err := chromedp.Run(bctx, chromedp.Evaluate[bool](js)); err != nil {
					t.Fatal(err)
				}
				bad, err := chromedp.Run(bctx, chromedp.Evaluate[string](fitCheck))
				if err != nil {
					t.Fatal(err)
				}
				if bad != "" {
					t.Errorf("%s at %dx%d: %s", s, size.w, size.h, bad)
				}
				shot, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatal(err)
				}
				cfg, err := png.DecodeConfig(bytes.NewReader(shot))
				if err != nil || cfg.Width != size.w || cfg.Height != size.h {
					t.Errorf("%s screenshot %dx%d (%v), want %dx%d", s, cfg.Width, cfg.Height, err, size.w, size.h)
				}
				if shots != "" {
					name := fmt.Sprintf("fit-%dx%d-%s.png", size.w, size.h, strings.ReplaceAll(s, "_", "-"))
					if err := os.WriteFile(filepath.Join(shots, name), shot, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}
