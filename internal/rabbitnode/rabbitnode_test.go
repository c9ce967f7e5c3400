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
// line end), waits while it is empty, and gives up at its ctx's end on a
// file that is missing, empty or not a pid.
func TestReadPID(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pid")
	within := func(d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		t.Cleanup(cancel)
		return ctx
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The VM fills the file while readPID polls it.
	read := make(chan int, 1)
	go func() {
		pid, _ := readPID(within(10*time.Second), file)
		read <- pid
	}()
	if err := os.WriteFile(file, []byte("3700"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pid := <-read; pid != 3700 {
		t.Errorf("readPID of a file written while it waited = %d, want 3700", pid)
	}
	for _, content := range []string{"", "garbage", "-1"} {
		if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if pid, err := readPID(within(200*time.Millisecond), file); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("readPID of %q = %d, %v; want its ctx's end", content, pid, err)
		}
	}
	if pid, err := readPID(within(200*time.Millisecond), filepath.Join(t.TempDir(), "none")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("readPID of a missing file = %d, %v; want its ctx's end", pid, err)
	}
}
