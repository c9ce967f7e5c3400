package otelwarren

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/warrenrpc/warren/message"
	"github.com/warrenrpc/warren/notify"
	"github.com/warrenrpc/warren/target"
)

// Attribute keys of notifications, this package's own.
const (
	keyEventType  = attribute.Key("warren.notification.event_type")
	keyPriority   = attribute.Key("warren.notification.priority")
	keyPublisher  = attribute.Key("warren.notification.publisher_id")
	keyBatchCount = attribute.Key("messaging.batch.message_count")
	keyDeliveries = attribute.Key("warren.notification.deliveries")
)

// notifyInstruments are the metrics of one side of notifications.
type notifyInstruments struct {
	count    metric.Int64Counter
	duration metric.Float64Histogram
}

// newNotifyInstruments makes the instruments of notifications sent or
// handled (verb).
func newNotifyInstruments(m metric.Meter, verb string) notifyInstruments {
	var ins notifyInstruments
	var err error
	ins.count, err = m.Int64Counter("warren.notifications."+verb,
		metric.WithDescription("Notifications "+verb+", by outcome."), metric.WithUnit("{notification}"))
	handle(err)
	ins.duration, err = m.Float64Histogram("warren.notifications."+verb+".duration",
		metric.WithDescription("How long notifications took to be "+verb+"."),
		metric.WithUnit("s"), metric.WithExplicitBucketBoundaries(durationBuckets...))
	handle(err)
	return ins
}

// record counts one notification, or a batch, and its duration.
func (ins notifyInstruments) record(ctx context.Context, n int, elapsed float64, attrs []attribute.KeyValue, err error) {
	if err != nil {
		attrs = append(attrs, keyOutcome.String(outcomeError))
	} else {
		attrs = append(attrs, keyOutcome.String(outcomeOK))
	}
	set := metric.WithAttributeSet(attribute.NewSet(attrs...))
	ins.count.Add(ctx, int64(n), set)
	ins.duration.Record(ctx, elapsed, set)
}

// NotifyDriver wraps d, usually notify.MessagingV2, in a producer span
// "send <event type>" per notification and topic, and counts them as
// warren.notifications.sent (with warren.notification.priority,
// messaging.destination.name and warren.outcome) with their duration.
// Notifications carry no headers (oslo's notification format has no place
// for them that oslo.messaging peers ignore), so the trace context does not
// travel: a listener's span starts a trace of its own.
func NotifyDriver(d notify.Driver, opts ...Option) notify.Driver {
	c := newConfig(opts)
	return &tracedDriver{
		d:      d,
		tracer: c.tp.Tracer(scope),
		ins:    newNotifyInstruments(c.mp.Meter(scope), "sent"),
		system: keySystem.String(c.system),
	}
}

type tracedDriver struct {
	d      notify.Driver
	tracer trace.Tracer
	ins    notifyInstruments
	system attribute.KeyValue
}

// Send sends n through the wrapped driver in a span.
func (t *tracedDriver) Send(ctx context.Context, tgt target.Target, n *message.Notification) error {
	ctx, span := t.tracer.Start(ctx, "send "+n.EventType, trace.WithSpanKind(trace.SpanKindProducer))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(t.system, keyDest.String(tgt.Topic), keyOpName.String("send"), keyOpType.String("send"),
			keyEventType.String(n.EventType), keyPriority.String(strings.ToLower(n.Priority)), keyPublisher.String(n.PublisherID))
		if n.MessageID != "" {
			span.SetAttributes(keyMessageID.String(n.MessageID))
		}
	}
	start := time.Now()
	err := t.d.Send(ctx, tgt, n)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	t.ins.record(ctx, 1, time.Since(start).Seconds(),
		[]attribute.KeyValue{keyDest.String(tgt.Topic), keyPriority.String(strings.ToLower(n.Priority))}, err)
	return err
}

// ListenerInterceptor returns a notify.Interceptor that puts each
// dispatch of a listener in a consumer span, "process <event type>" for
// one notification and "process batch" for a batch listener's, the root
// of a trace of its own, and counts the notifications as
// warren.notifications.handled (with warren.notification.priority and
// warren.outcome) with their duration. Give it to notify.Intercept first.
func ListenerInterceptor(opts ...Option) notify.Interceptor {
	c := newConfig(opts)
	tracer := c.tp.Tracer(scope)
	ins := newNotifyInstruments(c.mp.Meter(scope), "handled")
	system := keySystem.String(c.system)
	return func(ctx context.Context, ns []*notify.Notification, next func(context.Context) error) error {
		name, priority := "process batch", ""
		if len(ns) > 0 {
			priority = string(ns[0].Priority)
		}
		if len(ns) == 1 {
			name = "process " + ns[0].EventType
		}
		ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithNewRoot())
		defer span.End()
		if span.IsRecording() {
			span.SetAttributes(system, keyOpName.String("process"), keyOpType.String("process"), keyPriority.String(priority))
			if len(ns) == 1 {
				n := ns[0]
				span.SetAttributes(keyMessageID.String(n.MessageID), keyEventType.String(n.EventType),
					keyPublisher.String(n.PublisherID), keyDeliveries.Int(n.Deliveries))
			} else {
				span.SetAttributes(keyBatchCount.Int(len(ns)))
			}
		}
		start := time.Now()
		err := next(ctx)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		ins.record(ctx, len(ns), time.Since(start).Seconds(), []attribute.KeyValue{keyPriority.String(priority)}, err)
		return err
	}
}
