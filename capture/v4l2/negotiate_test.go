package v4l2

import (
	"errors"
	"testing"
)

func TestParseFourCC(t *testing.T) {
	tests := []struct {
		in      string
		want    FourCC
		wantErr bool
	}{
		{"MJPG", MJPG, false},
		{"mjpeg", MJPG, false},
		{" yuyv ", YUYV, false},
		{"RGB3", 'R' | 'G'<<8 | 'B'<<16 | '3'<<24, false},
		{"YUV", 0, true},
		{"", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFourCC(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParseFourCC(%q) = %v, %v; want %v, err %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
	if MJPG.String() != "MJPG" || YUYV.String() != "YUYV" || FourCC(0x01020304).String() != "????" {
		t.Fatalf("String: %q %q %q", MJPG, YUYV, FourCC(0x01020304))
	}
}

func TestNegotiate(t *testing.T) {
	uvc := []Advertised{
		{FourCC: YUYV, Sizes: []SizeRange{Discrete(640, 480), Discrete(1280, 720), Discrete(320, 240)}},
		{FourCC: MJPG, Sizes: []SizeRange{Discrete(1920, 1080), Discrete(1280, 720), Discrete(640, 480)}},
	}
	vivid := []Advertised{
		{FourCC: YUYV, Sizes: []SizeRange{Discrete(320, 180), Discrete(640, 360), Discrete(640, 480), Discrete(1280, 720), Discrete(1920, 1080), Discrete(3840, 2160)}},
		{FourCC: 'U' | 'Y'<<8 | 'V'<<16 | 'Y'<<24, Sizes: []SizeRange{Discrete(640, 480)}},
	}
	stepwise := []Advertised{
		{FourCC: YUYV, Sizes: []SizeRange{{MinW: 16, MaxW: 1920, StepW: 16, MinH: 16, MaxH: 1080, StepH: 8}}},
	}
	tests := []struct {
		name    string
		adv     []Advertised
		req     Request
		want    Choice
		wantErr error
	}{
		{"MJPG first, exact size", uvc, Request{Formats: []FourCC{MJPG, YUYV}, Width: 1280, Height: 720}, Choice{MJPG, 1280, 720}, nil},
		{"configured order wins", uvc, Request{Formats: []FourCC{YUYV, MJPG}, Width: 1280, Height: 720}, Choice{YUYV, 1280, 720}, nil},
		{"closest size", uvc, Request{Formats: []FourCC{MJPG}, Width: 800, Height: 600}, Choice{MJPG, 640, 480}, nil},
		{"larger than any: largest", uvc, Request{Formats: []FourCC{YUYV}, Width: 4000, Height: 3000}, Choice{YUYV, 1280, 720}, nil},
		{"vivid falls back to YUYV", vivid, Request{Formats: []FourCC{MJPG, YUYV}, Width: 640, Height: 480}, Choice{YUYV, 640, 480}, nil},
		{"vivid 4K", vivid, Request{Formats: []FourCC{MJPG, YUYV}, Width: 3840, Height: 2160}, Choice{YUYV, 3840, 2160}, nil},
		{"tie goes to the larger area", []Advertised{{FourCC: YUYV, Sizes: []SizeRange{Discrete(600, 480), Discrete(680, 480)}}},
			Request{Formats: []FourCC{YUYV}, Width: 640, Height: 480}, Choice{YUYV, 680, 480}, nil},
		{"stepwise snaps to the step", stepwise, Request{Formats: []FourCC{YUYV}, Width: 641, Height: 479}, Choice{YUYV, 640, 480}, nil},
		{"stepwise clamps", stepwise, Request{Formats: []FourCC{YUYV}, Width: 4000, Height: 8}, Choice{YUYV, 1920, 16}, nil},
		{"no sizes: as requested", []Advertised{{FourCC: MJPG}}, Request{Formats: []FourCC{MJPG}, Width: 800, Height: 600}, Choice{MJPG, 800, 600}, nil},
		{"malformed size entry ignored", []Advertised{{FourCC: MJPG, Sizes: []SizeRange{{}, Discrete(320, 240)}}},
			Request{Formats: []FourCC{MJPG}, Width: 640, Height: 480}, Choice{MJPG, 320, 240}, nil},
		{"nothing requested offered", vivid, Request{Formats: []FourCC{MJPG}, Width: 640, Height: 480}, Choice{}, ErrNoFormat},
		{"undecodable format never chosen", vivid, Request{Formats: []FourCC{'U' | 'Y'<<8 | 'V'<<16 | 'Y'<<24}, Width: 640, Height: 480}, Choice{}, ErrNoFormat},
		{"empty device", nil, Request{Formats: []FourCC{MJPG, YUYV}, Width: 640, Height: 480}, Choice{}, ErrNoFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Negotiate(tc.adv, tc.req)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("Negotiate = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestChooseFPS(t *testing.T) {
	d := func(num, den uint32) Interval { return Interval{MinNum: num, MinDen: den, MaxNum: num, MaxDen: den} }
	// vivid's webcam intervals at 640x480.
	vivid := []Interval{d(1, 60), d(1, 50), d(1, 40), d(1, 30), d(1, 25), d(1, 15), d(2, 25), d(1, 10), d(1, 5), d(1, 4), d(1, 2), d(1, 1)}
	tests := []struct {
		name string
		ivs  []Interval
		ask  float64
		want float64
	}{
		{"exact", vivid, 25, 25},
		{"between picks nearest", vivid, 27, 25},
		{"between ties to higher", vivid, 27.5, 30},
		{"above all", vivid, 120, 60},
		{"below all", vivid, 0.5, 1},
		{"fractional", vivid, 12, 12.5},
		{"stepwise range", []Interval{{MinNum: 1, MinDen: 30, MaxNum: 1, MaxDen: 1}}, 24, 24},
		{"stepwise clamps", []Interval{{MinNum: 1, MinDen: 30, MaxNum: 1, MaxDen: 5}}, 60, 30},
		{"nothing advertised: as asked", nil, 24, 24},
		{"malformed ignored", []Interval{{}, d(1, 15)}, 30, 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if g := ChooseFPS(tc.ivs, tc.ask); g != tc.want {
				t.Fatalf("ChooseFPS(%v) = %v, want %v", tc.ask, g, tc.want)
			}
		})
	}
}
