package rpcserver

import (
	"testing"
	"time"
)

func TestHeartbeatInterval(t *testing.T) {
	tests := []struct {
		callMonitor, want time.Duration
	}{
		{0, 0},
		{time.Second, 0},
		{1900 * time.Millisecond, 0},
		{2 * time.Second, time.Second},
		{2500 * time.Millisecond, time.Second},
		{3 * time.Second, 1500 * time.Millisecond},
		{60 * time.Second, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := heartbeatInterval(tt.callMonitor); got != tt.want {
			t.Errorf("heartbeatInterval(%v) = %v, want %v", tt.callMonitor, got, tt.want)
		}
	}
}
