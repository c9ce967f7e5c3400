package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestOneTrace: on the memory driver the program prints four spans of one
// trace, each the parent of the next.
func TestOneTrace(t *testing.T) {
	t.Setenv("WARREN_TRANSPORT_URL", "memory://")
	var out bytes.Buffer
	if err := run(t.Context(), "all", &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	type spanContext struct{ TraceID, SpanID string }
	type span struct {
		Name        string
		SpanContext spanContext
		Parent      spanContext
	}
	byName := make(map[string]span)
	dec := json.NewDecoder(&out)
	for dec.More() {
		var s span
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("decoding the spans printed: %v", err)
		}
		byName[s.Name] = s
	}
	chain := []string{"call greeter", "process greeter", "call dictionary", "process dictionary"}
	for _, name := range chain {
		if s, ok := byName[name]; !ok || s.SpanContext.TraceID == "" {
			t.Fatalf("printed spans %v, want %v", byName, chain)
		}
	}
	for i := 1; i < len(chain); i++ {
		parent, child := byName[chain[i-1]], byName[chain[i]]
		if child.SpanContext.TraceID != parent.SpanContext.TraceID || child.Parent.SpanID != parent.SpanContext.SpanID {
			t.Errorf("%s: %+v, want the child of %s: %+v", chain[i], child, chain[i-1], parent)
		}
	}
}
