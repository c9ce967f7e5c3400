package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// watcher is an io.Writer that signals when what was written contains want.
type watcher struct {
	want string
	seen chan struct{}
	once sync.Once

	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *watcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *watcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestSampleOnMemory: the sample's last event is booked, and the totals
// printed at the end are the sample's.
func TestSampleOnMemory(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	// vm3 is the sample's last instance; its power_on.end is the last event.
	stdout := &watcher{want: "compute.instance.power_on.end vm3", seen: make(chan struct{})}
	var stderr bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- run(ctx, nil, stdout, &stderr) }()
	select {
	case <-stdout.seen:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("the sample's last event was not booked; output:\n%s", stdout.String())
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("run = %d, stderr:\n%s", c, stderr.String())
	}
	out := stdout.String()
	// vm1 (m1.small) and vm3 (m1.large) belong to demo, vm2 (m1.medium) to admin.
	for _, want := range []string{
		"demo: 2 instances, 5 vCPUs, 10240 MB",
		"admin: 1 instances, 2 vCPUs, 4096 MB",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
