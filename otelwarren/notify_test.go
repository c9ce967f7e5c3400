package otelwarren_test

import (
	"context"
	"errors"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/warrenrpc/warren/notify"
	"github.com/warrenrpc/warren/otelwarren"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport"
	"github.com/warrenrpc/warren/transport/memory"
)

// TestNotifications: a notification sent is a producer span, its handling
// a consumer span in a trace of its own (notifications carry no headers),
// and both sides count it.
func TestNotifications(t *testing.T) {
	bus := memory.NewBus()
	rec := newRecorder()
	reader := sdkmetric.NewManualReader()
	opts := []otelwarren.Option{
		otelwarren.TracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))),
		otelwarren.MeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))),
	}
	tr := newTransport(t, bus)
	l, err := notify.NewListener(tr, []target.Target{{Topic: "events"}}, []notify.Endpoint{{
		Handlers: map[notify.Priority]notify.Handler{
			notify.Info: notify.HandlerFunc(func(context.Context, *notify.Notification) error { return nil }),
		},
	}}, notify.Intercept(otelwarren.ListenerInterceptor(opts...)))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Listen(t.Context()); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- l.Serve(context.Background()) }()
	defer func() {
		l.Close()
		if err := <-served; !errors.Is(err, notify.ErrListenerClosed) {
			t.Errorf("Serve = %v, want ErrListenerClosed", err)
		}
	}()

	sender := newTransport(t, bus)
	n := notify.NewNotifier(sender, "compute.host1", notify.Topics("events"),
		notify.Drivers(otelwarren.NotifyDriver(notify.MessagingV2(sender, transport.QueueLimits{}), opts...)))
	if err := n.Info(t.Context(), nil, "instance.create.end", map[string]int{"id": 1}); err != nil {
		t.Fatal(err)
	}
	spans := rec.spans(t, 2)
	sent, got := spans["send instance.create.end"], spans["process instance.create.end"]
	if sent == nil || got == nil {
		t.Fatalf("spans %v, want send and process instance.create.end", names(spans))
	}
	if sent.SpanKind() != trace.SpanKindProducer || got.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("kinds %v, %v; want producer, consumer", sent.SpanKind(), got.SpanKind())
	}
	if got.Parent().IsValid() {
		t.Errorf("process span has parent %v, want none", got.Parent().SpanID())
	}
	sa, ga := attrMap(sent.Attributes()), attrMap(got.Attributes())
	if sa["messaging.destination.name"] != "events" || sa["warren.notification.priority"] != "info" ||
		ga["warren.notification.priority"] != "info" || ga["warren.notification.publisher_id"] != "compute.host1" {
		t.Errorf("attributes: sent %v, handled %v", sa, ga)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"warren.notifications.sent", "warren.notifications.handled"} {
		if got := sums(t, rm, name)["ok"]; got != 1 {
			t.Errorf("%s{ok} = %d, want 1", name, got)
		}
	}
}
