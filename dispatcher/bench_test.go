package dispatcher_test

import (
	"context"
	"encoding/json"
	"strings"
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
// its arguments and request context. Bar: 7 allocs/op.
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

// BenchmarkDispatchTypedSize dispatches echo calls whose argument is a
// string of 100 B, 10 KB and 1 MB to a typed handler. Bar: 8 allocs/op
// (9 at 1 MB).
func BenchmarkDispatchTypedSize(b *testing.B) {
	type echoArgs struct {
		Data string `json:"data"`
	}
	ep := endpoints.New()
	endpoints.Register(ep, "echo", func(_ context.Context, a echoArgs) (echoArgs, error) { return a, nil })
	d, err := dispatcher.New([]*endpoints.Endpoint{ep})
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []struct {
		name string
		n    int
	}{{"100B", 100}, {"10KB", 10 << 10}, {"1MB", 1 << 20}} {
		b.Run(size.name, func(b *testing.B) {
			args, err := json.Marshal(echoArgs{Data: strings.Repeat("x", size.n)})
			if err != nil {
				b.Fatal(err)
			}
			req := &dispatcher.Request{Method: "echo", Args: args}
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(size.n))
			for b.Loop() {
				if _, err := d.Dispatch(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
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
