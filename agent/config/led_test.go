package config

import (
	"strings"
	"testing"
)

func TestLEDConfigValidate(t *testing.T) {
	cases := []struct {
		name    string
		toml    string
		wantErr string // "" = valid
	}{
		{"default log", "", ""},
		{"gpio green and red", "[led]\ndriver = \"gpio\"\ngreen = \"GPIO5\"\nred = \"GPIO6\"\n", ""},
		{"gpio with blue active low", "[led]\ndriver = \"gpio\"\nblue = \"GPIO22\"\nactive_low = true\n", ""},
		{"unknown driver", "[led]\ndriver = \"pwm\"\n", `led.driver: must be "log" or "gpio", got "pwm"`},
		{"gpio without green", "[led]\ndriver = \"gpio\"\ngreen = \"\"\n", "led.green: must name a GPIO line"},
		{"gpio without red", "[led]\ndriver = \"gpio\"\nred = \"\"\n", "led.red: must name a GPIO line"},
		{"same line twice", "[led]\ndriver = \"gpio\"\nblue = \"GPIO17\"\n", `led.blue: line "GPIO17" is already used by led.green`},
		{"name too long", "[led]\ndriver = \"gpio\"\nred = \"" + strings.Repeat("x", 32) + "\"\n", "led.red: a GPIO line name has at most 31 bytes"},
		{"unknown key", "[led]\nyellow = \"GPIO4\"\n", "unknown key led.yellow"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Decode("[device]\nid = \"k1\"\n" + tc.toml)
			if err == nil {
				err = cfg.Validate()
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}
