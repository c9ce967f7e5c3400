package otelwarren

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/warrenrpc/warren/rpcserver"
)

// ObserveServer reports srv's worker pool as metrics, read from
// srv.Stats each time they are collected: warren.server.workers,
// warren.server.workers.busy and warren.server.requests.expired, with
// messaging.destination.name and warren.target.server naming the server.
// It does so until stop is called; stop returns the meter provider's
// error, if any. It fails when the provider cannot make the instruments or
// register the callback.
func ObserveServer(srv *rpcserver.Server, opts ...Option) (stop func() error, err error) {
	c := newConfig(opts)
	m := c.mp.Meter(scope)
	workers, err := m.Int64ObservableGauge("warren.server.workers",
		metric.WithDescription("Requests the server handles at once: the size of its worker pool."),
		metric.WithUnit("{worker}"))
	if err != nil {
		return nil, err
	}
	busy, err := m.Int64ObservableGauge("warren.server.workers.busy",
		metric.WithDescription("Workers handling a request; requests beyond them wait in the broker."),
		metric.WithUnit("{worker}"))
	if err != nil {
		return nil, err
	}
	expired, err := m.Int64ObservableCounter("warren.server.requests.expired",
		metric.WithDescription("Requests dropped without running because their deadline had passed."),
		metric.WithUnit("{request}"))
	if err != nil {
		return nil, err
	}
	tgt := srv.Target()
	set := metric.WithAttributeSet(attribute.NewSet(keyDest.String(tgt.Topic), keyServer.String(tgt.Server)))
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := srv.Stats()
		o.ObserveInt64(workers, int64(st.Workers), set)
		o.ObserveInt64(busy, int64(st.Busy), set)
		o.ObserveInt64(expired, int64(st.Expired), set)
		return nil
	}, workers, busy, expired)
	if err != nil {
		return nil, err
	}
	return reg.Unregister, nil
}
