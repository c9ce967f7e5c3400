package integration_test

import (
	"context"
	"testing"
	"time"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/rpcclient"
)

// benchArgs are the keyword arguments of every benchmark call: the same
// JSON as transport/rabbit's benchmarks, so that the raw amqp091 baseline
// there (BenchmarkRawCall) moves the same bytes.
type benchArgs struct {
	A int    `json:"a"`
	B string `json:"b"`
	C []int  `json:"c"`
}

var benchRequest = benchArgs{A: 1, B: "some text", C: []int{1, 2, 3}}

// echoEndpoint returns its arguments, as the raw baseline's server does.
func echoEndpoint() *endpoints.Endpoint {
	ep := endpoints.New()
	endpoints.Register(ep, "echo", func(_ context.Context, a benchArgs) (benchArgs, error) { return a, nil })
	return ep
}

// BenchmarkCall measures one call at a time through the whole stack on
// RabbitMQ: rpcclient, the RabbitMQ driver, the broker, rpcserver, the
// dispatcher and a typed handler, and back. Its baseline is hand-written
// amqp091-go code doing the same round trip, measured in the same run:
//
//	go test -run NONE -bench 'Call$' ./integration/ ./transport/rabbit/
func BenchmarkCall(b *testing.B) {
	bs := newBus(b, "bench-call")
	startServer(b, bs, "s1", []*endpoints.Endpoint{echoEndpoint()})
	c := newClient(b, bs)
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var got benchArgs
		err := c.Call(ctx, "echo", benchRequest, &got)
		cancel()
		if err != nil {
			b.Fatalf("Call: %v", err)
		}
		if got.A != benchRequest.A {
			b.Fatalf("Call returned %+v, want %+v", got, benchRequest)
		}
	}
}

// BenchmarkCallParallel measures calls from many goroutines at once, the
// throughput side of BenchmarkCall (ns/op is the time per call across
// all of them).
func BenchmarkCallParallel(b *testing.B) {
	runParallel(b, "bench-par", func(ctx context.Context, c *rpcclient.Client) error {
		var got benchArgs
		return c.Call(ctx, "echo", benchRequest, &got)
	})
}

// BenchmarkCast measures casts through the whole stack, each returning
// once the broker confirmed it; a server consumes them.
func BenchmarkCast(b *testing.B) {
	bs := newBus(b, "bench-cast")
	startServer(b, bs, "s1", []*endpoints.Endpoint{echoEndpoint()})
	c := newClient(b, bs)
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.Cast(ctx, "echo", benchRequest)
		cancel()
		if err != nil {
			b.Fatalf("Cast: %v", err)
		}
	}
}

// BenchmarkCastParallel measures confirmed casts from many goroutines at
// once, the throughput side of BenchmarkCast.
func BenchmarkCastParallel(b *testing.B) {
	runParallel(b, "bench-castpar", func(ctx context.Context, c *rpcclient.Client) error {
		return c.Cast(ctx, "echo", benchRequest)
	})
}

// runParallel runs op from 16 goroutines per core, each with a deadline
// of 10 s, through a client of a server of its own on topic name.
func runParallel(b *testing.B, name string, op func(ctx context.Context, c *rpcclient.Client) error) {
	bs := newBus(b, name)
	startServer(b, bs, "s1", []*endpoints.Endpoint{echoEndpoint()})
	c := newClient(b, bs)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := op(ctx, c)
			cancel()
			if err != nil {
				b.Errorf("%s: %v", name, err)
				return
			}
		}
	})
}
