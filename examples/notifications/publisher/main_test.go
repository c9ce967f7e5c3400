package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPublishOnMemory(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-instances", "2"}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	if n := strings.Count(out, "msg=oslo.messaging.notification.compute.instance."); n != 8 {
		t.Errorf("logged %d notifications, want 8:\n%s", n, out)
	}
	if !strings.Contains(out, "sent 8 notifications") {
		t.Errorf("output lacks the summary:\n%s", out)
	}
}

func TestBadArguments(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-instances", "0"}, &stdout, &stderr); code != 2 {
		t.Errorf("run(-instances 0) = %d, want 2", code)
	}
}
