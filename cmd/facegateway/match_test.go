package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faceverify/faceverify/inference"
	"github.com/faceverify/faceverify/inference/inferencetest"
)

func TestMatchFiles(t *testing.T) {
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.png")
	os.WriteFile(good, buf.Bytes(), 0o644)
	bad := filepath.Join(dir, "bad.jpg")
	os.WriteFile(bad, []byte("\xff\xd8 truncated"), 0o644)
	fake := inferencetest.Fake{Fn: func(_ context.Context, img image.Image, o inference.Options) (inference.Analysis, error) {
		return inferencetest.OneFace(8, 8, 0.9, []float32{1, 2, 3}, o), nil
	}}
	cfg := inference.DefaultConfig()
	ctx := context.Background()

	var out, errw bytes.Buffer
	if code := matchFiles(ctx, fake, cfg, good, good, true, &out, &errw); code != 0 {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	var res struct {
		Similarity float64 `json:"similarity"`
		Threshold  float64 `json:"threshold"`
		Match      bool    `json:"match"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || !res.Match || res.Similarity != 1 || res.Threshold != cfg.MatchThreshold {
		t.Errorf("output %s: %+v %v", out.String(), res, err)
	}

	out.Reset()
	if code := matchFiles(ctx, fake, cfg, good, bad, true, &out, &errw); code != 1 {
		t.Errorf("unreadable image: exit %d, want 1", code)
	}
	if !strings.Contains(out.String(), `"reason":"DECODE_ERROR"`) || !strings.Contains(out.String(), `"match":false`) {
		t.Errorf("unreadable output %s", out.String())
	}
	out.Reset()
	if code := matchFiles(ctx, fake, cfg, good, good, false, &out, &errw); code != 0 || !strings.Contains(out.String(), "match=true") {
		t.Errorf("human output %q (exit %d)", out.String(), code)
	}
}

func TestMatchMainUsage(t *testing.T) {
	var out, errw bytes.Buffer
	for _, args := range [][]string{{}, {"a.jpg"}, {"a", "b", "c"}, {"--bogus", "a", "b"}, {"a", "b", "--bogus"}, {"a", "--json", "b", "c"}} {
		if code := matchMain(context.Background(), args, &out, &errw); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "bad.toml")
	os.WriteFile(cfgFile, []byte("[inference]\nmatch_threshold = 3\n"), 0o644)
	errw.Reset()
	if code := matchMain(context.Background(), []string{"--config", cfgFile, "a", "b"}, &out, &errw); code != 2 || !strings.Contains(errw.String(), "inference.match_threshold") {
		t.Errorf("bad config: exit %d, %s", code, errw.String())
	}
	// Flags after the images are honoured (the same bad config, given last).
	errw.Reset()
	if code := matchMain(context.Background(), []string{"a", "b", "--json", "--config", cfgFile}, &out, &errw); code != 2 || !strings.Contains(errw.String(), "inference.match_threshold") {
		t.Errorf("--config after the images: exit %d, %s", code, errw.String())
	}
	errw.Reset()
	if code := matchMain(context.Background(), []string{"a", "b", "-h"}, &out, &errw); code != 0 || !strings.Contains(errw.String(), "usage: facegateway match") {
		t.Errorf("-h after the images: exit %d, %s", code, errw.String())
	}
}
