package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/examples/calculator/calc"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRunOnMemoryDriver(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"-timeout", "5s"}, &stdout, &stderr); code != 0 {
		t.Fatalf("run = %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	want := []string{
		`calculator client on the in-process memory driver, with calculator server "local" in this process`,
		"divide(num1=200, num2=100) = 2",
		"divide(num1=1, num2=0) failed as expected: InvalidOperation: invalid operation",
		"add(a=2, b=3) = 5",
		"all 3 answers as expected",
	}
	if got := strings.Split(strings.TrimSpace(stdout.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), strings.Join(want, "\n"))
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr is not empty:\n%s", stderr.String())
	}
}

func TestBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // on stderr
	}{
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined: -bogus"},
		{"bad timeout", []string{"-timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{"zero timeout", []string{"-timeout", "0s"}, "-timeout must be positive"},
		{"extra argument", []string{"now"}, `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr); code != 2 {
				t.Errorf("run(%q) = %d, want 2", tt.args, code)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("run(%q) stderr lacks %q:\n%s", tt.args, tt.want, stderr.String())
			}
		})
	}
}

func TestBadTransportURL(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "http://example.com/")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), nil, &stdout, &stderr); code != 1 {
		t.Errorf("run = %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "client: WARREN_TRANSPORT_URL: ") {
		t.Errorf("stderr does not name the bad URL:\n%s", stderr.String())
	}
}

func TestChecksReportUnexpectedAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := memory.New()
	defer tr.Close()
	stop, err := startServer(ctx, tr, "local")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c := rpcclient.New(tr, target.Target{Topic: calc.Topic})

	tests := []struct {
		name  string
		check func(w io.Writer) bool
		want  bool
		out   string
	}{
		{"value as expected", func(w io.Writer) bool {
			return callValue(ctx, w, c, "add", "a=2, b=3", map[string]any{"a": 2, "b": 3}, 5)
		}, true, "add(a=2, b=3) = 5\n"},
		{"wrong value", func(w io.Writer) bool {
			return callValue(ctx, w, c, "add", "a=2, b=3", map[string]any{"a": 2, "b": 3}, 6)
		}, false, "add(a=2, b=3) = 5, want 6\n"},
		{"error instead of value", func(w io.Writer) bool {
			return callValue(ctx, w, c, "divide", "num1=1, num2=0", map[string]any{"num1": 1, "num2": 0}, 1)
		}, false, "divide(num1=1, num2=0) failed: rpcclient: call divide: remote InvalidOperation: invalid operation (want 1)\n"},
		{"remote error as expected", func(w io.Writer) bool {
			return callRemoteError(ctx, w, c, "divide", "num1=1, num2=0", map[string]any{"num1": 1, "num2": 0}, "InvalidOperation", "invalid operation")
		}, true, "divide(num1=1, num2=0) failed as expected: InvalidOperation: invalid operation\n"},
		{"value instead of remote error", func(w io.Writer) bool {
			return callRemoteError(ctx, w, c, "divide", "num1=1", map[string]any{"num1": 1}, "InvalidOperation", "invalid operation")
		}, false, "divide(num1=1) = 1, want the remote error InvalidOperation: invalid operation\n"},
		{"other remote error", func(w io.Writer) bool {
			return callRemoteError(ctx, w, c, "divide", "num2=0", map[string]any{"num2": 0}, "InvalidOperation", "invalid operation")
		}, false, "divide(num2=0) failed with the remote error TypeError: divide() missing 1 required positional argument: 'num1', want InvalidOperation: invalid operation\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if got := tt.check(&out); got != tt.want || out.String() != tt.out {
				t.Errorf("check = %t, printed %q; want %t, %q", got, out.String(), tt.want, tt.out)
			}
		})
	}
}
