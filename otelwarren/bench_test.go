package otelwarren_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/otelwarren"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcserver"
	"github.com/warrenrpc/warren/target"
	"github.com/warrenrpc/warren/transport/memory"
)

// BenchmarkCall measures calls/s on the memory driver without the
// interceptors, with them on OpenTelemetry's no-op providers (what a
// program that never installs an SDK pays), and with them on the SDK,
// every span sampled and handed to an exporter that drops it, and every
// metric aggregated.
func BenchmarkCall(b *testing.B) {
	sdk := []otelwarren.Option{
		otelwarren.TracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))),
		otelwarren.MeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))),
	}
	noops := []otelwarren.Option{
		otelwarren.TracerProvider(tracenoop.NewTracerProvider()),
		otelwarren.MeterProvider(noop.NewMeterProvider()),
	}
	for _, bc := range []struct {
		name string
		otel []otelwarren.Option // nil: no interceptors
	}{
		{"plain", nil},
		{"otel-noop", noops},
		{"otel-sdk", sdk},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bus := memory.NewBus()
			ep := endpoints.New()
			endpoints.Register(ep, "add", func(_ context.Context, a struct{ A, B int }) (int, error) { return a.A + a.B, nil })
			var sopts []rpcserver.Option
			var copts []rpcclient.Option
			if bc.otel != nil {
				sopts = append(sopts, rpcserver.Interceptors(otelwarren.ServerInterceptor(bc.otel...), rpcserver.Recover()))
				copts = append(copts, rpcclient.Interceptors(otelwarren.ClientInterceptor(bc.otel...)))
			}
			serve(b, newTransport(b, bus), "bench", "b1", []*endpoints.Endpoint{ep}, sopts...)
			c := rpcclient.New(newTransport(b, bus), target.Target{Topic: "bench"}, copts...)
			args := struct{ A, B int }{1, 2}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := rpcclient.Call[int](context.Background(), c, "add", args); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}
