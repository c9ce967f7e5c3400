package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCountOnMemory: on the memory driver the listener prints the sample
// it publishes and exits after -count lines.
func TestCountOnMemory(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-count", "3", "-event", `compute\.instance\.create\.`}, &stdout, &stderr)
	if code != 0 || ctx.Err() != nil {
		t.Fatalf("run = %d (ctx %v), stderr:\n%s", code, ctx.Err(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("printed %d lines, want 3:\n%s", len(lines), stdout.String())
	}
	for _, l := range lines {
		var got line
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if !strings.HasPrefix(got.EventType, "compute.instance.create.") || got.Priority != "info" || got.PublisherID != "nova-compute:demo" {
			t.Errorf("line %+v", got)
		}
	}
}

func TestBadPriority(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-priority", "info,loud"}, &stdout, &stderr); code != 2 {
		t.Errorf("run(-priority info,loud) = %d, want 2", code)
	}
}
