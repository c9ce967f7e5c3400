package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReadmeQuickStart: the README's quick start is this program, byte for
// byte, so what the README shows compiles and runs.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Quick start\n")
	if !ok {
		t.Fatal("README.md has no \"## Quick start\" section")
	}
	_, block, ok := strings.Cut(section, "```go\n")
	if !ok {
		t.Fatal("the README's quick start has no ```go block")
	}
	block, _, ok = strings.Cut(block, "```\n")
	if !ok {
		t.Fatal("the README's quick start block does not end")
	}
	if block != string(src) {
		t.Errorf("the README's quick start differs from examples/quickstart/main.go; copy main.go into README.md\n%s", firstDifference(block, string(src)))
	}
}

// firstDifference describes the first line where a and b differ.
func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\nREADME:  %s\nmain.go: %s", i+1, x, y)
		}
	}
	return ""
}

// TestRunOnMemory runs the quick start on memory:// and checks what it
// prints.
func TestRunOnMemory(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "memory://")
	out := captureStdout(t, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := run(ctx); err != nil {
			t.Errorf("run = %v", err)
		}
	})
	want := "200 / 100 = 2\n1 / 0: InvalidOperation invalid operation\n"
	if out != want {
		t.Errorf("quickstart printed %q, want %q", out, want)
	}
}

// TestRunWithoutURL: without WARREN_TRANSPORT_URL the quick start stops
// with an error that says what to set.
func TestRunWithoutURL(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	err := run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "WARREN_TRANSPORT_URL") || !strings.Contains(err.Error(), "memory://") {
		t.Errorf("run without WARREN_TRANSPORT_URL = %v, want an error naming the variable and memory://", err)
	}
}

// captureStdout returns what f printed on os.Stdout.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	defer func() { os.Stdout = stdout }()
	f()
	w.Close()
	return string(<-done)
}
