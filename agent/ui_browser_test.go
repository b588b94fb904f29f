package agent

import (
	"context"
	"encoding/json"
	"image"
	_ "image/jpeg"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faceverify/faceverify/agent/agenttest"
	"github.com/faceverify/faceverify/capture/replay"
	"github.com/faceverify/faceverify/gateway/api"
	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/internal/testenv"
	"github.com/faceverify/faceverify/uplink/gateway"
)

// scriptAnalyzer answers Analyze from a script by call number (the
// replayed photo is what the preview shows; the scripted analysis is what
// the session decides on). After the script, Last repeats.
type scriptAnalyzer struct {
	mu     sync.Mutex
	n      int
	Script []inference.Analysis
	Last   inference.Analysis
	// Hold, when set, keeps answering the script's last analysis after the
	// script until it is closed: the test moves the scene on when it has
	// seen what the script shows, however few frames a busy machine
	// analysed by then.
	Hold chan struct{}
}

func (s *scriptAnalyzer) Analyze(ctx context.Context, img image.Image, _ inference.Options) (inference.Analysis, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.n <= len(s.Script) {
		return s.Script[s.n-1], ctx.Err()
	}
	if s.Hold != nil && len(s.Script) > 0 {
		select {
		case <-s.Hold:
		default:
			return s.Script[len(s.Script)-1], ctx.Err()
		}
	}
	return s.Last, ctx.Err()
}

func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "chromium not found: install the Debian package \"chromium\" to run the kiosk screens browser test (.ci/run does)")
	return ""
}

// browserOpts starts headless Chromium with a w×h window and a private
// profile.
func browserOpts(t *testing.T, bin string, w, h int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(w, h),
	}
}

// demoPhoto is the public-domain photo the replay camera shows.
const demoPhoto = "../cmd/facedemo/photos/identity/person_a_02.jpg"

func repeat(a inference.Analysis, n int) []inference.Analysis {
	out := make([]inference.Analysis, n)
	for i := range out {
		out[i] = a
	}
	return out
}

// scene analyses for a 1280×960 frame (the oval is 672 px high).
var (
	goodFace = agenttest.OneFace(inference.Box{X: 490, Y: 330, W: 300, H: 300}, true)
	farFace  = func() inference.Analysis {
		a := agenttest.OneFace(inference.Box{X: 620, Y: 460, W: 38, H: 38}, true)
		a.Decision = inference.DecisionLowQuality
		return a
	}()
)

type uiScene struct {
	name     string
	script   []inference.Analysis
	last     inference.Analysis
	launch   string // extra launch JSON fields
	screens  []string
	guidance string // a guidance text the capture screen must show
	// verdict is the gateway's final status (VERIFIED when empty) and
	// reason for an uploaded capture.
	verdict, reason string
}

// TestKioskScreensInBrowser drives the kiosk screens in headless Chromium
// through the replay camera: each scene's screens appear in order, the
// theme's colours and the locale's strings are applied, and a bad theme is
// refused naming its field. With FACEVERIFY_UI_SCREENS=dir (make
// ui-screens) it writes one PNG per screen there.
func TestKioskScreensInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	bin := chromiumPath(t)
	if _, err := os.Stat(demoPhoto); err != nil {
		t.Fatalf("demo photo: %v", err)
	}
	shots := os.Getenv("FACEVERIFY_UI_SCREENS")

	actx, acancel := chromedp.NewExecAllocator(context.Background(), browserOpts(t, bin, 800, 480)...)
	defer acancel()

	theme := `"locale":"id","theme":{"colors":{"primary":"#7b1fa2","background":"#fffdf7","text":"#222222"},"radius":4,` +
		`"strings":{"id":{"idle_title":"Selamat datang di Bank Contoh"}}}`
	scenes := []uiScene{
		{name: "genuine", script: repeat(farFace, 18), last: goodFace,
			screens:  []string{"idle", "instructions", "capture", "processing", "verified", "idle"},
			guidance: "Move closer"},
		{name: "impostor", script: repeat(farFace, 18), last: goodFace,
			screens:  []string{"idle", "instructions", "capture", "processing", "rejected", "idle"},
			guidance: "Move closer", verdict: api.StatusRejected, reason: api.ReasonFaceMismatch},
		// A printed photo: well placed, but the local liveness check fails
		// on every frame, so the round's best (non-passing) frame goes up
		// at the end of the window and the gateway's own check rejects it.
		{name: "print-attack", last: agenttest.OneFace(goodFace.Faces[0].Box, false),
			screens:  []string{"idle", "instructions", "capture", "processing", "rejected", "idle"},
			guidance: "Great – hold it there", verdict: api.StatusRejected, reason: api.ReasonLivenessFailed},
		{name: "no-face", last: agenttest.NoFace(),
			screens:  []string{"idle", "instructions", "capture", "failed", "idle"},
			guidance: "We can't see your face"},
		{name: "two-faces", last: inference.Analysis{Width: 1280, Height: 960, Decision: inference.DecisionMultipleFaces, Subject: 0,
			Faces: []inference.Face{goodFace.Faces[0], goodFace.Faces[0]}},
			screens:  []string{"idle", "instructions", "capture", "failed", "idle"},
			guidance: "Only one person, please"},
		{name: "themed-indonesian", script: repeat(farFace, 18), last: goodFace, launch: theme,
			screens:  []string{"idle", "instructions", "capture", "processing", "verified", "idle"},
			guidance: "Mendekatlah"},
	}
	for _, sc := range scenes {
		t.Run(sc.name, func(t *testing.T) {
			gw := agenttest.NewGateway(token)
			defer gw.Close()
			gw.OnStatus = func(uploads, poll int) (api.StatusResponse, int) {
				if poll == 1 {
					return api.StatusResponse{Status: api.StatusProcessing, NextAction: api.ActionStatus, RetryAfterMS: 600}, 200
				}
				if sc.verdict != "" {
					return api.StatusResponse{Status: sc.verdict, Reason: sc.reason, NextAction: api.ActionExit}, 200
				}
				return api.StatusResponse{Status: api.StatusVerified, NextAction: api.ActionExit}, 200
			}
			src, err := replay.New(replay.Options{Path: demoPhoto, FPS: 15, Loop: true,
				Decode: func(r io.Reader) (image.Image, error) { img, _, err := image.Decode(r); return img, err }})
			if err != nil {
				t.Fatal(err)
			}
			cfg := testCfg()
			cfg.Capture.Window = 5 * time.Second
			cfg.Capture.AnalyzeFPS = 5
			cfg.Session.LocalAttempts = 1
			cfg.Session.ResultHold = 2 * time.Second
			hold := make(chan struct{})
			if len(sc.script) > 0 {
				// The face comes good when the test releases it (after
				// seeing the guidance), not after a number of frames: the
				// window only has to outlast a loaded machine.
				cfg.Capture.Window = time.Minute
				cfg.Session.Timeout = 2 * time.Minute
			}
			h := startDeps(t, cfg, Deps{Source: src, Analyzer: &scriptAnalyzer{Script: sc.script, Last: sc.last, Hold: hold},
				Gateway: gateway.New(gateway.Options{})})

			bctx, bcancel := chromedp.NewContext(actx)
			defer bcancel()
			bctx, tcancel := context.WithTimeout(bctx, 5*time.Minute) // a guard, generous for a busy machine
			defer tcancel()
			if err := chromedp.Do(bctx, chromedp.Navigate(h.url("/ui/")),
				chromedp.WaitVisible(`[data-screen=idle]`)); err != nil {
				t.Fatalf("open the screens: %v", err)
			}
			eval := func(js string, out any) {
				t.Helper()
				raw, err := chromedp.Run(bctx, chromedp.Evaluate[json.RawMessage](js))
				if err != nil {
					t.Fatalf("%s: %v", js, err)
				}
				if err := json.Unmarshal(raw, out); err != nil {
					t.Fatalf("%s: %v", js, err)
				}
			}
			// waitFor polls the page until js is true (the page changes on
			// its own events; there is nothing else to wait on).
			waitFor := func(what, js string) {
				t.Helper()
				for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(40 * time.Millisecond) {
					var ok bool
					eval(js, &ok)
					if ok {
						return
					}
				}
				var got []string
				eval(`window.__faceverify.screens`, &got)
				t.Fatalf("%s: timed out; screens so far %v", what, got)
			}
			shot := func(name string) {
				if shots == "" {
					return
				}
				png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(shots, sc.name+"-"+name+".png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			shot("idle")
			body := `{"token":"` + token + `","correlation_id":"corr-ui","base_url":"` + gw.URL() + `"` + prefixComma(sc.launch) + `}`
			if code, resp := h.post("/v1/verify", body); code != http.StatusAccepted {
				t.Fatalf("launch: %d %v", code, resp)
			}
			waitFor("instructions", `document.body.dataset.screen === "instructions"`)
			shot("instructions")
			waitFor("guidance "+sc.guidance, `document.querySelector("#guidance").textContent === `+jsQuote(sc.guidance))
			waitFor("preview painted", `document.querySelector("#camera").naturalWidth > 0`)
			var previewW int
			eval(`document.querySelector("#camera").naturalWidth`, &previewW)
			if previewW > 640 {
				t.Errorf("preview %d px wide, want ≤ 640", previewW)
			}
			var mirrored string
			eval(`getComputedStyle(document.querySelector("#camera")).transform`, &mirrored)
			if mirrored != "matrix(-1, 0, 0, 1, 0, 0)" {
				t.Errorf("preview transform %q, want mirrored", mirrored)
			}
			shot("capture")
			close(hold) // the scripted face comes good now
			final := sc.screens[len(sc.screens)-2]
			waitFor(final, `document.body.dataset.screen === `+jsQuote(final))
			var cd string
			eval(`document.querySelector("#countdown").hidden ? "" : document.querySelector("#countdown").textContent`, &cd)
			if cd == "" {
				t.Error("no visible countdown on the result screen")
			}
			shot(final)
			waitFor("back to idle", `document.body.dataset.screen === "idle"`)
			var screens []string
			eval(`window.__faceverify.screens`, &screens)
			if !slices.Equal(screens, sc.screens) {
				t.Errorf("screens %v, want %v", screens, sc.screens)
			}
			if sc.launch != "" {
				var bg, h1, lang, radius string
				eval(`getComputedStyle(document.body).backgroundColor`, &bg)
				eval(`document.querySelector("[data-screen=idle] h1").textContent`, &h1)
				eval(`document.documentElement.lang`, &lang)
				eval(`getComputedStyle(document.querySelector(".card")).borderTopLeftRadius`, &radius)
				var verified string
				eval(`document.querySelector("[data-screen=verified] h1").textContent`, &verified)
				var primary string
				eval(`getComputedStyle(document.querySelector(".spinner")).borderTopColor`, &primary)
				if bg != "rgb(255, 253, 247)" || primary != "rgb(123, 31, 162)" || radius != "4px" {
					t.Errorf("theme: background %s, primary %s, radius %s; want rgb(255, 253, 247), rgb(123, 31, 162), 4px", bg, primary, radius)
				}
				if lang != "id" || h1 != "Selamat datang di Bank Contoh" || verified != "Terverifikasi" {
					t.Errorf("locale: lang %q, idle %q, verified %q", lang, h1, verified)
				}
			}
		})
	}

	t.Run("bad-theme", func(t *testing.T) {
		gw := agenttest.NewGateway(token)
		defer gw.Close()
		src := source(green)
		h := start(t, testCfg(), src, &agenttest.Analyzer{}, gw, nil)
		body := `{"token":"` + token + `","correlation_id":"corr-ui","base_url":"` + gw.URL() + `","theme":{"colors":{"text":"#aaaaaa"}}}`
		code, resp := h.post("/v1/verify", body)
		msg, _ := resp["message"].(string)
		if code != http.StatusBadRequest || resp["field"] != "theme.colors.text" || !strings.Contains(msg, "2.32:1") {
			t.Errorf("bad theme: %d %v, want 400 naming theme.colors.text with the ratio 2.32:1", code, resp)
		}
		if src.Opens() != 0 {
			t.Error("a refused theme opened the camera")
		}
	})
}

func prefixComma(s string) string {
	if s == "" {
		return ""
	}
	return "," + s
}

func jsQuote(s string) string { b, _ := json.Marshal(s); return string(b) }
