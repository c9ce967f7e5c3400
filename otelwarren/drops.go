package otelwarren

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/warrenrpc/warren/transport"
)

// keyDropReason is the attribute of warren.messages.dropped.
const keyDropReason = attribute.Key("warren.drop.reason")

// Drops returns a function to give a driver as its OnDrop option
// (rabbit.OnDrop, memory.OnDrop), which counts warren.messages.dropped,
// the messages the driver dropped instead of handing them out, by
// warren.drop.reason: "rejected" (too large, or not a valid request, reply
// or notification; the RabbitMQ driver rejects it, so a dead-letter
// policy keeps it), "duplicate" (a request whose _unique_id the listener
// handed out already) or "delivery-limit" (an at-least-once cast that
// failed at every delivery its limit allows). The function only adds to a counter, so it returns
// quickly, as OnDrop requires; one may serve several transports.
func Drops(opts ...Option) func(transport.Drop) {
	c := newConfig(opts)
	dropped, err := c.mp.Meter(scope).Int64Counter("warren.messages.dropped",
		metric.WithDescription("Messages a driver dropped instead of handing them out."), metric.WithUnit("{message}"))
	handle(err)
	sets := map[transport.DropReason]metric.AddOption{}
	for _, r := range []transport.DropReason{transport.DropRejected, transport.DropDuplicate, transport.DropDeliveryLimit} {
		sets[r] = metric.WithAttributeSet(attribute.NewSet(keyDropReason.String(r.String())))
	}
	return func(d transport.Drop) {
		set, ok := sets[d.Reason]
		if !ok {
			set = metric.WithAttributes(keyDropReason.String(d.Reason.String()))
		}
		dropped.Add(context.Background(), 1, set)
	}
}
