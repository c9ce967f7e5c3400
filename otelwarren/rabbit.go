package otelwarren

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/warrenrpc/warren/transport/rabbit"
)

// Attribute keys of connection metrics.
const (
	keyConnState = attribute.Key("warren.connection.state")
	keyBroker    = attribute.Key("server.address")
)

// connStates are the states warren.connection.state reports, one series
// each.
var connStates = []rabbit.State{rabbit.StateConnecting, rabbit.StateReady, rabbit.StateBlocked, rabbit.StateFailed, rabbit.StateClosed}

// ConnectionStates returns a function to give the RabbitMQ driver as
// rabbit.OnStateChange, which reports the transport's connection as
// metrics: warren.connection.state, a gauge that is 1 for the state the
// transport is in and 0 for the others (by warren.connection.state:
// connecting, ready, blocked, failed, closed); warren.connection.drops,
// counted when a connection that was up drops; and
// warren.connection.reconnects, counted when the transport is connected
// again after a drop, by server.address, the broker it connected to. Give
// each transport a function of its own.
func ConnectionStates(opts ...Option) func(rabbit.StateChange) {
	c := newConfig(opts)
	m := c.mp.Meter(scope)
	state, err := m.Int64Gauge("warren.connection.state",
		metric.WithDescription("1 for the state the transport's connection is in, 0 for the others."),
		metric.WithUnit("{state}"))
	handle(err)
	drops, err := m.Int64Counter("warren.connection.drops",
		metric.WithDescription("Connections to the broker that dropped while up."), metric.WithUnit("{drop}"))
	handle(err)
	reconnects, err := m.Int64Counter("warren.connection.reconnects",
		metric.WithDescription("Connections to the broker made again after a drop."), metric.WithUnit("{reconnect}"))
	handle(err)
	sets := make(map[rabbit.State]metric.RecordOption, len(connStates))
	for _, s := range connStates {
		sets[s] = metric.WithAttributeSet(attribute.NewSet(keyConnState.String(s.String())))
	}

	var (
		mu      sync.Mutex
		prev    rabbit.State
		started bool // prev holds a state
	)
	return func(ev rabbit.StateChange) {
		mu.Lock()
		defer mu.Unlock()
		ctx := context.Background()
		for _, s := range connStates {
			v := int64(0)
			if s == ev.State {
				v = 1
			}
			state.Record(ctx, v, sets[s])
		}
		up := started && (prev == rabbit.StateReady || prev == rabbit.StateBlocked)
		switch {
		case ev.State == rabbit.StateConnecting && up:
			drops.Add(ctx, 1, metric.WithAttributes(keyBroker.String(ev.Broker)))
		case ev.State == rabbit.StateReady && started && prev == rabbit.StateConnecting:
			reconnects.Add(ctx, 1, metric.WithAttributes(keyBroker.String(ev.Broker)))
		}
		prev, started = ev.State, true
	}
}
