package otelwarren_test

import (
	"context"
	"errors"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/otelwarren"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
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
	onDrop(transport.Drop{Reason: transport.DropDeliveryLimit, Source: "q", Err: bad})
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
	want := map[string]int64{"rejected": 3, "duplicate": 2, "delivery-limit": 1}
	if len(got) != len(want) {
		t.Errorf("warren.messages.dropped = %v, want %v", got, want)
	}
	for r, n := range want {
		if got[r] != n {
			t.Errorf("warren.messages.dropped{%s} = %d, want %d", r, got[r], n)
		}
	}
}

// TestDropsOnMemory: a cast sent three times with one _unique_id through
// a memory transport with OnDrop(Drops()) counts two duplicates.
func TestDropsOnMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reader := sdkmetric.NewManualReader()
	tr := memory.New(memory.OnDrop(otelwarren.Drops(otelwarren.MeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))))
	defer tr.Close()
	tgt := target.Target{Topic: "drops", Server: "s1"}
	lis, err := tr.Listen(ctx, tgt)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	req := &message.Request{Method: "echo", UniqueID: "once"}
	for range 3 {
		if err := tr.Cast(ctx, tgt, req); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.Cast(ctx, tgt, &message.Request{Method: "last"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"echo", "last"} {
		in, err := lis.Next(ctx)
		if err != nil {
			t.Fatalf("Next = %v", err)
		}
		if m := in.Request().Method; m != want {
			t.Fatalf("Next = %q, want %q", m, want)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	sum, ok := find(t, rm, "warren.messages.dropped").Data.(metricdata.Sum[int64])
	if !ok || len(sum.DataPoints) != 1 {
		t.Fatalf("warren.messages.dropped = %+v, want one series", find(t, rm, "warren.messages.dropped").Data)
	}
	dp := sum.DataPoints[0]
	if r, _ := dp.Attributes.Value("warren.drop.reason"); r.AsString() != "duplicate" || dp.Value != 2 {
		t.Errorf("warren.messages.dropped{%s} = %d, want duplicate = 2", r.AsString(), dp.Value)
	}
}
