package fleet

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/faceverify/faceverify/gateway/mqttapi"
	"github.com/faceverify/faceverify/uplink"
	"github.com/faceverify/faceverify/uplink/mqtt"
	"github.com/faceverify/faceverify/uplink/mqtt/mqtttest"

	"github.com/faceverify/faceverify/internal/testenv"
)

// chromium finds the Debian chromium binary: the test is skipped without
// it, except in CI (CI set), where .ci/run installs it and it must run.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	testenv.Missing(t, "chromium not found: install the Debian package \"chromium\" to run the fleet page browser test (.ci/run does)")
	return ""
}

// artifactDir is where screenshots go: $FACEVERIFY_ARTIFACTS if set, else
// the test's temporary directory.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("FACEVERIFY_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// TestFleetPageInBrowser opens the fleet page in headless Chromium and
// watches a kiosk (a real MQTT reporter) come online, go through a
// session, answer identify from the page's button, and go offline.
func TestFleetPageInBrowser(t *testing.T) {
	bin := chromium(t)
	broker := mqtttest.Broker(t)
	prefix := "fvpage-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000")
	prefix = strings.ReplaceAll(prefix, ".", "")
	secret := []byte("fleet-page-secret-0123456789")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	fs, err := New(Options{Broker: broker, Prefix: prefix, CommandSecret: secret, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go fs.Run(ctx)
	srv := httptest.NewServer(fs.Handler())
	defer srv.Close()
	for deadline := time.Now().Add(time.Minute); !fs.Connected(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("fleet server did not connect to the broker")
		}
	}

	// The browser.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 700),
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	bctx, tcancel := context.WithTimeout(bctx, 5*time.Minute) // a guard: generous for a busy machine
	defer tcancel()
	if err := chromedp.Do(bctx, chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.CSS(`[data-testid=empty]`))); err != nil {
		t.Fatalf("open the page: %v", err)
	}

	// waitText waits until the element at sel contains want.
	waitText := func(what, sel, want string) {
		t.Helper()
		js := `(() => { const e = document.querySelector(` + jsString(sel) + `); return e ? e.textContent : ""; })()`
		deadline := time.Now().Add(time.Minute)
		var got string
		for time.Now().Before(deadline) {
			var err error
			if got, err = chromedp.Run(bctx, chromedp.Evaluate[string](js)); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if strings.Contains(got, want) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: %s shows %q, want %q", what, sel, got, want)
	}

	// A kiosk comes online.
	const dev = "kiosk-page-1"
	row := `[data-device="` + dev + `"] `
	mc, err := mqtt.New(mqtt.Options{Broker: broker, DeviceID: dev, Prefix: prefix, QoS: 1, Version: "1.0.0",
		CommandSecret: secret, MachineIDPath: "-", TelemetryInterval: 200 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	fps := 9.8
	mc.SetTelemetry(func(tm *mqttapi.Telemetry) {
		tm.Session, tm.LED = "idle", "idle"
		tm.Camera = &mqttapi.CameraTelemetry{FPS: &fps}
		tm.Spool = &mqttapi.SpoolTelemetry{Depth: 0}
	})
	identified := make(chan struct{}, 1)
	mc.HandleCommand(mqttapi.CmdIdentify, func(context.Context, mqttapi.Command) mqttapi.Reply {
		identified <- struct{}{}
		return mqttapi.ResultReply(map[string]any{"effect": "blinking", "duration_ms": 10000})
	})
	mctx, mcancel := context.WithCancel(ctx)
	mdone := make(chan struct{})
	go func() { mc.Run(mctx); close(mdone) }()
	defer func() { mcancel(); <-mdone }()
	defer clearRetained(broker, mc.StatusTopic(), mc.TelemetryTopic())

	waitText("online", row+`[data-field=status]`, "online")
	waitText("telemetry", row+`[data-field=telemetry]`, "camera 9.8 fps")

	// A session progresses.
	for i, st := range []string{"capturing", "uploading", "processing", "verified"} {
		mc.Publish(uplink.Event{SessionID: "s1", CorrelationID: "corr-page", State: st, Attempt: 1})
		waitText("event "+st, row+`[data-field=last-event]`, st)
		if i == 1 {
			shot(t, bctx, "fleet-page-session.png")
		}
	}

	// Identify from the page: the server signs, the kiosk answers.
	// The page re-renders a row on every telemetry message, so the button is
	// found and clicked in one script rather than by node id, which a
	// re-render between the two steps would invalidate.
	click := `(() => { const b = document.querySelector(` + jsString(row+`[data-action=identify]`) + `); if (!b) return false; b.click(); return true; })()`
	if ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](click)); err != nil || !ok {
		t.Fatalf("identify button: clicked=%v err=%v", ok, err)
	}
	select {
	case <-identified:
	case <-time.After(time.Minute):
		t.Fatal("the identify button did not reach the kiosk")
	}
	waitText("identify reply", row+`[data-field=last-reply]`, "identify ok")

	// The kiosk stops: offline, with the time since.
	mcancel()
	<-mdone
	waitText("offline", row+`[data-field=status]`, "offline")
	waitText("offline since", row+`[data-field=offline-since]`, "offline since")
	shot(t, bctx, "fleet-page-offline.png")
}

// shot saves a full-page screenshot as a test artefact and logs its path.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", "$", `\$`)
	return "`" + r.Replace(s) + "`"
}

// clearRetained removes retained messages so a real broker stays clean.
func clearRetained(broker string, topics ...string) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("fvclear-" + time.Now().Format("150405.000000000")))
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		for _, topic := range topics {
			c.Publish(topic, 1, true, []byte{}).WaitTimeout(5 * time.Second)
		}
		c.Disconnect(100)
	}
}
