package rpcclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcerr"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

func TestInterceptorsOrder(t *testing.T) {
	var trace []string
	record := func(name string) rpcclient.Interceptor {
		return func(ctx context.Context, inv *rpcclient.Invocation, next rpcclient.Invoker) (*message.Reply, error) {
			kind := "call"
			if inv.Cast {
				kind = "cast"
			}
			trace = append(trace, name+" "+kind+" "+inv.Request.Method+" to "+inv.Target.Topic)
			rep, err := next(ctx, inv)
			trace = append(trace, name+" out")
			return rep, err
		}
	}
	// tag adds a request context entry the way a tracing interceptor adds
	// a header: by replacing the map, never writing into it.
	tag := func(ctx context.Context, inv *rpcclient.Invocation, next rpcclient.Invoker) (*message.Reply, error) {
		m := maps.Clone(inv.Request.Context)
		if m == nil {
			m = map[string]any{}
		}
		m["trace"] = "t-1"
		inv.Request.Context = m
		return next(ctx, inv)
	}
	ft := &fakeTransport{}
	shared := map[string]any{"user": "u1"}
	base := rpcclient.New(ft, calcTarget, rpcclient.RequestContext(shared), rpcclient.Interceptors(record("first"), tag))
	c := base.Prepare(rpcclient.Interceptors(record("second")))
	if err := c.Call(t.Context(), "add", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Cast(t.Context(), "note", nil); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"first call add to calculator", "second call add to calculator", "second out", "first out",
		"first cast note to calculator", "second cast note to calculator", "second out", "first out",
	}
	if !slices.Equal(trace, want) {
		t.Errorf("trace = %q, want %q", trace, want)
	}
	if got := ft.sent[0].req.Context; got["trace"] != "t-1" || got["user"] != "u1" {
		t.Errorf("request context sent = %v, want the interceptor's entry beside the client's", got)
	}
	if _, ok := shared["trace"]; ok {
		t.Error("the interceptor's entry leaked into the caller's map")
	}
	// base was not changed by Prepare.
	trace = nil
	if err := base.Call(t.Context(), "add", nil, nil); err != nil {
		t.Fatal(err)
	}
	if want := []string{"first call add to calculator", "first out"}; !slices.Equal(trace, want) {
		t.Errorf("base client trace = %q, want %q", trace, want)
	}
}

func TestInterceptorCanRefuseAndAnswer(t *testing.T) {
	ft := &fakeTransport{}
	denied := errors.New("not allowed")
	guard := func(ctx context.Context, inv *rpcclient.Invocation, next rpcclient.Invoker) (*message.Reply, error) {
		switch inv.Request.Method {
		case "secret":
			return nil, denied
		case "cached":
			return &message.Reply{Result: json.RawMessage(`"from cache"`)}, nil
		}
		return next(ctx, inv)
	}
	c := rpcclient.New(ft, calcTarget, rpcclient.Interceptors(guard))
	if err := c.Call(t.Context(), "secret", nil, nil); !errors.Is(err, denied) {
		t.Errorf("secret() = %v, want the interceptor's error", err)
	}
	if got, err := rpcclient.Call[string](t.Context(), c, "cached", nil); err != nil || got != "from cache" {
		t.Errorf("cached() = %q, %v; want the interceptor's reply", got, err)
	}
	if len(ft.sent) != 0 {
		t.Errorf("the transport got %d requests, want none", len(ft.sent))
	}
}

func TestBadOptionsFailEveryRequest(t *testing.T) {
	tests := []struct {
		name string
		opt  rpcclient.Option
		want string
	}{
		{"negative timeout", rpcclient.Timeout(-time.Second), "negative timeout"},
		{"negative call monitor", rpcclient.CallMonitor(-time.Second), "negative call monitor"},
		{"nil interceptor", rpcclient.Interceptors(nil), "interceptor 0 is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ft := &fakeTransport{}
			c := rpcclient.New(ft, calcTarget, tt.opt)
			if err := c.Call(t.Context(), "add", nil, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Call = %v, want an error saying %q", err, tt.want)
			}
			if err := c.Prepare().Cast(t.Context(), "add", nil); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Cast of a prepared client = %v, want an error saying %q", err, tt.want)
			}
			if len(ft.sent) != 0 {
				t.Errorf("the transport got %d requests, want none", len(ft.sent))
			}
		})
	}
}

func TestTypedCall(t *testing.T) {
	ft := &fakeTransport{reply: &message.Reply{Result: json.RawMessage(`{"sum": 5}`)}}
	c := rpcclient.New(ft, calcTarget)
	got, err := rpcclient.Call[sumReply](t.Context(), c, "add", addArgs{A: 2, B: 3})
	if err != nil || got != (sumReply{Sum: 5}) {
		t.Errorf("Call[sumReply](add) = %+v, %v; want {Sum: 5}", got, err)
	}
	if _, err := rpcclient.Call[int](t.Context(), c, "add", nil); err == nil {
		t.Error("Call[int] of an object result succeeded")
	}
	ft.reply = &message.Reply{Result: json.RawMessage(`null`)}
	if got, err := rpcclient.Call[*int](t.Context(), c, "nothing", nil); err != nil || got != nil {
		t.Errorf("Call[*int] of null = %v, %v; want nil, nil", got, err)
	}
}

func TestBigIntegersInResults(t *testing.T) {
	ft := &fakeTransport{reply: &message.Reply{Result: json.RawMessage(`{"n": 9007199254740993, "f": 3.0, "l": [18446744073709551615]}`)}}
	c := rpcclient.New(ft, calcTarget)
	m, err := rpcclient.Call[map[string]any](t.Context(), c, "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	if m["n"] != json.Number("9007199254740993") || m["f"] != json.Number("3.0") ||
		!slices.Equal(m["l"].([]any), []any{json.Number("18446744073709551615")}) {
		t.Errorf("Call[map[string]any] = %#v, want every digit as json.Number", m)
	}
	var v any
	if err := c.Call(t.Context(), "big", nil, &v); err != nil || v.(map[string]any)["n"] != json.Number("9007199254740993") {
		t.Errorf("Call into *any = %#v, %v; want json.Number", v, err)
	}
	n, err := rpcclient.Call[struct{ N int64 }](t.Context(), c, "big", nil)
	if err != nil || n.N != 9007199254740993 {
		t.Errorf("Call into an int64 field = %d, %v; want 9007199254740993", n.N, err)
	}
}

// QuotaError is a service's own error type, with fields a Go caller wants
// back.
type QuotaError struct {
	Resource string `json:"resource"`
	Limit    int64  `json:"limit"`
}

func (e *QuotaError) Error() string { return "quota exceeded for " + e.Resource }

func (e *QuotaError) ExceptionClass() (class, module string) {
	return "QuotaExceeded", "inventory.errors"
}

func TestTypedErrorRoundTrip(t *testing.T) {
	bus := memory.NewBus()
	e := endpoints.New()
	endpoints.Register(e, "reserve", func(context.Context, struct{}) (int, error) {
		return 0, &QuotaError{Resource: "cores", Limit: 9007199254740993}
	})
	startServer(t, bus, "inv", "host-1", e)
	reg, err := rpcerr.NewRegistry(&QuotaError{})
	if err != nil {
		t.Fatal(err)
	}

	err = newClient(t, bus, "inv", rpcclient.Errors(reg)).Call(t.Context(), "reserve", nil, nil)
	var qe *QuotaError
	if !errors.As(err, &qe) || qe.Resource != "cores" || qe.Limit != 9007199254740993 {
		t.Errorf("reserve() = %v (%#v), want a *QuotaError with its fields", err, qe)
	}
	var re *rpcerr.RemoteError
	if !errors.As(err, &re) || re.Class != "QuotaExceeded" || re.Module != "inventory.errors" || re.Message != "quota exceeded for cores" {
		t.Errorf("reserve() = %v, want it to be a *RemoteError too", err)
	}

	// Without the registry the fields still travel, as kwargs.
	err = newClient(t, bus, "inv").Call(t.Context(), "reserve", nil, nil)
	if errors.As(err, &qe) || !errors.As(err, &re) || re.Kwargs["resource"] != "cores" {
		t.Errorf("reserve() without a registry = %v (kwargs %v), want a plain *RemoteError with the fields as kwargs", err, re.Kwargs)
	}
}

func TestRegistryRefuses(t *testing.T) {
	tests := []struct {
		name string
		errs []rpcerr.Classed
	}{
		{"nil", []rpcerr.Classed{nil}},
		{"nil pointer", []rpcerr.Classed{(*QuotaError)(nil)}},
		{"rpcerr.Error", []rpcerr.Classed{rpcerr.NewError("X", "x")}},
		{"builtins", []rpcerr.Classed{&endpoints.ArgumentError{}}},
		{"same class twice", []rpcerr.Classed{&QuotaError{}, &QuotaError{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := rpcerr.NewRegistry(tt.errs...); !errors.Is(err, rpcerr.ErrInvalidRegistry) {
				t.Errorf("NewRegistry(%v) = %v, want ErrInvalidRegistry", tt.errs, err)
			}
		})
	}
}

// TestInterceptorsCarryHeaders is the shape of tracing: a client
// interceptor adds a traceparent header, and a server interceptor reads it.
func TestInterceptorsCarryHeaders(t *testing.T) {
	bus := memory.NewBus()
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	seen := make(chan string, 1)
	e := endpoints.New()
	endpoints.Register(e, "traced", func(context.Context, struct{}) (string, error) { return "ok", nil })
	d, err := dispatcher.New([]*endpoints.Endpoint{e}, dispatcher.Interceptors(
		func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
			seen <- req.Headers["traceparent"]
			return next(ctx, req)
		}))
	if err != nil {
		t.Fatal(err)
	}
	tr := memory.New(memory.OnBus(bus))
	t.Cleanup(func() { tr.Close() })
	srv := rpcserver.New(tr, target.Target{Topic: "traced", Server: "s1"}, d)
	if err := srv.Listen(t.Context()); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		srv.Close()
		<-served
	})

	inject := func(ctx context.Context, inv *rpcclient.Invocation, next rpcclient.Invoker) (*message.Reply, error) {
		h := maps.Clone(inv.Request.Headers)
		if h == nil {
			h = map[string]string{}
		}
		h["traceparent"] = traceparent
		inv.Request.Headers = h
		return next(ctx, inv)
	}
	c := newClient(t, bus, "traced", rpcclient.Interceptors(inject))
	if got, err := rpcclient.Call[string](t.Context(), c, "traced", nil); err != nil || got != "ok" {
		t.Fatalf("traced() = %q, %v", got, err)
	}
	select {
	case got := <-seen:
		if got != traceparent {
			t.Errorf("the server interceptor saw traceparent %q, want %q", got, traceparent)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server interceptor did not run")
	}
}
