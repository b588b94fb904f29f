package main

import (
	"runtime"
	"testing"
)

func TestGatewayThreads(t *testing.T) {
	cores := runtime.GOMAXPROCS(0)
	tests := []struct {
		name                string
		configured, workers int
		want                int
	}{
		{"configured wins", 3, 2, 3},
		{"one worker takes every core", 0, 1, cores},
		{"more workers than cores: one thread each", 0, cores + 1, 1},
		{"shared evenly", 0, 2, max(1, cores/2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gatewayThreads(tt.configured, tt.workers); got != tt.want {
				t.Errorf("gatewayThreads(%d, %d) = %d, want %d", tt.configured, tt.workers, got, tt.want)
			}
		})
	}
}
