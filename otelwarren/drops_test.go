package otelwarren_test

import (
	"errors"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/warrenrpc/warren/otelwarren"
	"github.com/warrenrpc/warren/transport"
)

// TestDrops: after a known sequence of drops, warren.messages.dropped
// holds their count by reason.
func TestDrops(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	onDrop := otelwarren.Drops(otelwarren.MeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	bad := errors.New("not json")
	for range 3 {
		onDrop(transport.Drop{Reason: transport.DropRejected, Source: "q", Err: bad})
	}
	for range 2 {
		onDrop(transport.Drop{Reason: transport.DropDuplicate, Source: "q"})
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	m := find(t, rm, "warren.messages.dropped")
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok || !sum.IsMonotonic {
		t.Fatalf("warren.messages.dropped is %T, want an int64 counter", m.Data)
	}
	got := make(map[string]int64)
	for _, dp := range sum.DataPoints {
		v, _ := dp.Attributes.Value("warren.drop.reason")
		got[v.AsString()] += dp.Value
	}
	want := map[string]int64{"rejected": 3, "duplicate": 2}
	if len(got) != len(want) {
		t.Errorf("warren.messages.dropped = %v, want %v", got, want)
	}
	for r, n := range want {
		if got[r] != n {
			t.Errorf("warren.messages.dropped{%s} = %d, want %d", r, got[r], n)
		}
	}
}
