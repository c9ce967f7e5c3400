package rpcclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

// benchArgs are the arguments of every benchmarked request: add(2, 40).
var benchArgs = map[string]int{"a": 2, "b": 40}

// benchClient serves the example calculator on a memory transport and
// returns a client of it on another transport of the same bus, and a
// context with a deadline for the calls. The server stops and both
// transports close when the benchmark ends.
func benchClient(b *testing.B) (*rpcclient.Client, context.Context) {
	bus := memory.NewBus()
	st, ct := memory.New(memory.OnBus(bus)), memory.New(memory.OnBus(bus))
	b.Cleanup(func() {
		ct.Close()
		st.Close()
	})
	b.Cleanup(serveCalculator(st, "host-1"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	b.Cleanup(cancel)
	return rpcclient.New(ct, target.Target{Topic: "calculator"}), ctx
}

// BenchmarkCallMemory measures a call end to end on the memory transport:
// client, wire encoding, queue, server worker, dispatcher, typed handler,
// reply.
//
// Bar: 126 allocs/op (client and server together), as measured when it
// was set; a change that raises it needs a reason.
func BenchmarkCallMemory(b *testing.B) {
	c, ctx := benchClient(b)
	b.ReportAllocs()
	for b.Loop() {
		var sum int
		if err := c.Call(ctx, "add", benchArgs, &sum); err != nil || sum != 42 {
			b.Fatalf("add(2, 40) = %d, %v", sum, err)
		}
	}
}

// BenchmarkCastMemory measures sending a cast on the memory transport
// while a server handles them.
func BenchmarkCastMemory(b *testing.B) {
	c, ctx := benchClient(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Cast(ctx, "add", benchArgs); err != nil {
			b.Fatalf("Cast: %v", err)
		}
	}
}

// BenchmarkCallInterceptors measures the same call through three
// pass-through client interceptors: the cost of the chain.
func BenchmarkCallInterceptors(b *testing.B) {
	c, ctx := benchClient(b)
	pass := func(ctx context.Context, inv *rpcclient.Invocation, next rpcclient.Invoker) (*message.Reply, error) {
		return next(ctx, inv)
	}
	c = c.Prepare(rpcclient.Interceptors(pass, pass, pass))
	b.ReportAllocs()
	for b.Loop() {
		sum, err := rpcclient.Call[int](ctx, c, "add", benchArgs)
		if err != nil || sum != 42 {
			b.Fatalf("add(2, 40) = %d, %v", sum, err)
		}
	}
}
