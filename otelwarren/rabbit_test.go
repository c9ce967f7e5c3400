package otelwarren_test

import (
	"errors"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/warrenrpc/warren/otelwarren"
	"github.com/warrenrpc/warren/transport/rabbit"
)

// TestConnectionStates: after a known sequence of state changes, the
// drops and reconnects are counted and the gauge shows the last state.
func TestConnectionStates(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	onChange := otelwarren.ConnectionStates(otelwarren.MeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))))
	lost := errors.New("connection reset")
	for _, st := range []rabbit.State{
		rabbit.StateReady,      // dialed
		rabbit.StateConnecting, // drop 1
		rabbit.StateConnecting, // another failed attempt
		rabbit.StateReady,      // reconnect 1
		rabbit.StateBlocked,
		rabbit.StateConnecting, // drop 2, while blocked
		rabbit.StateReady,      // reconnect 2
		rabbit.StateBlocked,
	} {
		ev := rabbit.StateChange{State: st, Broker: "rabbit-1:5672"}
		if st == rabbit.StateConnecting {
			ev.Err = lost
		}
		onChange(ev)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]int64{"warren.connection.drops": 2, "warren.connection.reconnects": 2} {
		if got := sums(t, rm, name)[""]; got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	g, ok := find(t, rm, "warren.connection.state").Data.(metricdata.Gauge[int64])
	if !ok {
		t.Fatalf("warren.connection.state is %T, want an int64 gauge", find(t, rm, "warren.connection.state").Data)
	}
	states := make(map[string]int64)
	for _, dp := range g.DataPoints {
		v, _ := dp.Attributes.Value("warren.connection.state")
		states[v.AsString()] = dp.Value
	}
	want := map[string]int64{"connecting": 0, "ready": 0, "blocked": 1, "failed": 0, "closed": 0}
	for s, v := range want {
		if states[s] != v {
			t.Errorf("warren.connection.state{%s} = %d, want %d (all: %v)", s, states[s], v, states)
		}
	}
}
