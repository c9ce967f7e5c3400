package rpcserver

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
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

// TestFailingCastsLimited: a method's failing casts are logged once per
// interval, and the next line counts those left out.
func TestFailingCastsLimited(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	now := time.Unix(1000, 0)
	lim := &limiter{every: time.Second, now: func() time.Time { return now }, last: make(map[string]limited)}
	in := logErrors(l, lim)
	fail := func(method string) {
		_, _ = in(context.Background(), &dispatcher.Request{Method: method, Cast: true},
			func(context.Context, *dispatcher.Request) (any, error) { return nil, errors.New("disk full") })
	}
	for range 100 {
		fail("a")
	}
	fail("b")
	now = now.Add(time.Second)
	fail("a")
	want := `level=WARN msg="rpcserver: cast failed" method=a error="disk full" suppressed=0
level=WARN msg="rpcserver: cast failed" method=b error="disk full" suppressed=0
level=WARN msg="rpcserver: cast failed" method=a error="disk full" suppressed=99
`
	if buf.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", buf.String(), want)
	}
}
