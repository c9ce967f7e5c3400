package endpoints_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/warrenrpc/warren/endpoints"
)

var benchArgs = json.RawMessage(`{"x": 10, "y": 2}`)

func BenchmarkTyped(b *testing.B) {
	e := endpoints.New()
	endpoints.Register(e, "add", add)
	h := e.Handler("add")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.ServeRPC(ctx, benchArgs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromObject(b *testing.B) {
	h := endpoints.FromObject(&calc{}).Handler("divide")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.ServeRPC(ctx, benchArgs); err != nil {
			b.Fatal(err)
		}
	}
}
