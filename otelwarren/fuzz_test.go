package otelwarren_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/warrenrpc/warren/dispatcher"
	"github.com/warrenrpc/warren/otelwarren"
	"github.com/warrenrpc/warren/target"
)

// FuzzServerHeaders: whatever trace headers a caller sends, the server
// interceptor runs the handler once and ends one span, a child of the
// caller's span or the root of a new trace.
func FuzzServerHeaders(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=00f067aa0ba902b7", "tenant=t-42")
	f.Add("00-00000000000000000000000000000000-0000000000000000-00", "", "")
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a=b,c", "k=%zz;p")
	f.Add("", "", "")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-extra", ",,,", "=,=")
	rec := tracetest.NewSpanRecorder()
	// AlwaysSample: a caller that asks not to sample still gets a span here.
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
	in := otelwarren.ServerInterceptor(otelwarren.TracerProvider(tp))
	f.Fuzz(func(t *testing.T, traceparent, tracestate, bag string) {
		rec.Reset()
		req := &dispatcher.Request{Method: "m", Target: target.Target{Topic: "t"},
			Headers: map[string]string{"traceparent": traceparent, "tracestate": tracestate, "baggage": bag}}
		runs := 0
		if _, err := in(context.Background(), req, func(context.Context, *dispatcher.Request) (any, error) {
			runs++
			return nil, nil
		}); err != nil || runs != 1 {
			t.Fatalf("interceptor = %v after %d runs, want nil after 1", err, runs)
		}
		if n := len(rec.Ended()); n != 1 {
			t.Fatalf("%d spans ended, want 1", n)
		}
		if s := rec.Ended()[0]; !s.SpanContext().IsValid() {
			t.Fatalf("span context %v is not valid", s.SpanContext())
		}
	})
}
