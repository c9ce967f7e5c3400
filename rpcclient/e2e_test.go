package rpcclient_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
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

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

type sumReply struct {
	Sum int `json:"sum"`
}

// calculator returns the endpoint the end-to-end tests serve, at version
// 1.3 of the default namespace. Its method "whoami" returns name.
func calculator(name string) *endpoints.Endpoint {
	e := endpoints.New(endpoints.Version("1.3"))
	endpoints.Register(e, "add", func(_ context.Context, a addArgs) (int, error) {
		return a.A + a.B, nil
	})
	endpoints.Register(e, "add_struct", func(_ context.Context, a addArgs) (sumReply, error) {
		return sumReply{Sum: a.A + a.B}, nil
	})
	endpoints.Register(e, "nothing", func(context.Context, struct{}) (*int, error) {
		return nil, nil
	})
	endpoints.Register(e, "fail", func(context.Context, struct{}) (int, error) {
		return 0, rpcerr.NewError("InvalidOperation", "invalid operation")
	})
	endpoints.Register(e, "whoami", func(context.Context, struct{}) (string, error) {
		return name, nil
	})
	endpoints.Register(e, "user", func(ctx context.Context, _ struct{}) (any, error) {
		return endpoints.RequestContext(ctx)["user"], nil
	})
	return e
}

// startServer serves eps as server name of topic on a new transport on bus
// and returns once the server listens. The server shuts down, and its
// transport closes, when the test ends.
func startServer(t *testing.T, bus *memory.Bus, topic, name string, eps ...*endpoints.Endpoint) {
	t.Helper()
	startServerWith(t, memory.New(memory.OnBus(bus)), topic, name, eps)
}

// startServerWith serves eps as server name of topic on tr with opts, as
// startServer does, and closes tr when the test ends.
func startServerWith(t *testing.T, tr *memory.Transport, topic, name string, eps []*endpoints.Endpoint, opts ...rpcserver.Option) {
	t.Helper()
	t.Cleanup(func() { tr.Close() })
	d, err := dispatcher.New(eps)
	if err != nil {
		t.Fatalf("dispatcher.New: %v", err)
	}
	srv := rpcserver.New(tr, target.Target{Topic: topic, Server: name}, d, opts...)
	if err := srv.Listen(t.Context()); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, rpcserver.ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
}

// newClient returns a client for topic on a new transport on bus, closed
// when the test ends.
func newClient(t *testing.T, bus *memory.Bus, topic string, opts ...rpcclient.Option) *rpcclient.Client {
	t.Helper()
	tr := memory.New(memory.OnBus(bus))
	t.Cleanup(func() { tr.Close() })
	return rpcclient.New(tr, target.Target{Topic: topic}, opts...)
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestCallRoundTrip(t *testing.T) {
	bus := memory.NewBus()
	startServer(t, bus, "calc", "host-1", calculator("host-1"))
	c := newClient(t, bus, "calc", rpcclient.RequestContext(map[string]any{"user": "u1"}))

	t.Run("map args", func(t *testing.T) {
		var sum int
		if err := c.Call(t.Context(), "add", map[string]int{"a": 2, "b": 3}, &sum); err != nil || sum != 5 {
			t.Errorf("add(2, 3) = %d, %v; want 5, nil", sum, err)
		}
	})
	t.Run("struct args and reply", func(t *testing.T) {
		var r sumReply
		if err := c.Call(t.Context(), "add_struct", addArgs{A: 4, B: 5}, &r); err != nil || r.Sum != 9 {
			t.Errorf("add_struct(4, 5) = %+v, %v; want {Sum:9}, nil", r, err)
		}
	})
	t.Run("null result", func(t *testing.T) {
		kept := 42
		if err := c.Call(t.Context(), "nothing", nil, &kept); err != nil || kept != 42 {
			t.Errorf("nothing() left reply %d, %v; want 42, nil", kept, err)
		}
	})
	t.Run("nil reply", func(t *testing.T) {
		if err := c.Call(t.Context(), "add", addArgs{A: 1}, nil); err != nil {
			t.Errorf("add with nil reply = %v, want nil", err)
		}
	})
	t.Run("request context", func(t *testing.T) {
		var user string
		if err := c.Call(t.Context(), "user", nil, &user); err != nil || user != "u1" {
			t.Errorf("user() = %q, %v; want u1, nil", user, err)
		}
	})
	t.Run("version", func(t *testing.T) {
		var sum int
		if err := c.Prepare(rpcclient.Version("1.2")).Call(t.Context(), "add", addArgs{A: 1, B: 1}, &sum); err != nil || sum != 2 {
			t.Errorf("add at 1.2 = %d, %v; want 2, nil", sum, err)
		}
	})
}

func TestCallRemoteFailures(t *testing.T) {
	bus := memory.NewBus()
	startServer(t, bus, "calc", "host-1", calculator("host-1"))
	c := newClient(t, bus, "calc")

	tests := []struct {
		name          string
		client        *rpcclient.Client
		method        string
		args          any
		class, module string
		message       string
		is            error
	}{
		{name: "classed error", client: c, method: "fail",
			class: "InvalidOperation", module: "warren", message: "invalid operation"},
		{name: "no such method", client: c, method: "missing", is: rpcerr.ErrNoSuchMethod,
			class: "NoSuchMethod", module: "oslo_messaging.rpc.dispatcher", message: "Endpoint does not support RPC method missing"},
		{name: "unsupported version", client: c.Prepare(rpcclient.Version("2.0")), method: "add", is: rpcerr.ErrUnsupportedVersion,
			class: "UnsupportedVersion", module: "oslo_messaging.rpc.dispatcher", message: "Endpoint does not support RPC version 2.0. Attempted method: add"},
		{name: "minor too high", client: c.Prepare(rpcclient.Version("1.4")), method: "add", is: rpcerr.ErrUnsupportedVersion,
			class: "UnsupportedVersion", module: "oslo_messaging.rpc.dispatcher", message: "Endpoint does not support RPC version 1.4. Attempted method: add"},
		{name: "unknown keyword", client: c, method: "add", args: map[string]int{"x": 1},
			class: "TypeError", module: "builtins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.client.Call(t.Context(), tt.method, tt.args, nil)
			var re *rpcerr.RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("%s() = %v, want a *RemoteError", tt.method, err)
			}
			if re.Class != tt.class || re.Module != tt.module || (tt.message != "" && re.Message != tt.message) {
				t.Errorf("%s() = %s.%s %q, want %s.%s %q", tt.method, re.Module, re.Class, re.Message, tt.module, tt.class, tt.message)
			}
			if tt.message != "" {
				if want := "rpcclient: call " + tt.method + ": remote " + tt.class + ": " + tt.message; err.Error() != want {
					t.Errorf("Error() = %q, want %q", err.Error(), want)
				}
			}
			for _, s := range []error{rpcerr.ErrNoSuchMethod, rpcerr.ErrUnsupportedVersion} {
				if got, want := errors.Is(err, s), s == tt.is; got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, s, got, want)
				}
			}
		})
	}
}

func TestCallTimeout(t *testing.T) {
	bus := memory.NewBus()
	// "wait" returns only once the test is over, so the caller's deadline
	// always passes first.
	release := make(chan struct{})
	e := endpoints.New()
	endpoints.Register(e, "wait", func(context.Context, struct{}) (int, error) {
		<-release
		return 1, nil
	})
	startServer(t, bus, "calc", "host-1", e)
	t.Cleanup(func() { close(release) })

	tests := []struct {
		name   string
		client *rpcclient.Client
		ctx    func(t *testing.T) context.Context
	}{
		{name: "ctx deadline", client: newClient(t, bus, "calc"), ctx: func(t *testing.T) context.Context {
			return withTimeout(t, 100*time.Millisecond)
		}},
		{name: "timeout option when ctx has no deadline", client: newClient(t, bus, "calc", rpcclient.Timeout(100*time.Millisecond)),
			ctx: func(*testing.T) context.Context { return context.Background() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- tt.client.Call(tt.ctx(t), "wait", nil, nil) }()
			select {
			case err := <-done:
				if !errors.Is(err, transport.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("wait() = %v, want an error matching ErrTimeout and context.DeadlineExceeded", err)
				}
			case <-time.After(waitLimit):
				t.Fatal("wait() did not end by its deadline")
			}
		})
	}
}

func TestCallErrorsWithoutServer(t *testing.T) {
	bus := memory.NewBus()
	tr := memory.New(memory.OnBus(bus))
	c := rpcclient.New(tr, target.Target{Topic: "nobody"})
	if err := c.Call(t.Context(), "add", nil, nil); !errors.Is(err, transport.ErrNoRoute) {
		t.Errorf("call to a topic nobody serves = %v, want ErrNoRoute", err)
	}
	if err := c.Cast(t.Context(), "add", nil); !errors.Is(err, transport.ErrNoRoute) {
		t.Errorf("cast to a topic nobody serves = %v, want ErrNoRoute", err)
	}
	tr.Close()
	if err := c.Call(t.Context(), "add", nil, nil); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("call on a closed transport = %v, want ErrClosed", err)
	}
}

// recorder is an endpoint whose method "record" sends the server's name to
// a channel.
func recorder(name string, got chan<- string) *endpoints.Endpoint {
	e := endpoints.New()
	endpoints.Register(e, "record", func(context.Context, struct{}) (*int, error) {
		got <- name
		return nil, nil
	})
	return e
}

func TestFanoutCast(t *testing.T) {
	bus := memory.NewBus()
	got := make(chan string, 10)
	servers := []string{"host-1", "host-2", "host-3"}
	for _, s := range servers {
		startServer(t, bus, "fan", s, recorder(s, got))
	}
	c := newClient(t, bus, "fan")

	if err := c.Prepare(rpcclient.Fanout()).Cast(t.Context(), "record", nil); err != nil {
		t.Fatalf("fanout Cast: %v", err)
	}
	seen := map[string]int{}
	for range servers {
		select {
		case s := <-got:
			seen[s]++
		case <-time.After(waitLimit):
			t.Fatalf("fanout cast reached only %v", seen)
		}
	}
	for _, s := range servers {
		if seen[s] != 1 {
			t.Errorf("fanout cast reached %s %d times, want once (all: %v)", s, seen[s], seen)
		}
	}
}

func TestServerDirect(t *testing.T) {
	bus := memory.NewBus()
	for _, s := range []string{"host-1", "host-2"} {
		startServer(t, bus, "calc", s, calculator(s))
	}
	c := newClient(t, bus, "calc")
	for _, s := range []string{"host-1", "host-2", "host-2", "host-1", "host-2"} {
		var name string
		if err := c.Prepare(rpcclient.Server(s)).Call(t.Context(), "whoami", nil, &name); err != nil || name != s {
			t.Errorf("whoami() on %s = %q, %v; want %q, nil", s, name, err, s)
		}
	}
}

var _ transport.Transport = (*fakeTransport)(nil)

func TestConcurrentCalls(t *testing.T) {
	bus := memory.NewBus()
	startServer(t, bus, "calc", "host-1", calculator("host-1"))
	startServer(t, bus, "calc", "host-2", calculator("host-2"))
	base := newClient(t, bus, "calc")
	prepared := base.Prepare(rpcclient.Version("1.1"))

	const goroutines, calls = 8, 20
	errs := make(chan error, goroutines)
	for g := range goroutines {
		c := base
		if g%2 == 1 {
			c = prepared
		}
		go func() {
			for i := range calls {
				var sum int
				if err := c.Call(t.Context(), "add", addArgs{A: g, B: i}, &sum); err != nil || sum != g+i {
					errs <- fmt.Errorf("add(%d, %d) = %d, %v", g, i, sum, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range goroutines {
		select {
		case err := <-errs:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(waitLimit):
			t.Fatal("concurrent calls did not finish")
		}
	}
}
