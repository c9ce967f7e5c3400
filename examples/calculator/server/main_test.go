package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/examples/calculator/calc"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// watcher is an io.Writer that signals when what was written contains want.
type watcher struct {
	want string
	seen chan struct{}

	mu   sync.Mutex
	buf  bytes.Buffer
	once sync.Once
}

func newWatcher(want string) *watcher { return &watcher{want: want, seen: make(chan struct{})} }

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

func TestServeUntilCancelled(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout, stderr := newWatcher("serving"), newWatcher("")
	code := make(chan int, 1)
	go func() { code <- run(ctx, []string{"-server", "calc-test"}, stdout, stderr) }()

	select {
	case <-stdout.seen:
	case c := <-code:
		t.Fatalf("run returned %d before serving; stderr:\n%s", c, stderr)
	case <-time.After(10 * time.Second):
		t.Fatalf("run did not start serving within 10s; stdout:\n%s", stdout)
	}
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("run = %d after cancel, want 0; stderr:\n%s", c, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10s of cancel")
	}
	out := stdout.String()
	for _, want := range []string{`calculator server "calc-test" serving topic "calculator" on the in-process memory driver`, "stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "WARREN_TRANSPORT_URL is not set") {
		t.Errorf("stderr lacks the memory driver warning:\n%s", stderr)
	}
}

func TestBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // on stderr
	}{
		{"unknown flag", []string{"-bogus"}, "flag provided but not defined: -bogus"},
		{"extra argument", []string{"now"}, `unexpected argument "now"`},
		{"empty name", []string{"-server", ""}, "-server must not be empty"},
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

func TestServerLogsRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := memory.New()
	defer tr.Close()
	logs := newWatcher("")
	srv, err := newServer(tr, "calc-log", slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()

	c := rpcclient.New(tr, target.Target{Topic: calc.Topic})
	var q float64
	if err := c.Call(ctx, "divide", map[string]any{"num1": 6, "num2": 3}, &q); err != nil || q != 2 {
		t.Errorf("divide(6, 3) = %v, %v; want 2, nil", q, err)
	}
	if err := c.Call(ctx, "divide", map[string]any{"num1": 6, "num2": 0}, nil); err == nil {
		t.Error("divide(6, 0) succeeded, want an error")
	}
	info, err := rpcclient.Call[rpcserver.ServerInfo](ctx, c, rpcserver.InfoMethod, nil)
	if err != nil || info.Server != "calc-log" || info.Requests != 3 || len(info.Endpoints) == 0 {
		t.Errorf("%s = %+v, %v; want server calc-log after 3 requests", rpcserver.InfoMethod, info, err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := <-served; !errors.Is(err, rpcserver.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	for _, want := range []string{
		`msg=handled method=divide args="{\"num1\":6,\"num2\":3}" result=2`,
		`msg=handled method=divide args="{\"num1\":6,\"num2\":0}" error="invalid operation"`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}
