package dispatcher_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/endpoints"
)

// benchDispatcher serves divide at calc 1.3 behind one other endpoint, the
// way a server with a few endpoints looks.
func benchDispatcher(b *testing.B, opts ...dispatcher.Option) *dispatcher.Dispatcher {
	other := endpoints.New(endpoints.Namespace("other"))
	endpoints.Register(other, "divide", func(context.Context, DivideArgs) (int, error) { return 0, nil })
	calc := endpoints.New(endpoints.Namespace("calc"), endpoints.Version("1.3"))
	endpoints.Register(calc, "divide", func(_ context.Context, a DivideArgs) (int, error) { return a.X / a.Y, nil })
	d, err := dispatcher.New([]*endpoints.Endpoint{other, calc}, opts...)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkDispatchTyped dispatches a call to a typed handler, decoding
// its arguments and request context. Bar: 10 allocs/op.
func BenchmarkDispatchTyped(b *testing.B) {
	d := benchDispatcher(b)
	req := &dispatcher.Request{
		Method: "divide", Namespace: "calc", Version: "1.2",
		Args:    json.RawMessage(`{"x": 10, "y": 2}`),
		Context: map[string]any{"request_id": "req-1"},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Dispatch(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDispatchInterceptors(b *testing.B) {
	pass := func(ctx context.Context, req *dispatcher.Request, next dispatcher.Handler) (any, error) {
		return next(ctx, req)
	}
	d := benchDispatcher(b, dispatcher.Interceptors(pass, pass, pass))
	req := &dispatcher.Request{Method: "divide", Namespace: "calc", Version: "1.2", Args: json.RawMessage(`{"x": 10, "y": 2}`)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Dispatch(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDispatchNoSuchMethod(b *testing.B) {
	d := benchDispatcher(b)
	req := &dispatcher.Request{Method: "multiply", Namespace: "calc"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Dispatch(ctx, req); err == nil {
			b.Fatal("no error")
		}
	}
}
