package memory_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

// echoServer starts a server on its own transport that answers every call
// with its arguments, and stops it when the benchmark ends.
func echoServer(b *testing.B, bus *memory.Bus) {
	tr := memory.New(memory.OnBus(bus))
	lis, err := tr.Listen(context.Background(), target.Target{Topic: "bench", Server: "s1"})
	if err != nil {
		b.Fatalf("Listen = %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := context.Background()
		for {
			in, err := lis.Next(ctx)
			if err != nil {
				return
			}
			if err := in.Reply(ctx, &message.Reply{Result: in.Request().Args}); err != nil {
				b.Errorf("Reply = %v", err)
			}
		}
	}()
	b.Cleanup(func() {
		tr.Close()
		<-done
	})
}

var benchArgs = json.RawMessage(`{"a": 1, "b": "two", "c": [3, 4.5, null]}`)

// benchClient starts an echo server and returns a client transport on its
// bus, closed when the benchmark ends, and a context with a deadline for
// the calls.
func benchClient(b *testing.B) (*memory.Transport, context.Context) {
	bus := memory.NewBus()
	echoServer(b, bus)
	client := memory.New(memory.OnBus(bus))
	b.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	b.Cleanup(cancel)
	return client, ctx
}

// benchCall sends the call every benchmark measures: echo with benchArgs.
func benchCall(ctx context.Context, client *memory.Transport) error {
	_, err := client.Call(ctx, target.Target{Topic: "bench"}, &message.Request{Method: "echo", Args: benchArgs})
	return err
}

// BenchmarkCall measures a call on the memory transport alone: encoding,
// queues, decoding, the reply. Bar: 26 allocs/op.
func BenchmarkCall(b *testing.B) {
	client, ctx := benchClient(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := benchCall(ctx, client); err != nil {
			b.Fatalf("Call = %v", err)
		}
	}
}

// BenchmarkCallSize measures calls whose args are a string of 100 B,
// 10 KB and 1 MB, echoed back.
func BenchmarkCallSize(b *testing.B) {
	client, ctx := benchClient(b)
	for _, size := range []struct {
		name string
		n    int
	}{{"100B", 100}, {"10KB", 10 << 10}, {"1MB", 1 << 20}} {
		b.Run(size.name, func(b *testing.B) {
			args, err := json.Marshal(map[string]string{"data": strings.Repeat("x", size.n)})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(size.n))
			for b.Loop() {
				if _, err := client.Call(ctx, target.Target{Topic: "bench"}, &message.Request{Method: "echo", Args: args}); err != nil {
					b.Fatalf("Call = %v", err)
				}
			}
		})
	}
}

func BenchmarkCallParallel(b *testing.B) {
	client, ctx := benchClient(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := benchCall(ctx, client); err != nil {
				b.Errorf("Call = %v", err)
				return
			}
		}
	})
}
