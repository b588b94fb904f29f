package models

import "testing"

func TestEveryModelHasSettings(t *testing.T) {
	m, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"fr_detect.onnx", "fr_liveness.onnx", "fr_landmark.onnx", "fr_feature.onnx"} {
		s, err := m.SettingsFor(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if s.Input == "" || len(s.Outputs) == 0 || s.Width <= 0 || s.Height <= 0 || s.Scale == 0 || s.Why == "" {
			t.Errorf("%s: incomplete settings %+v", f, s)
		}
		switch s.ChannelOrder {
		case "RGB", "BGR", "GRAY":
		default:
			t.Errorf("%s: channel_order %q", f, s.ChannelOrder)
		}
	}
	if _, err := m.SettingsFor("LICENSE.faceplugin"); err == nil {
		t.Error("licence file: want no settings")
	}
	if _, err := m.SettingsFor("nope.onnx"); err == nil {
		t.Error("unknown file: want error")
	}
}
