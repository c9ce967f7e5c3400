package rabbitnode

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReserve reserves the two last ports of the chaos tests' range,
// which their runs (three nodes at most at a time) leave alone.
func TestReserve(t *testing.T) {
	const first, last, offset = 5718, 5719, 20000
	a, err := Reserve(first, last, offset)
	if err != nil {
		t.Fatalf("Reserve = %v", err)
	}
	b, err := Reserve(first, last, offset)
	if err != nil {
		t.Fatalf("second Reserve = %v", err)
	}
	defer b.Release()
	if a.Port == b.Port || a.DistPort != a.Port+offset || b.DistPort != b.Port+offset {
		t.Fatalf("Reserve gave ports %d/%d and %d/%d, want two different ports with their distribution ports %d above", a.Port, a.DistPort, b.Port, b.DistPort, offset)
	}
	if c, err := Reserve(first, last, offset); !errors.Is(err, ErrNoFreePort) {
		t.Fatalf("Reserve with the range held = %v, %v, want ErrNoFreePort", c, err)
	}
	a.Release()
	c, err := Reserve(first, last, offset)
	if err != nil {
		t.Fatalf("Reserve after Release = %v", err)
	}
	defer c.Release()
	if c.Port != a.Port {
		t.Errorf("Reserve after Release gave port %d, want the released %d", c.Port, a.Port)
	}
}

// TestReadPID reads the pid file as the VM writes it (a number without a
// line end), and gives up on a file that is missing, empty or not a pid.
func TestReadPID(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	file := filepath.Join(dir, "pid")
	if err := os.WriteFile(file, []byte("3700"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid, err := readPID(ctx, file, 10*time.Second); pid != 3700 || err != nil {
		t.Errorf("readPID of %q = %d, %v; want 3700", "3700", pid, err)
	}
	for _, content := range []string{"", "garbage", "-1"} {
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if pid, err := readPID(ctx, file, 200*time.Millisecond); err == nil {
			t.Errorf("readPID of %q = %d, want an error", content, pid)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := readPID(cctx, filepath.Join(dir, "none"), time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("readPID of a missing file with an ended ctx = %v, want context.Canceled", err)
	}
}
