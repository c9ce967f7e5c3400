package integration_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/warrenrpc/warren/endpoints"
	"github.com/warrenrpc/warren/otelwarren"
	"github.com/warrenrpc/warren/rpcclient"
	"github.com/warrenrpc/warren/rpcserver"
)

// TestTraceAcrossTwoHops: a Go client calls a Go server on RabbitMQ,
// whose handler calls a second Go server; the four spans make one trace,
// each the child of the one before.
func TestTraceAcrossTwoHops(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracing := otelwarren.TracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	traced := rpcserver.Interceptors(otelwarren.ServerInterceptor(tracing), rpcserver.Recover())

	back := newBus(t, "otel-back")
	shout := endpoints.New()
	endpoints.Register(shout, "shout", func(_ context.Context, a struct{ Word string }) (string, error) {
		return a.Word + "!", nil
	})
	startServer(t, back, "b1", []*endpoints.Endpoint{shout}, traced)
	backClient := newClient(t, back, rpcclient.Interceptors(otelwarren.ClientInterceptor(tracing)))

	front := newBus(t, "otel-front")
	relay := endpoints.New()
	endpoints.Register(relay, "relay", func(ctx context.Context, a struct{ Word string }) (string, error) {
		return rpcclient.Call[string](ctx, backClient, "shout", a)
	})
	startServer(t, front, "f1", []*endpoints.Endpoint{relay}, traced)
	client := newClient(t, front, rpcclient.Interceptors(otelwarren.ClientInterceptor(tracing)))

	got, err := rpcclient.Call[string](withTimeout(t, waitLimit), client, "relay", struct{ Word string }{"hi"})
	if err != nil || got != "hi!" {
		t.Fatalf("relay(hi) = %q, %v; want \"hi!\", nil", got, err)
	}
	// Every span ended before the reply that ended the outer call.
	byName := make(map[string]sdktrace.ReadOnlySpan)
	for _, s := range rec.Ended() {
		byName[s.Name()] = s
	}
	chain := []struct {
		name string
		kind trace.SpanKind
	}{
		{"call " + front.Topic, trace.SpanKindClient},
		{"process " + front.Topic, trace.SpanKindServer},
		{"call " + back.Topic, trace.SpanKindClient},
		{"process " + back.Topic, trace.SpanKindServer},
	}
	if len(byName) != len(chain) {
		t.Errorf("%d spans ended, want %d", len(rec.Ended()), len(chain))
	}
	var parent trace.SpanContext
	for i, want := range chain {
		s := byName[want.name]
		switch {
		case s == nil:
			t.Fatalf("no span %q", want.name)
		case s.SpanKind() != want.kind:
			t.Errorf("%s: kind %v, want %v", want.name, s.SpanKind(), want.kind)
		case i == 0 && s.Parent().IsValid():
			t.Errorf("%s: parent %v, want none", want.name, s.Parent().SpanID())
		case i > 0 && (s.SpanContext().TraceID() != parent.TraceID() || s.Parent().SpanID() != parent.SpanID()):
			t.Errorf("%s: trace %v parent %v, want trace %v parent %v (%s)", want.name,
				s.SpanContext().TraceID(), s.Parent().SpanID(), parent.TraceID(), parent.SpanID(), chain[i-1].name)
		}
		parent = s.SpanContext()
	}
}

// TestPythonClientTracedGoServer: an oslo.messaging client, which sends no
// trace context, calls a traced Go server: its calls work as without
// tracing, and each request the server handles starts a trace of its own.
func TestPythonClientTracedGoServer(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracing := otelwarren.TracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	b := newBus(t, "otel-py")
	events := make(chan event, 4)
	startServer(t, b, "go1", []*endpoints.Endpoint{calcEndpoint("go1", nil, events, endpoints.Namespace("calc"))},
		rpcserver.Interceptors(otelwarren.ServerInterceptor(tracing), rpcserver.Recover()))
	py := startPeer(t, "oslo_client.py", osloURL(t), b.Exchange, b.Topic, "go1")
	py.waitReady(t)
	py.waitLine(t, "DONE", peerLifetime, func(l string) bool { return l == "DONE" })
	cases := py.cases(t, b)
	for name, want := range map[string]string{"add_int": `5`, "ping": `"pong"`, "direct": `"go1"`} {
		c, ok := cases[name]
		if !ok || !c.OK || !jsonEqual(t, c.Result, want) {
			t.Errorf("case %s: %+v, want ok with %s", name, c, want)
		}
	}

	traces := make(map[trace.TraceID]bool)
	adds := 0
	for _, s := range rec.Ended() {
		if s.Parent().IsValid() {
			t.Errorf("span %s (%v) has parent %v, want none", s.Name(), s.Attributes(), s.Parent().SpanID())
		}
		if traces[s.SpanContext().TraceID()] {
			t.Errorf("span %s shares trace %v with another request", s.Name(), s.SpanContext().TraceID())
		}
		traces[s.SpanContext().TraceID()] = true
		for _, kv := range s.Attributes() {
			if kv.Key == "rpc.method" && kv.Value.AsString() == "add" {
				adds++
			}
		}
	}
	if adds == 0 {
		t.Errorf("no span for the Python client's add among %d spans", len(rec.Ended()))
	}
}

// TestTracedGoClientPythonServer: a traced Go client sends trace headers,
// which an oslo.messaging server ignores: calls and casts work as without
// tracing, and the client's spans end well.
func TestTracedGoClientPythonServer(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tracing := otelwarren.TracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	b := newBus(t, "otel-pysrv")
	b.forgetServer("py1")
	py := startPeer(t, "oslo_server.py", osloURL(t), b.Exchange, b.Topic, "py1")
	py.waitReady(t)
	client := newClient(t, b, rpcclient.Namespace("calc"), rpcclient.Version("1.2"),
		rpcclient.Interceptors(otelwarren.ClientInterceptor(tracing)))
	ctx := withTimeout(t, waitLimit)
	if sum, err := rpcclient.Call[int](ctx, client, "add", map[string]int{"a": 2, "b": 3}); err != nil || sum != 5 {
		t.Errorf("add(2, 3) = %d, %v; want 5, nil", sum, err)
	}
	if err := client.Prepare(rpcclient.Server("py1")).Call(ctx, "whoami", nil, nil); err != nil {
		t.Errorf("whoami on py1: %v", err)
	}
	ended := rec.Ended()
	if len(ended) != 2 {
		t.Fatalf("%d spans ended, want 2", len(ended))
	}
	for _, s := range ended {
		if s.Status().Code != codes.Unset {
			t.Errorf("span %s: status %v, want unset", s.Name(), s.Status())
		}
	}
}
