package rpcserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitLimit bounds every wait for an event in these tests.
const waitLimit = 10 * time.Second

var srvTarget = target.Target{Topic: "calc", Server: "host-1"}

// spyTransport wraps a transport to let tests watch the server's use of
// its listener: when it stops consuming, which heartbeats it sends, and to
// change the requests it receives.
type spyTransport struct {
	transport.Transport

	stopped    chan struct{} // closed at the first Listener.Stop
	stopOnce   sync.Once
	heartbeats atomic.Int64  // heartbeats sent
	beats      chan struct{} // one per heartbeat, while it has room
	// deadline, when set, gives the deadline the server sees for each
	// request; zero keeps the transport's.
	deadline func(*message.Request) time.Time
}

func newSpy(tr transport.Transport) *spyTransport {
	return &spyTransport{Transport: tr, stopped: make(chan struct{}), beats: make(chan struct{}, 100)}
}

func (s *spyTransport) Listen(ctx context.Context, tgt target.Target) (transport.Listener, error) {
	l, err := s.Transport.Listen(ctx, tgt)
	if err != nil {
		return nil, err
	}
	return &spyListener{Listener: l, spy: s}, nil
}

type spyListener struct {
	transport.Listener
	spy *spyTransport
}

func (l *spyListener) Next(ctx context.Context) (transport.Incoming, error) {
	in, err := l.Listener.Next(ctx)
	if err != nil {
		return nil, err
	}
	return &spyIncoming{Incoming: in, spy: l.spy, req: in.Request()}, nil
}

func (l *spyListener) Stop() error {
	l.spy.stopOnce.Do(func() { close(l.spy.stopped) })
	return l.Listener.Stop()
}

type spyIncoming struct {
	transport.Incoming
	spy *spyTransport
	req *message.Request
}

func (in *spyIncoming) Request() *message.Request { return in.req }

func (in *spyIncoming) Deadline() time.Time {
	if in.spy.deadline != nil {
		if d := in.spy.deadline(in.req); !d.IsZero() {
			return d
		}
	}
	return in.Incoming.Deadline()
}

func (in *spyIncoming) Heartbeat(ctx context.Context) error {
	in.spy.heartbeats.Add(1)
	select {
	case in.spy.beats <- struct{}{}:
	default:
	}
	return in.Incoming.Heartbeat(ctx)
}

// pair returns a server transport (wrapped in a spy) and a client
// transport on one new bus, both closed when the test ends.
func pair(t *testing.T) (*spyTransport, *memory.Transport) {
	t.Helper()
	st, ct := pairWith(t)
	return newSpy(st), ct
}

// pairWith returns a server's transport, made with opts, and a client's,
// on a bus of their own, closed when the test ends.
func pairWith(t *testing.T, opts ...memory.Option) (st, ct *memory.Transport) {
	t.Helper()
	bus := memory.NewBus()
	st = memory.New(append([]memory.Option{memory.OnBus(bus)}, opts...)...)
	ct = memory.New(memory.OnBus(bus))
	t.Cleanup(func() {
		st.Close()
		ct.Close()
	})
	return st, ct
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// receive waits for a value from ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// logBuffer collects what a server logs.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // signalled after each write; made by logger
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.changed <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

// waitFor waits until the log holds s.
func (b *logBuffer) waitFor(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(waitLimit)
	for !strings.Contains(b.String(), s) {
		select {
		case <-b.changed:
		case <-timeout:
			t.Fatalf("the server did not log %q:\n%s", s, b.String())
		}
	}
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	b.changed = make(chan struct{}, 1)
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// served is a server serving in the background of a test, closed when the
// test ends.
type served struct {
	*rpcserver.Server
	errc chan error // Serve's result, put back by each wait
}

// start listens, then serves eps as tgt on tr in the background. When the
// test ends the server is closed and Serve must have returned
// ErrServerClosed.
func start(t *testing.T, tr transport.Transport, tgt target.Target, eps []*endpoints.Endpoint, opts ...rpcserver.Option) *served {
	t.Helper()
	d, err := dispatcher.New(eps)
	if err != nil {
		t.Fatalf("dispatcher.New: %v", err)
	}
	s := &served{Server: rpcserver.New(tr, tgt, d, opts...), errc: make(chan error, 1)}
	if err := s.Listen(t.Context()); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	go func() { s.errc <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		if err := s.wait(t); !errors.Is(err, rpcserver.ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	return s
}

// wait returns what the background Serve returned.
func (s *served) wait(t *testing.T) error {
	t.Helper()
	err := receive(t, s.errc, "Serve to return")
	s.errc <- err
	return err
}

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

func TestCallAndCast(t *testing.T) {
	st, ct := pair(t)
	casts := make(chan addArgs, 1)
	e := endpoints.New(endpoints.Version("1.1"))
	endpoints.Register(e, "add", func(_ context.Context, a addArgs) (int, error) { return a.A + a.B, nil })
	endpoints.Register(e, "note", func(_ context.Context, a addArgs) (*int, error) {
		casts <- a
		return nil, nil
	})
	endpoints.Register(e, "fail", func(context.Context, struct{}) (int, error) {
		return 0, errors.New("disk full")
	})
	start(t, st, srvTarget, []*endpoints.Endpoint{e})
	c := rpcclient.New(ct, target.Target{Topic: "calc"})

	var sum int
	if err := c.Call(t.Context(), "add", addArgs{A: 20, B: 22}, &sum); err != nil || sum != 42 {
		t.Errorf("add(20, 22) = %d, %v; want 42, nil", sum, err)
	}
	if err := c.Cast(t.Context(), "note", addArgs{A: 1, B: 2}); err != nil {
		t.Fatalf("Cast: %v", err)
	}
	if got := receive(t, casts, "the cast"); got != (addArgs{A: 1, B: 2}) {
		t.Errorf("cast note(1, 2) reached the handler as %+v", got)
	}
	var re *rpcerr.RemoteError
	if err := c.Call(t.Context(), "fail", nil, nil); !errors.As(err, &re) ||
		re.Class != "RuntimeError" || re.Module != "builtins" || re.Message != "disk full" {
		t.Errorf("fail() = %v, want a remote builtins.RuntimeError \"disk full\"", err)
	}
	var ping string
	if err := c.Call(t.Context(), "oslo_rpc_server_ping", nil, &ping); err != nil || ping != "pong" {
		t.Errorf("oslo_rpc_server_ping() = %q, %v; want pong, nil", ping, err)
	}
}

func TestHandlerContext(t *testing.T) {
	st, ct := pair(t)
	type seen struct {
		deadline time.Time
		ok       bool
		user     any
	}
	got := make(chan seen, 1)
	e := endpoints.New()
	endpoints.Register(e, "look", func(ctx context.Context, _ struct{}) (*int, error) {
		d, ok := ctx.Deadline()
		got <- seen{deadline: d, ok: ok, user: endpoints.RequestContext(ctx)["user"]}
		return nil, nil
	})
	start(t, st, srvTarget, []*endpoints.Endpoint{e})
	c := rpcclient.New(ct, target.Target{Topic: "calc"}, rpcclient.RequestContext(map[string]any{"user": "u1"}))

	ctx := withTimeout(t, time.Minute)
	want, _ := ctx.Deadline()
	if err := c.Call(ctx, "look", nil, nil); err != nil {
		t.Fatalf("look(): %v", err)
	}
	s := receive(t, got, "the call")
	if !s.ok || s.deadline.Sub(want).Abs() > time.Millisecond {
		t.Errorf("handler deadline %v (set %v), want the caller's %v", s.deadline, s.ok, want)
	}
	if s.user != "u1" {
		t.Errorf("handler request context user = %v, want u1", s.user)
	}

	if err := c.Cast(t.Context(), "look", nil); err != nil {
		t.Fatalf("Cast: %v", err)
	}
	if s := receive(t, got, "the cast"); s.ok {
		t.Errorf("cast handler has deadline %v, want none", s.deadline)
	}
}

func TestPanicRecovered(t *testing.T) {
	st, ct := pair(t)
	var logs logBuffer
	e := endpoints.New()
	endpoints.Register(e, "explode", func(context.Context, struct{}) (int, error) {
		panic("boom")
	})
	endpoints.Register(e, "echo", func(_ context.Context, a addArgs) (int, error) { return a.A, nil })
	start(t, st, srvTarget, []*endpoints.Endpoint{e}, rpcserver.Logger(logs.logger()))
	c := rpcclient.New(ct, target.Target{Topic: "calc"})

	err := c.Call(t.Context(), "explode", nil, nil)
	var re *rpcerr.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("explode() = %v, want a *RemoteError", err)
	}
	if re.Class != "RuntimeError" || re.Module != "builtins" || re.Message != "panic: boom" {
		t.Errorf("explode() = %s.%s %q, want builtins.RuntimeError \"panic: boom\"", re.Module, re.Class, re.Message)
	}
	tb := strings.Join(re.Traceback, "")
	if !strings.Contains(tb, "TestPanicRecovered") || !strings.HasSuffix(tb, "\n") {
		t.Errorf("traceback does not show the panicking handler:\n%s", tb)
	}
	for _, line := range re.Traceback {
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Errorf("traceback entry %q, want one line ending in a newline", line)
			break
		}
	}
	if !strings.Contains(logs.String(), "handler panicked") {
		t.Errorf("server log lacks the panic:\n%s", logs.String())
	}

	// The server keeps serving.
	var n int
	if err := c.Call(t.Context(), "echo", addArgs{A: 7}, &n); err != nil || n != 7 {
		t.Errorf("echo(7) after a panic = %d, %v; want 7, nil", n, err)
	}
	if err := c.Cast(t.Context(), "explode", nil); err != nil {
		t.Fatalf("Cast: %v", err)
	}
	if err := c.Call(t.Context(), "echo", addArgs{A: 8}, &n); err != nil || n != 8 {
		t.Errorf("echo(8) after a panicking cast = %d, %v; want 8, nil", n, err)
	}
}

func TestHandlerErrors(t *testing.T) {
	st, ct := pair(t)
	e := endpoints.New()
	errs := map[string]error{
		"plain":   errors.New("plain failure"),
		"classed": &rpcerr.Error{Class: "NotFound", Module: "inventory.errors", Message: "no such item", Args: []any{"item", 7.0}, Kwargs: map[string]any{"id": 7.0}},
		"wrapped": fmt.Errorf("looking up: %w", rpcerr.NewError("InvalidOperation", "invalid operation")),
		"default": &rpcerr.Error{Message: "unnamed"},
	}
	for name, err := range errs {
		endpoints.Register(e, name, func(context.Context, struct{}) (int, error) { return 0, err })
	}
	start(t, st, srvTarget, []*endpoints.Endpoint{e})
	c := rpcclient.New(ct, target.Target{Topic: "calc"})

	tests := []struct {
		method string
		want   rpcerr.RemoteError
	}{
		{method: "plain", want: rpcerr.RemoteError{Class: "RuntimeError", Module: "builtins", Message: "plain failure",
			Args: []any{"plain failure"}, Kwargs: map[string]any{}}},
		{method: "classed", want: rpcerr.RemoteError{Class: "NotFound", Module: "inventory.errors", Message: "no such item",
			Args: []any{"item", 7.0}, Kwargs: map[string]any{"id": 7.0}}},
		{method: "wrapped", want: rpcerr.RemoteError{Class: "InvalidOperation", Module: "warren", Message: "invalid operation",
			Args: []any{"invalid operation"}, Kwargs: map[string]any{}}},
		{method: "default", want: rpcerr.RemoteError{Class: "Error", Module: "warren", Message: "unnamed",
			Args: []any{"unnamed"}, Kwargs: map[string]any{}}},
		{method: "absent", want: rpcerr.RemoteError{Class: "NoSuchMethod", Module: "oslo_messaging.rpc.dispatcher",
			Message: "Endpoint does not support RPC method absent", Args: []any{"Endpoint does not support RPC method absent"}, Kwargs: map[string]any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			err := c.Call(t.Context(), tt.method, nil, nil)
			var re *rpcerr.RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("%s() = %v, want a *RemoteError", tt.method, err)
			}
			if re.Class != tt.want.Class || re.Module != tt.want.Module || re.Message != tt.want.Message ||
				fmt.Sprint(re.Args) != fmt.Sprint(tt.want.Args) || fmt.Sprint(re.Kwargs) != fmt.Sprint(tt.want.Kwargs) {
				t.Errorf("%s() = %+v, want %+v", tt.method, *re, tt.want)
			}
		})
	}
}

func TestDeadlinePassedNotRun(t *testing.T) {
	t.Parallel()
	t.Run("through the transport", func(t *testing.T) {
		st, ct := pair(t)
		ran := make(chan string, 3)
		release := make(chan struct{})
		e := endpoints.New()
		endpoints.Register(e, "record", func(_ context.Context, a struct{ Name string }) (*int, error) {
			ran <- a.Name
			if a.Name == "busy" {
				<-release
			}
			return nil, nil
		})
		start(t, st, srvTarget, []*endpoints.Endpoint{e}, rpcserver.Workers(1))
		c := rpcclient.New(ct, target.Target{Topic: "calc"})

		// The one worker is busy while the late call's deadline passes.
		if err := c.Cast(t.Context(), "record", map[string]string{"name": "busy"}); err != nil {
			t.Fatalf("Cast: %v", err)
		}
		if got := receive(t, ran, "the busy request"); got != "busy" {
			t.Fatalf("handler ran for %q, want busy", got)
		}
		if err := c.Call(withTimeout(t, 100*time.Millisecond), "record", map[string]string{"name": "late"}, nil); !errors.Is(err, transport.ErrTimeout) {
			t.Errorf("late() = %v, want a timeout", err)
		}
		close(release)
		if err := c.Call(t.Context(), "record", map[string]string{"name": "good"}, nil); err != nil {
			t.Fatalf("good(): %v", err)
		}
		if got := receive(t, ran, "the good request"); got != "good" {
			t.Errorf("handler ran for %q next, want only good", got)
		}
		select {
		case got := <-ran:
			t.Errorf("handler also ran for %q", got)
		default:
		}
	})

	// The transport may hand out a request whose deadline passes before a
	// worker takes it; the server drops it itself.
	t.Run("by the server", func(t *testing.T) {
		st, ct := pair(t)
		st.deadline = func(r *message.Request) time.Time {
			if r.Method == "late" {
				return time.Now().Add(-time.Millisecond)
			}
			return time.Time{}
		}
		var logs logBuffer
		ran := make(chan string, 2)
		e := endpoints.New()
		for _, m := range []string{"late", "good"} {
			endpoints.Register(e, m, func(context.Context, struct{}) (*int, error) {
				ran <- m
				return nil, nil
			})
		}
		start(t, st, srvTarget, []*endpoints.Endpoint{e}, rpcserver.Workers(1), rpcserver.Logger(logs.logger()))
		c := rpcclient.New(ct, target.Target{Topic: "calc"})

		if err := c.Call(withTimeout(t, 500*time.Millisecond), "late", nil, nil); !errors.Is(err, transport.ErrTimeout) {
			t.Errorf("late() = %v, want a timeout: the server must not answer", err)
		}
		if err := c.Call(t.Context(), "good", nil, nil); err != nil {
			t.Fatalf("good(): %v", err)
		}
		if got := receive(t, ran, "the good request"); got != "good" {
			t.Errorf("handler ran for %q, want only good", got)
		}
		select {
		case got := <-ran:
			t.Errorf("handler also ran for %q", got)
		default:
		}
		if !strings.Contains(logs.String(), "deadline has passed") || !strings.Contains(logs.String(), "method=late") {
			t.Errorf("server log lacks the dropped request:\n%s", logs.String())
		}
	})
}

func TestCallMonitorHeartbeats(t *testing.T) {
	t.Parallel()
	st, ct := pair(t)
	e := endpoints.New()
	// long runs until the server has sent three heartbeats, one a second:
	// beyond the caller's 2 s call-monitor interval.
	endpoints.Register(e, "long", func(ctx context.Context, _ struct{}) (string, error) {
		for range 3 {
			select {
			case <-st.beats:
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		return "done", nil
	})
	endpoints.Register(e, "short", func(context.Context, struct{}) (string, error) { return "done", nil })
	start(t, st, srvTarget, []*endpoints.Endpoint{e})
	c := rpcclient.New(ct, target.Target{Topic: "calc"})

	start := time.Now()
	var got string
	if err := c.Prepare(rpcclient.CallMonitor(2*time.Second)).Call(withTimeout(t, 2*waitLimit), "long", nil, &got); err != nil || got != "done" {
		t.Fatalf("long() with a 2 s call monitor = %q, %v; want done, nil", got, err)
	}
	if elapsed := time.Since(start); elapsed < 2*time.Second {
		t.Errorf("long() took %v, want it to outlive the call-monitor interval", elapsed)
	}
	before := st.heartbeats.Load()
	if err := c.Call(t.Context(), "short", nil, &got); err != nil {
		t.Fatalf("short(): %v", err)
	}
	if after := st.heartbeats.Load(); after != before {
		t.Errorf("a call without call monitor got %d heartbeats", after-before)
	}
}

func TestShutdownDrains(t *testing.T) {
	t.Parallel()
	st, ct := pair(t)
	started := make(chan string, 2)
	release := make(chan struct{})
	e := endpoints.New()
	endpoints.Register(e, "slow", func(_ context.Context, a struct{ N int }) (int, error) {
		started <- "slow"
		<-release
		return a.N * 2, nil
	})
	s := start(t, st, srvTarget, []*endpoints.Endpoint{e})
	c := rpcclient.New(ct, target.Target{Topic: "calc"})

	type result struct {
		n   int
		err error
	}
	first := make(chan result, 1)
	go func() {
		var n int
		err := c.Call(withTimeout(t, waitLimit), "slow", struct{ N int }{21}, &n)
		first <- result{n, err}
	}()
	receive(t, started, "the first call to start")

	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(withTimeout(t, waitLimit)) }()
	receive(t, st.stopped, "the listener to stop")

	// A request sent after Shutdown started waits in the queue.
	if err := c.Call(withTimeout(t, 300*time.Millisecond), "slow", struct{ N int }{1}, nil); !errors.Is(err, transport.ErrTimeout) {
		t.Errorf("call after Shutdown = %v, want a timeout", err)
	}
	select {
	case <-started:
		t.Error("the server took a request after Shutdown started")
	case err := <-shutdown:
		t.Errorf("Shutdown = %v before the in-flight handler finished", err)
	default:
	}

	close(release)
	if r := receive(t, first, "the in-flight call"); r.err != nil || r.n != 42 {
		t.Errorf("in-flight slow(21) = %d, %v; want 42, nil", r.n, r.err)
	}
	if err := receive(t, shutdown, "Shutdown"); err != nil {
		t.Errorf("Shutdown = %v, want nil", err)
	}
	if err := s.wait(t); !errors.Is(err, rpcserver.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if err := s.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown = %v, want nil", err)
	}
}

// stuckEndpoint returns an endpoint whose method "stuck" signals started,
// blocks until its ctx ends and sends ctx.Err() on ended.
func stuckEndpoint() (e *endpoints.Endpoint, started chan struct{}, ended chan error) {
	started = make(chan struct{}, 1)
	ended = make(chan error, 1)
	e = endpoints.New()
	endpoints.Register(e, "stuck", func(ctx context.Context, _ struct{}) (int, error) {
		started <- struct{}{}
		<-ctx.Done()
		ended <- ctx.Err()
		return 0, ctx.Err()
	})
	return e, started, ended
}

func TestShutdownTimeout(t *testing.T) {
	t.Parallel()
	st, ct := pair(t)
	e, started, ended := stuckEndpoint()
	s := start(t, st, srvTarget, []*endpoints.Endpoint{e})
	c := rpcclient.New(ct, target.Target{Topic: "calc"})

	call := make(chan error, 1)
	go func() { call <- c.Call(withTimeout(t, waitLimit), "stuck", nil, nil) }()
	receive(t, started, "the call to start")

	if err := s.Shutdown(withTimeout(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown with a handler that does not end = %v, want context.DeadlineExceeded", err)
	}
	// Shutdown then closed the server: the handler's ctx was cancelled and
	// the server released everything.
	if err := receive(t, ended, "the handler to end"); !errors.Is(err, context.Canceled) {
		t.Errorf("handler ctx ended with %v, want context.Canceled", err)
	}
	if err := s.wait(t); !errors.Is(err, rpcserver.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	// Its caller hears of it at once instead of waiting out its deadline.
	if err := receive(t, call, "the call to end"); !errors.Is(err, rpcerr.ErrServerShuttingDown) {
		t.Errorf("call whose handler Close stopped = %v, want ErrServerShuttingDown", err)
	}
}

func TestClose(t *testing.T) {
	st, ct := pair(t)
	e, started, ended := stuckEndpoint()
	s := start(t, st, srvTarget, []*endpoints.Endpoint{e})
	c := rpcclient.New(ct, target.Target{Topic: "calc"})

	if err := c.Cast(t.Context(), "stuck", nil); err != nil {
		t.Fatalf("Cast: %v", err)
	}
	receive(t, started, "the cast to start")
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v, want nil", err)
	}
	// Close returned after the handler did.
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler ctx ended with %v, want context.Canceled", err)
		}
	default:
		t.Error("Close returned before the running handler")
	}
	if err := s.wait(t); !errors.Is(err, rpcserver.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := s.Serve(t.Context()); !errors.Is(err, rpcserver.ErrServerClosed) {
		t.Errorf("Serve after Close = %v, want ErrServerClosed", err)
	}
}

func TestBoundedPool(t *testing.T) {
	const workers, requests = 2, 8
	st, ct := pair(t)
	var active, highWater, done atomic.Int64
	running := make(chan struct{}, requests)
	release := make(chan struct{})
	e := endpoints.New()
	endpoints.Register(e, "work", func(context.Context, struct{}) (*int, error) {
		n := active.Add(1)
		for {
			hw := highWater.Load()
			if n <= hw || highWater.CompareAndSwap(hw, n) {
				break
			}
		}
		running <- struct{}{}
		<-release
		active.Add(-1)
		done.Add(1)
		return nil, nil
	})
	s := start(t, st, srvTarget, []*endpoints.Endpoint{e}, rpcserver.Workers(workers))
	c := rpcclient.New(ct, target.Target{Topic: "calc"})

	for range requests {
		if err := c.Cast(t.Context(), "work", nil); err != nil {
			t.Fatalf("Cast: %v", err)
		}
	}
	// Every request is queued: let the handlers finish one at a time.
	for i := range requests {
		receive(t, running, fmt.Sprintf("handler %d to run", i+1))
		if i >= workers-1 {
			release <- struct{}{}
		}
	}
	for range workers - 1 {
		release <- struct{}{}
	}
	// Shutdown waits for the last handlers.
	if err := s.Shutdown(withTimeout(t, waitLimit)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if hw := highWater.Load(); hw != workers {
		t.Errorf("at most %d handlers ran at once, want %d", hw, workers)
	}
	if n := done.Load(); n != requests {
		t.Errorf("%d handlers ran, want %d", n, requests)
	}
}

// failingTransport fails Listen with listenErr, or hands out a listener
// whose Next fails with nextErr.
type failingTransport struct {
	transport.Transport
	listenErr, nextErr error
	lis                *failingListener
}

func (f *failingTransport) Listen(context.Context, target.Target) (transport.Listener, error) {
	if f.listenErr != nil {
		return nil, f.listenErr
	}
	f.lis = &failingListener{err: f.nextErr}
	return f.lis, nil
}

type failingListener struct {
	err    error
	closed atomic.Bool
}

func (l *failingListener) Next(context.Context) (transport.Incoming, error) { return nil, l.err }
func (l *failingListener) Stop() error                                      { return nil }
func (l *failingListener) Close() error {
	l.closed.Store(true)
	return nil
}

func TestServeErrors(t *testing.T) {
	d, err := dispatcher.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	listenFailure := errors.New("listen refused")
	tests := []struct {
		name   string
		tr     *failingTransport
		tgt    target.Target
		noDisp bool // build the server without a dispatcher
		opts   []rpcserver.Option
		want   error
		closed bool // the listener must have been closed
	}{
		{name: "no dispatcher", tr: &failingTransport{}, tgt: srvTarget, noDisp: true},
		{name: "no server name", tr: &failingTransport{}, tgt: target.Target{Topic: "calc"}, want: target.ErrInvalid},
		{name: "no topic", tr: &failingTransport{}, tgt: target.Target{Server: "host-1"}, want: target.ErrInvalid},
		{name: "listen fails", tr: &failingTransport{listenErr: listenFailure}, tgt: srvTarget, want: listenFailure},
		{name: "negative workers", tr: &failingTransport{}, tgt: srvTarget, opts: []rpcserver.Option{rpcserver.Workers(-1)}},
		{name: "negative grace period", tr: &failingTransport{}, tgt: srvTarget, opts: []rpcserver.Option{rpcserver.GracePeriod(-time.Second)}},
		{name: "nil interceptor", tr: &failingTransport{}, tgt: srvTarget, opts: []rpcserver.Option{rpcserver.Interceptors(nil)}},
		{name: "connection lost", tr: &failingTransport{nextErr: fmt.Errorf("x: %w", transport.ErrConnectionLost)}, tgt: srvTarget,
			want: transport.ErrConnectionLost, closed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disp := d
			if tt.noDisp {
				disp = nil
			}
			err := rpcserver.New(tt.tr, tt.tgt, disp, tt.opts...).Serve(t.Context())
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.HasPrefix(err.Error(), "rpcserver: ") {
				t.Errorf("Serve = %v, want an rpcserver error matching %v", err, tt.want)
			}
			if tt.closed && !tt.tr.lis.closed.Load() {
				t.Error("Serve did not close the listener")
			}
		})
	}
}

// TestServeContextEndsGracefully checks the path from a signal: when
// Serve's ctx ends, a handler that finishes within the grace period replies
// normally, one that does not is cancelled and its caller gets
// ServerShuttingDown, and Serve returns ErrServerClosed.
func TestServeContextEndsGracefully(t *testing.T) {
	st, ct := pair(t)
	release := make(chan struct{})
	quickStarted := make(chan struct{}, 1)
	e, started, ended := stuckEndpoint()
	endpoints.Register(e, "quick", func(context.Context, struct{}) (string, error) {
		quickStarted <- struct{}{}
		<-release
		return "done", nil
	})
	d, err := dispatcher.New([]*endpoints.Endpoint{e})
	if err != nil {
		t.Fatal(err)
	}
	srv := rpcserver.New(st, srvTarget, d, rpcserver.GracePeriod(2*time.Second))
	if err := srv.Listen(t.Context()); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx) }()
	c := rpcclient.New(ct, target.Target{Topic: "calc"})

	type result struct {
		s   string
		err error
	}
	quick, stuck := make(chan result, 1), make(chan error, 1)
	go func() {
		r, err := rpcclient.Call[string](withTimeout(t, waitLimit), c, "quick", nil)
		quick <- result{r, err}
	}()
	go func() { stuck <- c.Call(withTimeout(t, waitLimit), "stuck", nil, nil) }()
	receive(t, quickStarted, "quick to start")
	receive(t, started, "stuck to start")

	cancel()
	receive(t, st.stopped, "the listener to stop")
	close(release)
	if r := receive(t, quick, "the quick call"); r.err != nil || r.s != "done" {
		t.Errorf("quick() during the grace period = %q, %v; want done, nil", r.s, r.err)
	}
	if err := receive(t, ended, "stuck to be cancelled"); !errors.Is(err, context.Canceled) {
		t.Errorf("stuck's ctx ended with %v, want context.Canceled", err)
	}
	err = receive(t, stuck, "the stuck call")
	var re *rpcerr.RemoteError
	if !errors.Is(err, rpcerr.ErrServerShuttingDown) || !errors.As(err, &re) || re.Class != "ServerShuttingDown" {
		t.Errorf("stuck() past the grace period = %v, want a ServerShuttingDown failure", err)
	}
	if err := receive(t, errc, "Serve to return"); !errors.Is(err, rpcserver.ErrServerClosed) {
		t.Errorf("Serve after its ctx ended = %v, want ErrServerClosed", err)
	}
	if err := srv.Serve(t.Context()); !errors.Is(err, rpcserver.ErrServerClosed) {
		t.Errorf("Serve again = %v, want ErrServerClosed", err)
	}
}

func TestListenThenServe(t *testing.T) {
	st, ct := pair(t)
	e := endpoints.New()
	endpoints.Register(e, "add", func(_ context.Context, a addArgs) (int, error) { return a.A + a.B, nil })
	d, err := dispatcher.New([]*endpoints.Endpoint{e})
	if err != nil {
		t.Fatal(err)
	}
	srv := rpcserver.New(st, srvTarget, d)
	if err := srv.Listen(t.Context()); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	if err := srv.Listen(t.Context()); err != nil {
		t.Fatalf("a second Listen = %v, want nil", err)
	}
	// The request is routed at once: it waits for Serve in the queue.
	c := rpcclient.New(ct, target.Target{Topic: "calc"})
	sum := make(chan int, 1)
	go func() {
		n, err := rpcclient.Call[int](withTimeout(t, waitLimit), c, "add", addArgs{A: 1, B: 2})
		if err != nil {
			t.Errorf("add(1, 2) sent before Serve: %v", err)
		}
		sum <- n
	}()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(t.Context()) }()
	if n := receive(t, sum, "the call"); n != 3 {
		t.Errorf("add(1, 2) = %d, want 3", n)
	}
	if err := srv.Serve(t.Context()); err == nil || errors.Is(err, rpcserver.ErrServerClosed) {
		t.Errorf("a second Serve = %v, want an error saying one is running", err)
	}
	if err := srv.Shutdown(withTimeout(t, waitLimit)); err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if err := receive(t, errc, "Serve to return"); !errors.Is(err, rpcserver.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if err := srv.Listen(t.Context()); !errors.Is(err, rpcserver.ErrServerClosed) {
		t.Errorf("Listen after Shutdown = %v, want ErrServerClosed", err)
	}
}

func TestReplyTooLarge(t *testing.T) {
	st, ct := pairWith(t, memory.MaxMessageSize(1000))
	e := endpoints.New()
	endpoints.Register(e, "big", func(context.Context, struct{}) (string, error) { return strings.Repeat("x", 2000), nil })
	start(t, st, srvTarget, []*endpoints.Endpoint{e})
	c := rpcclient.New(ct, target.Target{Topic: "calc"})
	_, err := rpcclient.Call[string](withTimeout(t, waitLimit), c, "big", nil)
	var re *rpcerr.RemoteError
	if !errors.Is(err, rpcerr.ErrReplyTooLarge) || !errors.As(err, &re) || re.Class != "MessageTooLarge" {
		t.Errorf("big() = %v, want a MessageTooLarge failure at once", err)
	}
}

func TestServerInterceptors(t *testing.T) {
	st, ct := pair(t)
	var mu sync.Mutex
	var trace []string
	record := func(name string) dispatcher.Interceptor {
		return func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
			mu.Lock()
			trace = append(trace, name+" in "+req.Method)
			mu.Unlock()
			res, err := next(ctx, req)
			mu.Lock()
			trace = append(trace, name+" out")
			mu.Unlock()
			return res, err
		}
	}
	e := endpoints.New()
	endpoints.Register(e, "explode", func(context.Context, struct{}) (int, error) { panic("boom") })
	start(t, st, srvTarget, []*endpoints.Endpoint{e},
		rpcserver.Interceptors(record("first"), rpcserver.Recover()), rpcserver.Interceptors(record("second")))
	c := rpcclient.New(ct, target.Target{Topic: "calc"})
	if err := c.Call(t.Context(), "missing", nil, nil); !errors.Is(err, rpcerr.ErrNoSuchMethod) {
		t.Errorf("missing() = %v, want NoSuchMethod", err)
	}
	// "second" sits inside Recover: the panic unwinds through it.
	if err := c.Call(t.Context(), "explode", nil, nil); err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Errorf("explode() = %v, want the recovered panic", err)
	}
	want := []string{"first in missing", "second in missing", "second out", "first out", "first in explode", "second in explode", "first out"}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(trace) != fmt.Sprint(want) {
		t.Errorf("trace = %q, want %q", trace, want)
	}
}

func TestLogLevels(t *testing.T) {
	st, ct := pair(t)
	var logs logBuffer
	failed := make(chan struct{}, 1)
	e := endpoints.New()
	endpoints.Register(e, "fail", func(context.Context, struct{}) (int, error) {
		defer func() { failed <- struct{}{} }()
		return 0, errors.New("disk full")
	})
	endpoints.Register(e, "explode", func(context.Context, struct{}) (int, error) { panic("boom") })
	start(t, st, srvTarget, []*endpoints.Endpoint{e}, rpcserver.Logger(logs.logger()))
	c := rpcclient.New(ct, target.Target{Topic: "calc"})
	_ = c.Call(t.Context(), "fail", nil, nil)
	receive(t, failed, "the failing call")
	_ = c.Call(t.Context(), "explode", nil, nil)
	if err := c.Cast(t.Context(), "fail", nil); err != nil {
		t.Fatal(err)
	}
	receive(t, failed, "the failing cast")
	logs.waitFor(t, "cast failed")
	for _, want := range []string{
		`level=DEBUG msg="rpcserver: call failed" method=fail`,
		`level=ERROR msg="rpcserver: handler panicked" method=explode`,
		`level=WARN msg="rpcserver: cast failed" method=fail`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("server log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestStopBeforeServe(t *testing.T) {
	d, err := dispatcher.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, stop := range []struct {
		name string
		do   func(*rpcserver.Server) error
	}{
		{"Shutdown", func(s *rpcserver.Server) error { return s.Shutdown(t.Context()) }},
		{"Close", func(s *rpcserver.Server) error { return s.Close() }},
	} {
		t.Run(stop.name, func(t *testing.T) {
			tr := memory.New()
			defer tr.Close()
			srv := rpcserver.New(tr, srvTarget, d)
			if err := stop.do(srv); err != nil {
				t.Errorf("%s before Serve = %v, want nil", stop.name, err)
			}
			if err := srv.Serve(t.Context()); !errors.Is(err, rpcserver.ErrServerClosed) {
				t.Errorf("Serve after %s = %v, want ErrServerClosed", stop.name, err)
			}
		})
	}
}

// TestNoReplyAfterDeadline checks that a handler that gives up when its
// ctx ends (at the caller's deadline) sends no "deadline exceeded" failure
// racing with the caller's own timeout: the caller always sees a timeout.
func TestNoReplyAfterDeadline(t *testing.T) {
	st, ct := pair(t)
	e := endpoints.New()
	endpoints.Register(e, "wait", func(ctx context.Context, _ struct{}) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	start(t, st, srvTarget, []*endpoints.Endpoint{e})
	c := rpcclient.New(ct, target.Target{Topic: "calc"})
	for i := range 30 {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		err := c.Call(ctx, "wait", nil, nil)
		cancel()
		var remote *rpcerr.RemoteError
		if errors.As(err, &remote) || !errors.Is(err, transport.ErrTimeout) {
			t.Fatalf("call %d = %v, want a timeout, not a reply", i, err)
		}
	}
}

// TestAtLeastOnceCasts: on a transport in at-least-once mode, a cast whose
// handler fails or panics runs again until it succeeds, and one that
// succeeded does not run again; calls run once whatever they return.
func TestAtLeastOnceCasts(t *testing.T) {
	st, ct := pairWith(t, memory.AtLeastOnce(5))
	var runs sync.Map // method -> *atomic.Int64
	count := func(method string) int64 {
		n, _ := runs.LoadOrStore(method, new(atomic.Int64))
		return n.(*atomic.Int64).Add(1)
	}
	done := make(chan string, 8)
	e := endpoints.New()
	endpoints.Register(e, "flaky", func(context.Context, struct{}) (*int, error) {
		if count("flaky") < 3 {
			return nil, errors.New("not yet")
		}
		done <- "flaky"
		return nil, nil
	})
	endpoints.Register(e, "panicky", func(context.Context, struct{}) (*int, error) {
		if count("panicky") < 2 {
			panic("not yet")
		}
		done <- "panicky"
		return nil, nil
	})
	endpoints.Register(e, "fine", func(context.Context, struct{}) (*int, error) {
		count("fine")
		done <- "fine"
		return nil, nil
	})
	endpoints.Register(e, "failcall", func(context.Context, struct{}) (int, error) {
		count("failcall")
		return 0, errors.New("no")
	})
	start(t, st, srvTarget, []*endpoints.Endpoint{e})
	c := rpcclient.New(ct, target.Target{Topic: "calc"})

	for _, m := range []string{"flaky", "panicky", "fine"} {
		if err := c.Cast(t.Context(), m, nil); err != nil {
			t.Fatalf("Cast(%s): %v", m, err)
		}
	}
	got := map[string]bool{}
	for range 3 {
		got[receive(t, done, "a cast handled")] = true
	}
	if len(got) != 3 {
		t.Errorf("casts handled %v, want flaky, panicky and fine", got)
	}
	if err := c.Call(t.Context(), "failcall", nil, nil); err == nil {
		t.Errorf("failcall() = nil, want its error")
	}
	// The call ran after the casts settled; nothing ran again since.
	for m, want := range map[string]int64{"flaky": 3, "panicky": 2, "fine": 1, "failcall": 1} {
		n, _ := runs.Load(m)
		if got := n.(*atomic.Int64).Load(); got != want {
			t.Errorf("%s ran %d times, want %d", m, got, want)
		}
	}
}

// TestCastResultNotEncoded: a cast's result goes nowhere, so one that
// cannot be encoded is no failure: the cast counts as handled and, in
// at-least-once mode, is acked rather than run again. A call returning
// the same result still fails.
func TestCastResultNotEncoded(t *testing.T) {
	st, ct := pairWith(t, memory.AtLeastOnce(5))
	var runs atomic.Int64
	ran := make(chan struct{}, 8)
	e := endpoints.New()
	endpoints.Register(e, "unencodable", func(context.Context, struct{}) (func(), error) {
		runs.Add(1)
		ran <- struct{}{}
		return func() {}, nil // encoding/json cannot encode a func
	})
	endpoints.Register(e, "sync", func(context.Context, struct{}) (int, error) { return 1, nil })
	// One worker: the call below runs once the cast's handling is over.
	s := start(t, st, srvTarget, []*endpoints.Endpoint{e}, rpcserver.Workers(1))
	c := rpcclient.New(ct, target.Target{Topic: "calc"})

	if err := c.Cast(t.Context(), "unencodable", nil); err != nil {
		t.Fatalf("Cast: %v", err)
	}
	receive(t, ran, "the cast")
	var one int
	if err := c.Call(t.Context(), "sync", nil, &one); err != nil {
		t.Fatalf("sync() = %v", err)
	}
	if st := s.Stats(); st.Failed != 0 || runs.Load() != 1 {
		t.Errorf("after the cast: %d failed, handler ran %d times; want 0 failed, 1 run", st.Failed, runs.Load())
	}
	if err := c.Call(t.Context(), "unencodable", nil, nil); err == nil {
		t.Errorf("unencodable() called = nil, want the encoding failure")
	}
	if st := s.Stats(); st.Failed != 1 {
		t.Errorf("after the call: %d failed, want 1", st.Failed)
	}
}
