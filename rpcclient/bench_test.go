package rpcclient_test

import (
	"context"
	"testing"
	"time"

	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

// BenchmarkCallMemory measures a call end to end on the memory transport:
// client, wire encoding, queue, server worker, dispatcher, typed handler,
// reply.
func BenchmarkCallMemory(b *testing.B) {
	bus := memory.NewBus()
	st, ct := memory.New(memory.OnBus(bus)), memory.New(memory.OnBus(bus))
	defer ct.Close()
	defer st.Close()
	defer serveCalculator(st, "host-1")()
	c := rpcclient.New(ct, target.Target{Topic: "calculator"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := map[string]int{"a": 2, "b": 40}

	b.ReportAllocs()
	for b.Loop() {
		var sum int
		if err := c.Call(ctx, "add", args, &sum); err != nil || sum != 42 {
			b.Fatalf("add(2, 40) = %d, %v", sum, err)
		}
	}
}

// BenchmarkCastMemory measures sending a cast on the memory transport
// while a server handles them.
func BenchmarkCastMemory(b *testing.B) {
	bus := memory.NewBus()
	st, ct := memory.New(memory.OnBus(bus)), memory.New(memory.OnBus(bus))
	defer ct.Close()
	defer st.Close()
	defer serveCalculator(st, "host-1")()
	c := rpcclient.New(ct, target.Target{Topic: "calculator"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := map[string]int{"a": 2, "b": 40}

	b.ReportAllocs()
	for b.Loop() {
		if err := c.Cast(ctx, "add", args); err != nil {
			b.Fatalf("Cast: %v", err)
		}
	}
}
